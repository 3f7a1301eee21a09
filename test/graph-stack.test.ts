/**
 * End-to-end tests of the Microsoft Graph mode through the command line, on
 * the Graph emulator: a stack backed up and restored through Graph gives the
 * same data as through the OneDrive folder, faults end cleanly, and `status`
 * reports quota and sync state.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { CLI_PATH, runCli, runCliOk } from './support/cli.ts';
import { seedGeoDatabase, startPostgres } from './support/postgres.ts';
import type { TestPostgres } from './support/postgres.ts';
import { startGraphEmulator } from './support/graph-emulator/index.ts';
import type { GraphEmulator } from './support/graph-emulator/index.ts';
import {
  filesSourceConfig,
  postgresSourceConfig,
  writeConfigFile,
} from './support/stack-config.ts';

const PASSWORD = 'graph stack password';
const REPOSITORY = 'BGAPP_Backups/repository';

async function treeDigest(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(dir: string): Promise<void> {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const info = await lstat(path);
      const key = relative(root, path);
      if (info.isSymbolicLink()) out[key] = `link:${await readlink(path)}`;
      else if (info.isDirectory()) {
        out[key] = `dir:${(info.mode & 0o7777).toString(8)}`;
        await walk(path);
      } else {
        const hash = createHash('sha256')
          .update(await readFile(path))
          .digest('hex');
        out[key] = `file:${(info.mode & 0o7777).toString(8)}:${hash}`;
      }
    }
  }
  await walk(root);
  return out;
}

/** Small files in the configs folder, each one blob. */
const SMALL_FILES = 300;

describe('Graph mode on the emulator', () => {
  let pg: TestPostgres;
  let graph: GraphEmulator;
  let base: string;
  let configs: string;
  let graphEnv: Record<string, string>;
  let folderEnv: Record<string, string>;

  async function writeConfig(name: string, onedrive: Record<string, unknown>): Promise<string> {
    const file = join(base, name);
    await writeConfigFile(file, {
      onedrive,
      sources: [postgresSourceConfig(pg, 'geo'), filesSourceConfig('configs', configs)],
    });
    return file;
  }

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'bgapp-graph-stack-'));
    [pg, graph] = await Promise.all([startPostgres(), startGraphEmulator()]);
    await seedGeoDatabase(pg, 'geo');
    configs = join(base, 'configs');
    await mkdir(join(configs, 'empty'), { recursive: true });
    await writeFile(join(configs, 'app.env'), 'MODE=production\n');
    await writeFile(join(configs, 'big.bin'), Buffer.alloc(12 * 1024 * 1024, 'x'));
    await mkdir(join(configs, 'sites'));
    for (let i = 0; i < SMALL_FILES; i++) {
      await writeFile(join(configs, 'sites', `site-${i}.conf`), `server_name site-${i};\n${randomBytes(200).toString('hex')}\n`);
    }
    await symlink('app.env', join(configs, 'current.env'));
    const tokenFile = join(base, 'graph-token');
    await writeFile(tokenFile, graph.token, { mode: 0o600 });
    const graphConfig = await writeConfig('graph.yaml', {
      mode: 'graph',
      graph: { base_url: graph.baseUrl, access_token_file: tokenFile, fragment_bytes: 3276800 },
    });
    const oneDrive = join(base, 'OneDrive');
    await mkdir(oneDrive);
    const folderConfig = await writeConfig('folder.yaml', { folder: oneDrive });
    graphEnv = { BGAPP_BACKUP_CONFIG: graphConfig, BGAPP_BACKUP_PASSWORD: PASSWORD };
    folderEnv = { BGAPP_BACKUP_CONFIG: folderConfig, BGAPP_BACKUP_PASSWORD: PASSWORD };
    await runCliOk(['init'], graphEnv);
    await runCliOk(['init'], folderEnv);
  });

  after(async () => {
    await Promise.all([graph?.stop(), pg?.stop()]);
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('restores the same data as the folder backend', async () => {
    await runCliOk(['backup'], graphEnv);
    await runCliOk(['backup'], folderEnv);
    const viaGraph = join(base, 'restored-graph');
    const viaFolder = join(base, 'restored-folder');
    const seen = graph.requests.length;
    await runCliOk(
      ['restore', 'latest', '--source', 'configs', '--target-dir', viaGraph],
      graphEnv,
    );
    // Each ranged read of a pack serves the small files stored after the
    // one requested, so the files cost a few requests, not one each.
    const packReads = graph.requests.slice(seen).filter((r) => r.method === 'GET' && r.path.includes('/data/'));
    assert.ok(packReads.length < SMALL_FILES / 10, `${packReads.length} pack reads`);
    await runCliOk(
      ['restore', 'latest', '--source', 'configs', '--target-dir', viaFolder],
      folderEnv,
    );
    assert.deepEqual(await treeDigest(viaGraph), await treeDigest(viaFolder));
    assert.deepEqual(await treeDigest(viaGraph), await treeDigest(configs));

    await runCliOk(
      ['restore', 'latest', '--source', 'geo', '--target-url', pg.url('geo_graph'), '--roles'],
      graphEnv,
    );
    const count = 'SELECT count(*) FROM app.parcels';
    assert.equal(await pg.psql(count, 'geo_graph'), await pg.psql(count, 'geo'));
    assert.equal(graph.openUploadSessions(), 0);
  });

  it('passes check --read-data through Graph', async () => {
    const result = await runCli(['check', '--read-data'], graphEnv);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /no errors were found/);
  });

  it('completes a backup through throttling and a reset fragment', async () => {
    graph.faults.add({
      match: { target: 'upload' },
      nth: 2,
      action: { kind: 'reset', storeBytes: 100_000 },
    });
    graph.faults.add({
      match: { method: 'PUT' },
      nth: 5,
      action: { kind: 'status', status: 503, retryAfter: 1 },
    });
    await writeFile(join(configs, 'big.bin'), Buffer.alloc(12 * 1024 * 1024, 'y'));
    const result = await runCli(['backup', '--json'], graphEnv);
    graph.faults.clear();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(graph.openUploadSessions(), 0);
    const check = await runCli(['check', '--read-data'], graphEnv);
    assert.equal(check.code, 0, check.stderr);
  });

  it('fails cleanly when the drive runs out of space', async () => {
    const before = JSON.parse(
      (await runCliOk(['snapshots', '--json'], graphEnv)).stdout,
    ) as unknown[];
    graph.drive.setQuotaRemaining(2 * 1024 * 1024);
    // Random bytes, because zstd would shrink repeated ones below the space left.
    await writeFile(join(configs, 'big.bin'), randomBytes(12 * 1024 * 1024));
    const result = await runCli(['backup'], graphEnv);
    graph.drive.setQuotaRemaining(1024 ** 4);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /full|quota|space/i);
    assert.match(result.stderr, /no snapshot was kept/);
    const afterwards = JSON.parse(
      (await runCliOk(['snapshots', '--json'], graphEnv)).stdout,
    ) as unknown[];
    assert.equal(afterwards.length, before.length);
    assert.equal(graph.openUploadSessions(), 0);
    const check = await runCli(['check'], graphEnv);
    assert.notEqual(check.code, 1, check.stdout + check.stderr);
  });

  it('fails when an upload hash comes back wrong twice', async () => {
    const before = JSON.parse(
      (await runCliOk(['snapshots', '--json'], graphEnv)).stdout,
    ) as unknown[];
    await writeFile(join(configs, 'hash.txt'), 'a file whose pack is corrupted twice\n');
    const snapshotsBefore = before.length;
    // Every pack uploaded from now on comes back with a wrong hash.
    graph.faults.corruptItem({ path: `/${REPOSITORY}/data`, below: true, kind: 'wrong-hash' });
    const result = await runCli(['backup'], graphEnv);
    graph.faults.clear();
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /hash/i);
    const afterwards = JSON.parse(
      (await runCliOk(['snapshots', '--json'], graphEnv)).stdout,
    ) as unknown[];
    assert.equal(afterwards.length, snapshotsBefore);
    assert.equal(graph.openUploadSessions(), 0);
  });

  it('stops at once on SIGTERM while waiting out throttling', async () => {
    const before = JSON.parse(
      (await runCliOk(['snapshots', '--json'], graphEnv)).stdout,
    ) as unknown[];
    await writeFile(join(configs, 'big.bin'), randomBytes(2 * 1024 * 1024));
    graph.faults.add({
      match: { method: 'PUT' },
      times: 1000,
      action: { kind: 'status', status: 503, retryAfter: 120 },
    });
    const seen = graph.requests.length;
    const child = spawn(CLI_PATH, ['backup'], { env: { ...process.env, ...graphEnv } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    // Wait until the backend has met the first 503 and is waiting.
    for (let waited = 0; !graph.requests.slice(seen).some((r) => r.status === 503); waited += 100) {
      assert.ok(waited < 30_000, 'the backup sent no upload in 30 s');
      await delay(100);
    }
    const stoppedAt = Date.now();
    child.kill('SIGTERM');
    const [code] = (await once(child, 'close')) as [number | null];
    graph.faults.clear();
    assert.equal(code, 143, stderr);
    assert.ok(Date.now() - stoppedAt < 5000, `took ${Date.now() - stoppedAt} ms to stop`);
    const afterwards = JSON.parse(
      (await runCliOk(['snapshots', '--json'], graphEnv)).stdout,
    ) as unknown[];
    assert.equal(afterwards.length, before.length);
    const locks = graph.drive.files().filter((f) => f.path.startsWith(`/${REPOSITORY}/locks/`));
    assert.deepEqual(locks, [], 'the stopped backup left its lock');
  });

  it('warns before a backup when less space is free than the last one added', async () => {
    await writeFile(join(configs, 'big.bin'), randomBytes(1024 * 1024));
    await runCliOk(['backup'], graphEnv);
    graph.drive.setQuotaRemaining(300 * 1024);
    const result = await runCli(['backup'], graphEnv);
    graph.drive.setQuotaRemaining(1024 ** 4);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /less than the .* the last backup added/);
  });

  it('lists the synced folder files not yet in the cloud', async () => {
    // A drive of its own, as the synced folder's cloud copy, apart from the Graph repository.
    const cloud = await startGraphEmulator();
    const oneDrive = join(base, 'OneDrive');
    const tokenFile = join(base, 'cloud-token');
    await writeFile(tokenFile, cloud.token, { mode: 0o600 });
    const config = await writeConfig('folder-and-graph.yaml', {
      folder: oneDrive,
      graph: { base_url: cloud.baseUrl, access_token_file: tokenFile },
    });
    const env = { BGAPP_BACKUP_CONFIG: config, BGAPP_BACKUP_PASSWORD: PASSWORD };
    // Play the sync client: copy every repository file to the drive but one pack.
    const local = join(oneDrive, REPOSITORY);
    const files = (await readdir(local, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile() && !entry.parentPath.endsWith('locks'))
      .map((entry) => relative(local, join(entry.parentPath, entry.name)));
    const notSynced = files.find((name) => name.startsWith('data/'));
    assert.ok(notSynced, 'no pack in the synced folder');
    for (const name of files) {
      if (name !== notSynced)
        await cloud.drive.write(`/${REPOSITORY}/${name}`, await readFile(join(local, name)));
    }
    const result = await runCli(['status', '--json'], env);
    await cloud.stop();
    assert.equal(result.code, 3, result.stdout + result.stderr);
    const report = JSON.parse(result.stdout) as {
      mode: string;
      space: { of: string; total: number };
      sync: { checked: boolean; missing: string[] };
    };
    assert.equal(report.mode, 'folder');
    assert.equal(report.space.of, 'filesystem');
    assert.ok(report.space.total > 0);
    assert.equal(report.sync.checked, true);
    assert.deepEqual(report.sync.missing, [notSynced]);
  });

  it('reports quota and a file missing in the cloud in status', async () => {
    const fine = await runCli(['status', '--json'], graphEnv);
    assert.equal(fine.code, 0, fine.stdout + fine.stderr);
    const report = JSON.parse(fine.stdout) as {
      mode: string;
      space: { total: number; used: number; free: number; percent: number };
      sync: { checked: boolean; missing: string[] };
      last_snapshot: { id: string } | null;
    };
    assert.equal(report.mode, 'graph');
    assert.ok(report.space.total > 0);
    assert.ok(report.space.free > 0);
    assert.equal(typeof report.space.percent, 'number');
    assert.ok(report.last_snapshot);
    assert.equal(report.sync.checked, true);
    assert.deepEqual(report.sync.missing, [], fine.stdout);

    // A pack that no index lists, as a failed backup above leaves, is not
    // missing when deleted, so the pack is one that check does not warn about.
    const before = JSON.parse((await runCli(['check', '--json'], graphEnv)).stdout) as {
      warnings: { file: string }[];
    };
    const unindexed = new Set(before.warnings.map((warning) => warning.file));
    const pack = graph.drive
      .files()
      .find(
        (f) =>
          f.path.startsWith(`/${REPOSITORY}/data/`) &&
          f.kind === 'file' &&
          !unindexed.has(f.path.slice(REPOSITORY.length + 2)),
      );
    assert.ok(pack, 'no pack on the drive');
    await graph.drive.delete(pack.path);
    const missing = await runCli(['status', '--json'], graphEnv);
    assert.equal(missing.code, 3, missing.stderr);
    const after = JSON.parse(missing.stdout) as { sync: { missing: string[] } };
    const packFile = pack.path.slice(REPOSITORY.length + 2);
    assert.deepEqual(after.sync.missing, [packFile]);

    // check names the missing pack once in its line.
    const check = await runCli(['check'], graphEnv);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    const line = check.stdout.split('\n').find((text) => text.startsWith('error: '));
    assert.ok(line, check.stdout);
    assert.equal(line.split(packFile).length, 2, line);
  });
});
