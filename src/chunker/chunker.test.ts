import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { Chunker, chunkStream, DEFAULT_CHUNKER_OPTIONS, gearTable64 } from './index.ts';

const MiB = 1024 * 1024;

/** Returns `size` pseudo-random bytes that are the same on every run. */
function deterministicBytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let block = createHash('sha256').update(`seed ${seed}`).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(out, offset);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** Splits `data` into pieces whose sizes come from `sizes`, cycling. */
function* split(data: Buffer, sizes: number[]): Generator<Buffer> {
  let offset = 0;
  for (let i = 0; offset < data.length; i++) {
    const size = sizes[i % sizes.length]!;
    yield data.subarray(offset, offset + size);
    offset += size;
  }
}

function chunkAll(pieces: Iterable<Uint8Array>): Buffer[] {
  const chunker = new Chunker();
  const chunks: Buffer[] = [];
  for (const piece of pieces) chunks.push(...chunker.push(piece));
  const last = chunker.finish();
  if (last) chunks.push(last);
  return chunks;
}

function ids(chunks: Buffer[]): string[] {
  return chunks.map((c) => createHash('sha256').update(c).digest('hex'));
}

describe('Chunker', () => {
  const data = deterministicBytes(48 * MiB, 1);

  it('ignores how the stream is split', () => {
    const whole = ids(chunkAll([data]));
    const small = ids(chunkAll(split(data, [1, 4093, 65536, 17, 1_000_003])));
    const large = ids(chunkAll(split(data, [3 * MiB + 5, 9 * MiB])));
    assert.ok(whole.length > 10, `expected many chunks, got ${whole.length}`);
    assert.deepEqual(small, whole);
    assert.deepEqual(large, whole);
  });

  it('returns chunks that concatenate to the input', () => {
    const chunks = chunkAll(split(data, [65536]));
    assert.ok(Buffer.concat(chunks).equals(data));
  });

  it('keeps chunk sizes within limits', () => {
    const chunks = chunkAll([data]);
    const { minSize, maxSize } = DEFAULT_CHUNKER_OPTIONS;
    for (const chunk of chunks.slice(0, -1)) {
      assert.ok(chunk.length >= minSize, `chunk of ${chunk.length} bytes is below the minimum`);
      assert.ok(chunk.length <= maxSize, `chunk of ${chunk.length} bytes is above the maximum`);
    }
    const average = data.length / chunks.length;
    assert.ok(average > 0.75 * MiB, `average chunk is ${average} bytes`);
    assert.ok(average < 1.35 * MiB, `average chunk is ${average} bytes`);
  });

  it('cuts at the maximum size', () => {
    const zeros = Buffer.alloc(20 * MiB);
    const sizes = chunkAll([zeros]).map((c) => c.length);
    assert.deepEqual(sizes, [8 * MiB, 8 * MiB, 4 * MiB]);
  });

  it('resists an insertion at the start', () => {
    const before = new Set(ids(chunkAll([data])));
    const shifted = Buffer.concat([Buffer.from('a few new bytes at the front'), data]);
    const after = ids(chunkAll([shifted]));
    const changed = after.filter((id) => !before.has(id)).length;
    assert.ok(changed <= 2, `${changed} of ${after.length} chunks changed`);
  });

  it('resists an edit in the middle', () => {
    const before = new Set(ids(chunkAll([data])));
    const edited = Buffer.from(data);
    randomFillSync(edited, 20 * MiB, 64 * 1024);
    const after = ids(chunkAll([edited]));
    const changed = after.filter((id) => !before.has(id)).length;
    assert.ok(changed >= 1, `${changed} of ${after.length} chunks changed`);
    assert.ok(changed <= 3, `${changed} of ${after.length} chunks changed`);
  });

  it('handles small and empty input', () => {
    assert.deepEqual(chunkAll([Buffer.from('small')]).map(String), ['small']);
    assert.deepEqual(chunkAll([]), []);
    assert.deepEqual(chunkAll([new Uint8Array(0)]), []);
  });

  it('emits chunks that own their whole ArrayBuffer', () => {
    for (const chunk of chunkAll(split(data.subarray(0, 8 * MiB), [65536]))) {
      assert.equal(chunk.byteOffset, 0);
      assert.equal(chunk.buffer.byteLength, chunk.length);
    }
  });

  it('rejects sizes out of order', () => {
    assert.throws(() => new Chunker({ minSize: 2 * MiB, normalSize: MiB }), RangeError);
    assert.throws(() => new Chunker({ hardMaskBits: 40 }), RangeError);
  });

  it('derives a fixed gear table', () => {
    const table = gearTable64();
    assert.equal(table.length, 256);
    assert.equal(new Set(table).size, 256);
    const digest = createHash('sha256').update(table.map(String).join(',')).digest('hex');
    assert.equal(digest, GEAR_TABLE_SHA256);
  });
});

describe('chunkStream', () => {
  it('yields the same chunks as Chunker', async () => {
    const data = deterministicBytes(6 * MiB, 2);
    async function* source() {
      yield* split(data, [100_000]);
    }
    const streamed: Buffer[] = [];
    for await (const chunk of chunkStream(source())) streamed.push(chunk);
    assert.deepEqual(ids(streamed), ids(chunkAll([data])));
  });
});

/**
 * SHA-256 of the gear table's decimal values joined by commas. A change here
 * moves every chunk boundary, so existing repositories would deduplicate
 * poorly against new backups.
 */
const GEAR_TABLE_SHA256 = '27c82c7db19cd0d99eb50bf52d8c4cbe0fed0a92edf728daf61a316ab77e320c';
