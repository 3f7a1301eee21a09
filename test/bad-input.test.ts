/**
 * End-to-end tests of bad input. Each case runs bin/bgapp-backup as a child
 * process against a real PostgreSQL cluster and the S3 emulator, after one
 * good snapshot. It checks the exit code and the error message, that no
 * snapshot was added, and that `restic check` still passes.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, chown, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PG_FIXTURES, seedGeoDatabase, startPostgres, type TestPostgres } from './support/postgres.ts';
import { ensureTestUser, runAs } from './support/run-as.ts';
import { startS3Server, type S3Server } from './support/s3.ts';

const CLI = fileURLToPath(new URL('../bin/bgapp-backup', import.meta.url));
const PASSWORD = 'bad-input test password';
const BUCKET = 'bgapp-data';
const BIG_FILE_BYTES = 300 * 1024 * 1024;
const KILL_AFTER_MILLIS = 15_000;

/** Exit status and output of one command-line run. */
interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options of one command-line run. */
interface CliOptions {
  config: string;
  password?: string;
  env?: Record<string, string>;
}

/** Starts `bgapp-backup ARGS`. The returned `done` resolves when it exits. */
function startCli(args: string[], options: CliOptions): { child: ChildProcess; done: Promise<CliRun> } {
  const child = spawn(CLI, args, {
    env: {
      ...process.env,
      BGAPP_BACKUP_CONFIG: options.config,
      BGAPP_BACKUP_PASSWORD: options.password ?? PASSWORD,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

function runCli(args: string[], options: CliOptions): Promise<CliRun> {
  return startCli(args, options).done;
}

function describeRun(run: CliRun): string {
  return `exit ${run.code} signal ${run.signal}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return address.port;
}

async function countFiles(folder: string): Promise<number> {
  try {
    const entries = await readdir(folder, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).length;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

function sleep(millis: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, millis));
}

/** Config sections. Each source is a list of YAML lines that go below its `- `. */
interface ConfigParts {
  sources: string[][];
  hooks?: { before?: string; after?: string };
}

describe('bgapp-backup on bad input', () => {
  let pg: TestPostgres;
  let s3: S3Server;
  let base: string;
  let oneDrive: string;
  let repo: string;
  let configsDir: string;
  let bigDir: string;
  let secretFile: string;
  let goodConfig: string;
  let bigConfig: string;
  let goodSnapshotId: string;

  const postgresSource = (lines: string[] = []): string[] => [
    'type: postgres',
    'name: geo',
    ...(lines.length > 0 ? lines : [`url: ${pg.url('geo')}`, `bin_dir: ${pg.binDir}`]),
  ];
  const s3Source = (bucketsLine = `buckets: [${BUCKET}]`): string[] => [
    'type: s3',
    'name: minio',
    `endpoint: ${s3.endpoint}`,
    `access_key_id: ${s3.accessKeyId}`,
    `secret_access_key_file: ${secretFile}`,
    bucketsLine,
  ];
  const filesSource = (name: string, path: string): string[] => ['type: files', `name: ${name}`, `path: ${path}`];

  let configCount = 0;
  async function writeConfig(parts: ConfigParts): Promise<string> {
    // The cheapest key derivation keeps the many commands below fast.
    const lines = ['onedrive:', `  folder: ${oneDrive}`, 'repository:', '  path: BGAPP_Backups/repository', '  kdf_target_ms: 0'];
    if (parts.hooks) {
      lines.push('backup:');
      if (parts.hooks.before) lines.push(`  before: ${JSON.stringify(parts.hooks.before)}`);
      if (parts.hooks.after) lines.push(`  after: ${JSON.stringify(parts.hooks.after)}`);
    }
    lines.push('sources:');
    for (const source of parts.sources) {
      lines.push(`  - ${source[0]}`, ...source.slice(1).map((line) => `    ${line}`));
    }
    const file = join(base, `config-${++configCount}.yaml`);
    await writeFile(file, `${lines.join('\n')}\n`);
    return file;
  }

  async function snapshotIds(): Promise<string[]> {
    const run = await runCli(['--json', 'snapshots'], { config: goodConfig });
    assert.equal(run.code, 0, describeRun(run));
    return (JSON.parse(run.stdout) as { id: string }[]).map((s) => s.id);
  }

  /** Runs `restic check`. With `noLock`, restic skips its exclusive lock, which any other lock blocks. */
  function resticCheck(options: { readData?: boolean; noLock?: boolean } = {}): void {
    const args = ['-r', repo, '--no-cache', ...(options.noLock ? ['--no-lock'] : []), 'check',
      ...(options.readData ? ['--read-data'] : [])];
    const result = spawnSync('restic', args, {
      env: { ...process.env, RESTIC_PASSWORD: PASSWORD },
      encoding: 'utf8',
      maxBuffer: 16 << 20,
    });
    assert.equal(result.status, 0, `restic check failed:\n${result.stdout}\n${result.stderr}`);
  }

  /** Checks a rejected run: its exit code, words on stderr, no new snapshot, a sound repository. */
  async function assertRejected(
    run: CliRun,
    expected: { code: number; words: (string | RegExp)[]; snapshotsBefore: number },
  ): Promise<void> {
    assert.equal(run.code, expected.code, describeRun(run));
    for (const word of expected.words) {
      if (typeof word === 'string') assert.ok(run.stderr.includes(word), `stderr lacks "${word}": ${run.stderr}`);
      else assert.match(run.stderr, word);
    }
    assert.equal((await snapshotIds()).length, expected.snapshotsBefore, 'a snapshot was added');
    resticCheck();
  }

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'bgapp-bad-input-'));
    oneDrive = join(base, 'OneDrive');
    repo = join(oneDrive, 'BGAPP_Backups', 'repository');
    configsDir = join(base, 'configs');
    bigDir = join(base, 'big');
    await mkdir(oneDrive);
    await mkdir(join(configsDir, 'nginx'), { recursive: true });
    await mkdir(bigDir);
    await writeFile(join(configsDir, 'app.env'), 'BGAPP_MODE=production\n');
    await writeFile(join(configsDir, 'nginx', 'bgapp.conf'), 'server { listen 80; }\n');
    const written = spawnSync('sh', ['-c', 'head -c "$1" /dev/urandom > "$2"', 'sh', String(BIG_FILE_BYTES),
      join(bigDir, 'random.bin')], { stdio: 'inherit' });
    assert.equal(written.status, 0, 'head failed to write the random file');

    pg = await startPostgres();
    s3 = await startS3Server();
    await seedGeoDatabase(pg, 'geo');
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'tiles/0.png', Body: Buffer.alloc(2048, 3) }));
    client.destroy();
    secretFile = join(base, 'minio-secret');
    await writeFile(secretFile, s3.secretAccessKey, { mode: 0o600 });

    goodConfig = await writeConfig({
      sources: [postgresSource(), s3Source(), filesSource('configs', configsDir)],
    });
    bigConfig = await writeConfig({ sources: [filesSource('big', bigDir)] });
    const init = await runCli(['init'], { config: goodConfig });
    assert.equal(init.code, 0, describeRun(init));
    const backup = await runCli(['--json', 'backup'], { config: goodConfig });
    assert.equal(backup.code, 0, describeRun(backup));
    goodSnapshotId = (JSON.parse(backup.stdout) as { snapshot_id: string }).snapshot_id;
    assert.deepEqual(await snapshotIds(), [goodSnapshotId]);
  });

  after(async () => {
    await s3?.stop();
    await pg?.stop();
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('rejects a wrong password', async () => {
    const count = (await snapshotIds()).length;
    const run = await runCli(['backup'], { config: goodConfig, password: 'not the password' });
    await assertRejected(run, { code: 1, words: ['wrong password'], snapshotsBefore: count });
    // The database source starts while the key is derived: its pg_dump and
    // its connection must be gone once the run has failed.
    const sessions = `SELECT count(*) FROM pg_stat_activity WHERE datname = 'geo' AND pid <> pg_backend_pid()`;
    let left = await pg.psql(sessions);
    for (let i = 0; i < 50 && left !== '0'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      left = await pg.psql(sessions);
    }
    assert.equal(left, '0');
  });

  it('fails when the database is unreachable', async () => {
    const count = (await snapshotIds()).length;
    const port = await freePort();
    const url = `postgres://postgres@127.0.0.1:${port}/geo`;
    const config = await writeConfig({ sources: [postgresSource([`url: ${url}`, `bin_dir: ${pg.binDir}`])] });
    const run = await runCli(['backup'], { config });
    await assertRejected(run, { code: 1, words: ['geo', String(port), /connect/i], snapshotsBefore: count });
  });

  it('fails when pg_dump is older than the server', async () => {
    const count = (await snapshotIds()).length;
    const config = await writeConfig({ sources: [postgresSource([`url: ${pg.url('geo')}`])] });
    const oldPgDump = join(PG_FIXTURES, 'old-pg-dump');
    const run = await runCli(['backup'], { config, env: { PATH: `${oldPgDump}:${process.env.PATH}` } });
    await assertRejected(run, { code: 1, words: ['pg_dump', /\b14\b/, /\b15\b/], snapshotsBefore: count });
  });

  it('fails when a bucket is missing', async () => {
    const count = (await snapshotIds()).length;
    const config = await writeConfig({ sources: [s3Source(`buckets: [${BUCKET}, no-such-bucket]`)] });
    const run = await runCli(['backup'], { config });
    await assertRejected(run, { code: 1, words: ['no-such-bucket', /not found/i], snapshotsBefore: count });
  });

  it('rejects a misspelt config key with exit 2', async () => {
    const count = (await snapshotIds()).length;
    const config = await writeConfig({
      sources: [postgresSource(), s3Source(`buckts: [${BUCKET}]`), filesSource('configs', configsDir)],
    });
    const run = await runCli(['backup'], { config });
    await assertRejected(run, { code: 2, words: [/sources[.[]1\]?\.buckts/, 'buckets'], snapshotsBefore: count });
  });

  it('fails to restore into a folder the user cannot write', async () => {
    const count = (await snapshotIds()).length;
    const user = await ensureTestUser();
    // The user reads its own copy of the repository and password, because base is private to root.
    const userDir = await mkdtemp(join(tmpdir(), 'bgapp-bad-input-user-'));
    try {
      const userRepo = join(userDir, 'repository');
      await cp(repo, userRepo, { recursive: true });
      const passwordFile = join(userDir, 'password');
      await writeFile(passwordFile, PASSWORD, { mode: 0o600 });
      const userConfig = join(userDir, 'config.yaml');
      await writeFile(
        userConfig,
        ['repository:', `  password_file: ${passwordFile}`, 'sources:', '  - type: files', '    name: configs',
          `    path: ${configsDir}`, ''].join('\n'),
      );
      const chowned = spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, userDir]);
      assert.equal(chowned.status, 0, 'chown failed');
      await chmod(userDir, 0o755);
      const target = join(userDir, 'target');
      await mkdir(target, { mode: 0o755 });
      await chown(target, 0, 0);
      await chmod(target, 0o755);

      const run = await runAs(user.name, CLI, ['--config', userConfig, '--repo', userRepo, 'restore', 'latest',
        '--source', 'configs', '--target-dir', target]);
      await assertRejected(run, {
        code: 1,
        words: [target, /not writable|permission denied/i],
        snapshotsBefore: count,
      });
      assert.deepEqual(await readdir(target), [], 'the restore wrote into the target');
    } finally {
      await rm(userDir, { recursive: true, force: true });
    }
  });

  it('keeps no snapshot when the before command fails', async () => {
    const count = (await snapshotIds()).length;
    const config = await writeConfig({
      sources: [filesSource('configs', configsDir)],
      hooks: { before: 'echo pausing writers failed >&2; exit 1' },
    });
    const run = await runCli(['backup'], { config });
    await assertRejected(run, {
      code: 1,
      words: ['before command failed', 'no snapshot was kept'],
      snapshotsBefore: count,
    });
  });

  it('runs the after command when the backup failed', async () => {
    const count = (await snapshotIds()).length;
    const marker = join(base, 'after-marker');
    const config = await writeConfig({
      sources: [filesSource('configs', configsDir)],
      hooks: { before: 'exit 1', after: `echo "$BGAPP_BACKUP_STATUS" > ${marker}` },
    });
    const run = await runCli(['backup'], { config });
    await assertRejected(run, { code: 1, words: ['before command failed'], snapshotsBefore: count });
    assert.equal((await readFile(marker, 'utf8')).trim(), 'failed');
  });

  it('releases its lock when stopped by SIGTERM', async () => {
    const count = (await snapshotIds()).length;
    const locks = join(repo, 'locks');
    const { child, done } = startCli(['backup'], { config: bigConfig });
    const deadline = Date.now() + KILL_AFTER_MILLIS;
    while (Date.now() < deadline && child.exitCode === null && (await countFiles(locks)) === 0) await sleep(50);
    assert.equal(await countFiles(locks), 1, 'the backup took no lock');
    // Give the backup time to start writing packs before it is stopped.
    await sleep(1000);
    child.kill('SIGTERM');
    const run = await done;
    assert.equal(run.code, 143, describeRun(run));
    assert.match(run.stderr, /abort|stopped/);
    assert.equal(await countFiles(locks), 0, 'locks/ is not empty after SIGTERM');
    assert.equal((await snapshotIds()).length, count);

    const next = await runCli(['backup'], { config: goodConfig });
    assert.equal(next.code, 0, describeRun(next));
    assert.equal((await snapshotIds()).length, count + 1);
    resticCheck();
  });

  let killedLockIds: string[] = [];

  it('recovers from a backup killed with SIGKILL', async () => {
    const ids = await snapshotIds();
    const data = join(repo, 'data');
    const locks = join(repo, 'locks');
    const packsBefore = await countFiles(data);
    const { child, done } = startCli(['backup'], { config: bigConfig });
    const deadline = Date.now() + KILL_AFTER_MILLIS;
    while (Date.now() < deadline && child.exitCode === null && (await countFiles(data)) < packsBefore + 2) {
      await sleep(50);
    }
    killedLockIds = await readdir(locks);
    child.kill('SIGKILL');
    const killed = await done;
    assert.equal(killed.signal, 'SIGKILL', `the backup ended before the kill: ${describeRun(killed)}`);
    assert.deepEqual(await snapshotIds(), ids, 'the killed backup left a snapshot');

    const next = await runCli(['backup'], { config: bigConfig });
    assert.equal(next.code, 0, describeRun(next));
    assert.equal((await snapshotIds()).length, ids.length + 1);
    // The killed run's lock may still be in locks/ (see the next case), so restic checks without locking.
    resticCheck({ readData: true, noLock: true });

    const restored = join(base, 'restored-configs');
    const restore = await runCli(['restore', goodSnapshotId, '--source', 'configs', '--target-dir', restored], {
      config: goodConfig,
    });
    assert.equal(restore.code, 0, describeRun(restore));
    assert.equal(await readFile(join(restored, 'app.env'), 'utf8'), 'BGAPP_MODE=production\n');
    assert.equal(await readFile(join(restored, 'nginx', 'bgapp.conf'), 'utf8'), 'server { listen 80; }\n');
  });

  it('leaves no lock of a killed backup', async () => {
    assert.equal(killedLockIds.length, 1, 'the killed backup held no lock');
    assert.deepEqual(await readdir(join(repo, 'locks')), [], 'the killed backup\'s lock is still in locks/');
    resticCheck();
  });
});
