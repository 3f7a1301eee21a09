import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalBackend } from '../backend/index.ts';
import { isBackupError } from '../errors/index.ts';
import { Repository } from './repository.ts';
import { TEST_PASSWORD, restic, resticOk, tempFolder } from './test-helpers.ts';

const root = tempFolder();
after(() => rm(root, { recursive: true, force: true }));

describe('Repository keys', () => {
  it('adds a key that restic accepts and removes it', async () => {
    const repoPath = join(root, 'add');
    const repo = await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD);
    const second = await repo.addKey('second password');
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
    const repo = await Repository.init(new LocalBackend(join(root, 'current')), TEST_PASSWORD);
    await repo.addKey('other');
    const current = (await repo.listKeys()).find((k) => k.current);
    assert.ok(current);
    await assert.rejects(repo.removeKey(current.id), (err) => isBackupError(err, 'ERR_USAGE'));
    assert.equal((await repo.listKeys()).length, 2);
  });

  it('rejects removing an unknown key', async () => {
    const repo = await Repository.init(new LocalBackend(join(root, 'unknown')), TEST_PASSWORD);
    await assert.rejects(repo.removeKey('0'.repeat(64)), (err) => isBackupError(err, 'ERR_USAGE'));
  });

  it('changes the password so only the new one opens', async () => {
    const repoPath = join(root, 'change');
    const repo = await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD);
    await repo.changePassword('new password');
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
    await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD);
    const passwordFile = join(root, 'new-password');
    await import('node:fs/promises').then((fs) => fs.writeFile(passwordFile, 'added by restic\n'));
    resticOk(repoPath, ['key', 'add', '--new-password-file', passwordFile]);
    const repo = await Repository.open(new LocalBackend(repoPath), 'added by restic');
    assert.equal((await repo.listKeys()).length, 2);
  });
});
