import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { MasterIndex } from './master-index.ts';
import type { PackedBlob } from './pack.ts';

function randomId(): string {
  return randomBytes(32).toString('hex');
}

function blobsOf(count: number, type: PackedBlob['type'] = 'data'): PackedBlob[] {
  return Array.from({ length: count }, (_, i) => ({
    type,
    id: randomId(),
    offset: i * 100,
    length: 100,
    uncompressedLength: i % 2 === 0 ? 150 + i : undefined,
  })).map(({ uncompressedLength, ...blob }) =>
    uncompressedLength === undefined ? blob : { ...blob, uncompressedLength },
  );
}

describe('MasterIndex', () => {
  it('finds every blob of many packs', () => {
    const index = new MasterIndex();
    const packs = Array.from({ length: 300 }, () => ({ packId: randomId(), blobs: blobsOf(20) }));
    for (const pack of packs) index.addPack(pack.packId, pack.blobs);
    assert.equal(index.size, 6000);
    for (const { packId, blobs } of packs) {
      for (const blob of blobs) assert.deepEqual(index.lookup('data', blob.id), { ...blob, packId });
    }
    assert.equal(index.lookup('data', randomId()), undefined);
    assert.equal(index.has('tree', packs[0]!.blobs[0]!.id), false);
  });

  it('keeps the first of duplicate blobs', () => {
    const index = new MasterIndex();
    const [blob] = blobsOf(1);
    index.addPack('a'.repeat(64), [blob!]);
    index.addPack('b'.repeat(64), [{ ...blob!, offset: 500 }]);
    assert.equal(index.size, 1);
    assert.equal(index.lookup('data', blob!.id)?.packId, 'a'.repeat(64));
    assert.deepEqual(
      index.packs().map((p) => p.blobs.length),
      [1, 1],
    );
  });

  it('adds a pack listed twice only once', () => {
    const index = new MasterIndex();
    const blobs = blobsOf(3, 'tree');
    index.addPack('c'.repeat(64), blobs);
    index.addPack('c'.repeat(64), blobs);
    assert.deepEqual(index.packs(), [{ packId: 'c'.repeat(64), blobs }]);
    assert.equal(index.has('tree', blobs[2]!.id), true);
    assert.equal(index.has('data', blobs[2]!.id), false);
  });
});
