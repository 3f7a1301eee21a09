/**
 * Streams a folder of a snapshot into a gzip-compressed tar archive, one file at a
 * time, without holding any file in memory.
 */
import { once, type EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack as createPack, type Pack } from 'tar-stream';
import { BackupError } from '../errors/index.ts';
import type { SnapshotReader, TreeNode } from '../snapshot/index.ts';
import { writeFileAtomic } from './atomic-file.ts';

type Headers = Parameters<Pack['entry']>[0];
type Entry = ReturnType<Pack['entry']>;

/**
 * Writes the snapshot folder at `folder` to `target` as a .tar.gz, atomically.
 * Entry names start with `top/`. Devices, FIFOs and sockets are left out, as
 * restic stores no contents for them. Returns the compressed size in bytes.
 */
export async function writeFolderArchive(
  reader: SnapshotReader,
  folder: readonly string[],
  top: string,
  target: string,
  signal?: AbortSignal,
): Promise<number> {
  const archive = createPack();
  const gzip = createGzip();
  const stop = new AbortController();
  const stopSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;

  const filling = fillArchive(archive, reader, folder, top, stopSignal).then(() => archive.finalize());
  // tar-stream's pack is a streamx stream, so it is handed to pipeline as an async iterable.
  const compressing = pipeline(chunksOf(archive), gzip);
  const writing = writeFileAtomic(target, gzip, { mode: 0o600, signal });
  // Any failure stops the other two steps, which could otherwise wait forever on
  // backpressure from a writer that is gone. The compressing step only passes on the
  // failure of a neighbour, so the first failure of reading or writing is the cause.
  let firstFailure: { reason: unknown } | undefined;
  const stopAll = (reason: unknown) => {
    stop.abort(reason);
    archive.destroy();
    gzip.destroy();
  };
  const recordAndStop = (reason: unknown) => {
    firstFailure ??= { reason };
    stopAll(reason);
  };
  filling.catch(recordAndStop);
  writing.catch(recordAndStop);
  compressing.catch(stopAll);
  const settled = await Promise.allSettled([filling, compressing, writing]);
  if (signal?.aborted) {
    throw new BackupError('ERR_ABORTED', `writing ${target} was aborted`, { cause: signal.reason });
  }
  if (firstFailure) throw firstFailure.reason;
  if (settled[1].status === 'rejected') throw settled[1].reason;
  return settled[2].status === 'fulfilled' ? settled[2].value : 0;
}

async function* chunksOf(archive: Pack): AsyncGenerator<Buffer> {
  for await (const chunk of archive) yield chunk as Buffer;
}

async function fillArchive(
  archive: Pack,
  reader: SnapshotReader,
  folder: readonly string[],
  top: string,
  signal: AbortSignal,
): Promise<void> {
  try {
    const root = folder.length === 0 ? undefined : await reader.lookup(folder);
    await addEntry(archive, { ...headerOf(root, `${top}/`), type: 'directory' });
    for await (const { path, node } of reader.walk(folder)) {
      signal.throwIfAborted();
      const name = [top, ...path.slice(folder.length)].join('/');
      await addNode(archive, reader, node, name, signal);
    }
  } catch (err) {
    archive.destroy(err as Error);
    throw err;
  }
}

async function addNode(
  archive: Pack,
  reader: SnapshotReader,
  node: TreeNode,
  name: string,
  signal: AbortSignal,
): Promise<void> {
  const header = headerOf(node, name);
  if (node.type === 'dir') return addEntry(archive, { ...header, name: `${name}/`, type: 'directory' });
  if (node.type === 'symlink') {
    return addEntry(archive, { ...header, type: 'symlink', linkname: node.linkTarget ?? '' });
  }
  if (node.type !== 'file') return;
  const fileHeader: Headers = { ...header, type: 'file', size: node.size ?? 0 };
  await addEntry(archive, fileHeader, reader.openFile(node), signal);
}

function headerOf(node: TreeNode | undefined, name: string): Headers {
  if (!node) return { name, mode: 0o755, mtime: new Date() };
  return {
    name,
    mode: node.mode & 0o7777,
    mtime: node.mtime,
    uid: node.uid,
    gid: node.gid,
    uname: node.user,
    gname: node.group,
  };
}

/** Adds one entry and waits until the archive accepted all of it. */
async function addEntry(
  archive: Pack,
  header: Headers,
  content?: Readable,
  signal?: AbortSignal,
): Promise<void> {
  let entry: Entry | undefined;
  const done = new Promise<void>((resolve, reject) => {
    entry = archive.entry(header, (err) => (err ? reject(err) : resolve()));
  });
  if (!entry) throw new Error('tar-stream returned no entry');
  // The entry's callback reports its failure; without a listener streamx would also
  // raise the 'error' event as an uncaught exception.
  entry.on('error', () => {});
  if (!content) {
    entry.end(undefined);
    return done;
  }
  // Promise.all observes both, so the entry's rejection after a failed copy is handled.
  await Promise.all([copyInto(content, entry, signal), done]);
}

/** Copies with backpressure; tar-stream's entries are streamx streams, not Node streams. */
async function copyInto(
  content: Readable,
  entry: Entry,
  signal?: AbortSignal,
): Promise<void> {
  try {
    for await (const chunk of content) {
      signal?.throwIfAborted();
      if (!entry.write(chunk)) await once(entry as unknown as EventEmitter, 'drain', { signal });
    }
    entry.end(undefined);
  } catch (err) {
    content.destroy();
    entry.destroy(err as Error);
    throw err;
  }
}
