import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { BlobWorkerPool } from './worker-pool.ts';
import type { WorkerRequest } from './worker-protocol.ts';

/** Counts the messages that workers are sent, by their op, while `body` runs. */
async function countMessages(body: () => Promise<void>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const original = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, message: WorkerRequest, transfer?: readonly ArrayBuffer[]) {
    counts.set(message.op, (counts.get(message.op) ?? 0) + 1);
    return original.call(this, message, transfer);
  };
  try {
    await body();
  } finally {
    Worker.prototype.postMessage = original;
  }
  return counts;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('BlobWorkerPool', () => {
  const pool = new BlobWorkerPool({ keyBytes: randomBytes(64), compression: true, size: 1 });
  after(() => pool.close());

  it('sends tasks queued together in one message', async () => {
    const chunks = Array.from({ length: 6 }, () => randomBytes(1000));
    const ids = chunks.map(sha256);
    let hashed: string[] = [];
    const counts = await countMessages(async () => {
      hashed = (await Promise.all(chunks.map((chunk) => pool.hash(chunk)))).map((r) => r.id);
    });
    assert.deepEqual(hashed, ids);
    assert.deepEqual(Object.fromEntries(counts), { batch: 1 });
  });

  it('fails only the task of a batch that fails', async () => {
    const good = randomBytes(5000);
    const sealed = await pool.seal(Buffer.from(good));
    const damaged = Buffer.from(sealed.sealed);
    damaged[20]! ^= 1;
    const results = await Promise.allSettled([
      pool.open(Buffer.from(sealed.sealed), sealed.uncompressedLength, sha256(good)),
      pool.open(damaged, sealed.uncompressedLength, sha256(good)),
      pool.hash(Buffer.from(good)),
    ]);
    assert.equal(results[0].status, 'fulfilled');
    assert.deepEqual(results[0].value, good);
    assert.equal(results[1].status, 'rejected');
    assert.equal(results[2].status, 'fulfilled');
    assert.equal(results[2].value.id, sha256(good));
  });

  it('fails only the task whose buffer already moved', async () => {
    const moved = Buffer.from(randomBytes(100_000));
    await pool.hash(moved);
    assert.equal(moved.buffer.byteLength, 0);
    const other = randomBytes(1000);
    const results = await Promise.allSettled([pool.hash(moved), pool.hash(Buffer.from(other))]);
    assert.equal(results[0].status, 'rejected');
    assert.match(String(results[0].reason), /already moved/);
    assert.equal(results[1].status, 'fulfilled');
    assert.equal(results[1].value.id, sha256(other));
  });

  it('completes a batch of large results', async () => {
    // More tasks than a worker is handed at once, of results large enough
    // that the worker replies before the batch ends.
    // The chunks move to the worker, so the test keeps copies.
    const chunks = Array.from({ length: 15 }, () => randomBytes(300 * 1024));
    const copies = chunks.map((chunk) => Buffer.from(chunk));
    const sealed = await Promise.all(chunks.map((chunk) => pool.hashAndSeal(chunk)));
    for (const [i, chunk] of copies.entries()) {
      assert.equal(sealed[i]!.id, sha256(chunk));
      const opened = await pool.open(sealed[i]!.sealed, sealed[i]!.uncompressedLength, sealed[i]!.id);
      assert.deepEqual(opened, chunk);
    }
  });
});
