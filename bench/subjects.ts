/**
 * The five datasets of the benchmark, each with the commands that back it
 * up and restore it with bgapp-backup and with restic, and its day's change.
 */
import { link, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { TestPostgres } from '../test/support/postgres.ts';
import type { S3Server } from '../test/support/s3.ts';
import { benchS3Client, changeBucket, removeBucket, seedBucket } from './bucket.ts';
import { changeDatabase, cloneDatabase, createBaseDatabase, dropDatabase } from './database.ts';
import { changeFileTree, writeDumpFile, writeFileTree, writeRandomFile, type Variant } from './generate.ts';
import { measure } from './measure.ts';
import { ours, PROJECT_ROOT, type ToolRun } from './tools.ts';

/** Sizes of the datasets for one scale. */
export interface ScaleSizes {
  dumpBytes: number;
  randomBytes: number;
  files: number;
  objects: number;
  databaseBytes: number;
}

/** Dataset sizes of `--scale small` (a few MiB each) and `--scale full` (about 1 GiB, 50,000 files, 20,000 objects). */
export const SCALES: Record<'small' | 'full', ScaleSizes> = {
  small: { dumpBytes: 4 << 20, randomBytes: 4 << 20, files: 500, objects: 200, databaseBytes: 4 << 20 },
  full: { dumpBytes: 1 << 30, randomBytes: 1 << 30, files: 50_000, objects: 20_000, databaseBytes: 1 << 30 },
};

/** A baseline measured once per round: the work without backing it up. */
export interface Floor {
  label: string;
  script: string;
}

/** One dataset and how each tool backs it up and restores it. */
export interface Subject {
  name: 'dump' | 'random' | 'files' | 'bucket' | 'database';
  title: string;
  /** Bytes of input that one full backup reads (for the database, the size of its dump). */
  inputBytes: number;
  describe: string;
  floor?: (round: number) => Floor;
  /** bgapp-backup's source entry, as YAML lines. */
  oursSource(run: ToolRun): string[];
  prepare(run: ToolRun): Promise<void>;
  resticBackup(run: ToolRun): string;
  restore(run: ToolRun, target: string): string;
  change(run: ToolRun, variant: Variant): Promise<void>;
  cleanup(run: ToolRun): Promise<void>;
}

/** Data folder, servers and sizes shared by the subjects. */
export interface SubjectContext {
  dataDir: string;
  sizes: ScaleSizes;
  pg: TestPostgres;
  s3: S3Server;
  timeoutMillis: number;
}

const HOST = '--host bench';

/** Swaps `path` to a hard link of `source` in one rename, so a reader sees a new inode. */
async function swapLink(source: string, path: string): Promise<void> {
  await rm(`${path}.next`, { force: true });
  await link(source, `${path}.next`);
  await rename(`${path}.next`, path);
}

async function singleFileSubject(ctx: SubjectContext, name: 'dump' | 'random'): Promise<Subject> {
  const folder = join(ctx.dataDir, name);
  const file = join(folder, name === 'dump' ? 'geo.sql' : 'random.bin');
  const write = name === 'dump' ? writeDumpFile : writeRandomFile;
  const bytes = name === 'dump' ? ctx.sizes.dumpBytes : ctx.sizes.randomBytes;
  // Both variants live outside the backed-up folder, which contains a hard link to one of them.
  const variantPath = (variant: Variant) => join(ctx.dataDir, `${name}.v${variant}`);
  await mkdir(folder, { recursive: true });
  const inputBytes = await write(variantPath(0), bytes, 0);
  await write(variantPath(1), bytes, 1);
  await swapLink(variantPath(0), file);
  return {
    name,
    title: name === 'dump' ? 'pg_dump-like stream (SQL text and binary runs, one file)' : 'incompressible data (one file)',
    inputBytes,
    describe: `one file of ${inputBytes} bytes; the day's change rewrites 1% of it in one range and inserts 1% in the middle`,
    oursSource: () => ['- type: files', `  name: ${name}`, `  path: ${folder}`],
    prepare: async () => {},
    resticBackup: () => `restic --quiet backup ${HOST} ${folder}`,
    restore: (run, target) =>
      run.tool === 'ours' ? ours(`restore latest --source ${name} --target-dir ${target}`) : `restic --quiet restore latest --target ${target}`,
    change: (_run, variant) => swapLink(variantPath(variant), file),
    cleanup: async () => {},
  };
}

async function filesSubject(ctx: SubjectContext): Promise<Subject> {
  const folder = join(ctx.dataDir, 'tree');
  const inputBytes = await writeFileTree(folder, ctx.sizes.files);
  return {
    name: 'files',
    title: `tree of ${ctx.sizes.files} small files`,
    inputBytes,
    describe: `${ctx.sizes.files} files of 256 B to 8 KiB, half text and half random, ${inputBytes} bytes; the change rewrites 1% and adds 1%`,
    oursSource: () => ['- type: files', '  name: files', `  path: ${folder}`],
    prepare: async () => {},
    resticBackup: () => `restic --quiet backup ${HOST} ${folder}`,
    restore: (run, target) =>
      run.tool === 'ours' ? ours(`restore latest --source files --target-dir ${target}`) : `restic --quiet restore latest --target ${target}`,
    change: (_run, variant) => changeFileTree(folder, ctx.sizes.files, variant),
    cleanup: async () => {},
  };
}

async function bucketSubject(ctx: SubjectContext): Promise<Subject> {
  const { s3 } = ctx;
  const client: S3Client = benchS3Client(s3.endpoint, s3.accessKeyId, s3.secretAccessKey);
  const inputBytes = await seedBucket(client, 'bench', ctx.sizes.objects);
  const copy = `node ${join(PROJECT_ROOT, 'bench', 's3-copy.ts')}`;
  const keys = `S3_ACCESS_KEY_ID=${s3.accessKeyId} S3_SECRET_ACCESS_KEY=${s3.secretAccessKey}`;
  const restored = (run: ToolRun) => `restored-${run.tool}-${run.run}`;
  return {
    name: 'bucket',
    title: `bucket of ${ctx.sizes.objects} objects on the S3 emulator`,
    inputBytes,
    describe: `${ctx.sizes.objects} objects of 256 B to 32 KiB, half text and half random, ${inputBytes} bytes; the change rewrites 1% and adds 1%`,
    floor: (round) => ({
      label: 'plain download (aws s3 sync-like, 8 at once)',
      script: `rm -rf ${ctx.dataDir}/floor-${round}; ${keys} ${copy} download ${s3.endpoint} bench ${ctx.dataDir}/floor-${round}; rm -rf ${ctx.dataDir}/floor-${round}`,
    }),
    oursSource: () => ['- type: s3', '  name: bucket', `  endpoint: ${s3.endpoint}`,
      `  access_key_id: ${s3.accessKeyId}`, '  buckets: [bench]'],
    prepare: async (run) => {
      run.env.BGAPP_S3_SECRET_ACCESS_KEY_BUCKET = s3.secretAccessKey;
    },
    resticBackup: (run) =>
      `${keys} ${copy} download ${s3.endpoint} bench ${run.dir}/mirror >/dev/null\nrestic --quiet backup ${HOST} ${run.dir}/mirror`,
    restore: (run, target) =>
      run.tool === 'ours'
        ? ours(`restore latest --source bucket --bucket bench --target-bucket ${restored(run)}`)
        : `restic --quiet restore latest --target ${target}\n${keys} ${copy} upload ${s3.endpoint} ${restored(run)} ${target}${run.dir}/mirror >/dev/null`,
    change: (_run, variant) => changeBucket(client, 'bench', ctx.sizes.objects, variant),
    cleanup: async (run) => {
      await removeBucket(client, restored(run)).catch(() => {});
    },
  };
}

async function databaseSubject(ctx: SubjectContext): Promise<Subject> {
  const { pg } = ctx;
  const databaseBytes = await createBaseDatabase(pg, 'geo_base', ctx.sizes.databaseBytes);
  const connect = `-h ${pg.host} -p ${pg.port} -U postgres`;
  const bin = pg.binDir;
  const dumpBytes = Number(
    (await measure(`${bin}/pg_dump -Fc -Z0 ${connect} -d geo_base | wc -c`, { timeoutMillis: ctx.timeoutMillis })).stdout,
  );
  const clone = (run: ToolRun) => `bench_${run.tool}_${run.run}`;
  const restored = (run: ToolRun) => `restored_${run.tool}_${run.run}`;
  return {
    name: 'database',
    title: 'PostGIS database in a throwaway cluster',
    inputBytes: dumpBytes,
    describe: `database of ${databaseBytes} bytes (pg_database_size), whose \`pg_dump -Fc -Z0\` is ${dumpBytes} bytes; the change appends rows worth 1% and updates 1% of the rows in one id range`,
    floor: () => ({ label: 'pg_dump -Fc -Z0 > /dev/null', script: `${bin}/pg_dump -Fc -Z0 ${connect} -d geo_base > /dev/null` }),
    oursSource: (run) => ['- type: postgres', '  name: geo', `  url: ${pg.url(clone(run))}`, `  bin_dir: ${bin}`],
    prepare: (run) => cloneDatabase(pg, 'geo_base', clone(run)),
    resticBackup: (run) =>
      `${bin}/pg_dump -Fc -Z0 ${connect} -d ${clone(run)} | restic --quiet backup ${HOST} --stdin --stdin-filename geo.dump`,
    restore: (run) =>
      run.tool === 'ours'
        ? ours(`restore latest --source geo --target-url ${pg.url(restored(run))}`)
        : `${bin}/psql -X -q ${connect} -d postgres -c 'CREATE DATABASE ${restored(run)}'\n` +
          `restic --quiet dump latest /geo.dump | ${bin}/pg_restore ${connect} -d ${restored(run)}`,
    change: async (run, variant) => {
      if (variant === 1) await changeDatabase(pg, clone(run), ctx.sizes.databaseBytes);
    },
    cleanup: async (run) => {
      await dropDatabase(pg, clone(run));
      await dropDatabase(pg, restored(run));
    },
  };
}

/** Generates the named datasets in order and returns their subjects. */
export async function createSubjects(ctx: SubjectContext, names: readonly Subject['name'][],
  onStep: (message: string) => void): Promise<Subject[]> {
  const subjects: Subject[] = [];
  for (const name of names) {
    onStep(`generating dataset ${name}`);
    if (name === 'dump' || name === 'random') subjects.push(await singleFileSubject(ctx, name));
    if (name === 'files') subjects.push(await filesSubject(ctx));
    if (name === 'bucket') subjects.push(await bucketSubject(ctx));
    if (name === 'database') subjects.push(await databaseSubject(ctx));
  }
  return subjects;
}
