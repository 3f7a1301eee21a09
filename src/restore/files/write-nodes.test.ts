import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile as writeBytes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { isBackupError } from '../../errors/index.ts';
import type { SnapshotReader, TreeNode } from '../../snapshot/index.ts';
import { writeFile, type WorkerFileWriter, type WriteOptions } from './write-nodes.ts';

const node: TreeNode = {
  name: 'big.bin',
  type: 'file',
  mode: 0o644,
  mtime: new Date(Date.UTC(2024, 0, 2)),
  size: 3 << 20,
  content: ['a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)],
};

/** Returns the error that a full disk gives a write. */
function noSpace(): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error('ENOSPC: no space left on device, write');
  error.code = 'ENOSPC';
  error.syscall = 'write';
  return error;
}

/** Returns a reader whose file streams one MiB and then fails as a full disk does. */
function failingReader(): SnapshotReader {
  const fail = async function* () {
    yield Buffer.alloc(1 << 20, 1);
    throw noSpace();
  };
  return {
    lookup: async () => undefined,
    list: async () => [],
    walk: async function* () {},
    openFile: () => Readable.from(fail()),
  };
}

describe('writeFile after a failed write', () => {
  const folders: string[] = [];
  after(() => Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true }))));

  async function folder(): Promise<string> {
    const created = await mkdtemp(join(tmpdir(), 'bgapp-write-nodes-'));
    folders.push(created);
    return created;
  }

  function isNotWritable(err: unknown): boolean {
    assert.ok(isBackupError(err, 'ERR_RESTORE_TARGET_NOT_WRITABLE'), String(err));
    assert.match(err.message, /ENOSPC/);
    return true;
  }

  it('removes the partial file', async () => {
    const target = await folder();
    const options: WriteOptions = { force: false, setOwner: false };
    await assert.rejects(writeFile(join(target, 'big.bin'), node, failingReader(), options), isNotWritable);
    assert.deepEqual(await readdir(target), []);
  });

  it('removes a partial file of a worker', async () => {
    const target = await folder();
    const workerWriter: WorkerFileWriter = {
      writeOneBlobFile: async () => false,
      writeContents: async (_node, fd) => {
        writeSync(fd, Buffer.alloc(1 << 20, 2));
        throw noSpace();
      },
    };
    const options: WriteOptions = { force: false, setOwner: false, workerWriter };
    await assert.rejects(writeFile(join(target, 'big.bin'), node, failingReader(), options), isNotWritable);
    assert.deepEqual(await readdir(target), []);
  });

  it('keeps a file it did not create', async () => {
    const target = await folder();
    await writeBytes(join(target, 'big.bin'), 'already here');
    const options: WriteOptions = { force: false, setOwner: false };
    await assert.rejects(writeFile(join(target, 'big.bin'), node, failingReader(), options), (err) => {
      assert.ok(isBackupError(err, 'ERR_RESTORE_TARGET_NOT_WRITABLE'), String(err));
      assert.match(err.message, /EEXIST/);
      return true;
    });
    assert.deepEqual(await readdir(target), ['big.bin']);
  });
});
