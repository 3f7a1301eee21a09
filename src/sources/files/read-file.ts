/**
 * Reading of one regular file that may change while it is read, as log files
 * do. The file is read through one descriptor up to the size it had when it
 * was opened, so growth during the read is never stored. Every change seen
 * between the listing and the end of the read is described for a warning.
 */
import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { LocalFileStats } from '../../snapshot/index.ts';
import { BackupError, errorMessage } from '../../errors/index.ts';

/** Bytes handed on so far by `readOpenedFile`. */
export interface ReadProgress {
  bytesRead: number;
}

/**
 * Yields the bytes of `handle` from offset 0 up to `size`, in chunks of at most
 * `chunkBytes`. Stops early when the file turns out shorter, because it was
 * truncated while read. Each chunk is a new buffer that the consumer may keep.
 */
export async function* readOpenedFile(
  handle: FileHandle,
  size: number,
  chunkBytes: number,
  signal: AbortSignal,
  progress: ReadProgress,
): AsyncGenerator<Uint8Array> {
  while (progress.bytesRead < size) {
    if (signal.aborted) {
      const reason = errorMessage(signal.reason);
      throw new BackupError('ERR_ABORTED', `backup aborted while reading a file: ${reason}`);
    }
    const length = Math.min(chunkBytes, size - progress.bytesRead);
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await handle.read(buffer, 0, length, progress.bytesRead);
    if (bytesRead === 0) return;
    progress.bytesRead += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/** Observations of one file before, during and after its read. */
export interface FileObservations {
  relativePath: string;
  /** lstat from the folder listing. */
  listed: BigIntStats;
  /** fstat right after opening. */
  opened: BigIntStats;
  /** fstat after the last byte was read. */
  after: BigIntStats;
  /** lstat of the path after the read; undefined when the path is gone. */
  current: BigIntStats | undefined;
  bytesRead: number;
}

/** Returns a warning message when the file changed while read, else undefined. */
export function describeChange(seen: FileObservations): string | undefined {
  const { listed, opened, after, current, bytesRead } = seen;
  const reasons: string[] = [];
  if (opened.ino !== listed.ino || opened.dev !== listed.dev) {
    reasons.push('It was replaced between the folder listing and the read.');
  }
  if (BigInt(bytesRead) < opened.size) {
    reasons.push(`It was truncated during the read, so ${bytesRead} of its ${opened.size} bytes were read.`);
  } else if (after.size > opened.size) {
    reasons.push(`It grew from ${opened.size} to ${after.size} bytes during the read.`);
  }
  if (after.size < BigInt(bytesRead)) {
    reasons.push('Bytes already stored were cut off, so the stored bytes are the contents before the truncation.');
  }
  if (reasons.length === 0 && (after.size !== listed.size || after.mtimeNs !== listed.mtimeNs)) {
    reasons.push('It was written to during the read.');
  }
  if (current === undefined) {
    reasons.push('It was removed or renamed during the read, as in log rotation.');
  } else if (current.ino !== opened.ino || current.dev !== opened.dev) {
    reasons.push('It was renamed and replaced during the read, as in log rotation.');
  }
  if (reasons.length === 0) return undefined;
  return `${seen.relativePath} changed while it was read. ${reasons.join(' ')} The first ${bytesRead} bytes read were stored.`;
}

/**
 * Returns a warning message when a file read with one read call differs from
 * its listing, else undefined. `stats` is the fstat after the read, and
 * `bytesRead` counts up to one byte past the listed size, which shows growth.
 */
export function describeSmallChange(
  relativePath: string,
  listed: LocalFileStats,
  stats: LocalFileStats,
  bytesRead: number,
): string | undefined {
  const reasons: string[] = [];
  const listedSize = Number(listed.size);
  if (stats.ino !== listed.ino || stats.dev !== listed.dev) {
    reasons.push('It was replaced between the folder listing and the read.');
  }
  if (bytesRead < listedSize) {
    reasons.push(`It was truncated during the read, so ${bytesRead} of its ${listedSize} bytes were read.`);
  } else if (bytesRead > listedSize) {
    reasons.push(`It grew from ${listedSize} to ${stats.size} bytes during the read.`);
  } else if (reasons.length === 0 && (stats.size !== listed.size || stats.mtimeNs !== listed.mtimeNs)) {
    reasons.push('It was written to during the read.');
  }
  if (reasons.length === 0) return undefined;
  const stored = Math.min(bytesRead, listedSize);
  return `${relativePath} changed while it was read. ${reasons.join(' ')} The first ${stored} bytes read were stored.`;
}
