/**
 * Worker thread of the archiver's pool: hashes chunks, keeps the running
 * SHA-256 of whole files, compresses and seals new blobs, hashes pack files,
 * and opens and verifies loaded blobs. Buffers arrive and leave as
 * transferred ArrayBuffers, so no chunk is copied between threads.
 */
import { createHash, type Hash } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  openSync,
  readSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { masterKeyFromBytes, openBlob, ownedArrayBuffer, releaseBuffer, sealBlob } from '../crypto/index.ts';
import { utimesSeconds } from '../snapshot/times.ts';
import { BATCH_REPLY_BYTES } from './worker-protocol.ts';
import type {
  FileTarget,
  OpenWriteReply,
  ReadFileOutcome,
  SystemFailure,
  TaskReply,
  TaskRequest,
  WorkerInit,
  WorkerReply,
  WorkerRequest,
} from './worker-protocol.ts';

const init = workerData as WorkerInit;
const key = masterKeyFromBytes(new Uint8Array(init.keyBytes));
const port = parentPort!;
const streams = new Map<number, Hash>();

port.on('message', (request: WorkerRequest) => {
  if (request.op === 'exit') {
    port.close();
    return;
  }
  if (request.op === 'batch') {
    runBatch(request.requests);
    return;
  }
  const reply = run(request);
  port.postMessage(reply, transferList(reply));
});

/** Runs a batch's tasks in order, sending their replies in as few messages as BATCH_REPLY_BYTES allows. */
function runBatch(requests: TaskRequest[]): void {
  let replies: TaskReply[] = [];
  let transfer: ArrayBuffer[] = [];
  let bytes = 0;
  for (const request of requests) {
    const reply = run(request);
    replies.push(reply);
    for (const buffer of transferList(reply)) {
      transfer.push(buffer);
      bytes += buffer.byteLength;
    }
    if (bytes >= BATCH_REPLY_BYTES) {
      port.postMessage({ op: 'batch', taskId: 0, replies } satisfies WorkerReply, transfer);
      replies = [];
      transfer = [];
      bytes = 0;
    }
  }
  if (replies.length > 0) port.postMessage({ op: 'batch', taskId: 0, replies } satisfies WorkerReply, transfer);
}

/** Runs one task; a thrown error becomes an `error` reply. */
function run(request: TaskRequest): TaskReply {
  try {
    return handle(request);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { op: 'error', taskId: request.taskId, message };
  }
}

function transferList(reply: TaskReply): ArrayBuffer[] {
  if (reply.op === 'hash' || reply.op === 'update') return [reply.data];
  if (reply.op === 'seal' || reply.op === 'hashSeal') return [reply.sealed];
  if (reply.op === 'pack') return [reply.data];
  if (reply.op === 'open') return [reply.plaintext];
  if (reply.op === 'readFile' && reply.outcome.kind === 'read' && reply.outcome.sealed)
    return [reply.outcome.sealed];
  return [];
}

function handle(request: TaskRequest): TaskReply {
  const { taskId } = request;
  switch (request.op) {
    case 'hash': {
      const id = createHash('sha256').update(new Uint8Array(request.data)).digest('hex');
      return { op: 'hash', taskId, id, data: request.data };
    }
    case 'update':
      streamHash(request.stream).update(new Uint8Array(request.data));
      return { op: 'update', taskId, data: request.data };
    case 'digest': {
      const sha256 = streamHash(request.stream).digest('hex');
      streams.delete(request.stream);
      return { op: 'digest', taskId, sha256 };
    }
    case 'seal': {
      const plaintext = new Uint8Array(request.data);
      const { sealed, uncompressedLength } = sealBlob(key, plaintext, init.compression);
      releaseBuffer(plaintext);
      return { op: 'seal', taskId, sealed: ownedArrayBuffer(sealed), uncompressedLength };
    }
    case 'hashSeal': {
      const plaintext = new Uint8Array(request.data);
      const id = createHash('sha256').update(plaintext).digest('hex');
      const { sealed, uncompressedLength } = sealBlob(key, plaintext, init.compression);
      releaseBuffer(plaintext);
      return { op: 'hashSeal', taskId, id, sealed: ownedArrayBuffer(sealed), uncompressedLength };
    }
    case 'pack': {
      const bytes = new Uint8Array(request.data, 0, request.length);
      const id = createHash('sha256').update(bytes).digest('hex');
      return { op: 'pack', taskId, data: request.data, id };
    }
    case 'readFile':
      return { op: 'readFile', taskId, outcome: readFile(request.path, request.listedSize) };
    case 'openWrite': {
      const sealed = new Uint8Array(request.sealed);
      const plaintext = openVerified(sealed, request.uncompressedLength, request.id);
      releaseBuffer(sealed);
      const reply = writeNewFile(taskId, request.file, plaintext);
      releaseBuffer(plaintext);
      return reply;
    }
    case 'append': {
      const data = new Uint8Array(request.data);
      let failed: SystemFailure | undefined;
      try {
        writeAllSync(request.fd, data, request.position);
        streamHash(request.stream).update(data);
      } catch (err) {
        failed = failedCall('write', err);
      }
      releaseBuffer(data);
      return failed === undefined ? { op: 'append', taskId } : { op: 'append', taskId, failed };
    }
    case 'open': {
      const sealed = new Uint8Array(request.sealed);
      const id = request.unchecked === true ? undefined : request.id;
      const plaintext = openVerified(sealed, request.uncompressedLength, id);
      releaseBuffer(sealed);
      return { op: 'open', taskId, plaintext: ownedArrayBuffer(plaintext) };
    }
  }
}

function streamHash(stream: number): Hash {
  let hash = streams.get(stream);
  if (!hash) {
    hash = createHash('sha256');
    streams.set(stream, hash);
  }
  return hash;
}

// The flags of the files source's own open: no following a link swapped in
// after the listing, and no blocking on a FIFO swapped in.
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Read buffer reused for every small file this worker reads; it grows to the largest. */
let scratch = Buffer.allocUnsafeSlow(64 * 1024);

/**
 * Reads a small file with one read call of one byte past its listed size,
 * then fstat, and hashes and seals the bytes up to the listed size. These
 * synchronous calls block only this worker, and cost a fraction of the
 * main thread's asynchronous ones for files of a few KiB.
 */
function readFile(path: string, listedSize: number): ReadFileOutcome {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (err) {
    return failedOutcome('open', err);
  }
  try {
    if (scratch.length < listedSize + 1) scratch = Buffer.allocUnsafeSlow(listedSize + 1);
    let bytesRead: number;
    try {
      bytesRead = readSync(fd, scratch, 0, listedSize + 1, 0);
    } catch (err) {
      // A read error on a descriptor that is no longer a regular file (a
      // folder or a FIFO swapped in) means the file was replaced.
      if (!fstatSync(fd).isFile()) return { kind: 'notFile' };
      return failedOutcome('read', err);
    }
    const stats = fstatSync(fd, { bigint: true });
    if (!stats.isFile()) return { kind: 'notFile' };
    const plaintext = scratch.subarray(0, Math.min(bytesRead, listedSize));
    const id = createHash('sha256').update(plaintext).digest('hex');
    const { dev, ino, mode, nlink, uid, gid, size, mtimeNs, atime, mtime, ctime } = stats;
    const outcome: ReadFileOutcome = {
      kind: 'read',
      stats: { dev, ino, mode, nlink, uid, gid, size, mtimeNs, atime, mtime, ctime },
      bytesRead,
      id,
    };
    if (plaintext.length > 0) {
      const { sealed, uncompressedLength } = sealBlob(key, plaintext, init.compression);
      outcome.sealed = ownedArrayBuffer(sealed);
      if (uncompressedLength !== undefined) outcome.uncompressedLength = uncompressedLength;
    }
    return outcome;
  } finally {
    closeSync(fd);
  }
}

function failedOutcome(during: 'open' | 'read', err: unknown): ReadFileOutcome {
  return { kind: 'failed', during, ...failedCall(during, err) };
}

/** Opens a sealed blob and throws when its SHA-256 is not `id`, unless `id` is undefined. */
function openVerified(
  sealed: Uint8Array,
  uncompressedLength: number | undefined,
  id: string | undefined,
): Buffer {
  const plaintext = openBlob(key, sealed, uncompressedLength);
  if (id !== undefined && createHash('sha256').update(plaintext).digest('hex') !== id) {
    throw new Error('its contents do not match its id');
  }
  return plaintext;
}

const WRITE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Creates `file` with `plaintext` and sets its owner, mode and times, with
 * synchronous calls that block only this worker. A failed call is returned,
 * not thrown, and the file it created is removed, as the main thread's
 * write does, so that no partial file keeps the file's name.
 */
function writeNewFile(taskId: number, file: FileTarget, plaintext: Uint8Array): OpenWriteReply {
  let fd: number;
  try {
    fd = openSync(file.path, WRITE_FLAGS, 0o600);
  } catch (err) {
    return { op: 'openWrite', taskId, failed: failedCall('open', err) };
  }
  let failed: SystemFailure | undefined;
  try {
    writeAllSync(fd, plaintext, 0);
    // chown(2) clears setuid and setgid, so the mode is set after the owner.
    if (file.uid !== undefined && file.gid !== undefined) fchownSync(fd, file.uid, file.gid);
    fchmodSync(fd, file.mode);
    futimesSync(fd, utimesSeconds(file.atimeMillis), utimesSeconds(file.mtimeMillis));
  } catch (err) {
    failed = failedCall('write', err);
  } finally {
    closeSync(fd);
  }
  if (failed === undefined) return { op: 'openWrite', taskId };
  try {
    unlinkSync(file.path);
  } catch {
    // The write's failure is the one to report.
  }
  return { op: 'openWrite', taskId, failed };
}

/**
 * Writes all of `data` at `position` of `fd`. write(2) may write fewer bytes
 * than requested, so the rest is written again.
 */
function writeAllSync(fd: number, data: Uint8Array, position: number): void {
  for (let offset = 0; offset < data.length;) {
    offset += writeSync(fd, data, offset, data.length - offset, position + offset);
  }
}

function failedCall(syscall: string, err: unknown): SystemFailure {
  const error = err as NodeJS.ErrnoException;
  if (typeof error.code !== 'string') throw err;
  return { code: error.code, syscall: error.syscall ?? syscall, message: error.message };
}
