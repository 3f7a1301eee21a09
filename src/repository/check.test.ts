import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { LocalBackend } from '../backend/index.ts';
import { Repository } from './repository.ts';
import {
  MIN_KDF_TARGET,
  TEST_PASSWORD,
  restic,
  resticOk,
  tempFolder,
  writeFlatSnapshot,
} from './test-helpers.ts';

const root = tempFolder();
after(() => rm(root, { recursive: true, force: true }));

async function repoWithSnapshot(name: string): Promise<Repository> {
  const repo = await Repository.init(
    new LocalBackend(join(root, name)),
    TEST_PASSWORD,
    MIN_KDF_TARGET,
  );
  await writeFlatSnapshot(repo, { 'a.bin': randomBytes(50_000), 'b.txt': Buffer.from('b\n') });
  return repo;
}

function packFiles(repoPath: string): string[] {
  const out = [];
  for (const dir of readdirSync(join(repoPath, 'data'))) {
    for (const name of readdirSync(join(repoPath, 'data', dir))) out.push(join('data', dir, name));
  }
  return out;
}

/** Returns the path, relative to `repoPath`, of the repository's largest pack file. */
function largestPack(repoPath: string): string {
  const sizes = packFiles(repoPath).map((pack) => ({
    pack,
    size: statSync(join(repoPath, pack)).size,
  }));
  const largest = sizes.sort((a, b) => b.size - a.size)[0];
  assert.ok(largest, `${repoPath} has pack files`);
  return largest.pack;
}

describe('Repository check', () => {
  it('passes a clean repository with read-data', async () => {
    const repo = await repoWithSnapshot('clean');
    assert.deepEqual(await repo.check({ readData: true }), { errors: [], warnings: [] });
  });

  it('reports a truncated pack by name', async () => {
    const repo = await repoWithSnapshot('truncated');
    const pack = largestPack(repo.backend.location);
    const full = join(repo.backend.location, pack);
    truncateSync(full, statSync(full).size - 100);

    const report = await repo.check();
    assert.equal(report.errors.length, 1);
    assert.equal(report.errors[0]?.file, pack);
    assert.ok(report.errors[0]?.message.includes(pack));
    assert.notEqual(restic(repo.backend.location, ['check']).status, 0);
  });

  it('reports a cut header without a check hint', async () => {
    const repo = await repoWithSnapshot('cut-header');
    const pack = largestPack(repo.backend.location);
    const full = join(repo.backend.location, pack);
    truncateSync(full, statSync(full).size - 5);

    const report = await repo.check();
    const message = report.errors[0]?.message ?? '';
    assert.match(message, /pack header length \d+ does not fit the pack size/);
    assert.equal(message.split(pack.split('/').at(-1) ?? '').length, 2, message);
    assert.doesNotMatch(message, /run `bgapp-backup check`/);
  });

  it('reports a damaged blob only with read-data', async () => {
    const repo = await repoWithSnapshot('damaged');
    const pack = largestPack(repo.backend.location);
    const full = join(repo.backend.location, pack);
    const bytes = Buffer.from(await import('node:fs/promises').then((fs) => fs.readFile(full)));
    bytes[20] = (bytes[20] ?? 0) ^ 0xff;
    writeFileSync(full, bytes);

    assert.deepEqual((await repo.check()).errors, []);
    const report = await repo.check({ readData: true });
    assert.equal(report.errors.length, 1);
    assert.equal(report.errors[0]?.file, pack);
  });

  it('reads a pack of several segments', async () => {
    const repo = await Repository.init(
      new LocalBackend(join(root, 'segments')),
      TEST_PASSWORD,
      MIN_KDF_TARGET,
    );
    // Eight blobs of 900 KB in one pack, so the pack is read in several segments.
    const files = Object.fromEntries(
      Array.from({ length: 8 }, (_, i) => [`f${i}.bin`, randomBytes(900_000)]),
    );
    await writeFlatSnapshot(repo, files);
    const pack = largestPack(repo.backend.location);
    const full = join(repo.backend.location, pack);
    assert.ok(statSync(full).size > 7_200_000, 'one pack holds every file');
    assert.deepEqual(await repo.check({ readData: true }), { errors: [], warnings: [] });

    // A byte in one of the last blobs, megabytes past the first segment.
    const bytes = await readFile(full);
    const at = bytes.length - 300_000;
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    writeFileSync(full, bytes);
    const report = await repo.check({ readData: true });
    assert.equal(report.errors.length, 1);
    assert.equal(report.errors[0]?.file, pack);
    assert.match(report.errors[0]?.message ?? '', /contents do not match its name/);
  });

  it('warns about a sync-client conflict copy', async () => {
    const repo = await repoWithSnapshot('conflict');
    const [snapshot] = await repo.backend.list('snapshots');
    assert.ok(snapshot);
    const from = join(repo.backend.location, 'snapshots', snapshot.name);
    copyFileSync(from, `${from}-LAPTOP-7F3K`);
    copyFileSync(from, `${from} (1)`);

    const report = await repo.check();
    assert.deepEqual(report.errors, []);
    const files = report.warnings.map((w) => w.file).sort();
    assert.deepEqual(files, [
      `snapshots/${snapshot.name} (1)`,
      `snapshots/${snapshot.name}-LAPTOP-7F3K`,
    ]);
    assert.match(report.warnings[0]?.message ?? '', /two machines/);
    resticOk(repo.backend.location, ['check']);
  });

  it('leaves a valid repository when killed while saving packs', async () => {
    const repo = await repoWithSnapshot('killed');
    const before = packFiles(repo.backend.location).length;
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, 'crash-writer.ts'), repo.backend.location],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 30_000;
    while (packFiles(repo.backend.location).length < before + 30 && Date.now() < deadline)
      await sleep(50);
    child.kill('SIGKILL');
    await exited;
    assert.ok(packFiles(repo.backend.location).length >= before + 30, 'the writer saved packs');

    resticOk(repo.backend.location, ['check', '--read-data']);
    const reopened = await Repository.open(new LocalBackend(repo.backend.location), TEST_PASSWORD);
    const report = await reopened.check({ readData: true });
    assert.deepEqual(report.errors, []);
    const indexFiles = await reopened.backend.list('index');
    assert.ok(indexFiles.length > 1, 'the writer wrote index files before it was killed');
  });
});
