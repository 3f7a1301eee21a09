/**
 * Worker thread of the archiver's pool: hashes chunks and compresses and
 * seals new blobs. Buffers arrive and leave as transferred ArrayBuffers, so
 * no chunk is copied between threads.
 */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { masterKeyFromBytes, sealBlob } from '../crypto/index.ts';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker-protocol.ts';

const init = workerData as WorkerInit;
const key = masterKeyFromBytes(new Uint8Array(init.keyBytes));
const port = parentPort!;

port.on('message', (request: WorkerRequest) => {
  try {
    const reply = handle(request);
    port.postMessage(reply, transferList(reply));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    port.postMessage({ op: 'error', taskId: request.taskId, message } satisfies WorkerReply);
  }
});

function transferList(reply: WorkerReply): ArrayBuffer[] {
  if (reply.op === 'hash') return [reply.data];
  if (reply.op === 'seal') return [reply.sealed];
  return [];
}

function handle(request: WorkerRequest): WorkerReply {
  const data = new Uint8Array(request.data);
  if (request.op === 'hash') {
    const id = createHash('sha256').update(data).digest('hex');
    return { op: 'hash', taskId: request.taskId, id, data: request.data };
  }
  const { sealed, uncompressedLength } = sealBlob(key, data, init.compression);
  return { op: 'seal', taskId: request.taskId, sealed: ownedArrayBuffer(sealed), uncompressedLength };
}

/** Returns an ArrayBuffer holding exactly `bytes`, copying only when `bytes` shares its buffer. */
function ownedArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  if (whole && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}
