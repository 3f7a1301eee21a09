/**
 * A pool of worker threads that hash chunks and compress and seal blobs, so
 * that this CPU work runs on every core while the main thread reads and
 * chunks. Chunks move to and from the workers as transferred ArrayBuffers.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker-protocol.ts';

/** Options of a BlobWorkerPool. */
export interface WorkerPoolOptions {
  /** The 64 raw master key bytes, from `repo.masterKeyBytes()`. */
  keyBytes: Uint8Array;
  /** Whether new blobs are zstd-compressed before sealing. */
  compression: boolean;
  /** Number of worker threads; the number of cores when unset. */
  size?: number;
}

/** A chunk's SHA-256 and the chunk itself, handed back by the worker. */
export interface HashedChunk {
  id: string;
  data: Buffer;
}

/** A compressed (when it helped) and sealed blob. */
export interface SealedChunk {
  sealed: Buffer;
  uncompressedLength?: number;
}

interface Task {
  request: WorkerRequest;
  resolve: (reply: WorkerReply) => void;
  reject: (err: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  running: Map<number, Task>;
}

/** Tasks queued on one worker at once, so a worker rarely waits for its next message. */
const TASKS_PER_WORKER = 2;

/** Runs hash and seal tasks on worker threads, first come first served. */
export class BlobWorkerPool {
  readonly size: number;
  private readonly workers: PoolWorker[] = [];
  private readonly queue: Task[] = [];
  private nextTaskId = 1;
  private failure: Error | undefined;

  constructor(options: WorkerPoolOptions) {
    this.size = Math.max(1, options.size ?? availableParallelism());
    const workerData: WorkerInit = { keyBytes: options.keyBytes, compression: options.compression };
    for (let i = 0; i < this.size; i++) {
      const worker = new Worker(new URL('./blob-worker.ts', import.meta.url), { workerData });
      const entry: PoolWorker = { worker, running: new Map() };
      worker.on('message', (reply: WorkerReply) => this.settle(entry, reply));
      worker.on('error', (err) => this.fail(new Error(`blob worker failed: ${err.message}`, { cause: err })));
      worker.on('exit', (code) => this.fail(new Error(`blob worker exited with code ${code}`)));
      this.workers.push(entry);
    }
  }

  /** Computes the SHA-256 of `chunk`. The chunk's memory moves to the worker and back. */
  async hash(chunk: Buffer): Promise<HashedChunk> {
    const reply = await this.run('hash', chunk);
    if (reply.op !== 'hash') throw new Error(`blob worker sent ${reply.op} for a hash task`);
    return { id: reply.id, data: Buffer.from(reply.data) };
  }

  /** Compresses and seals `chunk`; the chunk's memory moves to the worker and is freed there. */
  async seal(chunk: Buffer): Promise<SealedChunk> {
    const reply = await this.run('seal', chunk);
    if (reply.op !== 'seal') throw new Error(`blob worker sent ${reply.op} for a seal task`);
    return { sealed: Buffer.from(reply.sealed), uncompressedLength: reply.uncompressedLength };
  }

  /** Stops every worker; queued and running tasks fail. */
  async close(): Promise<void> {
    this.fail(new Error('blob worker pool is closed'));
    await Promise.all(this.workers.map((entry) => entry.worker.terminate()));
  }

  private run(op: WorkerRequest['op'], chunk: Buffer): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    const data = transferable(chunk);
    return new Promise((resolve, reject) => {
      this.queue.push({ request: { op, taskId: this.nextTaskId++, data }, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const entry of this.workers) {
      while (entry.running.size < TASKS_PER_WORKER && this.queue.length > 0) {
        const task = this.queue.shift()!;
        entry.running.set(task.request.taskId, task);
        entry.worker.postMessage(task.request, [task.request.data]);
      }
    }
  }

  private settle(entry: PoolWorker, reply: WorkerReply): void {
    const task = entry.running.get(reply.taskId);
    if (!task) return;
    entry.running.delete(reply.taskId);
    if (reply.op === 'error') task.reject(new Error(`blob worker task failed: ${reply.message}`));
    else task.resolve(reply);
    this.dispatch();
  }

  /** Rejects every queued and running task, and every later one, with `err`. */
  private fail(err: Error): void {
    this.failure ??= err;
    const tasks = [...this.queue.splice(0), ...this.workers.flatMap((w) => [...w.running.values()])];
    for (const entry of this.workers) entry.running.clear();
    for (const task of tasks) task.reject(this.failure);
  }
}

/** Returns an ArrayBuffer with exactly the bytes of `chunk`, copying only when it shares one. */
function transferable(chunk: Buffer): ArrayBuffer {
  const { buffer, byteOffset, byteLength } = chunk;
  if (buffer instanceof ArrayBuffer && byteOffset === 0 && byteLength === buffer.byteLength) {
    return buffer;
  }
  const copy = new Uint8Array(byteLength);
  copy.set(chunk);
  return copy.buffer;
}
