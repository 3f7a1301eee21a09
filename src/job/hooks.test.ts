import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runHook } from './hooks.ts';

const folder = await mkdtemp(join(tmpdir(), 'bgapp-hooks-'));
after(() => rm(folder, { recursive: true, force: true }));

/** Tells whether the process with this PID still runs: it exists and is not a zombie. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // The state follows the command name, which is in parentheses.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== '' && state !== 'Z';
}

describe('runHook', () => {
  it('stops the programs the shell started when aborted', async () => {
    const pidFile = join(folder, 'sleep.pid');
    const controller = new AbortController();
    const run = runHook(`sleep 30 & echo $! > ${pidFile}; wait`, {}, controller.signal);
    let pid = 0;
    for (let i = 0; i < 100 && pid === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim()) || 0;
    }
    assert.ok(pid > 0, 'the hook wrote the PID of its sleep');
    controller.abort();
    await assert.rejects(run, /interrupted/);
    for (let i = 0; i < 100 && (await alive(pid)); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await alive(pid), false);
  });

  it('hides the repository password from the command', async () => {
    process.env.BGAPP_BACKUP_PASSWORD = 'not for hooks';
    try {
      const result = await runHook('echo "[${BGAPP_BACKUP_PASSWORD:-}] $BGAPP_BACKUP_PHASE"', {
        BGAPP_BACKUP_PHASE: 'before',
      });
      assert.equal(result.output, '[] before');
    } finally {
      delete process.env.BGAPP_BACKUP_PASSWORD;
    }
  });
});
