import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { isBackupError } from '../errors/index.ts';
import { decompress } from './compress.ts';
import {
  KEPT_CONTEXT_LIMIT,
  compressKept,
  decompressKept,
  keptContextsUsable,
  resetKeptContexts,
} from './zstd-context.ts';

const params = {
  [constants.ZSTD_c_compressionLevel]: 1,
  [constants.ZSTD_c_checksumFlag]: 1,
};

/** Returns text-like and random blobs of many sizes, in a fixed order. */
function blobs(): Buffer[] {
  const out: Buffer[] = [Buffer.alloc(0)];
  for (let i = 0; i < 300; i++) {
    const length = 1 + ((i * 7919) % 40_000);
    out.push(
      i % 2 === 0
        ? Buffer.from(`insert into roads values (${i}, 'LINESTRING(0 0, 1 1)');\n`.repeat(length / 40 + 1)).subarray(0, length)
        : randomBytes(length),
    );
  }
  return out;
}

/**
 * Compresses with the one-shot function into one buffer with room for the
 * whole frame. With zlib's default 16 KiB chunks, a frame that ends exactly
 * at a chunk's end is followed by a second, empty frame.
 */
function frameOf(plaintext: Buffer): Buffer {
  return zstdCompressSync(plaintext, { params, chunkSize: plaintext.length + 1024 });
}

describe('kept zstd contexts', () => {
  it('pass the self-test', () => {
    resetKeptContexts();
    assert.equal(keptContextsUsable(), true);
  });

  it('match one-shot frames', () => {
    for (const plaintext of blobs()) {
      const packed = compressKept(plaintext, params);
      assert.ok(packed, `no kept compression for ${plaintext.length} bytes`);
      assert.deepEqual(packed, frameOf(plaintext));
    }
  });

  it('decompress each frame', () => {
    for (const plaintext of blobs()) {
      const unpacked = decompressKept(frameOf(plaintext), plaintext.length);
      assert.ok(unpacked, `no kept decompression for ${plaintext.length} bytes`);
      assert.deepEqual(unpacked, plaintext);
    }
  });

  it('compress only blobs under the limit', () => {
    const large = Buffer.alloc(KEPT_CONTEXT_LIMIT, 'a');
    assert.equal(compressKept(large, params), undefined);
    const below = large.subarray(1);
    const packed = compressKept(below, params);
    assert.ok(packed);
    assert.ok(zstdDecompressSync(packed).equals(below));
  });

  it('decompress large frames into owned buffers', () => {
    const plaintext = Buffer.from('SELECT ST_AsText(geom) FROM parcels;\n'.repeat(20_000));
    assert.ok(plaintext.length >= KEPT_CONTEXT_LIMIT);
    const frame = frameOf(plaintext);
    for (let round = 0; round < 2; round++) {
      const out = decompressKept(frame, plaintext.length);
      assert.ok(out);
      assert.ok(out.equals(plaintext));
      assert.equal(out.byteOffset, 0);
      assert.equal(out.buffer.byteLength, plaintext.length);
    }

    const flipped = Buffer.from(frame);
    flipped[flipped.length - 30] = (flipped[flipped.length - 30] ?? 0) ^ 0xff;
    const damaged = [flipped, frame.subarray(0, frame.length - 40), Buffer.concat([frame, Buffer.from('x')])];
    for (const data of damaged) {
      assert.equal(decompressKept(data, plaintext.length), undefined);
      assert.ok(decompressKept(frame, plaintext.length)?.equals(plaintext));
    }
    assert.equal(decompressKept(frame, plaintext.length - 1), undefined);
    assert.equal(decompressKept(frame, plaintext.length + 1), undefined);

    // A large frame without its checksum fills the output like a whole one
    // and is accepted. The context then starts over for the next frame.
    assert.ok(decompressKept(frame.subarray(0, frame.length - 4), plaintext.length)?.equals(plaintext));
    assert.ok(decompressKept(frame, plaintext.length)?.equals(plaintext));
  });

  it('reject damaged frames, then recover', async () => {
    const plaintext = Buffer.from('ST_Buffer(geom, 10) '.repeat(500));
    const frame = frameOf(plaintext);
    const flipped = Buffer.from(frame);
    flipped[flipped.length - 30] = (flipped[flipped.length - 30] ?? 0) ^ 0xff;
    const damaged = [
      flipped,
      frame.subarray(0, frame.length - 4), // without its checksum
      frame.subarray(0, frame.length - 40),
      Buffer.concat([frame, Buffer.from('trailing')]),
      Buffer.concat([frame, frame]),
      Buffer.from('not zstd at all'),
      Buffer.alloc(0),
    ];
    for (const data of damaged) {
      assert.equal(decompressKept(data, plaintext.length), undefined);
      assert.deepEqual(decompressKept(frame, plaintext.length), plaintext);
      assert.throws(
        () => decompress(data, plaintext.length),
        (err) => isBackupError(err, 'ERR_REPO_CORRUPT'),
      );
    }
    assert.equal(decompressKept(frame, plaintext.length - 1), undefined);
    assert.equal(decompressKept(frame, plaintext.length + 1), undefined);
    assert.deepEqual(decompressKept(frame, plaintext.length), plaintext);
    // zstd emits its errors on a later turn, and none may reach the process.
    await turn();
    await turn();
  });

  it('match one-shot decompression', () => {
    for (const plaintext of blobs().slice(0, 40)) {
      const frame = frameOf(plaintext);
      assert.deepEqual(decompress(frame, plaintext.length), zstdDecompressSync(frame));
    }
    // The one-shot function writes a frame and an empty one when the frame
    // fills its output chunks exactly. The kept context passes such data on
    // to the one-shot function, which reads both.
    const plaintext = randomBytes(32_754);
    const twoFrames = zstdCompressSync(plaintext, { params });
    assert.equal(twoFrames.length, 32_768 + 13);
    assert.equal(decompressKept(twoFrames, plaintext.length), undefined);
    assert.deepEqual(decompress(twoFrames, plaintext.length), plaintext);
  });
});
