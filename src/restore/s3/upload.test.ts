import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { readParts } from './upload.ts';

async function partSizes(chunkSizes: number[], partSize: number): Promise<number[]> {
  const chunks = chunkSizes.map((size, i) => Buffer.alloc(size, i));
  const sizes: number[] = [];
  const joined: Buffer[] = [];
  for await (const part of readParts(Readable.from(chunks), partSize)) {
    sizes.push(part.length);
    joined.push(part);
  }
  assert.ok(Buffer.concat(joined).equals(Buffer.concat(chunks)), 'parts do not rejoin to the input');
  return sizes;
}

describe('readParts', () => {
  it('cuts parts of exactly the part size', async () => {
    assert.deepEqual(await partSizes([3, 3, 3, 3], 5), [5, 5, 2]);
  });

  it('splits a chunk larger than several parts', async () => {
    assert.deepEqual(await partSizes([12], 5), [5, 5, 2]);
  });

  it('yields no empty last part', async () => {
    assert.deepEqual(await partSizes([5, 5], 5), [5, 5]);
    assert.deepEqual(await partSizes([], 5), []);
  });
});
