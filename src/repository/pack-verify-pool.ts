/**
 * Worker threads that verify pack files for `check --read-data`. A pack is
 * sent to one worker as consecutive byte ranges (segments), so the worker can
 * compute the SHA-256 of the whole file as it goes while it opens and hashes
 * every blob of each segment. Memory then grows with the segments in flight,
 * not with the size of a pack.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ownedArrayBuffer } from '../crypto/index.ts';
import type { BlobType } from './types.ts';

/** Data each verifier worker starts with. */
export interface VerifyWorkerInit {
  /** The 64 raw master key bytes (copied into the worker at start). */
  keyBytes: Uint8Array;
}

/** A blob inside a segment. Its `start` counts from the segment's first byte. */
export interface SegmentBlob {
  type: BlobType;
  id: string;
  start: number;
  length: number;
  uncompressedLength?: number;
}

/**
 * A message to a verifier worker. `segment` feeds the next bytes of pack
 * `pack` into its running SHA-256 and verifies the blobs that lie wholly
 * inside them. `digest` ends the pack and returns the hex SHA-256 of every
 * segment sent for it, in order. `data` is transferred, not copied.
 */
export type VerifyRequest =
  | { op: 'segment'; taskId: number; pack: number; data: ArrayBuffer; blobs: SegmentBlob[] }
  | { op: 'digest'; taskId: number; pack: number }
  | { op: 'exit'; taskId: number };

/** A verifier worker's reply: the first blob problem of a segment, or a pack's SHA-256. */
export type VerifyReply =
  | { op: 'segment'; taskId: number; problem?: string }
  | { op: 'digest'; taskId: number; sha256: string }
  | { op: 'error'; taskId: number; message: string };

interface Pending {
  resolve: (reply: VerifyReply) => void;
  reject: (err: Error) => void;
}

interface VerifyWorker {
  worker: Worker;
  pending: Map<number, Pending>;
  /** Packs opened on this worker and not yet digested. */
  openPacks: number;
  exited: Promise<void>;
}

/** Handle of one pack being verified. Every segment of the pack goes to the same worker. */
export interface PackStream {
  readonly pack: number;
  readonly worker: number;
}

/**
 * Runs pack verification on worker threads. A worker handles its messages in
 * order, so the segments of one pack are hashed in order on the worker the
 * pack was opened on.
 */
export class PackVerifyPool {
  readonly size: number;
  private readonly workers: VerifyWorker[] = [];
  private nextTaskId = 1;
  private nextPack = 0;
  private failure: Error | undefined;

  constructor(keyBytes: Uint8Array, size = availableParallelism()) {
    this.size = Math.max(1, size);
    const workerData: VerifyWorkerInit = { keyBytes };
    for (let i = 0; i < this.size; i++) {
      const worker = new Worker(new URL('./pack-verify-worker.ts', import.meta.url), {
        workerData,
      });
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      const entry: VerifyWorker = { worker, pending: new Map(), openPacks: 0, exited };
      worker.on('message', (reply: VerifyReply) => this.settle(entry, reply));
      worker.on('error', (err) =>
        this.fail(new Error(`pack verifier worker failed: ${err.message}`, { cause: err })),
      );
      worker.on('exit', (code) =>
        this.fail(new Error(`pack verifier worker exited with code ${code}`)),
      );
      this.workers.push(entry);
    }
  }

  /** The error that stopped the pool (a worker crashed or the pool was closed), if any. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** Starts verifying a pack on the worker with the fewest packs open. */
  openPack(): PackStream {
    let best = 0;
    for (let i = 1; i < this.workers.length; i++) {
      if (this.workers[i]!.openPacks < this.workers[best]!.openPacks) best = i;
    }
    this.workers[best]!.openPacks++;
    return { pack: this.nextPack++, worker: best };
  }

  /**
   * Sends the pack's next bytes and the blobs wholly inside them; resolves to
   * the first blob problem found in them. `data` moves to the worker.
   */
  async segment(
    stream: PackStream,
    data: Buffer,
    blobs: SegmentBlob[],
  ): Promise<string | undefined> {
    const buffer = ownedArrayBuffer(data);
    const taskId = this.nextTaskId++;
    const request: VerifyRequest = {
      op: 'segment',
      taskId,
      pack: stream.pack,
      data: buffer,
      blobs,
    };
    const reply = await this.run(stream.worker, request, [buffer]);
    if (reply.op !== 'segment')
      throw new Error(`pack verifier sent ${reply.op} for a segment task`);
    return reply.problem;
  }

  /** Ends the pack and returns the hex SHA-256 of all its segments. */
  async digest(stream: PackStream): Promise<string> {
    const request: VerifyRequest = { op: 'digest', taskId: this.nextTaskId++, pack: stream.pack };
    try {
      const reply = await this.run(stream.worker, request, []);
      if (reply.op !== 'digest')
        throw new Error(`pack verifier sent ${reply.op} for a digest task`);
      return reply.sha256;
    } finally {
      this.workers[stream.worker]!.openPacks--;
    }
  }

  /** Stops every worker after the messages already sent; later tasks fail. */
  async close(): Promise<void> {
    for (const entry of this.workers) {
      entry.worker.postMessage({ op: 'exit', taskId: 0 } satisfies VerifyRequest);
    }
    await Promise.all(this.workers.map((entry) => entry.exited));
    this.fail(new Error('pack verifier pool is closed'));
  }

  private run(
    worker: number,
    request: VerifyRequest,
    transfer: ArrayBuffer[],
  ): Promise<VerifyReply> {
    if (this.failure) return Promise.reject(this.failure);
    const entry = this.workers[worker]!;
    return new Promise((resolve, reject) => {
      entry.pending.set(request.taskId, { resolve, reject });
      entry.worker.postMessage(request, transfer);
    });
  }

  private settle(entry: VerifyWorker, reply: VerifyReply): void {
    const pending = entry.pending.get(reply.taskId);
    if (!pending) return;
    entry.pending.delete(reply.taskId);
    if (reply.op === 'error')
      pending.reject(new Error(`pack verifier task failed: ${reply.message}`));
    else pending.resolve(reply);
  }

  /** Rejects every pending task, and every later one, with `err`. */
  private fail(err: Error): void {
    this.failure ??= err;
    for (const entry of this.workers) {
      for (const pending of entry.pending.values()) pending.reject(this.failure);
      entry.pending.clear();
    }
  }
}
