/**
 * Worker thread of PackVerifyPool: keeps the running SHA-256 of each pack it
 * is sent, and opens (MAC, decryption, decompression) and hashes every blob
 * of each segment. Segments and plaintexts are freed as soon as they are
 * verified, because this thread allocates little on the JavaScript heap and
 * its collections are rare.
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { decompress, masterKeyFromBytes, open, releaseBuffer } from '../crypto/index.ts';
import { errorMessage } from '../errors/index.ts';
import type {
  SegmentBlob,
  VerifyReply,
  VerifyRequest,
  VerifyWorkerInit,
} from './pack-verify-pool.ts';

const init = workerData as VerifyWorkerInit;
const key = masterKeyFromBytes(new Uint8Array(init.keyBytes));
const port = parentPort!;
const packs = new Map<number, Hash>();

port.on('message', (request: VerifyRequest) => {
  if (request.op === 'exit') {
    port.close();
    return;
  }
  try {
    port.postMessage(handle(request));
  } catch (err) {
    const reply: VerifyReply = { op: 'error', taskId: request.taskId, message: errorMessage(err) };
    port.postMessage(reply);
  }
});

function handle(request: Exclude<VerifyRequest, { op: 'exit' }>): VerifyReply {
  const { taskId, pack } = request;
  if (request.op === 'digest') {
    const sha256 = packHash(pack).digest('hex');
    packs.delete(pack);
    return { op: 'digest', taskId, sha256 };
  }
  const bytes = new Uint8Array(request.data);
  packHash(pack).update(bytes);
  let problem: string | undefined;
  for (const blob of request.blobs) {
    problem = verifyBlob(bytes, blob);
    if (problem !== undefined) break;
  }
  releaseBuffer(bytes);
  return problem === undefined ? { op: 'segment', taskId } : { op: 'segment', taskId, problem };
}

function packHash(pack: number): Hash {
  let hash = packs.get(pack);
  if (!hash) {
    hash = createHash('sha256');
    packs.set(pack, hash);
  }
  return hash;
}

/** Opens one blob of a segment and returns what is wrong with it, if anything. */
function verifyBlob(segment: Uint8Array, blob: SegmentBlob): string | undefined {
  const sealed = segment.subarray(blob.start, blob.start + blob.length);
  let plaintext: Buffer;
  try {
    plaintext = open(key, sealed);
    if (blob.uncompressedLength !== undefined) {
      const compressed = plaintext;
      plaintext = decompress(compressed, blob.uncompressedLength);
      releaseOwned(compressed);
    }
  } catch (err) {
    return `${blob.type} blob ${blob.id}: ${errorMessage(err)}`;
  }
  const id = createHash('sha256').update(plaintext).digest('hex');
  releaseOwned(plaintext);
  return id === blob.id ? undefined : `${blob.type} blob ${blob.id} does not match its id`;
}

/** Frees a buffer that this thread just allocated, unless it is a view into a larger one. */
function releaseOwned(bytes: Uint8Array): void {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) releaseBuffer(bytes);
}
