import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, open, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalBackend } from '../backend/index.ts';
import { Repository } from '../repository/index.ts';
import { RepositorySnapshotReader } from './index.ts';
import { removeTempFolders, resticOk, tempFolder, TEST_PASSWORD } from './test-support.ts';

const MiB = 1024 * 1024;

async function sha256OfStream(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const data of stream) hash.update(data);
  return hash.digest('hex');
}

describe('RepositorySnapshotReader', () => {
  const files = new Map<string, Buffer>();
  let source: string;
  let repo: Repository;
  let snapshotId: string;
  let repoPath: string;

  before(async () => {
    const root = tempFolder();
    source = join(root, 'data');
    repoPath = join(root, 'repo');
    await mkdir(join(source, 'sub', 'deeper'), { recursive: true });
    // restic cuts chunks of at most 8 MiB, so this file has at least three blobs.
    files.set('large.bin', randomBytes(24 * MiB));
    files.set('tab\tand "quote".txt', Buffer.from('odd name\n'));
    files.set('sub/deeper/small.txt', Buffer.from('small\n'));
    files.set('sub/empty', Buffer.alloc(0));
    for (const [name, data] of files) await writeFile(join(source, name), data);
    await symlink('../large.bin', join(source, 'sub', 'link'));

    resticOk(repoPath, ['init']);
    resticOk(repoPath, ['backup', source, '--host', 'reader-test']);
    snapshotId = JSON.parse(resticOk(repoPath, ['snapshots', '--json']))[0].id;
    repo = await Repository.open(new LocalBackend(repoPath), TEST_PASSWORD);
  });
  after(removeTempFolders);

  it('reads files written by restic backup', async () => {
    const reader = await RepositorySnapshotReader.open(repo, snapshotId);
    const prefix = source.split('/').filter(Boolean);
    for (const [name, data] of files) {
      const node = await reader.lookup([...prefix, ...name.split('/')]);
      assert.ok(node, `${name} is missing`);
      assert.equal(node.type, 'file');
      assert.equal(node.size, data.length, `size of ${name}`);
      const want = createHash('sha256').update(data).digest('hex');
      assert.equal(await sha256OfStream(reader.openFile(node)), want, `contents of ${name}`);
    }
  });

  it('lists, walks and decodes nodes', async () => {
    const reader = await RepositorySnapshotReader.open(repo, snapshotId);
    const prefix = source.split('/').filter(Boolean);
    const top = (await reader.list(prefix)).map((n) => n.name);
    assert.deepEqual(top, ['large.bin', 'sub', 'tab\tand "quote".txt']);
    const link = await reader.lookup([...prefix, 'sub', 'link']);
    assert.equal(link?.type, 'symlink');
    assert.equal(link?.linkTarget, '../large.bin');
    const sub = await reader.lookup([...prefix, 'sub']);
    assert.equal(sub?.type, 'dir');
    assert.equal(sub?.mode, 0o755);
    const walked: string[] = [];
    for await (const entry of reader.walk(prefix)) walked.push(entry.path.slice(prefix.length).join('/'));
    assert.deepEqual(walked, [
      'large.bin',
      'sub',
      'sub/deeper',
      'sub/deeper/small.txt',
      'sub/empty',
      'sub/link',
      'tab\tand "quote".txt',
    ]);
  });

  it('handles missing paths and files', async () => {
    const reader = await RepositorySnapshotReader.open(repo, snapshotId);
    const prefix = source.split('/').filter(Boolean);
    assert.equal(await reader.lookup([...prefix, 'nothing']), undefined);
    assert.equal(await reader.lookup([...prefix, 'large.bin', 'below']), undefined);
    await assert.rejects(reader.list([...prefix, 'large.bin']), { code: 'ERR_SNAPSHOT_PATH_INVALID' });
    await assert.rejects(reader.list([...prefix, 'nothing']), /does not exist in snapshot/);
  });

  it('limits blob loads to readAhead', async () => {
    let running = 0;
    let peak = 0;
    const counting = {
      loadSnapshot: (id: string) => repo.loadSnapshot(id),
      async loadBlob(type: 'data' | 'tree', id: string) {
        running++;
        peak = Math.max(peak, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        try {
          return await repo.loadBlob(type, id);
        } finally {
          running--;
        }
      },
    };
    const reader = await RepositorySnapshotReader.open(counting, snapshotId, { readAhead: 2 });
    const node = await reader.lookup([...source.split('/').filter(Boolean), 'large.bin']);
    assert.ok(node?.content, 'large.bin has content');
    assert.ok(node.content.length >= 3, `large.bin has ${node.content.length} blobs`);
    peak = 0;
    const want = createHash('sha256').update(files.get('large.bin')!).digest('hex');
    assert.equal(await sha256OfStream(reader.openFile(node)), want);
    assert.equal(peak, 2);
  });

  it('rejects a damaged blob opened on a worker', async () => {
    const copy = join(tempFolder(), 'repo');
    await cp(repoPath, copy, { recursive: true });
    const packs = join(copy, 'data');
    let largest = { path: '', size: 0 };
    for (const folder of await readdir(packs)) {
      for (const name of await readdir(join(packs, folder))) {
        const path = join(packs, folder, name);
        const { size } = await stat(path);
        if (size > largest.size) largest = { path, size };
      }
    }
    const file = await open(largest.path, 'r+');
    await file.write(Buffer.from([0xff, 0x00, 0xff]), 0, 3, 1000);
    await file.close();

    const damaged = await Repository.open(new LocalBackend(copy), TEST_PASSWORD);
    const reader = await RepositorySnapshotReader.open(damaged, snapshotId);
    const node = await reader.lookup([...source.split('/').filter(Boolean), 'large.bin']);
    assert.ok(node?.content && node.content.length > 1, 'large.bin has several blobs');
    await assert.rejects(sha256OfStream(reader.openFile(node)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_REPO_CORRUPT');
      assert.match(err.message, /cannot be opened: ciphertext verification failed/);
      return true;
    });
  });

  describe('writeOneBlobFile', () => {
    const prefix = () => source.split('/').filter(Boolean);
    const target = (path: string, mode = 0o640) => ({
      path,
      mode,
      atimeMillis: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
      mtimeMillis: Date.UTC(2023, 5, 6, 7, 8, 9, 123),
    });

    it('writes bytes, mode and times on a worker', async () => {
      const reader = await RepositorySnapshotReader.open(repo, snapshotId);
      const node = await reader.lookup([...prefix(), 'sub', 'deeper', 'small.txt']);
      assert.ok(node, 'small.txt is missing');
      const path = join(tempFolder(), 'small.txt');
      assert.equal(await reader.writeOneBlobFile(node, target(path)), true);
      // Stat before reading, which may move the access time.
      const stats = await stat(path);
      assert.equal(stats.mode & 0o7777, 0o640);
      assert.equal(stats.mtime.getTime(), Date.UTC(2023, 5, 6, 7, 8, 9, 123));
      assert.equal(stats.atime.getTime(), Date.UTC(2024, 0, 2, 3, 4, 5, 678));
      assert.deepEqual(await readFile(path), files.get('sub/deeper/small.txt'));
    });

    it('leaves a file of several blobs to the caller', async () => {
      const reader = await RepositorySnapshotReader.open(repo, snapshotId);
      const node = await reader.lookup([...prefix(), 'large.bin']);
      assert.ok(node?.content, 'large.bin has content');
      assert.ok(node.content.length > 1, `large.bin has ${node.content.length} blobs`);
      const folder = tempFolder();
      assert.equal(await reader.writeOneBlobFile(node, target(join(folder, 'large.bin'))), false);
      assert.deepEqual(await readdir(folder), []);
    });

    it('raises the system error of a failed write', async () => {
      const reader = await RepositorySnapshotReader.open(repo, snapshotId);
      const node = await reader.lookup([...prefix(), 'sub', 'deeper', 'small.txt']);
      assert.ok(node, 'small.txt is missing');
      const path = join(tempFolder(), 'existing.txt');
      await writeFile(path, 'keep me');
      await assert.rejects(reader.writeOneBlobFile(node, target(path)), (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'EEXIST');
        assert.equal(err.syscall, 'open');
        assert.equal(err.path, path);
        return true;
      });
      assert.equal(await readFile(path, 'utf8'), 'keep me');
    });

    it('rejects a damaged blob and writes nothing', async () => {
      const copy = join(tempFolder(), 'repo');
      await cp(repoPath, copy, { recursive: true });
      const reader = await RepositorySnapshotReader.open(repo, snapshotId);
      const node = await reader.lookup([...prefix(), 'sub', 'deeper', 'small.txt']);
      assert.ok(node?.content, 'small.txt has content');
      assert.equal(node.content.length, 1);
      await damageBlob(copy, node.content[0]!);

      const damaged = await Repository.open(new LocalBackend(copy), TEST_PASSWORD);
      const damagedReader = await RepositorySnapshotReader.open(damaged, snapshotId);
      const folder = tempFolder();
      const writing = damagedReader.writeOneBlobFile(node, target(join(folder, 'small.txt')));
      await assert.rejects(writing, (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_REPO_CORRUPT');
        assert.match(err.message, /cannot be opened: ciphertext verification failed/);
        return true;
      });
      assert.deepEqual(await readdir(folder), []);
    });
  });
});

describe('RepositorySnapshotReader.writeContents', () => {
  let repoPath: string;
  let snapshotId: string;
  let data: Buffer;
  let prefix: string[];
  const name = 'large.bin';

  before(async () => {
    const root = tempFolder();
    repoPath = join(root, 'repo');
    await mkdir(join(root, 'data'));
    data = randomBytes(12 * MiB);
    await writeFile(join(root, 'data', name), data);
    resticOk(repoPath, ['init']);
    resticOk(repoPath, ['backup', join(root, 'data'), '--host', 'reader-test']);
    prefix = join(root, 'data').split('/').filter(Boolean);
    snapshotId = JSON.parse(resticOk(repoPath, ['snapshots', '--json']))[0].id;
  });
  after(removeTempFolders);

  /** Opens the repository afresh, so each test gets a blob opener of its own. */
  async function openReader(repo?: Repository): Promise<RepositorySnapshotReader> {
    repo ??= await Repository.open(new LocalBackend(repoPath), TEST_PASSWORD);
    return RepositorySnapshotReader.open(repo, snapshotId);
  }

  async function nodeOf(reader: RepositorySnapshotReader) {
    const node = await reader.lookup([...prefix, name]);
    assert.ok(node?.content, `${name} has content`);
    assert.ok(node.content.length > 1, `${name} has ${node.content.length} blobs`);
    return node;
  }

  it('writes blobs and returns SHA-256', async () => {
    const reader = await openReader();
    const node = await nodeOf(reader);
    const path = join(tempFolder(), name);
    const handle = await open(path, 'wx');
    try {
      const sha256 = await reader.writeContents(node, handle.fd, path, true);
      assert.equal(sha256, createHash('sha256').update(data).digest('hex'));
    } finally {
      await handle.close();
    }
    assert.ok((await readFile(path)).equals(data), 'restored bytes differ');
  });

  it('skips a file of one blob', async () => {
    const reader = await openReader();
    const node = await nodeOf(reader);
    const oneBlob = { ...node, content: node.content!.slice(0, 1) };
    assert.equal(await reader.writeContents(oneBlob, -1, 'unused'), undefined);
  });

  it('raises a failed write with path', async () => {
    const reader = await openReader();
    const node = await nodeOf(reader);
    const path = join(tempFolder(), 'read-only.bin');
    await writeFile(path, '');
    const handle = await open(path, 'r');
    try {
      await assert.rejects(reader.writeContents(node, handle.fd, path), (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'EBADF');
        assert.equal(err.syscall, 'write');
        assert.equal(err.path, path);
        return true;
      });
    } finally {
      await handle.close();
    }
  });

  // A blob whose MAC is right but whose bytes are another blob's, as a
  // packing bug could store, is handed to the opener in place of the second blob.
  async function swappedReader(): Promise<RepositorySnapshotReader> {
    const repo = await Repository.open(new LocalBackend(repoPath), TEST_PASSWORD);
    const setOpener = repo.setBlobOpener.bind(repo);
    let first: { sealed: Buffer; uncompressedLength?: number } | undefined;
    repo.setBlobOpener = (opener) => {
      if (opener === undefined) return setOpener(undefined);
      setOpener(async (blob) => {
        if (first === undefined) {
          first = { sealed: Buffer.from(blob.sealed), uncompressedLength: blob.uncompressedLength };
          return opener(blob);
        }
        return opener({ ...blob, sealed: Buffer.from(first.sealed), uncompressedLength: first.uncompressedLength });
      });
    };
    return openReader(repo);
  }

  it('rejects a blob of other bytes', async () => {
    const reader = await swappedReader();
    const node = await nodeOf(reader);
    const path = join(tempFolder(), name);
    const handle = await open(path, 'wx');
    try {
      await assert.rejects(reader.writeContents(node, handle.fd, path), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_REPO_CORRUPT');
        assert.match(err.message, /do not match its id/);
        return true;
      });
    } finally {
      await handle.close();
    }
  });

  it('leaves blob ids to file hash', async () => {
    const reader = await swappedReader();
    const node = await nodeOf(reader);
    const path = join(tempFolder(), name);
    const handle = await open(path, 'wx');
    try {
      const sha256 = await reader.writeContents(node, handle.fd, path, true);
      assert.ok(sha256 !== undefined);
      assert.notEqual(sha256, createHash('sha256').update(data).digest('hex'));
    } finally {
      await handle.close();
    }
  });
});

interface ResticIndex {
  packs: { id: string; blobs: { id: string; offset: number; length: number }[] }[];
}

/** Flips bytes in the middle of data blob `blobId` in the pack that restic's index places it in. */
async function damageBlob(repoPath: string, blobId: string): Promise<void> {
  for (const indexId of resticOk(repoPath, ['list', 'index']).trim().split('\n')) {
    const index = JSON.parse(resticOk(repoPath, ['cat', 'index', indexId])) as ResticIndex;
    for (const pack of index.packs) {
      const blob = pack.blobs.find((b) => b.id === blobId);
      if (blob === undefined) continue;
      const file = await open(join(repoPath, 'data', pack.id.slice(0, 2), pack.id), 'r+');
      await file.write(Buffer.from([0xff, 0x00, 0xff]), 0, 3, blob.offset + Math.floor(blob.length / 2));
      await file.close();
      return;
    }
  }
  throw new Error(`blob ${blobId} is in no index of ${repoPath}`);
}

