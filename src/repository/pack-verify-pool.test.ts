import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { generateMasterKey, masterKeyToBytes, sealBlob } from '../crypto/index.ts';
import { PackVerifyPool, type SegmentBlob } from './pack-verify-pool.ts';

const key = generateMasterKey();
const pool = new PackVerifyPool(masterKeyToBytes(key), 2);
after(() => pool.close());

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Seals `plaintexts` back to back and returns the bytes and their segment entries. */
function segmentOf(
  plaintexts: Buffer[],
  compress: boolean,
): { bytes: Buffer; blobs: SegmentBlob[] } {
  const parts: Buffer[] = [];
  const blobs: SegmentBlob[] = [];
  let start = 0;
  for (const plaintext of plaintexts) {
    const { sealed, uncompressedLength } = sealBlob(key, plaintext, compress);
    const blob: SegmentBlob = { type: 'data', id: sha256(plaintext), start, length: sealed.length };
    if (uncompressedLength !== undefined) blob.uncompressedLength = uncompressedLength;
    blobs.push(blob);
    parts.push(sealed);
    start += sealed.length;
  }
  return { bytes: Buffer.concat(parts), blobs };
}

describe('PackVerifyPool', () => {
  it('hashes a pack across segments', async () => {
    const first = segmentOf([randomBytes(3000), Buffer.alloc(70_000, 'a')], true);
    const second = segmentOf([randomBytes(200_000)], false);
    const expected = sha256(Buffer.concat([first.bytes, second.bytes]));

    const stream = pool.openPack();
    assert.equal(await pool.segment(stream, Buffer.from(first.bytes), first.blobs), undefined);
    assert.equal(await pool.segment(stream, Buffer.from(second.bytes), second.blobs), undefined);
    assert.equal(await pool.digest(stream), expected);
  });

  it('reports a blob whose ciphertext was changed', async () => {
    const { bytes, blobs } = segmentOf([randomBytes(1000), randomBytes(1000)], false);
    bytes[blobs[1]!.start + 20]! ^= 1;

    const stream = pool.openPack();
    const problem = await pool.segment(stream, bytes, blobs);
    await pool.digest(stream);
    assert.match(
      problem ?? '',
      new RegExp(`^data blob ${blobs[1]!.id}: ciphertext verification failed`),
    );
  });

  it('reports a blob that does not match its id', async () => {
    const { bytes, blobs } = segmentOf([Buffer.alloc(50_000, 'x')], true);
    const wrongId = sha256(Buffer.from('something else'));
    blobs[0]!.id = wrongId;

    const stream = pool.openPack();
    const problem = await pool.segment(stream, bytes, blobs);
    await pool.digest(stream);
    assert.equal(problem, `data blob ${wrongId} does not match its id`);
  });

  it('reports a wrong uncompressed length', async () => {
    const { bytes, blobs } = segmentOf([Buffer.alloc(50_000, 'y')], true);
    assert.equal(blobs[0]!.uncompressedLength, 50_000);
    blobs[0]!.uncompressedLength = 49_999;

    const stream = pool.openPack();
    const problem = await pool.segment(stream, bytes, blobs);
    await pool.digest(stream);
    assert.match(problem ?? '', /decompressed blob has 50000 bytes/);
  });

  it('keeps packs apart on one worker', async () => {
    const a = segmentOf([randomBytes(5000)], false);
    const b = segmentOf([randomBytes(7000)], false);
    const streamA = pool.openPack();
    const streamB = pool.openPack();
    const streamC = pool.openPack();
    assert.equal(streamA.worker, streamC.worker, 'the third pack shares a worker of two');

    await Promise.all([
      pool.segment(streamA, Buffer.from(a.bytes), a.blobs),
      pool.segment(streamB, Buffer.from(b.bytes), b.blobs),
      pool.segment(streamC, Buffer.from(b.bytes), b.blobs),
      pool.segment(streamA, Buffer.from(b.bytes), b.blobs),
    ]);
    assert.equal(await pool.digest(streamA), sha256(Buffer.concat([a.bytes, b.bytes])));
    assert.equal(await pool.digest(streamB), sha256(b.bytes));
    assert.equal(await pool.digest(streamC), sha256(b.bytes));
  });
});
