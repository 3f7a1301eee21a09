/**
 * Ranged reads of packs that serve several blobs each. A restore requests
 * blobs one at a time, and the blobs of files backed up together lie next to
 * each other in a pack, so one read from the requested blob onward also
 * contains the blobs requested next.
 */
import type { Backend } from '../backend/index.ts';
import { releaseBuffer } from '../crypto/index.ts';
import type { Id } from './types.ts';

/**
 * Window size for a backend that sets no `rangedReadBytes`, such as
 * Microsoft Graph. One request then fetches the next 4 MiB of a pack, so a
 * restore of many small files makes a few requests per pack instead of one
 * per file, and a blob read alone fetches at most this much extra.
 */
export const NETWORK_WINDOW_BYTES = 4 * 1024 * 1024;

/** Windows kept, newest first; older ones are dropped. */
export const WINDOWS_KEPT = 4;

interface Window {
  packId: Id;
  start: number;
  end: number;
  data: Promise<Buffer>;
  /** Reads waiting for `data` or copying out of it. */
  readers: number;
  /** Whether the window left the list, so its buffer is freed once `readers` is 0. */
  dropped: boolean;
}

/**
 * Blob reads through a few recent windows of packs, each window read once.
 * Each read returns a copy that owns its buffer, so a dropped window's buffer
 * is freed at once instead of at the next garbage collection, and a worker
 * receives the copy without another one.
 */
export class PackWindows {
  private readonly backend: Backend;
  private readonly windowBytes: number;
  private windows: Window[] = [];

  constructor(backend: Backend) {
    this.backend = backend;
    this.windowBytes = backend.rangedReadBytes ?? NETWORK_WINDOW_BYTES;
  }

  /**
   * Returns `length` bytes at `offset` of pack `packId`. `blobsEnd` is where
   * the last indexed blob of the pack ends: a window never reads past it, so
   * it stays inside the pack and out of its header.
   */
  async read(packId: Id, offset: number, length: number, blobsEnd: number): Promise<Buffer> {
    const end = offset + length;
    let window = this.find(packId, offset, end);
    if (window === undefined) {
      const windowEnd = Math.min(blobsEnd, offset + this.windowBytes);
      const handle = { type: 'data' as const, name: packId };
      // A blob over a quarter of the window, such as a chunk of a large file,
      // is read alone: a window would serve few neighbours and copy it once more.
      if (windowEnd <= end || length > this.windowBytes / 4) {
        return this.backend.load(handle, { offset, length });
      }
      const data = this.backend.load(handle, { offset, length: windowEnd - offset });
      window = { packId, start: offset, end: windowEnd, data, readers: 0, dropped: false };
      this.add(window);
    }

    window.readers += 1;
    try {
      const data = await window.data;
      const copy = Buffer.allocUnsafeSlow(length);
      data.copy(copy, 0, offset - window.start, end - window.start);
      return copy;
    } catch (err) {
      // A later read tries the pack again instead of getting this error.
      this.drop(window);
      throw err;
    } finally {
      window.readers -= 1;
      if (window.dropped && window.readers === 0) void freeWindow(window);
    }
  }

  /** Returns the window that contains [offset, end) of the pack, moved to the front. */
  private find(packId: Id, offset: number, end: number): Window | undefined {
    const i = this.windows.findIndex((w) => w.packId === packId && w.start <= offset && end <= w.end);
    if (i < 0) return undefined;
    const window = this.windows[i]!;
    if (i > 0) {
      this.windows.splice(i, 1);
      this.windows.unshift(window);
    }
    return window;
  }

  private add(window: Window): void {
    this.windows.unshift(window);
    for (const old of this.windows.slice(WINDOWS_KEPT)) this.drop(old);
  }

  private drop(window: Window): void {
    if (window.dropped) return;
    window.dropped = true;
    this.windows = this.windows.filter((w) => w !== window);
    if (window.readers === 0) void freeWindow(window);
  }
}

/** Frees a dropped window's buffer when the window owns its whole ArrayBuffer. */
async function freeWindow(window: Window): Promise<void> {
  const data = await window.data.catch(() => undefined);
  if (data === undefined || data.byteLength === 0) return;
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) releaseBuffer(data);
}
