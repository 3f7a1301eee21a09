/**
 * bgapp-backup restores a repository that the stock restic binary wrote,
 * so a repository started with restic can be taken over.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { runCliOk } from './support/cli.ts';

const PASSWORD = 'restic written';

describe('restore of a restic-written repository', () => {
  let base = '';

  after(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('restores a snapshot made by restic backup byte for byte', async () => {
    base = await mkdtemp(join(tmpdir(), 'bgapp-restic-written-'));
    const source = join(base, 'data');
    const repository = join(base, 'repo');
    await mkdir(join(source, 'sub'), { recursive: true });
    const big = randomBytes(3 * 1024 * 1024);
    await writeFile(join(source, 'sub', 'big.bin'), big);
    await writeFile(join(source, 'small.txt'), 'small\n');
    await symlink('small.txt', join(source, 'link'));
    const env = { ...process.env, RESTIC_PASSWORD: PASSWORD };
    const init = spawnSync('restic', ['-r', repository, 'init', '--repository-version', '2'], {
      env,
    });
    assert.equal(init.status, 0, String(init.stderr));
    const backup = spawnSync('restic', ['-r', repository, 'backup', source], { env, cwd: base });
    assert.equal(backup.status, 0, String(backup.stderr));

    const target = join(base, 'restored');
    const result = await runCliOk(
      ['--repo', repository, 'restore', 'latest', '--target-dir', target],
      {
        BGAPP_BACKUP_PASSWORD: PASSWORD,
      },
    );
    assert.match(result.stdout, /verified/);
    const restored = join(target, ...source.split('/').filter(Boolean));
    assert.ok((await readFile(join(restored, 'sub', 'big.bin'))).equals(big));
    assert.equal(await readFile(join(restored, 'small.txt'), 'utf8'), 'small\n');
    assert.equal(await readlink(join(restored, 'link')), 'small.txt');
  });
});
