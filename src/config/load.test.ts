import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { BackupError, isBackupError } from '../errors/index.ts';
import { loadConfig, loadOptionalConfig, locateConfig, parseConfig } from './load.ts';
import type { S3SourceConfig } from '../sources/index.ts';

const SECRET = 'minio-secret-value-1234';

let dir: string;
let secretFile: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bgapp-config-'));
  secretFile = join(dir, 'minio-secret');
  await writeFile(secretFile, `${SECRET}\n`);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function fullConfig(): string {
  return `
onedrive:
  folder: ~/OneDrive
repository:
  path: BGAPP_Backups/repository
  password_file: /etc/bgapp-backup/password
backup:
  hostname: bgapp-server
  before: echo start
plain_copies:
  enabled: true
  keep: 5
sources:
  - type: postgres
    name: geo
    url: postgres://postgres@127.0.0.1:5432/geo
    container: infra-postgis-1
  - type: s3
    name: minio
    endpoint: http://127.0.0.1:9000
    access_key_id: bgapp
    secret_access_key_file: ${secretFile}
    buckets: [bgapp-data, bgapp-backups, bgapp-temp]
  - type: files
    name: configs
    path: ~/configs
    exclude: ["*.tmp"]
  - type: files
    name: app-logs
    path: logs
`;
}

/** Parses `text` and returns the ERR_CONFIG_INVALID error it raises. */
async function configError(text: string, env: Record<string, string> = {}): Promise<BackupError> {
  try {
    await parseConfig(text, '/etc/x.yaml', { env, home: '/home/bg' });
  } catch (err) {
    assert.ok(isBackupError(err, 'ERR_CONFIG_INVALID'), `unexpected error: ${String(err)}`);
    return err;
  }
  assert.fail('config was accepted');
}

const S3_SOURCE = `
  - type: s3
    name: minio
    endpoint: http://127.0.0.1:9000
    access_key_id: bgapp`;

describe('parseConfig', () => {
  it('fills defaults and expands paths when the config is valid', async () => {
    const file = join(dir, 'bgapp-backup.yaml');
    const config = await parseConfig(fullConfig(), file, { env: {}, home: '/home/bg' });
    assert.equal(config.file, file);
    assert.equal(config.onedrive.folder, '/home/bg/OneDrive');
    assert.equal(config.repository.path, 'BGAPP_Backups/repository');
    assert.equal(config.backup.hostname, 'bgapp-server');
    assert.deepEqual(config.plain_copies, { enabled: true, keep: 5 });

    const [postgres, s3, configs, logs] = config.sources;
    assert.equal(postgres?.type, 'postgres');
    assert.equal(postgres?.type === 'postgres' && postgres.globals, true);
    assert.equal(s3?.type === 's3' && s3.region, 'us-east-1');
    assert.equal(s3?.type === 's3' && s3.force_path_style, true);
    assert.equal(s3?.type === 's3' && s3.concurrency, 8);
    assert.equal(s3?.type === 's3' && s3.secret_access_key, SECRET);
    assert.equal(configs?.type === 'files' && configs.path, '/home/bg/configs');
    assert.deepEqual(configs?.type === 'files' && configs.include, []);
    assert.equal(configs?.type === 'files' && configs.plain_copy_folder, 'configs');
    assert.equal(logs?.type === 'files' && logs.path, join(dir, 'logs'));
    assert.equal(logs?.type === 'files' && logs.plain_copy_folder, 'logs');
  });

  it('fills section defaults when only sources are given', async () => {
    const text = `sources:\n  - { type: files, name: etc, path: /etc }\n`;
    const config = await parseConfig(text, '/x.yaml', { env: {}, home: '/home/bg' });
    assert.deepEqual(config.plain_copies, { enabled: false, keep: 3 });
    assert.equal(config.repository.path, 'BGAPP_Backups/repository');
    assert.equal(config.onedrive.folder, undefined);
    assert.ok(config.backup.hostname.length > 0);
  });

  it('defaults repository.kdf_target_ms to 500', async () => {
    const text = `sources:\n  - { type: files, name: etc, path: /etc }\n`;
    const config = await parseConfig(text, '/x.yaml', { env: {}, home: '/home/bg' });
    assert.equal(config.repository.kdf_target_ms, 500);
  });

  it('keeps a valid repository.kdf_target_ms', async () => {
    const sources = 'sources:\n  - { type: files, name: etc, path: /etc }\n';
    for (const value of [0, 2000, 60_000]) {
      const text = `repository:\n  kdf_target_ms: ${value}\n${sources}`;
      const config = await parseConfig(text, '/x.yaml', { env: {}, home: '/home/bg' });
      assert.equal(config.repository.kdf_target_ms, value);
    }
  });

  it('rejects an invalid repository.kdf_target_ms', async () => {
    const sources = 'sources:\n  - { type: files, name: etc, path: /etc }\n';
    for (const [value, shown] of [
      ['-1', '-1'],
      ['1.5', '1.5'],
      ['60001', '60001'],
      ['fast', '"fast"'],
    ]) {
      const err = await configError(`repository:\n  kdf_target_ms: ${value}\n${sources}`);
      assert.ok(
        err.message.includes(
          ':2: repository.kdf_target_ms: expected a whole number of milliseconds ' +
            `from 0 to 60000, got ${shown}; write kdf_target_ms: 500`,
        ),
        err.message,
      );
    }
  });

  it('accepts sections whose keys are all commented out', async () => {
    const text = 'onedrive:\n  # folder: ~/OneDrive\nbackup:\nsources:\n  - { type: files, name: etc, path: /etc }\n';
    const config = await parseConfig(text, '/x.yaml', { env: {}, home: '/home/bg' });
    assert.equal(config.onedrive.folder, undefined);
    assert.ok(config.backup.hostname.length > 0);
  });

  it('keeps the s3 secret out of JSON and inspect output', async () => {
    const config = await parseConfig(fullConfig(), join(dir, 'c.yaml'), { env: {}, home: '/h' });
    const s3 = config.sources[1] as S3SourceConfig;
    assert.equal(s3.secret_access_key, SECRET);
    assert.ok(!JSON.stringify(config).includes(SECRET));
    assert.ok(!inspect(config, { depth: 10 }).includes(SECRET));
  });

  it('rejects a string where a list of buckets is expected', async () => {
    const err = await configError(`sources:${S3_SOURCE}\n    buckets: bgapp-data\n`);
    assert.equal(
      err.message,
      'invalid config /etc/x.yaml:6: sources[0].buckets: expected a list of bucket names, ' +
        'got "bgapp-data"; write buckets: [bgapp-data]',
    );
  });

  it('rejects a wrong type with the value and an example', async () => {
    const err = await configError('plain_copies:\n  keep: many\nsources: []\n');
    assert.match(err.message, /plain_copies\.keep: expected a whole number from 1 to 1000, got "many"; write keep: 3/);
  });

  it('rejects an unknown key and suggests the near miss', async () => {
    const text = `sources:${S3_SOURCE}\n    bukets: [a-b-c]\n    secret_access_key_file: /x\n`;
    const err = await configError(text);
    assert.match(err.message, /sources\[0\]\.bukets: unknown key; did you mean buckets\?/);
    assert.match(err.message, /sources\[0\]\.buckets: missing, expected a list of bucket names/);
  });

  it('suggests the key for two swapped letters', async () => {
    const err = await configError('repository:\n  paht: x\nsources: []\n');
    assert.match(err.message, /repository\.paht: unknown key; did you mean path\?/);
  });

  it('rejects an unknown top-level section with a suggestion', async () => {
    const err = await configError('plain_copy:\n  keep: 2\nsources:\n  - { type: files, name: a, path: /a }\n');
    assert.match(err.message, /:1: plain_copy: unknown key; did you mean plain_copies\?/);
  });

  it('rejects a key of another source type and names its owner', async () => {
    const text = 'sources:\n  - { type: files, name: a, path: /a, buckets: [x] }\n';
    const err = await configError(text);
    assert.match(err.message, /unknown key for a files source \(buckets belongs to s3 sources\)/);
  });

  it('rejects an inline secret without echoing it', async () => {
    const err = await configError(`sources:${S3_SOURCE}\n    buckets: [abc]\n    secret_access_key: ${SECRET}\n`);
    assert.match(err.message, /secret_access_key: unknown key; secrets are not written in the config/);
    assert.ok(!err.message.includes(SECRET));
  });

  it('rejects a missing required key', async () => {
    const err = await configError('sources:\n  - type: postgres\n    name: geo\n');
    assert.match(
      err.message,
      /:2: sources\[0\]\.url: missing, expected a postgres:\/\/ URL that names the database; write url: postgres:\/\/postgres@127\.0\.0\.1:5432\/geo/,
    );
  });

  it('rejects a config without sources', async () => {
    const err = await configError('backup:\n  hostname: x\n');
    assert.match(err.message, /sources: missing, expected a list of at least one source/);
  });

  it('rejects a URL that is not a postgres URL', async () => {
    const err = await configError('sources:\n  - { type: postgres, name: geo, url: "localhost:5432" }\n');
    assert.match(err.message, /sources\[0\]\.url: expected a postgres:\/\/ URL that names the database, got "localhost:5432"/);
  });

  it('rejects a postgres URL with a password without echoing it', async () => {
    const url = 'postgres://postgres:hunter2pw@127.0.0.1/geo';
    const err = await configError(`sources:\n  - { type: postgres, name: geo, url: "${url}" }\n`);
    assert.match(err.message, /sources\[0\]\.url: contains a password; remove it from the URL/);
    assert.ok(!err.message.includes('hunter2pw'));
  });

  it('rejects an endpoint that is not http', async () => {
    const text = `sources:${S3_SOURCE.replace('http://127.0.0.1:9000', 'ftp://x')}\n    buckets: [abc]\n`;
    const err = await configError(text, { AWS_SECRET_ACCESS_KEY: 'k' });
    assert.match(err.message, /sources\[0\]\.endpoint: expected an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x"/);
  });

  it('rejects duplicate source names, also when only the case differs', async () => {
    const text =
      'sources:\n  - { type: files, name: geo, path: /a }\n  - { type: postgres, name: GEO, url: "postgres://u@h/geo" }\n';
    const err = await configError(text);
    assert.match(err.message, /:3: sources\[1\]\.name: duplicate source name "GEO", also used by sources\[0\]/);
  });

  it('rejects a source name that cannot be a folder name', async () => {
    const err = await configError('sources:\n  - { type: files, name: "my configs/x", path: /a }\n');
    assert.match(err.message, /sources\[0\]\.name: expected a name of at most 64 letters.*got "my configs\/x"; write name: my-configs-x/);
  });

  it('rejects an unknown source type and suggests the near one', async () => {
    const err = await configError('sources:\n  - { type: postgresql, name: geo, url: "postgres://u@h/geo" }\n');
    assert.match(err.message, /sources\[0\]\.type: expected one of postgres, s3, files, got "postgresql"; did you mean type: postgres\?/);
  });

  it('lists every problem with its line when there are several', async () => {
    const err = await configError('sources:\n  - { type: files, name: a }\n  - { type: files, path: /b }\n');
    assert.match(err.message, /^invalid config \/etc\/x\.yaml: 2 problems\n/);
    assert.match(err.message, /\n {2}line 2: sources\[0\]\.path: missing/);
    assert.match(err.message, /\n {2}line 3: sources\[1\]\.name: missing/);
  });

  it('rejects YAML syntax errors with the line', async () => {
    const err = await configError('sources:\n  - type: files\n   name: x\n');
    assert.match(err.message, /^invalid config \/etc\/x\.yaml:\d+: not valid YAML/);
  });

  it('rejects duplicate YAML keys', async () => {
    const err = await configError('sources: []\nsources: []\n');
    assert.match(err.message, /not valid YAML \(Map keys must be unique/);
  });

  it('rejects an empty file', async () => {
    const err = await configError('# nothing\n');
    assert.match(err.message, /the file is empty/);
  });

  it('rejects an unreadable secret key file', async () => {
    const text = `sources:${S3_SOURCE}\n    buckets: [abc]\n    secret_access_key_file: /nonexistent/secret\n`;
    const err = await configError(text);
    assert.match(err.message, /:7: sources\[0\]\.secret_access_key_file: cannot read \/nonexistent\/secret/);
  });

  it('rejects an s3 source with no secret key anywhere', async () => {
    const err = await configError(`sources:${S3_SOURCE}\n    buckets: [abc]\n`);
    assert.match(err.message, /no secret key for s3 source minio; set secret_access_key_file, BGAPP_S3_SECRET_ACCESS_KEY_MINIO or AWS_SECRET_ACCESS_KEY/);
  });

  it('rejects the same bucket in two sources when plain copies are on', async () => {
    const text =
      'plain_copies: { enabled: true }\nsources:\n' +
      '  - { type: s3, name: a, endpoint: "http://h", access_key_id: k, buckets: [abc] }\n' +
      '  - { type: s3, name: b, endpoint: "http://g", access_key_id: k, buckets: [abc] }\n';
    const err = await configError(text, { AWS_SECRET_ACCESS_KEY: 'k' });
    assert.match(err.message, /sources\[1\]\.buckets\[0\]: bucket abc is also backed up by source a/);
  });
});

describe('s3 secret key sources', () => {
  const text = `sources:${S3_SOURCE}\n    buckets: [abc]\n`;

  async function secretWith(env: Record<string, string>, withFile: boolean): Promise<string> {
    const body = withFile ? `${text}    secret_access_key_file: ${secretFile}\n` : text;
    const config = await parseConfig(body, '/x.yaml', { env, home: '/h' });
    return (config.sources[0] as S3SourceConfig).secret_access_key;
  }

  it('prefers BGAPP_S3_SECRET_ACCESS_KEY_<NAME> over the file', async () => {
    const env = { BGAPP_S3_SECRET_ACCESS_KEY_MINIO: 'from-env', AWS_SECRET_ACCESS_KEY: 'aws' };
    assert.equal(await secretWith(env, true), 'from-env');
  });

  it('prefers the file over AWS_SECRET_ACCESS_KEY', async () => {
    assert.equal(await secretWith({ AWS_SECRET_ACCESS_KEY: 'aws' }, true), SECRET);
  });

  it('falls back to AWS_SECRET_ACCESS_KEY', async () => {
    assert.equal(await secretWith({ AWS_SECRET_ACCESS_KEY: 'aws' }, false), 'aws');
  });
});

describe('locateConfig', () => {
  it('prefers --config over BGAPP_BACKUP_CONFIG over the default', () => {
    const env = { BGAPP_BACKUP_CONFIG: 'env.yaml' };
    assert.deepEqual(locateConfig({ configFile: 'flag.yaml', env, cwd: '/w' }), {
      path: '/w/flag.yaml',
      origin: '--config',
    });
    assert.deepEqual(locateConfig({ env, cwd: '/w' }), { path: '/w/env.yaml', origin: 'BGAPP_BACKUP_CONFIG' });
    assert.deepEqual(locateConfig({ env: {}, cwd: '/w' }), {
      path: '/w/bgapp-backup.yaml',
      origin: 'default',
    });
  });
});

describe('loadConfig', () => {
  it('reads ./bgapp-backup.yaml from the working folder', async () => {
    const cwd = await mkdtemp(join(dir, 'cwd-'));
    await writeFile(join(cwd, 'bgapp-backup.yaml'), fullConfig());
    const config = await loadConfig({ cwd, env: {}, home: '/h' });
    assert.equal(config.sources.length, 4);
  });

  it('raises ERR_CONFIG_NOT_FOUND when the named file is missing', async () => {
    await assert.rejects(loadConfig({ configFile: join(dir, 'missing.yaml'), env: {} }), (err) => {
      assert.ok(isBackupError(err, 'ERR_CONFIG_NOT_FOUND'));
      assert.match(err.message, /missing\.yaml not found; pass --config FILE, set BGAPP_BACKUP_CONFIG/);
      return true;
    });
  });

  it('returns undefined for an optional config that does not exist', async () => {
    const cwd = await mkdtemp(join(dir, 'empty-'));
    assert.equal(await loadOptionalConfig({ cwd, env: {} }), undefined);
  });

  it('still raises for an optional config named by BGAPP_BACKUP_CONFIG', async () => {
    const env = { BGAPP_BACKUP_CONFIG: join(dir, 'nope.yaml') };
    await assert.rejects(loadOptionalConfig({ env }), (err) => isBackupError(err, 'ERR_CONFIG_NOT_FOUND'));
  });
});
