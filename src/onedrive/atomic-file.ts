/**
 * Writes a file into a synced folder so that the sync client sees either nothing or
 * the whole file. Data goes to a temporary name that the OneDrive client skips, is
 * flushed to disk, and is then renamed over the final name.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { BackupError, errorMessage } from '../errors/index.ts';

/**
 * Prefix and suffix of temporary files. Microsoft's OneDrive client does not upload
 * names that start with `~$`, and the Linux client abraunegg/onedrive skips `~*` and
 * `*.tmp` by default (its skip_file setting), so the name is skipped by both.
 */
export const TEMP_PREFIX = '~$';
export const TEMP_SUFFIX = '.tmp';

/** Options of writeFileAtomic. */
export interface AtomicWriteOptions {
  /** Permission bits of the new file; 0o600 when unset. */
  mode?: number;
  signal?: AbortSignal;
}

/** Returns the temporary name used while writing `path`. */
export function tempPathFor(path: string): string {
  const unique = randomBytes(6).toString('hex');
  return join(dirname(path), `${TEMP_PREFIX}${basename(path)}.${unique}${TEMP_SUFFIX}`);
}

/** Tells whether a file name is one of this module's temporary names. */
export function isTempName(name: string): boolean {
  return name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX);
}

/**
 * Streams `content` into `path` atomically: it writes a temporary file, fsyncs it,
 * renames it to `path` (replacing an existing file) and fsyncs the folder. On any
 * error, including an abort, the temporary file is removed and `path` is unchanged.
 * Returns the number of bytes written. Raises ERR_BACKEND_IO, or ERR_ABORTED.
 */
export async function writeFileAtomic(
  path: string,
  content: Readable | AsyncIterable<Uint8Array>,
  options: AtomicWriteOptions = {},
): Promise<number> {
  const temp = tempPathFor(path);
  try {
    const bytes = await writeAndSync(temp, content, options);
    await rename(temp, path);
    await syncFolder(dirname(path));
    return bytes;
  } catch (err) {
    await rm(temp, { force: true });
    if (options.signal?.aborted) {
      throw new BackupError('ERR_ABORTED', `writing ${path} was aborted`, { cause: err });
    }
    throw new BackupError(
      'ERR_BACKEND_IO',
      `cannot write ${path}: ${errorMessage(err)}; check free space and permissions of ${dirname(path)}`,
      { cause: err },
    );
  }
}

async function writeAndSync(
  temp: string,
  content: Readable | AsyncIterable<Uint8Array>,
  options: AtomicWriteOptions,
): Promise<number> {
  // `flush: true` makes the stream fsync before it closes its descriptor. The stream
  // owns the descriptor because, on Node 24, FileHandle.close() never settles after
  // a stream was made from that handle with autoClose: false.
  const out = createWriteStream(temp, { flags: 'wx', mode: options.mode ?? 0o600, flush: true });
  try {
    await pipeline(content, out, { signal: options.signal });
  } catch (err) {
    // The stream may still be opening the file; wait, so the caller's cleanup runs
    // after the file exists and its descriptor is closed.
    if (!out.closed) await once(out, 'close');
    throw err;
  }
  return out.bytesWritten;
}

/** Flushes a folder's entries, so the rename survives a crash (POSIX; Linux and macOS). */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
