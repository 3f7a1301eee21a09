import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { BackupError } from '../errors/index.ts';
import { silentLogger } from '../log/index.ts';
import type { Source, SourceBackupContext, SourceManifest } from '../sources/index.ts';
import { MemorySnapshot } from '../../test/support/memory-snapshot.ts';
import { runBackup, type SnapshotSession } from './backup.ts';

const folder = await mkdtemp(join(tmpdir(), 'bgapp-after-hook-'));
after(() => rm(folder, { recursive: true, force: true }));

/** Returns a session over a MemorySnapshot whose finish returns a fixed snapshot id. */
function memorySession(snapshot: MemorySnapshot): SnapshotSession {
  return {
    addDir: (path, meta) => snapshot.addDir(path, meta),
    addSymlink: (path, meta, target) => snapshot.addSymlink(path, meta, target),
    addFile: (path, meta, content) => snapshot.addFile(path, meta, content),
    finish: async () => ({ snapshotId: 'b'.repeat(64), storedBytes: 0 }),
    abort: async () => {},
  };
}

/** Returns a files source that stores one file and reports `unreadable` warnings. */
function warningSource(unreadable: number): Source {
  return {
    type: 'files',
    name: 'configs',
    async backup(ctx: SourceBackupContext): Promise<SourceManifest> {
      const meta = { mode: 0o644, mtime: new Date(0) };
      await ctx.writer.addFile(['app.conf'], meta, Readable.from([Buffer.from('port = 8080\n')]));
      for (let i = 0; i < unreadable; i++) {
        const item = `secret-${i}.key`;
        ctx.warn({ source: 'configs', item, kind: 'unreadable', message: 'permission denied' });
      }
      return { type: 'files', name: 'configs', path: '/', readAt: '', finishedAt: '', files: 1,
        bytes: 12, sha256: {} };
    },
  };
}

/** Runs a backup of `source` and returns the variables its after command wrote. */
async function afterHookVariables(source: Source, name: string): Promise<string> {
  const output = join(folder, name);
  const command = 'printf "%s|%s|%s" "$BGAPP_BACKUP_STATUS" "$BGAPP_BACKUP_WARNINGS" ' +
    `"$BGAPP_BACKUP_SNAPSHOT" > ${output}`;
  await runBackup({
    sources: [source],
    open: async () => ({ session: memorySession(new MemorySnapshot()) }),
    hostname: 'test',
    after: command,
    logger: silentLogger,
    onEvent: () => {},
    signal: new AbortController().signal,
  }).catch(() => {});
  return readFile(output, 'utf8');
}

describe('after command variables', () => {
  it('count the warnings of a partial run', async () => {
    const variables = await afterHookVariables(warningSource(2), 'partial');
    assert.equal(variables, `succeeded|2|${'b'.repeat(64)}`);
  });

  it('count no warnings for a clean run', async () => {
    const variables = await afterHookVariables(warningSource(0), 'clean');
    assert.equal(variables, `succeeded|0|${'b'.repeat(64)}`);
  });

  it('leave the count empty when the run failed', async () => {
    const failing: Source = {
      type: 'files',
      name: 'configs',
      backup: () => Promise.reject(new BackupError('ERR_FILES_FAILED', 'folder not found')),
    };
    const variables = await afterHookVariables(failing, 'failed');
    assert.equal(variables, 'failed||');
  });
});
