/** Messages between the archiver's worker pool and its blob workers. */

/** Data each worker starts with. */
export interface WorkerInit {
  /** The 64 raw master key bytes (copied into the worker at start). */
  keyBytes: Uint8Array;
  /** Whether new blobs are zstd-compressed before sealing. */
  compression: boolean;
}

/** A task for a worker; `data` is transferred, not copied. */
export type WorkerRequest =
  | { op: 'hash'; taskId: number; data: ArrayBuffer }
  | { op: 'seal'; taskId: number; data: ArrayBuffer };

/** A worker's result: the hashed chunk comes back with its id. */
export type WorkerReply =
  | { op: 'hash'; taskId: number; id: string; data: ArrayBuffer }
  | { op: 'seal'; taskId: number; sealed: ArrayBuffer; uncompressedLength?: number }
  | { op: 'error'; taskId: number; message: string };
