/**
 * End-to-end tests of the main job through the command line: the whole stack
 * (PostGIS, buckets on the S3 emulator, a config folder) backed up and
 * restored into empty targets, checked by the stock restic binary, and
 * deduplicated across runs.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../src/sources/s3/index.ts';
import { runCliOk } from './support/cli.ts';
import { seedGeoDatabase, startPostgres } from './support/postgres.ts';
import type { TestPostgres } from './support/postgres.ts';
import { startS3Server } from './support/s3.ts';
import {
  filesSourceConfig,
  postgresSourceConfig,
  s3SourceConfig,
  writeConfigFile,
} from './support/stack-config.ts';
import type { S3Server } from './support/s3.ts';

const PASSWORD = 'stack test password';
// Near the 1024-byte limit, in segments short enough for s3rver, which keeps keys as file paths.
const LONG_KEY = ['long', ...Array.from({ length: 5 }, (_, i) => String(i).repeat(200))].join('/');
const BIG_OBJECT = randomBytes(20 * 1024 * 1024);
const OBJECTS: {
  key: string;
  body: Buffer;
  contentType: string;
  metadata: Record<string, string>;
}[] = [
  {
    key: 'a',
    body: Buffer.from('object a'),
    contentType: 'text/plain',
    metadata: { kind: 'file' },
  },
  { key: 'a/b', body: Buffer.from('object a/b'), contentType: 'text/plain', metadata: {} },
  {
    key: 'caf\u00e9.txt',
    body: Buffer.from('nfc'),
    contentType: 'text/plain',
    metadata: { form: 'nfc' },
  },
  {
    key: 'cafe\u0301.txt',
    body: Buffer.from('nfd'),
    contentType: 'text/plain',
    metadata: { form: 'nfd' },
  },
  {
    key: LONG_KEY,
    body: Buffer.from('long'),
    contentType: 'application/octet-stream',
    metadata: {},
  },
  {
    key: 'empty.bin',
    body: Buffer.alloc(0),
    contentType: 'application/octet-stream',
    metadata: {},
  },
  {
    key: 'folder-marker/',
    body: Buffer.alloc(0),
    contentType: 'application/x-directory',
    metadata: {},
  },
  {
    key: 'tiles/big.bin',
    body: BIG_OBJECT,
    contentType: 'image/x-test',
    metadata: { owner: 'gis' },
  },
];

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function restic(
  args: string[],
  repository: string,
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('restic', ['-r', repository, ...args], {
    env: { ...process.env, RESTIC_PASSWORD: PASSWORD },
    encoding: 'utf8',
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('main job on a whole stack', () => {
  let pg: TestPostgres;
  let s3: S3Server;
  let client: S3Client;
  let base: string;
  let env: Record<string, string>;
  let configs: string;
  let repository: string;
  let firstId: string;
  let firstStored: number;

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'bgapp-stack-'));
    [pg, s3] = await Promise.all([startPostgres(), startS3Server()]);
    await seedGeoDatabase(pg, 'geo');
    // A table large enough that "1% of the database" means something.
    await pg.psql(
      `CREATE TABLE public.readings (id serial PRIMARY KEY, note text, geom geometry(Point, 4326));
       INSERT INTO public.readings (note, geom)
       SELECT md5(i::text) || repeat(' reading', 10), ST_SetSRID(ST_MakePoint(i % 180, i % 90), 4326)
         FROM generate_series(1, 100000) AS i;`,
      'geo',
    );
    client = createS3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    await client.send(new CreateBucketCommand({ Bucket: 'bgapp-data' }));
    for (const o of OBJECTS) {
      await client.send(
        new PutObjectCommand({
          Bucket: 'bgapp-data',
          Key: o.key,
          Body: o.body,
          ContentType: o.contentType,
          Metadata: o.metadata,
        }),
      );
    }

    configs = join(base, 'configs');
    await mkdir(join(configs, 'empty'), { recursive: true });
    await mkdir(join(configs, 'nginx'));
    await writeFile(join(configs, 'nginx', 'site.conf'), 'server {}\n');
    await writeFile(join(configs, 'secret.env'), 'TOKEN=x\n');
    await chmod(join(configs, 'secret.env'), 0o600);
    await writeFile(join(configs, '\u00e9t\u00e9 \u2603.txt'), 'unicode name\n');
    await symlink('nginx/site.conf', join(configs, 'current.conf'));

    const oneDrive = join(base, 'OneDrive');
    await mkdir(oneDrive);
    const secretFile = join(base, 's3-secret');
    await writeFile(secretFile, s3.secretAccessKey);
    const configFile = join(base, 'bgapp-backup.yaml');
    await writeConfigFile(configFile, {
      onedrive: { folder: oneDrive },
      sources: [
        postgresSourceConfig(pg, 'geo'),
        s3SourceConfig(s3, secretFile, ['bgapp-data']),
        filesSourceConfig('configs', configs),
      ],
    });
    env = { BGAPP_BACKUP_CONFIG: configFile, BGAPP_BACKUP_PASSWORD: PASSWORD };
    repository = join(oneDrive, 'BGAPP_Backups', 'repository');
    await runCliOk(['init'], env);
    const backup = JSON.parse((await runCliOk(['backup', '--json'], env)).stdout) as {
      snapshot_id: string;
      stored_bytes: number;
    };
    firstId = backup.snapshot_id;
    firstStored = backup.stored_bytes;
  });

  after(async () => {
    client?.destroy();
    await Promise.all([s3?.stop(), pg?.stop()]);
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('restores the database into a fresh database with matching rows and SRIDs', async () => {
    await runCliOk(
      [
        'restore',
        firstId.slice(0, 10),
        '--source',
        'geo',
        '--target-url',
        pg.url('geo_copy'),
        '--roles',
      ],
      env,
    );
    const countsSql = `SELECT string_agg(format('%s.%s', schemaname, relname), ',' ORDER BY schemaname, relname)
                         FROM pg_stat_user_tables`;
    assert.equal(await pg.psql(countsSql, 'geo_copy'), await pg.psql(countsSql, 'geo'));
    for (const table of ['app.parcels', 'public.stations', 'public.routes', 'public.readings']) {
      const sql = `SELECT count(*) FROM ${table}`;
      assert.equal(await pg.psql(sql, 'geo_copy'), await pg.psql(sql, 'geo'), table);
    }
    const sridSql =
      "SELECT string_agg(DISTINCT srid::text, ',' ORDER BY srid::text) FROM geometry_columns";
    assert.equal(await pg.psql(sridSql, 'geo_copy'), await pg.psql(sridSql, 'geo'));
    const version = 'SELECT postgis_lib_version()';
    assert.equal(await pg.psql(version, 'geo_copy'), await pg.psql(version, 'geo'));
    assert.equal(
      await pg.psql('SELECT count(*) FROM spatial_ref_sys WHERE srid = 990001', 'geo_copy'),
      '1',
    );
    assert.equal(
      await pg.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'parcels'", 'geo_copy'),
      'gis_app',
    );
    assert.equal(
      await pg.psql('SELECT md5(lo_get(424242))', 'geo_copy'),
      await pg.psql('SELECT md5(lo_get(424242))', 'geo'),
    );
  });

  it('restores a bucket into an empty bucket with bytes, content types and metadata', async () => {
    await runCliOk(['restore', 'latest', '--source', 'minio', '--target-bucket', 'restored'], env);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'restored' }));
    const keys = (listed.Contents ?? []).map((o) => o.Key).sort();
    assert.deepEqual(keys, OBJECTS.map((o) => o.key).sort());
    for (const o of OBJECTS) {
      const got = await client.send(new GetObjectCommand({ Bucket: 'restored', Key: o.key }));
      const body = Buffer.from(await got.Body!.transformToByteArray());
      assert.equal(sha256(body), sha256(o.body), `bytes of ${o.key.slice(0, 40)}`);
      assert.equal(got.ContentType, o.contentType, `content type of ${o.key.slice(0, 40)}`);
      assert.deepEqual(got.Metadata ?? {}, o.metadata, `metadata of ${o.key.slice(0, 40)}`);
    }
  });

  it('restores files with symlink, empty folder, unicode names and modes', async () => {
    const target = join(base, 'restored-configs');
    await runCliOk(['restore', 'latest', '--source', 'configs', '--target-dir', target], env);
    assert.equal(await readlink(join(target, 'current.conf')), 'nginx/site.conf');
    assert.ok((await lstat(join(target, 'empty'))).isDirectory());
    assert.equal(
      await readFile(join(target, '\u00e9t\u00e9 \u2603.txt'), 'utf8'),
      'unicode name\n',
    );
    assert.equal((await lstat(join(target, 'secret.env'))).mode & 0o777, 0o600);
    assert.equal(await readFile(join(target, 'nginx', 'site.conf'), 'utf8'), 'server {}\n');
  });

  it('passes restic check --read-data and restic restore gives identical data', async () => {
    const check = restic(['check', '--read-data'], repository);
    assert.equal(check.status, 0, check.stderr);
    const target = join(base, 'restic-restore');
    const restored = restic(['restore', firstId, '--target', target], repository);
    assert.equal(restored.status, 0, restored.stderr);
    const manifest = JSON.parse(await readFile(join(target, 'manifest.json'), 'utf8')) as {
      sources: { type: string; dump?: { path: string; sha256: string } }[];
    };
    const pgManifest = manifest.sources.find((s) => s.type === 'postgres');
    assert.ok(pgManifest?.dump);
    const dump = await readFile(join(target, 'postgres', 'geo', pgManifest.dump.path));
    assert.equal(sha256(dump), pgManifest.dump.sha256);
    assert.equal(
      await readFile(join(target, 'files', 'configs', 'nginx', 'site.conf'), 'utf8'),
      'server {}\n',
    );
    assert.equal(
      await readlink(join(target, 'files', 'configs', 'current.conf')),
      'nginx/site.conf',
    );
  });

  it('adds under 1% for an unchanged stack and under 10% after a day of change', async () => {
    const unchanged = JSON.parse((await runCliOk(['backup', '--json'], env)).stdout) as {
      stored_bytes: number;
    };
    assert.ok(
      unchanged.stored_bytes < firstStored * 0.01,
      `unchanged: ${unchanged.stored_bytes} of ${firstStored} bytes`,
    );

    await pg.psql(
      `INSERT INTO public.readings (note, geom)
       SELECT md5(i::text) || ' new', ST_SetSRID(ST_MakePoint(1, 1), 4326) FROM generate_series(1, 1000) AS i;
       UPDATE public.readings SET note = note || ' edited' WHERE id BETWEEN 40000 AND 40999;`,
      'geo',
    );
    await client.send(
      new PutObjectCommand({
        Bucket: 'bgapp-data',
        Key: 'uploads/new.geojson',
        Body: '{"type":"Point"}',
      }),
    );
    await writeFile(join(configs, 'nginx', 'site.conf'), 'server { listen 8080; }\n');
    const changed = JSON.parse((await runCliOk(['backup', '--json'], env)).stdout) as {
      stored_bytes: number;
    };
    assert.ok(
      changed.stored_bytes < firstStored * 0.1,
      `changed: ${changed.stored_bytes} of ${firstStored} bytes`,
    );
    const check = restic(['check'], repository);
    assert.equal(check.status, 0, check.stderr);
  });
});
