import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, readFile, readlink, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { LocalBackend } from '../backend/index.ts';
import { Repository } from '../repository/index.ts';
import { RepositorySnapshotReader, RepositorySnapshotWriter } from './index.ts';
import { addFolder, metaOf, removeTempFolders, resticOk, tempFolder, TEST_PASSWORD } from './test-support.ts';

const MiB = 1024 * 1024;
const NFC = 'caf\u00e9';
const NFD = 'cafe\u0301';
const finishOptions = {
  tags: ['test'],
  paths: ['/bgapp'],
  hostname: 'test-host',
  username: 'tester',
  programVersion: 'bgapp-backup test',
};

/** Builds the test tree on disk with whole-millisecond mtimes, which a Date keeps exactly. */
async function makeSourceTree(root: string): Promise<void> {
  await mkdir(join(root, 'empty-dir'));
  await mkdir(join(root, 'shared'));
  await writeFile(join(root, 'big.bin'), randomBytes(40 * MiB));
  await writeFile(join(root, 'empty.txt'), '');
  await writeFile(join(root, NFC), 'composed\n');
  await writeFile(join(root, NFD), 'decomposed\n');
  await writeFile(join(root, 'secret.txt'), 'password=not-a-real-one\n');
  await writeFile(join(root, 'shared', 'notes.txt'), 'x'.repeat(3 * MiB));
  await symlink('big.bin', join(root, 'link-to-big'));
  await chmod(join(root, 'secret.txt'), 0o600);
  await chmod(join(root, 'shared'), 0o2775);
  const names = ['big.bin', 'empty.txt', NFC, NFD, 'secret.txt', 'shared/notes.txt', 'shared', 'empty-dir'];
  for (const [i, name] of names.entries()) {
    const time = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 100 + i));
    await utimes(join(root, name), time, time);
  }
}

async function sha256OfStream(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const data of stream) hash.update(data);
  return hash.digest('hex');
}

async function folderBytes(folder: string): Promise<number> {
  const { readdir } = await import('node:fs/promises');
  let total = 0;
  for (const entry of await readdir(folder, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += (await lstat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

describe('RepositorySnapshotWriter', () => {
  let source: string;
  let repoPath: string;
  let repo: Repository;
  let firstSnapshot: string;
  let firstStored: number;

  before(async () => {
    const root = tempFolder();
    source = join(root, 'source');
    repoPath = join(root, 'repo');
    await mkdir(source);
    await makeSourceTree(source);
    repo = await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD, { kdfTargetMillis: 0 });
  });
  after(removeTempFolders);

  it('passes restic check --read-data', async () => {
    const writer = new RepositorySnapshotWriter(repo);
    await addFolder(writer, source);
    writer.addDir(['implicit', 'deeper'], await metaOf(source));
    const result = await writer.finish(finishOptions);
    firstSnapshot = result.snapshotId;
    firstStored = result.stats.bytesStored;

    assert.equal(result.stats.files, 6);
    assert.equal(result.stats.symlinks, 1);
    assert.equal(result.stats.dirs, 4);
    assert.equal(result.stats.bytesRead, 43 * MiB + 9 + 11 + 24);
    assert.ok(result.stats.bytesStored > 40 * MiB, `stored ${result.stats.bytesStored} bytes`);
    resticOk(repoPath, ['check', '--read-data']);
    const listed = JSON.parse(resticOk(repoPath, ['snapshots', '--json']));
    assert.equal(listed[0].id, firstSnapshot);
    assert.deepEqual(listed[0].tags, ['test']);
    assert.equal(listed[0].hostname, 'test-host');
  });

  it('restores identically with restic restore', async () => {
    const target = join(tempFolder(), 'restored');
    resticOk(repoPath, ['restore', firstSnapshot, '--target', target]);
    for (const name of ['big.bin', 'empty.txt', NFC, NFD, 'secret.txt', 'shared/notes.txt']) {
      const [want, got] = [await readFile(join(source, name)), await readFile(join(target, name))];
      assert.ok(want.equals(got), `${name} differs after restore`);
    }
    for (const name of ['secret.txt', 'shared', 'empty-dir', 'big.bin', NFD]) {
      const want = await lstat(join(source, name), { bigint: true });
      const got = await lstat(join(target, name), { bigint: true });
      assert.equal(got.mode & 0o7777n, want.mode & 0o7777n, `mode of ${name}`);
      // A Date keeps whole milliseconds, so the restored time is the source's, truncated.
      assert.equal(got.mtimeNs, (want.mtimeNs / 1_000_000n) * 1_000_000n, `mtime of ${name}`);
    }
    assert.equal((await lstat(join(target, 'shared'))).mode & 0o7777, 0o2775);
    assert.equal(await readlink(join(target, 'link-to-big')), 'big.bin');
    const implicit = await lstat(join(target, 'implicit'));
    assert.equal(implicit.mode & 0o7777, 0o755);
  });

  it('reads back identical bytes', async () => {
    const reader = await RepositorySnapshotReader.open(repo, firstSnapshot);
    const names = (await reader.list([])).map((n) => n.name);
    assert.deepEqual(names, [
      'big.bin',
      NFD,
      NFC,
      'empty-dir',
      'empty.txt',
      'implicit',
      'link-to-big',
      'secret.txt',
      'shared',
    ]);
    for (const path of [['big.bin'], ['empty.txt'], [NFC], [NFD], ['shared', 'notes.txt']]) {
      const node = await reader.lookup(path);
      assert.ok(node, `${path.join('/')} is missing`);
      const want = await sha256OfStream(createReadStream(join(source, ...path)));
      assert.equal(await sha256OfStream(reader.openFile(node)), want, path.join('/'));
    }
    const walked = [];
    for await (const entry of reader.walk([])) walked.push(entry.path.join('/'));
    assert.ok(walked.includes('implicit/deeper'));
    assert.ok(walked.indexOf('shared') < walked.indexOf('shared/notes.txt'));
  });

  it('deduplicates a second save', async () => {
    const before = await folderBytes(repoPath);
    const writer = new RepositorySnapshotWriter(repo);
    await addFolder(writer, source);
    const { stats } = await writer.finish({ ...finishOptions, parent: firstSnapshot });
    const added = (await folderBytes(repoPath)) - before;
    assert.ok(added < firstStored / 100, `added ${added} bytes against ${firstStored}`);
    assert.ok(stats.bytesStored < firstStored / 100, `stats say ${stats.bytesStored} bytes`);
    assert.equal(stats.blobsNew, 0);
    assert.ok(stats.blobsKnown >= 40, `${stats.blobsKnown} known data blobs`);
  });

  it('adds few chunks after a 1% edit', async () => {
    const big = await readFile(join(source, 'big.bin'));
    randomBytes(big.length / 100).copy(big, big.length / 2);
    const writer = new RepositorySnapshotWriter(repo);
    const saved = await writer.addFile(['big.bin'], await metaOf(join(source, 'big.bin')), Readable.from([big]));
    const { stats } = await writer.finish(finishOptions);
    assert.equal(saved.sha256, createHash('sha256').update(big).digest('hex'));
    assert.ok(stats.blobsNew >= 1, `${stats.blobsNew} new data blobs`);
    // The edited chunk changes, and so can the few after it until the chunker
    // finds the old boundaries again (the 512 KiB minimum skips over some).
    // Where it cuts depends on the repository's random polynomial, so the
    // bounds are loose: a few new chunks, and most of the 40 MiB known.
    assert.ok(stats.blobsNew <= 8, `${stats.blobsNew} new data blobs`);
    assert.ok(stats.bytesNew <= big.length / 4, `${stats.bytesNew} new bytes`);
    assert.ok(stats.blobsKnown >= 20, `${stats.blobsKnown} known data blobs`);
    resticOk(repoPath, ['check']);
  });

  it('rejects duplicate and invalid paths', async () => {
    const writer = new RepositorySnapshotWriter(repo);
    const meta = { mode: 0o644, mtime: new Date() };
    writer.addSymlink(['a', 'link'], meta, 'x');
    assert.throws(() => writer.addSymlink(['a', 'link'], meta, 'y'), {
      code: 'ERR_SNAPSHOT_PATH_INVALID',
    });
    assert.throws(() => writer.addDir(['a', 'link', 'below'], meta), /which is a symlink/);
    assert.throws(() => writer.addDir(['a', '..'], meta), { code: 'ERR_SNAPSHOT_PATH_INVALID' });
    assert.throws(() => writer.addDir([], meta), { code: 'ERR_SNAPSHOT_PATH_INVALID' });
    await assert.rejects(writer.addFile(['a', 'link'], meta, Readable.from([])), /added twice/);
    writer.addDir(['a'], { mode: 0o700, mtime: new Date() });
    await writer.abort();
    assert.throws(() => writer.addDir(['b'], meta), { code: 'ERR_ABORTED' });
  });

  it('frees the path of a failed file', async () => {
    const writer = new RepositorySnapshotWriter(repo);
    const meta = { mode: 0o644, mtime: new Date() };
    async function* failing() {
      yield Buffer.alloc(1000);
      throw new Error('disk read failed');
    }
    await assert.rejects(writer.addFile(['f'], meta, failing()), /disk read failed/);
    await writer.addFile(['f'], meta, Readable.from([Buffer.from('second try')]));
    const { snapshotId } = await writer.finish(finishOptions);
    const reader = await RepositorySnapshotReader.open(repo, snapshotId);
    const node = await reader.lookup(['f']);
    assert.equal(node?.size, 10);
  });

  it('bounds bytes in flight', async () => {
    let produced = 0;
    let stored = 0;
    let peak = 0;
    const slow = Object.create(repo) as Repository;
    slow.savePreparedBlob = async (blob) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const saved = await repo.savePreparedBlob(blob);
      stored += blob.plaintextLength;
      return saved;
    };
    async function* source() {
      for (let i = 0; i < 1024; i++) {
        peak = Math.max(peak, produced - stored);
        produced += 64 * 1024;
        yield randomBytes(64 * 1024);
      }
    }
    const limit = 8 * MiB;
    const writer = new RepositorySnapshotWriter(slow, { maxInFlightBytes: limit });
    const saved = await writer.addFile(['stream.bin'], { mode: 0o644, mtime: new Date() }, source());
    await writer.finish(finishOptions);
    assert.equal(saved.size, 64 * MiB);
    // The budget, plus the chunker's pending bytes and one chunk waiting for the budget.
    assert.ok(peak <= limit + 2 * 8 * MiB, `${peak} bytes were in flight`);
    assert.ok(peak >= limit / 2, `only ${peak} bytes were in flight, so the test proves nothing`);
  });
});
