import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { BackupError } from '../../errors/index.ts';
import { silentLogger } from '../../log/index.ts';
import type { SnapshotReader, TreeNode } from '../../snapshot/index.ts';
import type { FilesManifest } from '../../sources/types.ts';
import { fixtureMtime, makeTempDir, removeTempDir } from '../../../test/support/files-fixture.ts';
import type { RestoreReport } from '../types.ts';
import { restoreFiles, type OneBlobFile, type WorkerFileWriter } from './index.ts';

function sha256(data: string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Returns a file node of `blobs`, each blob's id the SHA-256 of its text. */
function fileNode(name: string, blobs: string[]): TreeNode {
  return { name, type: 'file', mode: 0o640, mtime: fixtureMtime, content: blobs.map(sha256) };
}

/** Returns a reader of files in the root folder that streams the blobs given for each. */
function readerOf(files: Map<TreeNode, string[]>): SnapshotReader {
  return {
    lookup: async (path) => (path.length === 0 ? { name: '', type: 'dir', mode: 0o755, mtime: fixtureMtime } : undefined),
    list: async () => [],
    async *walk() {
      for (const node of files.keys()) yield { path: [node.name], node };
    },
    openFile: (node) => Readable.from((files.get(node) ?? []).map((blob) => Buffer.from(blob))),
  };
}

function manifestOf(files: Map<TreeNode, string[]>): FilesManifest {
  const now = new Date().toISOString();
  const sums = [...files].map(([node, blobs]) => [node.name, sha256(blobs.join(''))]);
  return { type: 'files', name: 'etc', path: '/etc/bgapp', readAt: now, finishedAt: now, files: files.size, bytes: 0, sha256: Object.fromEntries(sums) };
}

function restore(files: Map<TreeNode, string[]>, targetDir: string, workerWriter: WorkerFileWriter): Promise<RestoreReport> {
  const ctx = { reader: readerOf(files), manifest: manifestOf(files), force: false, logger: silentLogger, signal: new AbortController().signal, onEvent: () => {} };
  return restoreFiles(ctx, { targetDir, workerWriter });
}

/** Returns a writer that records its calls and hands each to `write`. */
function recordingWriter(write: (node: TreeNode, file: OneBlobFile) => Promise<boolean>) {
  const calls: { node: TreeNode; file: OneBlobFile }[] = [];
  const writer: WorkerFileWriter = {
    writeOneBlobFile: (node, file) => {
      calls.push({ node, file });
      return write(node, file);
    },
  };
  return { writer, calls };
}

describe('restoreFiles with a one-blob writer', () => {
  let root: string;
  before(async () => {
    root = await makeTempDir('one-blob-writer');
  });
  after(async () => {
    await removeTempDir(root);
  });

  it('hands one-blob files to the writer', async () => {
    const small = fileNode('small.txt', ['one blob\n']);
    const large = fileNode('large.txt', ['first\n', 'second\n']);
    const files = new Map([[small, ['one blob\n']], [large, ['first\n', 'second\n']]]);
    const { writer, calls } = recordingWriter(async (node, file) => {
      await writeFile(file.path, files.get(node)!.join(''));
      return true;
    });
    const target = join(root, 'handed');
    const report = await restore(files, target, writer);
    assert.deepEqual(report.differences, []);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.node, small);
    assert.equal(calls[0]!.file.path, join(target, 'small.txt'));
    assert.equal(calls[0]!.file.mode, 0o640);
    assert.equal(calls[0]!.file.mtimeMillis, fixtureMtime.getTime());
    assert.equal(await readFile(join(target, 'large.txt'), 'utf8'), 'first\nsecond\n');
  });

  it('streams a file the writer declines', async () => {
    const small = fileNode('small.txt', ['one blob\n']);
    const files = new Map([[small, ['one blob\n']]]);
    const { writer, calls } = recordingWriter(async () => false);
    const target = join(root, 'declined');
    const report = await restore(files, target, writer);
    assert.deepEqual(report.differences, []);
    assert.equal(calls.length, 1);
    assert.equal(await readFile(join(target, 'small.txt'), 'utf8'), 'one blob\n');
    assert.equal((await lstat(join(target, 'small.txt'))).mode & 0o7777, 0o640);
  });

  it('compares a written file by its blob id', async () => {
    const small = fileNode('small.txt', ['one blob\n']);
    const files = new Map([[small, ['one blob\n']]]);
    const manifestSum = sha256('other bytes\n');
    const { writer } = recordingWriter(async (_node, file) => {
      await writeFile(file.path, 'one blob\n');
      return true;
    });
    const ctx = { reader: readerOf(files), manifest: { ...manifestOf(files), sha256: { 'small.txt': manifestSum } }, force: false, logger: silentLogger, signal: new AbortController().signal, onEvent: () => {} };
    const report = await restoreFiles(ctx, { targetDir: join(root, 'compared'), workerWriter: writer });
    assert.equal(report.verified, false);
    assert.deepEqual(report.differences, [`small.txt has SHA-256 ${sha256('one blob\n')} but the manifest has ${manifestSum}`]);
  });

  it('lists a damaged blob and restores the rest', async () => {
    const bad = fileNode('bad.txt', ['bad\n']);
    const good = fileNode('good.txt', ['good\n']);
    const files = new Map([[bad, ['bad\n']], [good, ['good\n']]]);
    const { writer } = recordingWriter(async (node, file) => {
      await writeFile(file.path, 'half');
      if (node === bad) throw new BackupError('ERR_REPO_CORRUPT', 'data blob 1234 cannot be opened');
      await writeFile(file.path, 'good\n');
      return true;
    });
    const target = join(root, 'damaged');
    const report = await restore(files, target, writer);
    assert.equal(report.verified, false);
    assert.ok(report.differences.some((d) => d.startsWith('bad.txt could not be read')), report.differences.join('\n'));
    assert.deepEqual(await readdir(target), ['good.txt']);
  });

  it('raises a failed write as not writable', async () => {
    const small = fileNode('small.txt', ['one blob\n']);
    const files = new Map([[small, ['one blob\n']]]);
    const { writer } = recordingWriter(async (_node, file) => {
      const error: NodeJS.ErrnoException = new Error(`ENOSPC: no space left on device, write '${file.path}'`);
      error.code = 'ENOSPC';
      error.syscall = 'write';
      throw error;
    });
    await assert.rejects(restore(files, join(root, 'full'), writer), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_RESTORE_TARGET_NOT_WRITABLE');
      assert.match(err.message, /no space left/);
      return true;
    });
  });
});
