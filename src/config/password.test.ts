import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { isBackupError } from '../errors/index.ts';
import { resolvePassword } from './password.ts';
import { Secret } from './secret.ts';
import type { Config } from './types.ts';

let dir: string;
let envFile: string;
let configFile: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bgapp-password-'));
  envFile = join(dir, 'env-password');
  configFile = join(dir, 'config-password');
  await writeFile(envFile, 'from-env-file\n');
  await writeFile(configFile, '  from-config-file \n');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function configWith(passwordFile: string): Config {
  return {
    file: join(dir, 'bgapp-backup.yaml'),
    onedrive: { mode: 'folder' },
    repository: {
      path: 'BGAPP_Backups/repository',
      password_file: passwordFile,
      kdf_target_ms: 0,
    },
    backup: { hostname: 'h' },
    plain_copies: { enabled: false, keep: 3 },
    sources: [],
  };
}

describe('resolvePassword', () => {
  it('prefers BGAPP_BACKUP_PASSWORD over both files', async () => {
    const env = { BGAPP_BACKUP_PASSWORD: 'direct', BGAPP_BACKUP_PASSWORD_FILE: envFile };
    const secret = await resolvePassword({ env, config: configWith(configFile) });
    assert.equal(secret.reveal(), 'direct');
    assert.equal(secret.origin, 'BGAPP_BACKUP_PASSWORD');
  });

  it('prefers BGAPP_BACKUP_PASSWORD_FILE over the config', async () => {
    const env = { BGAPP_BACKUP_PASSWORD_FILE: envFile };
    const secret = await resolvePassword({ env, config: configWith(configFile) });
    assert.equal(secret.reveal(), 'from-env-file');
    assert.equal(secret.origin, 'BGAPP_BACKUP_PASSWORD_FILE');
  });

  it('uses the config password file and trims it like restic', async () => {
    const secret = await resolvePassword({ env: {}, config: configWith(configFile) });
    assert.equal(secret.reveal(), 'from-config-file');
    assert.equal(secret.origin, 'repository.password_file');
  });

  it('treats an empty variable as unset', async () => {
    const env = { BGAPP_BACKUP_PASSWORD: '' };
    const secret = await resolvePassword({ env, config: configWith(configFile) });
    assert.equal(secret.origin, 'repository.password_file');
  });

  it('rejects with all three places named when none is set', async () => {
    await assert.rejects(resolvePassword({ env: {} }), (err) => {
      assert.ok(isBackupError(err, 'ERR_PASSWORD_MISSING'));
      assert.match(err.message, /BGAPP_BACKUP_PASSWORD, BGAPP_BACKUP_PASSWORD_FILE, or repository\.password_file/);
      return true;
    });
  });

  it('rejects an empty password file', async () => {
    const empty = join(dir, 'empty');
    await writeFile(empty, '\n');
    await assert.rejects(resolvePassword({ env: { BGAPP_BACKUP_PASSWORD_FILE: empty } }), (err) => {
      assert.ok(isBackupError(err, 'ERR_PASSWORD_MISSING'));
      assert.match(err.message, /is empty; write the password into it/);
      return true;
    });
  });

  it('rejects a password file it cannot read', async () => {
    const missing = join(dir, 'missing');
    await assert.rejects(resolvePassword({ env: {}, config: configWith(missing) }), (err) => {
      assert.ok(isBackupError(err, 'ERR_PASSWORD_MISSING'));
      assert.match(err.message, /cannot read password file .*missing \(from repository\.password_file\)/);
      return true;
    });
  });
});

describe('Secret', () => {
  it('prints as redacted in JSON, strings and inspect', () => {
    const secret = new Secret('hunter2', 'test');
    assert.equal(JSON.stringify({ secret }), '{"secret":"[redacted]"}');
    assert.equal(`${secret}`, '[redacted]');
    assert.ok(!inspect(secret).includes('hunter2'));
    assert.ok(!inspect({ nested: { secret } }, { depth: 5, showHidden: true }).includes('hunter2'));
  });
});
