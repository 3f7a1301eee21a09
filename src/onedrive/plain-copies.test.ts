import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { silentLogger, type ProgressEvent } from '../log/index.ts';
import type { SnapshotReader, TreeNode } from '../snapshot/index.ts';
import type { FilesManifest, PostgresManifest, S3Manifest } from '../sources/index.ts';
import { MemorySnapshot } from '../../test/support/memory-snapshot.ts';
import { copyName, pruneSeries, writePlainCopies, type PlainCopiesOptions } from './plain-copies.ts';

const run = promisify(execFile);
const DUMP = Buffer.from('PGDMP custom format bytes');
const GLOBALS = 'CREATE ROLE app PASSWORD SCRAM-SHA-256$4096:secret-hash;';
const meta = { mode: 0o644, mtime: new Date('2025-01-01T00:00:00Z') };

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bgapp-plain-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

const stamps = { readAt: '2025-01-01T00:00:00Z', finishedAt: '2025-01-01T00:01:00Z' };

const postgresManifest: PostgresManifest = {
  type: 'postgres',
  name: 'geo',
  ...stamps,
  database: 'geo',
  serverVersion: '15.6',
  serverVersionNum: 150006,
  pgDumpVersion: '15.6',
  postgisVersion: '3.4',
  extensions: {},
  exportedSnapshot: '00000003-1',
  rowCounts: {},
  largeObjects: { count: 0, bytes: 0 },
  roles: [],
  dump: { path: 'geo.dump', bytes: DUMP.length, sha256: '', command: ['pg_dump'] },
  globals: { path: 'globals.sql', bytes: GLOBALS.length, sha256: '' },
};

const s3Manifest: S3Manifest = {
  type: 's3',
  name: 'minio',
  ...stamps,
  endpoint: 'http://127.0.0.1:9000',
  buckets: [
    { name: 'bgapp-data', objects: 2, bytes: 0, entries: [] },
    { name: 'bgapp-temp', objects: 0, bytes: 0, entries: [] },
  ],
};

function filesManifest(name: string): FilesManifest {
  return { type: 'files', name, ...stamps, path: `/opt/${name}`, files: 1, bytes: 0, sha256: {} };
}

async function buildSnapshot(): Promise<MemorySnapshot> {
  const snapshot = new MemorySnapshot();
  const add = (path: string[], text: string | Buffer) =>
    snapshot.addFile(path, meta, Readable.from([Buffer.from(text)]));
  await add(['postgres', 'geo', 'geo.dump'], DUMP);
  await add(['postgres', 'geo', 'globals.sql'], GLOBALS);
  await add(['s3', 'minio', 'bgapp-data', 'maps', 'tile.png'], 'png bytes');
  await add(['s3', 'minio', 'bgapp-data', 'readme.txt'], 'hello');
  snapshot.addDir(['s3', 'minio', 'bgapp-temp'], { mode: 0o755, mtime: new Date() });
  await add(['files', 'configs', 'app.yaml'], 'port: 8080\n');
  snapshot.addSymlink(['files', 'configs', 'current'], meta, 'app.yaml');
  await add(['files', 'app-logs', 'api.log'], 'GET / 200\n');
  return snapshot;
}

async function copiesInto(
  oneDriveFolder: string,
  time: Date,
  overrides: Partial<PlainCopiesOptions> = {},
) {
  const events: ProgressEvent[] = [];
  const report = await writePlainCopies({
    reader: await buildSnapshot(),
    manifests: [postgresManifest, s3Manifest, filesManifest('configs'), filesManifest('app-logs')],
    oneDriveFolder,
    keep: 2,
    time,
    filesFolders: { 'app-logs': 'logs' },
    logger: silentLogger,
    onEvent: (event) => events.push(event),
    ...overrides,
  });
  return { report, events };
}

async function tarList(path: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tzf', path]);
  return stdout.trim().split('\n').sort();
}

async function allFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true });
  return entries.map(String).sort();
}

describe('writePlainCopies', () => {
  it('writes a dump and readable archives for every source', async () => {
    const oneDrive = join(root, 'written');
    const time = new Date('2025-03-04T05:06:07.890Z');
    const { report, events } = await copiesInto(oneDrive, time);
    const backups = join(oneDrive, 'BGAPP_Backups');

    assert.deepEqual(report.failed, []);
    assert.equal(report.written.length, 5);
    const dump = join(backups, 'postgres_dumps', 'geo_20250304T050607Z.dump');
    assert.deepEqual(await readFile(dump), DUMP);

    const data = join(backups, 'minio_data', 'bgapp-data_20250304T050607Z.tar.gz');
    assert.deepEqual(await tarList(data), [
      'bgapp-data/',
      'bgapp-data/maps/',
      'bgapp-data/maps/tile.png',
      'bgapp-data/readme.txt',
    ]);
    const { stdout: readme } = await run('tar', ['-xzOf', data, 'bgapp-data/readme.txt']);
    assert.equal(readme, 'hello');
    const temp = join(backups, 'minio_data', 'bgapp-temp_20250304T050607Z.tar.gz');
    assert.deepEqual(await tarList(temp), ['bgapp-temp/']);

    const configs = join(backups, 'configs', 'configs_20250304T050607Z.tar.gz');
    assert.deepEqual(await tarList(configs), ['configs/', 'configs/app.yaml', 'configs/current']);
    const { stdout: verbose } = await run('tar', ['-tvzf', configs, 'configs/current']);
    assert.match(verbose, /current -> app\.yaml/);

    const logs = join(backups, 'logs', 'app-logs_20250304T050607Z.tar.gz');
    assert.deepEqual(await tarList(logs), ['app-logs/', 'app-logs/api.log']);
    assert.ok(events.some((event) => event.type === 'item' && event.item === dump));
  });

  it('never copies globals.sql', async () => {
    const oneDrive = join(root, 'globals');
    await copiesInto(oneDrive, new Date('2025-03-04T05:06:07Z'));
    const files = await allFiles(oneDrive);
    assert.ok(!files.some((file) => file.includes('globals')), files.join(', '));
    for (const file of files.filter((name) => name.endsWith('.dump') || name.endsWith('.gz'))) {
      const { stdout } = file.endsWith('.gz')
        ? await run('sh', ['-c', `gzip -dc '${join(oneDrive, file)}'`])
        : { stdout: await readFile(join(oneDrive, file), 'utf8') };
      assert.ok(!stdout.includes('secret-hash'), `${file} contains the globals`);
    }
  });

  it('prunes each series to the newest N and keeps other files', async () => {
    const oneDrive = join(root, 'pruned');
    const dumps = join(oneDrive, 'BGAPP_Backups', 'postgres_dumps');
    await mkdir(dumps, { recursive: true });
    await writeFile(join(dumps, 'notes.txt'), 'mine');
    await writeFile(join(dumps, 'geo-old_20200101T000000Z.dump'), 'another series');
    for (const day of [1, 2, 3]) {
      const { report } = await copiesInto(oneDrive, new Date(Date.UTC(2025, 0, day)));
      assert.deepEqual(report.failed, []);
    }
    assert.deepEqual((await readdir(dumps)).sort(), [
      'geo-old_20200101T000000Z.dump',
      'geo_20250102T000000Z.dump',
      'geo_20250103T000000Z.dump',
      'notes.txt',
    ]);
    const minio = await readdir(join(oneDrive, 'BGAPP_Backups', 'minio_data'));
    assert.equal(minio.filter((name) => name.startsWith('bgapp-data_')).length, 2);
    assert.ok(!minio.includes('bgapp-data_20250101T000000Z.tar.gz'));
  });

  it('reports a failed copy as a warning and writes the others', async () => {
    const oneDrive = join(root, 'failing');
    const broken = { ...postgresManifest, dump: { ...postgresManifest.dump, path: 'missing.dump' } };
    const { report, events } = await copiesInto(oneDrive, new Date('2025-03-04T05:06:07Z'), {
      manifests: [broken, filesManifest('configs')],
    });
    assert.equal(report.failed.length, 1);
    assert.match(report.failed[0]?.message ?? '', /no dump file \/postgres\/geo\/missing\.dump/);
    assert.equal(report.written.length, 1);
    assert.ok(events.some((event) => event.type === 'warning'));
    assert.deepEqual(await readdir(join(oneDrive, 'BGAPP_Backups', 'postgres_dumps')), []);
  });

  it('leaves no archive when a file cannot be read mid-way', async () => {
    const oneDrive = join(root, 'broken-read');
    const snapshot = await buildSnapshot();
    const failingReader: SnapshotReader = {
      lookup: (path) => snapshot.lookup(path),
      list: (path) => snapshot.list(path),
      walk: (path) => snapshot.walk(path),
      openFile(node: TreeNode) {
        if (node.name !== 'tile.png') return snapshot.openFile(node);
        return Readable.from((async function* () {
          yield Buffer.from('png');
          throw new Error('pack file unreadable');
        })());
      },
    };
    const { report } = await copiesInto(oneDrive, new Date('2025-03-04T05:06:07Z'), {
      reader: failingReader,
      manifests: [s3Manifest],
    });
    assert.equal(report.failed.length, 1);
    assert.match(report.failed[0]?.message ?? '', /pack file unreadable/);
    const minio = await readdir(join(oneDrive, 'BGAPP_Backups', 'minio_data'));
    assert.deepEqual(minio, ['bgapp-temp_20250304T050607Z.tar.gz']);
  });
});

describe('pruneSeries', () => {
  it('keeps the newest copies by the time in their names', async () => {
    const folder = join(root, 'series');
    await mkdir(folder);
    const names = ['a_20250101T000000Z.dump', 'a_20241231T235959Z.dump', 'a_20250102T000000Z.dump'];
    for (const name of names) await writeFile(join(folder, name), '');
    const removed = await pruneSeries(folder, 'a', 'dump', 1);
    assert.deepEqual(removed.sort(), [join(folder, names[0] ?? ''), join(folder, names[1] ?? '')].sort());
    assert.deepEqual(await readdir(folder), ['a_20250102T000000Z.dump']);
  });
});

describe('copyName', () => {
  it('formats the time in UTC without separators', () => {
    assert.equal(copyName('geo', new Date('2025-12-31T23:59:59.999Z'), 'dump'), 'geo_20251231T235959Z.dump');
  });
});
