import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBackupError } from '../../errors/index.ts';
import { silentLogger } from '../../log/index.ts';
import { createPostgresSource } from '../../sources/postgres/index.ts';
import type { PostgresManifest } from '../../sources/types.ts';
import type { RestoreContext } from '../types.ts';
import { MemorySnapshot } from '../../../test/support/memory-snapshot.ts';
import {
  PG_FIXTURES,
  seedGeoDatabase,
  startPostgres,
  type TestPostgres,
} from '../../../test/support/postgres.ts';
import { classifyRestoreErrors, restorePostgres } from './index.ts';

describe('restorePostgres', () => {
  let source: TestPostgres;
  let target: TestPostgres;
  let snapshot: MemorySnapshot;
  let manifest: PostgresManifest;
  let targetPostgresHash: string;

  before(async () => {
    [source, target] = await Promise.all([startPostgres(), startPostgres()]);
    await seedGeoDatabase(source, 'geo');
    await source.psql(`ALTER ROLE postgres PASSWORD 'source-side-password'`);
    await target.psql(`ALTER ROLE postgres PASSWORD 'target-side-password'`);
    targetPostgresHash = await target.psql(
      `SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'`,
    );
    snapshot = new MemorySnapshot();
    manifest = (await createPostgresSource({
      type: 'postgres',
      name: 'bgapp-db',
      url: source.url('geo'),
      bin_dir: source.binDir,
      globals: true,
    }).backup({
      writer: snapshot,
      logger: silentLogger,
      signal: new AbortController().signal,
      onEvent: () => {},
      warn: () => {},
    })) as PostgresManifest;
  });

  after(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  function context(force = false): RestoreContext<PostgresManifest> {
    return {
      reader: snapshot,
      manifest,
      force,
      logger: silentLogger,
      signal: new AbortController().signal,
      onEvent: () => {},
    };
  }

  it('rejects missing roles when roles are off', async () => {
    const options = { targetUrl: target.url('geo_noroles'), roles: false, binDir: target.binDir };

    await assert.rejects(restorePostgres(context(), options), (err) => {
      assert.ok(isBackupError(err, 'ERR_PG_ROLE_MISSING'));
      assert.match(err.message, /gis_app/);
      assert.match(err.message, /--roles/);
      return true;
    });
    const created = `SELECT count(*) FROM pg_database WHERE datname = 'geo_noroles'`;
    assert.equal(await target.psql(created), '0');
  });

  it('restores into a new database with roles', async () => {
    const report = await restorePostgres(context(), {
      targetUrl: target.url('geo'),
      roles: true,
      binDir: target.binDir,
    });

    assert.deepEqual(report.differences, []);
    assert.equal(report.verified, true);
    assert.equal(report.target, target.url('geo'));
    assert.ok(report.notes.some((note) => /created roles: .*gis_app/.test(note)));
    for (const [table, rows] of Object.entries(manifest.rowCounts)) {
      assert.equal(Number(await target.psql(`SELECT count(*) FROM ${table}`, 'geo')), rows, table);
    }
    const q = (sql: string) => target.psql(sql, 'geo');
    assert.equal(await q('SELECT DISTINCT ST_SRID(geom) FROM app.parcels'), '4326');
    assert.equal(await q('SELECT DISTINCT ST_SRID(centre::geometry) FROM app.parcels'), '4326');
    assert.equal(await q('SELECT DISTINCT ST_SRID(geom) FROM public.stations'), '3857');
    assert.equal(await q('SELECT DISTINCT ST_SRID(geom) FROM public.routes'), '32633');
    assert.equal(await q(`SELECT format_type(atttypid, atttypmod) FROM pg_attribute
      WHERE attrelid = 'app.parcels'::regclass AND attname = 'centre'`), 'geography(Point,4326)');
    const ownerSql = `SELECT tableowner FROM pg_tables WHERE tablename = 'parcels'`;
    assert.equal(await q(ownerSql), 'gis_app');
    assert.equal(await q(`SELECT has_table_privilege('gis_read', 'app.parcels', 'SELECT')`), 't');
    assert.equal(await q(`SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
      WHERE relname = 'parcels_geom_gist'`), 'gist');
    assert.equal(await q('SELECT count(*) FROM app.parcel_centres'), '60');
    assert.equal(await q('SELECT last_value FROM public.ticket_seq'), '100');
    assert.equal(await q('SELECT count(*) FROM spatial_ref_sys WHERE srid = 990001'), '1');
    assert.equal(await q(`SELECT count(*) FROM topology.topology WHERE name = 't_city'`), '1');
    assert.equal(await q('SELECT extversion FROM pg_extension WHERE extname = $$postgis$$'),
      manifest.postgisVersion);

    const loSql = `SELECT md5(lo_get(424242)) || ' ' || pg_get_userbyid(lomowner)
      FROM pg_largeobject_metadata WHERE oid = 424242`;
    assert.equal(await q(loSql), await source.psql(loSql, 'geo'));
    assert.match(await q(loSql), / doc_owner$/);

    const hashSql = (role: string) => `SELECT rolpassword FROM pg_authid WHERE rolname = '${role}'`;
    assert.equal(await target.psql(hashSql('postgres')), targetPostgresHash);
    assert.equal(await target.psql(hashSql('gis_app')), await source.psql(hashSql('gis_app')));
    assert.equal(await target.psql(`SELECT pg_has_role('gis_app', 'gis_read', 'MEMBER')`), 't');
  });

  it('counts a database with only PostGIS as empty', async () => {
    await target.psql('CREATE DATABASE geo_template');
    const extensions = 'CREATE EXTENSION postgis; CREATE EXTENSION postgis_topology';
    await target.psql(extensions, 'geo_template');

    const report = await restorePostgres(context(), {
      targetUrl: target.url('geo_template'),
      roles: false,
      binDir: target.binDir,
    });

    assert.deepEqual(report.differences, []);
    assert.equal(report.verified, true);
    assert.equal(
      await target.psql('SELECT count(*) FROM spatial_ref_sys WHERE srid = 990001', 'geo_template'),
      '1',
    );
    assert.equal(await target.psql('SELECT count(*) FROM app.parcels', 'geo_template'), '60');
  });

  it('rejects a non-empty target and replaces it with force', async () => {
    await target.psql('CREATE DATABASE geo_busy');
    await target.psql('CREATE TABLE leftover (id int)', 'geo_busy');
    const options = { targetUrl: target.url('geo_busy'), roles: false, binDir: target.binDir };

    await assert.rejects(restorePostgres(context(), options), (err) => {
      assert.ok(isBackupError(err, 'ERR_RESTORE_TARGET_NOT_EMPTY'));
      assert.match(err.message, /public\.leftover/);
      assert.match(err.message, /--force/);
      return true;
    });
    const report = await restorePostgres(context(true), options);

    assert.equal(report.verified, true);
    const gone = `SELECT to_regclass('public.leftover') IS NULL`;
    assert.equal(await target.psql(gone, 'geo_busy'), 't');
    assert.ok(report.notes.some((note) => note.includes('dropped and recreated')));
  });

  it('restores one table with --table', async () => {
    const report = await restorePostgres(context(), {
      targetUrl: target.url('geo_one'),
      tables: ['app.parcels'],
      roles: false,
      binDir: target.binDir,
    });

    assert.deepEqual(report.differences, []);
    const q = (sql: string) => target.psql(sql, 'geo_one');
    assert.equal(await q('SELECT count(*) FROM app.parcels'), '60');
    assert.equal(await q(`SELECT to_regclass('app.parcels_geom_gist') IS NOT NULL`), 't');
    assert.equal(await q(`SELECT to_regclass('app.parcels_pkey') IS NOT NULL`), 't');
    assert.equal(await q(`SELECT last_value FROM app.parcels_id_seq`), '60');
    assert.equal(await q(`SELECT to_regclass('public.stations') IS NULL`), 't');
    assert.equal(await q(`SELECT has_table_privilege('gis_read', 'app.parcels', 'SELECT')`), 't');
  });

  it('restores with parallel jobs from a temporary file', async () => {
    const report = await restorePostgres(context(), {
      targetUrl: target.url('geo_jobs'),
      roles: false,
      jobs: 2,
      binDir: target.binDir,
    });

    assert.deepEqual(report.differences, []);
    assert.ok(report.notes.some((note) => note.includes('temporary file')));
  });

  it('runs pg_restore inside the container with docker exec', async () => {
    const log = join(target.socketDir, '..', 'docker.log');
    await rm(log, { force: true });
    const env = {
      ...process.env,
      PATH: `${join(PG_FIXTURES, 'docker-stand-in')}:${process.env.PATH ?? ''}`,
      FAKE_DOCKER_LOG: log,
      FAKE_DOCKER_SOCKET_DIR: target.socketDir,
      FAKE_DOCKER_PORT: String(target.port),
    };
    const report = await restorePostgres(context(), {
      targetUrl: target.url('geo_docker'),
      roles: false,
      container: 'bgapp-postgis',
      binDir: '/nonexistent/bin',
      env,
    });

    assert.deepEqual(report.differences, []);
    const calls = await readFile(log, 'utf8');
    assert.match(calls, /^exec -i bgapp-postgis pg_restore --list$/m);
    const restoreCall = new RegExp('^exec -i bgapp-postgis pg_restore --use-list=/tmp/\\S+ ' +
      '--username=postgres --dbname=geo_docker ', 'm');
    assert.match(calls, restoreCall);
  });
});

describe('classifyRestoreErrors', () => {
  it('separates tolerated from fatal errors', () => {
    const stderr = [
      'pg_restore: while PROCESSING TOC:',
      'pg_restore: from TOC entry 8; 2615 17429 SCHEMA topology postgres',
      'pg_restore: error: could not execute query: ERROR:  schema "topology" already exists',
      'Command was: CREATE SCHEMA topology;',
      'pg_restore: from TOC entry 231; 1259 17595 TABLE app parcels gis_app',
      'pg_restore: error: could not execute query: ERROR:  type "geometry" does not exist',
      'Command was: CREATE TABLE app.parcels (...);',
      'pg_restore: warning: errors ignored on restore: 2',
    ].join('\n');

    const errors = classifyRestoreErrors(stderr);

    assert.equal(errors.tolerated.length, 1);
    assert.match(errors.tolerated[0] ?? '', /schema "topology" already exists/);
    assert.equal(errors.fatal.length, 1);
    assert.match(errors.fatal[0] ?? '', /type "geometry" does not exist/);
  });
});
