import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalBackend } from '../backend/index.ts';
import { isBackupError } from '../errors/index.ts';
import type { KeyFileJson } from './keys.ts';
import { Repository } from './repository.ts';
import { MIN_KDF_TARGET, TEST_PASSWORD, restic, resticOk, tempFolder } from './test-helpers.ts';

const root = tempFolder();
after(() => rm(root, { recursive: true, force: true }));

/** Reads every key file of the repository at `repoPath`. */
async function keyFiles(repoPath: string): Promise<KeyFileJson[]> {
  const names = await readdir(join(repoPath, 'keys'));
  const texts = await Promise.all(
    names.map((name) => readFile(join(repoPath, 'keys', name), 'utf8')),
  );
  return texts.map((text) => JSON.parse(text) as KeyFileJson);
}

describe('Repository keys', () => {
  it('adds a key that restic accepts and removes it', async () => {
    const repoPath = join(root, 'add');
    const repo = await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD, MIN_KDF_TARGET);
    const second = await repo.addKey('second password', 0);
    assert.equal(restic(repoPath, ['cat', 'config'], 'second password').status, 0);

    const keys = await repo.listKeys();
    assert.equal(keys.length, 2);
    assert.equal(keys.filter((k) => k.current).length, 1);
    assert.equal(keys.find((k) => k.id === second)?.current, false);

    await repo.removeKey(second);
    assert.equal((await repo.listKeys()).length, 1);
    assert.notEqual(restic(repoPath, ['cat', 'config'], 'second password').status, 0);
  });

  it('rejects removing the key in use', async () => {
    const repo = await Repository.init(
      new LocalBackend(join(root, 'current')),
      TEST_PASSWORD,
      MIN_KDF_TARGET,
    );
    await repo.addKey('other', 0);
    const current = (await repo.listKeys()).find((k) => k.current);
    assert.ok(current);
    await assert.rejects(repo.removeKey(current.id), (err) => isBackupError(err, 'ERR_USAGE'));
    assert.equal((await repo.listKeys()).length, 2);
  });

  it('rejects removing an unknown key', async () => {
    const repo = await Repository.init(
      new LocalBackend(join(root, 'unknown')),
      TEST_PASSWORD,
      MIN_KDF_TARGET,
    );
    await assert.rejects(repo.removeKey('0'.repeat(64)), (err) => isBackupError(err, 'ERR_USAGE'));
  });

  it('changes the password so only the new one opens', async () => {
    const repoPath = join(root, 'change');
    const repo = await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD, MIN_KDF_TARGET);
    await repo.changePassword('new password', 0);
    assert.equal((await repo.listKeys()).length, 1);
    await assert.rejects(Repository.open(new LocalBackend(repoPath), TEST_PASSWORD), (err) =>
      isBackupError(err, 'ERR_PASSWORD_WRONG'),
    );
    const reopened = await Repository.open(new LocalBackend(repoPath), 'new password');
    assert.equal(reopened.id, repo.id);
    resticOk(repoPath, ['check'], 'new password');
  });

  it('opens a key that restic added', async () => {
    const repoPath = join(root, 'restic-key');
    await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD, MIN_KDF_TARGET);
    const passwordFile = join(root, 'new-password');
    await import('node:fs/promises').then((fs) => fs.writeFile(passwordFile, 'added by restic\n'));
    resticOk(repoPath, ['key', 'add', '--new-password-file', passwordFile]);
    const repo = await Repository.open(new LocalBackend(repoPath), 'added by restic');
    assert.equal((await repo.listKeys()).length, 2);
  });

  it('calibrates a new key by default', async () => {
    const repoPath = join(root, 'calibrated');
    const repo = await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD);
    const [file] = await keyFiles(repoPath);
    assert.ok(file);
    assert.equal(file.N, 32768);
    assert.equal(file.r, 8);
    // One p=1 derivation takes about 0.1 s, so a 500 ms target needs several lanes.
    assert.ok(file.p > 1, `p is ${file.p}`);

    resticOk(repoPath, ['cat', 'config']);
    const reopened = await Repository.open(new LocalBackend(repoPath), TEST_PASSWORD);
    assert.equal(reopened.id, repo.id);
  });

  it('adds a key at the minimum cost for target 0', async () => {
    const repoPath = join(root, 'minimum');
    const repo = await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD, MIN_KDF_TARGET);
    await repo.addKey('second password', 0);
    const files = await keyFiles(repoPath);
    assert.equal(files.length, 2);
    for (const file of files) assert.deepEqual([file.N, file.r, file.p], [32768, 8, 1]);
  });
});
