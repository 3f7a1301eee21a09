/** Messages between the archiver's worker pool and its blob workers. */
import type { LocalFileStats, OneBlobFile } from '../snapshot/index.ts';

/** Data each worker starts with. */
export interface WorkerInit {
  /** The 64 raw master key bytes (copied into the worker at start). */
  keyBytes: Uint8Array;
  /** Whether new blobs are zstd-compressed before sealing. */
  compression: boolean;
}

/**
 * A task for a worker; every ArrayBuffer is transferred, not copied. `update`
 * feeds a chunk into a stream's running SHA-256 and hands the chunk back, and
 * `digest` ends the stream. `hashSeal` hashes and seals a chunk in one
 * message, for a file of one chunk. `open` decrypts and decompresses a blob
 * and checks its id. A worker handles its messages in order, so the
 * pool sends every task of one stream to the same worker. `exit` ends the worker
 * after the tasks sent before it.
 */
export type WorkerRequest =
  | { op: 'hash'; taskId: number; data: ArrayBuffer }
  | { op: 'update'; taskId: number; data: ArrayBuffer; stream: number }
  | { op: 'seal'; taskId: number; data: ArrayBuffer }
  | { op: 'hashSeal'; taskId: number; data: ArrayBuffer }
  | { op: 'digest'; taskId: number; stream: number }
  | { op: 'pack'; taskId: number; data: ArrayBuffer; length: number }
  | {
      op: 'open';
      taskId: number;
      sealed: ArrayBuffer;
      uncompressedLength?: number;
      id: string;
      /** Skips the check of the plaintext's SHA-256 against `id` (see `BlobWorkerPool.open`). */
      unchecked?: true;
    }
  | { op: 'readFile'; taskId: number; path: string; listedSize: number }
  | OpenWriteRequest
  | AppendRequest
  | BatchRequest
  | { op: 'exit'; taskId: number };

/** A request for one task, as a batch carries them. */
export type TaskRequest = Exclude<WorkerRequest, { op: 'batch' | 'exit' }>;

/** The reply to one task, as a batch reply carries them. */
export type TaskReply = Exclude<WorkerReply, { op: 'batch' }>;

/**
 * Several tasks in one message, run in order. Sent one message per file, a
 * backup of 50,000 small files spent a tenth of its main thread in postMessage.
 */
export interface BatchRequest {
  op: 'batch';
  taskId: 0;
  requests: TaskRequest[];
}

/** A failed system call of a worker, as the fields of a Node.js system error. */
export interface SystemFailure {
  code: string;
  syscall: string;
  message: string;
}

/**
 * Result of reading a small file on a worker (`readFile`). It is the file's
 * SHA-256 and sealed bytes (none when empty), `notFile` when the path is no
 * longer a regular file, or the system error of `open` or `read`.
 */
export type ReadFileOutcome =
  | {
      kind: 'read';
      stats: LocalFileStats;
      bytesRead: number;
      id: string;
      sealed?: ArrayBuffer;
      uncompressedLength?: number;
    }
  | { kind: 'notFile' }
  | ({ kind: 'failed'; during: 'open' | 'read' } & SystemFailure);

/** A worker's result: the hashed chunk comes back with its id. */
export type WorkerReply =
  | { op: 'hash'; taskId: number; id: string; data: ArrayBuffer }
  | { op: 'update'; taskId: number; data: ArrayBuffer }
  | { op: 'seal'; taskId: number; sealed: ArrayBuffer; uncompressedLength?: number }
  | { op: 'hashSeal'; taskId: number; id: string; sealed: ArrayBuffer; uncompressedLength?: number }
  | { op: 'digest'; taskId: number; sha256: string }
  | { op: 'pack'; taskId: number; data: ArrayBuffer; id: string }
  | { op: 'open'; taskId: number; plaintext: ArrayBuffer }
  | { op: 'readFile'; taskId: number; outcome: ReadFileOutcome }
  | OpenWriteReply
  | AppendReply
  | BatchReply
  | { op: 'error'; taskId: number; message: string };

/**
 * Replies to tasks of a batch. The worker sends the replies it has once they
 * carry BATCH_REPLY_BYTES, so large results are not held back for the rest.
 */
export interface BatchReply {
  op: 'batch';
  taskId: 0;
  replies: TaskReply[];
}

/** Bytes of transferred results after which a worker sends a batch's replies so far. */
export const BATCH_REPLY_BYTES = 256 * 1024;

/** A new file that a worker creates with a blob's plaintext (see OneBlobFile). */
export type FileTarget = OneBlobFile;

/**
 * `openWrite` opens and verifies a blob like `open`, then writes its
 * plaintext into a new file on the worker, so the plaintext never returns.
 */
export interface OpenWriteRequest {
  op: 'openWrite';
  taskId: number;
  sealed: ArrayBuffer;
  uncompressedLength?: number;
  id: string;
  file: FileTarget;
}

/**
 * The outcome of `openWrite`. A blob that cannot be opened is an `error`
 * reply, but a failed file-system call is `failed` here, so that the caller
 * can tell a damaged repository from a target it cannot write.
 */
export interface OpenWriteReply {
  op: 'openWrite';
  taskId: number;
  failed?: SystemFailure;
}

/**
 * `append` writes a chunk of a file's contents at `position` of the open
 * descriptor `fd`, then feeds it into `stream`'s running SHA-256, so that a
 * restored file is written and hashed off the main thread. The pool sends
 * every chunk of one stream to the same worker, in order.
 */
export interface AppendRequest {
  op: 'append';
  taskId: number;
  stream: number;
  fd: number;
  position: number;
  data: ArrayBuffer;
}

/** The outcome of `append`: `failed` is the system error of a write that failed. */
export interface AppendReply {
  op: 'append';
  taskId: number;
  failed?: SystemFailure;
}
