import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { isBackupError } from '../../errors/index.ts';
import { startPostgres, type TestPostgres } from '../../../test/support/postgres.ts';
import { connectPostgres } from './connection.ts';

// Made up for this throwaway cluster.
const ROLE = 'pw_user';
const ROLE_PASSWORD = 'test-only-pw';

describe('connectPostgres with a password', () => {
  let cluster: TestPostgres;
  let folder: string;
  let url: string;
  const savedEnv = { PGPASSWORD: process.env.PGPASSWORD, PGPASSFILE: process.env.PGPASSFILE };

  before(async () => {
    cluster = await startPostgres();
    folder = await mkdtemp(join(tmpdir(), 'bgapp-pgpass-'));
    await cluster.psql(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${ROLE_PASSWORD}'`);
    // The test cluster trusts everyone. This first matching line makes the role need a password.
    const hbaFile = await cluster.psql('SHOW hba_file');
    const hba = await readFile(hbaFile, 'utf8');
    await writeFile(hbaFile, `host all ${ROLE} 127.0.0.1/32 scram-sha-256\n${hba}`);
    await cluster.psql('SELECT pg_reload_conf()');
    url = `postgres://${ROLE}@${cluster.host}:${cluster.port}/postgres`;
  });

  after(async () => {
    restoreEnv(savedEnv);
    await cluster?.stop();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  beforeEach(() => {
    delete process.env.PGPASSWORD;
    process.env.PGPASSFILE = join(folder, 'missing-pgpass');
  });

  it('explains a missing password', async () => {
    await assert.rejects(connectPostgres(url), (err) => {
      assert.ok(isBackupError(err, 'ERR_PG_CONNECT'), String(err));
      assert.match(err.message, /requested a password for user "pw_user", but none is set/);
      assert.match(err.message, /PGPASSWORD/);
      assert.ok(err.message.includes(`${cluster.host}:${cluster.port}:postgres:pw_user:PASSWORD`));
      assert.doesNotMatch(err.message, /SASL/);
      assert.doesNotMatch(err.message, /server is running/);
      return true;
    });
  });

  it('reads the password file without a warning', async () => {
    const file = join(folder, 'pgpass');
    await writeFile(file, `${cluster.host}:${cluster.port}:*:${ROLE}:${ROLE_PASSWORD}\n`, {
      mode: 0o600,
    });
    process.env.PGPASSFILE = file;
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const client = await connectPostgres(url);
      const result = await client.query<{ user: string }>('SELECT current_user AS user');
      await client.end();
      // process.emitWarning emits on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(result.rows[0]?.user, ROLE);
      assert.deepEqual(warnings.map((w) => w.message), []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('rejects a password file open to others', async () => {
    const file = join(folder, 'pgpass-open');
    await writeFile(file, `${cluster.host}:${cluster.port}:*:${ROLE}:${ROLE_PASSWORD}\n`);
    await chmod(file, 0o644);
    process.env.PGPASSFILE = file;
    const written: string[] = [];
    const original = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array): boolean => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      await assert.rejects(connectPostgres(url), (err) => {
        assert.ok(isBackupError(err, 'ERR_PG_CONNECT'), String(err));
        assert.match(err.message, /is open to group or others \(mode 0644\)/);
        assert.ok(err.message.endsWith(`run chmod 600 ${file}`), err.message);
        return true;
      });
    } finally {
      process.stderr.write = original;
    }
    assert.deepEqual(written, []);
  });

  it('reads PGPASSWORD', async () => {
    process.env.PGPASSWORD = ROLE_PASSWORD;
    const client = await connectPostgres(url);
    await client.end();
  });

  it('names where a wrong password came from', async () => {
    process.env.PGPASSWORD = 'not-the-password';
    await assert.rejects(connectPostgres(url), (err) => {
      assert.ok(isBackupError(err, 'ERR_PG_CONNECT'), String(err));
      assert.match(err.message, /password authentication failed/);
      assert.match(err.message, /check the password in PGPASSWORD$/);
      return true;
    });
  });

  it('connects without a password when the server trusts the user', async () => {
    const client = await connectPostgres(cluster.url('postgres'));
    await client.end();
  });
});

function restoreEnv(saved: Record<string, string | undefined>): void {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}
