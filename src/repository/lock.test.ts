import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalBackend } from '../backend/index.ts';
import { masterKeyFromBytes, sealUnpacked } from '../crypto/index.ts';
import { isBackupError } from '../errors/index.ts';
import { Repository } from './repository.ts';
import { MIN_KDF_TARGET, TEST_PASSWORD, restic, tempFolder } from './test-helpers.ts';
import type { LockJson } from './types.ts';

const root = tempFolder();
after(() => rm(root, { recursive: true, force: true }));

/** Writes a lock file with the given fields, as another process would; returns its id. */
async function plantLock(repo: Repository, fields: Partial<LockJson>): Promise<string> {
  const lock: LockJson = {
    time: new Date().toISOString(),
    exclusive: true,
    hostname: 'other-host',
    username: 'someone',
    pid: 4242,
    uid: 1000,
    gid: 1000,
    ...fields,
  };
  const key = masterKeyFromBytes(repo.masterKeyBytes());
  const sealed = sealUnpacked(key, Buffer.from(JSON.stringify(lock)));
  const id = createHash('sha256').update(sealed).digest('hex');
  await repo.backend.save({ type: 'locks', name: id }, sealed);
  return id;
}

/** Returns the PID of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  assert.ok(child.pid);
  return child.pid;
}

async function lockNames(repo: Repository): Promise<string[]> {
  return (await repo.backend.list('locks')).map((f) => f.name);
}

describe('Repository locks', () => {
  it('removes a stale lock of another host', async () => {
    const repo = await Repository.init(
      new LocalBackend(join(root, 'old')),
      TEST_PASSWORD,
      MIN_KDF_TARGET,
    );
    const old = new Date(Date.now() - 31 * 60 * 1000).toISOString();
    const id = await plantLock(repo, { time: old });
    const handle = await repo.lock({ exclusive: true });
    await handle.release();
    assert.deepEqual(await repo.removeStaleLocks(), [id]);
    assert.deepEqual(await lockNames(repo), []);
  });

  it('rejects with ERR_REPO_LOCKED when another host holds a fresh lock', async () => {
    const repo = await Repository.init(new LocalBackend(join(root, 'live')), TEST_PASSWORD, {
      ...MIN_KDF_TARGET,
      lockWaitMillis: 1200,
    });
    const id = await plantLock(repo, { hostname: 'other-host', exclusive: false });
    const started = Date.now();
    await assert.rejects(repo.lock({ exclusive: true }), (err) => {
      assert.ok(isBackupError(err, 'ERR_REPO_LOCKED'));
      assert.match(err.message, /other-host/);
      assert.match(err.message, /bgapp-backup unlock/);
      return true;
    });
    const waited = Date.now() - started;
    assert.ok(waited >= 1200, `waited only ${waited} ms`);
    assert.ok(waited < 5000, `waited ${waited} ms`);
    // A shared lock does not conflict with another shared lock.
    const shared = await repo.lock({ exclusive: false });
    await shared.release();
    assert.deepEqual(await repo.removeStaleLocks(), []);
    assert.deepEqual(await lockNames(repo), [id]);
  });

  it('treats a lock of this host with a dead PID as stale', async () => {
    const repo = await Repository.init(
      new LocalBackend(join(root, 'dead')),
      TEST_PASSWORD,
      MIN_KDF_TARGET,
    );
    const id = await plantLock(repo, { hostname: hostname(), pid: await deadPid() });
    const live = await plantLock(repo, {
      hostname: hostname(),
      pid: process.pid,
      exclusive: false,
    });
    assert.deepEqual(await repo.removeStaleLocks(), [id]);
    assert.deepEqual(await lockNames(repo), [live]);
  });

  it('writes locks that restic honours', async () => {
    const repo = await Repository.init(
      new LocalBackend(join(root, 'restic')),
      TEST_PASSWORD,
      MIN_KDF_TARGET,
    );
    const handle = await repo.lock({ exclusive: true });
    const result = restic(repo.backend.location, ['check']);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /locked/);
    await handle.release();
    assert.deepEqual(await lockNames(repo), []);
    assert.equal(restic(repo.backend.location, ['check']).status, 0);
  });
});
