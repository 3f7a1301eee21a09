import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { BackupError, isBackupError } from '../../errors/index.ts';
import { silentLogger } from '../../log/index.ts';
import type { PostgresManifest, PostgresSourceConfig, SourceBackupContext } from '../types.ts';
import { MemorySnapshot } from '../../../test/support/memory-snapshot.ts';
import {
  PG_FIXTURES,
  seedGeoDatabase,
  startPostgres,
  type TestPostgres,
} from '../../../test/support/postgres.ts';
import { createPostgresSource } from './index.ts';

function contextFor(writer: MemorySnapshot): SourceBackupContext {
  return {
    writer,
    logger: silentLogger,
    signal: new AbortController().signal,
    onEvent: () => {},
    warn: () => {},
  };
}

/** Looks for lock waits every 100 ms and reports them at once. */
const QUICK_LOCK_WATCH = { everyMillis: 100, reportAfterMillis: 0 };

function envWithPath(folder: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...extra, PATH: `${folder}:${process.env.PATH ?? ''}` };
}

async function readSnapshotFile(snapshot: MemorySnapshot, name: string): Promise<Buffer> {
  const node = await snapshot.lookup([name]);
  assert.ok(node, `${name} is in the snapshot`);
  const parts: Buffer[] = [];
  for await (const chunk of snapshot.openFile(node)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe('createPostgresSource', () => {
  let cluster: TestPostgres;
  let config: PostgresSourceConfig;

  before(async () => {
    cluster = await startPostgres();
    await seedGeoDatabase(cluster, 'geo');
    config = {
      type: 'postgres',
      name: 'bgapp-db',
      url: cluster.url('geo'),
      bin_dir: cluster.binDir,
      globals: true,
    };
  });

  after(async () => {
    await cluster?.stop();
  });

  it('stores the dump and globals with counts', async () => {
    const snapshot = new MemorySnapshot();
    const manifest = (await createPostgresSource(config).backup(
      contextFor(snapshot),
    )) as PostgresManifest;

    assert.equal(manifest.database, 'geo');
    assert.equal(manifest.serverVersionNum >= 150000, true);
    assert.match(manifest.pgDumpVersion, /^15\./);
    assert.equal(manifest.postgisVersion, manifest.extensions.postgis);
    assert.ok(manifest.extensions.postgis_topology);
    assert.equal(manifest.rowCounts['app.parcels'], 60);
    assert.equal(manifest.rowCounts['public.stations'], 25);
    assert.equal(manifest.rowCounts['public.routes'], 12);
    assert.equal(manifest.rowCounts['t_city.node'], 1);
    assert.equal(manifest.rowCounts['public.spatial_ref_sys'], undefined);
    assert.deepEqual(manifest.largeObjects, { count: 1, bytes: 27 });
    assert.equal(manifest.databaseOwner, 'postgres');
    for (const role of ['doc_owner', 'gis_app', 'gis_read', 'postgres']) {
      assert.ok(manifest.roles.includes(role), `roles include ${role}`);
    }
    assert.match(manifest.exportedSnapshot, /^[0-9A-F]+-[0-9A-F]+-\d+$/);
    assert.ok(manifest.dump.command.includes(`--snapshot=${manifest.exportedSnapshot}`));
    assert.ok(manifest.dump.command.includes('--compress=0'));

    const dump = await readSnapshotFile(snapshot, 'geo.dump');
    assert.equal(dump.subarray(0, 5).toString(), 'PGDMP');
    assert.equal(manifest.dump.bytes, dump.length);
    const globals = (await readSnapshotFile(snapshot, 'globals.sql')).toString();
    assert.match(globals, /CREATE ROLE gis_app;/);
    assert.match(globals, /GRANT gis_read TO gis_app/);
    assert.equal(manifest.globals?.bytes, Buffer.byteLength(globals));
  });

  it('keeps the password out of the command', async () => {
    const url = cluster.url('geo').replace('postgres@', 'postgres:pw-not-for-logs@');
    const manifest = (await createPostgresSource({ ...config, url, globals: false }).backup(
      contextFor(new MemorySnapshot()),
    )) as PostgresManifest;

    assert.equal(manifest.globals, null);
    assert.equal(manifest.dump.command.join(' ').includes('pw-not-for-logs'), false);
    assert.ok(manifest.dump.command.some((arg) => arg.startsWith('--dbname=postgres://')));
  });

  it('rejects pg_dump older than the server', async () => {
    const snapshot = new MemorySnapshot();
    const source = createPostgresSource(
      { ...config, bin_dir: undefined },
      { env: envWithPath(join(PG_FIXTURES, 'old-pg-dump')) },
    );

    await assert.rejects(source.backup(contextFor(snapshot)), (err) => {
      assert.ok(isBackupError(err, 'ERR_PG_DUMP_TOO_OLD'));
      assert.match(err.message, /pg_dump 14\.11/);
      assert.match(err.message, /PostgreSQL 15\.\d+/);
      assert.match(err.message, /container:/);
      return true;
    });
    assert.deepEqual(await snapshot.list([]), []);
  });

  it('fails when pg_dump exits non-zero after PGDMP', async () => {
    const source = createPostgresSource(
      { ...config, bin_dir: undefined },
      { env: envWithPath(join(PG_FIXTURES, 'failing-pg-dump')) },
    );

    await assert.rejects(source.backup(contextFor(new MemorySnapshot())), (err) => {
      assert.ok(isBackupError(err, 'ERR_PG_DUMP_FAILED'));
      assert.match(err.message, /exited with status 1/);
      assert.match(err.message, /stand-in failure/);
      return true;
    });
  });

  it('records pg_dump itself as the command', async () => {
    const manifest = (await createPostgresSource({ ...config, globals: false }).backup(
      contextFor(new MemorySnapshot()),
    )) as PostgresManifest;

    assert.equal(manifest.dump.command[0], join(cluster.binDir, 'pg_dump'));
    assert.equal(manifest.dump.command.some((arg) => arg.includes('stdbuf')), false);
  });

  it('stops pg_dump when pg_dumpall fails', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'bgapp-stand-ins-'));
    const pidFile = join(folder, 'pg_dump.pid');
    try {
      await waitingPgDump(folder, pidFile);
      await standIn(folder, 'pg_dumpall', ['sleep 0.5', 'echo "stand-in: permission denied" >&2',
        'exit 1']);
      const source = createPostgresSource({ ...config, bin_dir: undefined },
        { env: envWithPath(folder) });
      const started = Date.now();

      await assert.rejects(source.backup(contextFor(new MemorySnapshot())), (err) => {
        assert.ok(isBackupError(err, 'ERR_PG_DUMP_FAILED'));
        assert.match(err.message, /pg_dumpall --globals-only exited with status 1/);
        return true;
      });
      assert.ok(Date.now() - started < 30_000, 'the backup did not wait for pg_dump to end');
      const pid = Number(await readFile(pidFile, 'utf8'));
      assert.equal(isRunning(pid), false, `pg_dump stand-in ${pid} was stopped`);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('names the signal when the run is interrupted', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'bgapp-stand-ins-'));
    const pidFile = join(folder, 'pg_dump.pid');
    try {
      await waitingPgDump(folder, pidFile);
      const source = createPostgresSource({ ...config, bin_dir: undefined, globals: false },
        { env: envWithPath(folder) });
      const controller = new AbortController();
      const ctx = { ...contextFor(new MemorySnapshot()), signal: controller.signal };
      const backup = source.backup(ctx);
      for (let i = 0; i < 200 && !(await readFile(pidFile, 'utf8').catch(() => '')); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // The command line aborts with this reason on Ctrl-C.
      controller.abort(new BackupError('ERR_ABORTED', 'the run was interrupted by SIGINT'));

      await assert.rejects(backup, (err) => {
        assert.ok(isBackupError(err, 'ERR_ABORTED'), String(err));
        assert.equal(err.message, 'pg_dump was stopped because the run was interrupted by SIGINT');
        return true;
      });
      const pid = Number(await readFile(pidFile, 'utf8'));
      for (let i = 0; i < 100 && isRunning(pid); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(isRunning(pid), false, `pg_dump stand-in ${pid} was stopped`);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('warns of a lock wait and cancels it when aborted', async () => {
    const locker = new pg.Client({ connectionString: cluster.url('geo') });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE app.parcels IN ACCESS EXCLUSIVE MODE');
      const lockerPid = Number(await locker.query('SELECT pg_backend_pid() AS pid').then((r) => r.rows[0].pid));
      const warnings: string[] = [];
      const logger = { ...silentLogger, warn: (_obj: object, msg?: string) => void warnings.push(msg ?? '') };
      logger.child = () => logger;
      const controller = new AbortController();
      const ctx = { ...contextFor(new MemorySnapshot()), signal: controller.signal, logger };
      const source = createPostgresSource({ ...config, globals: false }, { lockWatch: QUICK_LOCK_WATCH });
      const backup = source.backup(ctx);
      backup.catch(() => {});
      // Both sessions carry the backup's application_name, pg_dump's through PGAPPNAME.
      const waiting = `SELECT count(*) FROM pg_stat_activity WHERE datname = 'geo' AND ` +
        `wait_event_type = 'Lock' AND application_name LIKE 'bgapp-backup %'`;
      for (let i = 0; i < 200 && Number(await cluster.psql(waiting)) < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // pg_dump and the row counts both wait for the table.
      assert.equal(Number(await cluster.psql(waiting)), 2);
      for (let i = 0; i < 100 && warnings.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.deepEqual(warnings, [
        `the database backup waits for a lock on app.parcels, held by server process ${lockerPid}; ` +
          'it goes on once the lock is released',
      ]);

      controller.abort(new BackupError('ERR_ABORTED', 'the run was interrupted by SIGINT'));
      const outcome = await Promise.race([
        backup.then(() => 'resolved', () => 'rejected'),
        new Promise((resolve) => setTimeout(resolve, 5000, 'still running after 5 s')),
      ]);
      assert.equal(outcome, 'rejected');
      for (let i = 0; i < 100 && Number(await cluster.psql(waiting)) > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(Number(await cluster.psql(waiting)), 0);
    } finally {
      await locker.end();
    }
  });

  it('names the holder of a lock, not a migration queued for it', async () => {
    await cluster.psql('CREATE TABLE app.lock_watch (id int)', 'geo');
    const reader = new pg.Client({ connectionString: cluster.url('geo') });
    const migration = new pg.Client({ connectionString: cluster.url('geo') });
    await reader.connect();
    await migration.connect();
    try {
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM app.lock_watch');
      const readerPid = Number((await reader.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
      const migrationPid = Number((await migration.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
      const altering = migration.query('ALTER TABLE app.lock_watch ADD COLUMN note text');
      altering.catch(() => {});
      const warnings: string[] = [];
      const logger = { ...silentLogger, warn: (_obj: object, msg?: string) => void warnings.push(msg ?? '') };
      logger.child = () => logger;
      const controller = new AbortController();
      const ctx = { ...contextFor(new MemorySnapshot()), signal: controller.signal, logger };
      const backup = createPostgresSource({ ...config, globals: false }, { lockWatch: QUICK_LOCK_WATCH }).backup(ctx);
      backup.catch(() => {});
      for (let i = 0; i < 200 && warnings.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      controller.abort(new BackupError('ERR_ABORTED', 'the run was interrupted by SIGINT'));
      await backup.catch(() => {});
      assert.deepEqual(warnings, [
        `the database backup waits for a lock on app.lock_watch, held by server process ${readerPid}, ` +
          `with process ${migrationPid} waiting for it first; it goes on once the lock is released`,
      ]);
      await reader.query('COMMIT');
      await altering;
    } finally {
      await reader.end();
      await migration.end();
      await cluster.psql('DROP TABLE app.lock_watch', 'geo');
    }
  });

  it('fails with ERR_PG_CONNECT when the server is unreachable', async () => {
    const port = cluster.port === 1 ? 2 : 1;
    const url = `postgres://postgres:pw-not-for-logs@127.0.0.1:${port}/geo`;
    const source = createPostgresSource({ ...config, url });

    await assert.rejects(source.backup(contextFor(new MemorySnapshot())), (err) => {
      assert.ok(isBackupError(err, 'ERR_PG_CONNECT'));
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.match(err.message, /database "geo"/);
      assert.equal(err.message.includes('pw-not-for-logs'), false);
      return true;
    });
  });

  it('keeps counts and dump in agreement under a concurrent writer', async () => {
    const writer = new pg.Client({ connectionString: cluster.url('geo') });
    await writer.connect();
    let running = true;
    let inserted = 0;
    const writing = (async () => {
      while (running) {
        await writer.query(`INSERT INTO app.parcels (name) VALUES ('concurrent')`);
        inserted++;
      }
    })();

    const snapshot = new MemorySnapshot();
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const before = inserted;
      const manifest = (await createPostgresSource({ ...config, globals: false }).backup(
        contextFor(snapshot),
      )) as PostgresManifest;
      assert.ok(inserted > before, 'the writer inserted rows while the backup ran');

      await cluster.psql('CREATE DATABASE geo_copy');
      await restoreWithPgRestore(cluster, snapshot, 'geo_copy');
      const restored = Number(await cluster.psql('SELECT count(*) FROM app.parcels', 'geo_copy'));
      assert.equal(restored, manifest.rowCounts['app.parcels']);
    } finally {
      running = false;
      await writing;
      await writer.end();
    }
  });

  it('runs pg_dump inside the container with docker exec', async () => {
    const log = join(cluster.socketDir, '..', 'docker.log');
    await rm(log, { force: true });
    const env = envWithPath(join(PG_FIXTURES, 'docker-stand-in'), {
      FAKE_DOCKER_LOG: log,
      FAKE_DOCKER_SOCKET_DIR: cluster.socketDir,
      FAKE_DOCKER_PORT: String(cluster.port),
    });
    const snapshot = new MemorySnapshot();
    const source = createPostgresSource(
      { ...config, bin_dir: '/nonexistent/bin', container: 'bgapp-postgis' },
      { env },
    );
    const manifest = (await source.backup(contextFor(snapshot))) as PostgresManifest;

    const calls = (await readFile(log, 'utf8')).trim().split('\n');
    assert.equal(calls.length, 3);
    assert.equal(calls[0], 'exec bgapp-postgis pg_dump --version');
    // pg_dump and pg_dumpall run at the same time, so either may start first.
    const dumps = calls.slice(1).sort();
    assert.match(dumps[0] ?? '', /^exec -i -e PGAPPNAME bgapp-postgis pg_dump --format=custom /);
    assert.match(dumps[1] ?? '', /^exec -i -e PGAPPNAME bgapp-postgis pg_dumpall --globals-only /);
    // `-e PGAPPNAME` passes the session name into the container.
    assert.deepEqual(manifest.dump.command.slice(0, 7), [
      'docker', 'exec', '-i', '-e', 'PGAPPNAME', 'bgapp-postgis', 'pg_dump',
    ]);
    assert.ok(manifest.dump.command.includes('--username=postgres'));
    assert.ok(manifest.dump.command.includes('--dbname=geo'));
    assert.equal(manifest.dump.command.join(' ').includes('127.0.0.1'), false);
    assert.equal(manifest.rowCounts['app.parcels'] !== undefined, true);
    const dump = await readSnapshotFile(snapshot, 'geo.dump');
    assert.equal(dump.subarray(0, 5).toString(), 'PGDMP');
  });
});

async function restoreWithPgRestore(
  cluster: TestPostgres,
  snapshot: MemorySnapshot,
  db: string,
): Promise<void> {
  const node = await snapshot.lookup(['geo.dump']);
  assert.ok(node);
  const child = spawn(join(cluster.binDir, 'pg_restore'), ['--exit-on-error', '--dbname',
    cluster.url(db)], { stdio: ['pipe', 'inherit', 'inherit'] });
  const exited = new Promise((resolve) => child.on('close', resolve));
  await pipeline(snapshot.openFile(node), child.stdin);
  assert.equal(await exited, 0);
}

async function standIn(folder: string, name: string, lines: string[]): Promise<void> {
  const file = join(folder, name);
  await writeFile(file, ['#!/bin/sh', ...lines, ''].join('\n'));
  await chmod(file, 0o755);
}

/**
 * Writes a pg_dump stand-in that writes a header and then waits, as on a large
 * table. exec keeps the PID, so `pidFile` names the process that must be stopped.
 */
async function waitingPgDump(folder: string, pidFile: string): Promise<void> {
  await standIn(folder, 'pg_dump', [
    'if [ "$1" = "--version" ]; then exec /usr/lib/postgresql/15/bin/pg_dump --version; fi',
    `echo $$ > ${pidFile}`,
    "printf 'PGDMP'",
    'exec sleep 60',
  ]);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
