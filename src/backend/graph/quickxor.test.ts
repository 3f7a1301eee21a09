import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { QuickXorHash, quickXorHash, quickXorHashOfStream } from './quickxor.ts';

// Published vectors. "hello world" is from the README of the Python package
// quickxorhash on PyPI; the base64 inputs are from rclone's test table in
// backend/onedrive/quickxorhash/quickxorhash_test.go.
const PUBLISHED_VECTORS: Array<{ source: string; input: Buffer; hash: string }> = [
  { source: 'empty input', input: Buffer.alloc(0), hash: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' },
  {
    source: 'PyPI quickxorhash',
    input: Buffer.from('hello world'),
    hash: 'aCgDG9jwBhDc4Q1yawMZAAAAAAA=',
  },
  { source: 'rclone, 1 byte', input: b64('Sg=='), hash: 'SgAAAAAAAAAAAAAAAQAAAAAAAAA=' },
  {
    source: 'rclone, 19 bytes',
    input: b64('g8VtAh+2Kf4k0kY5tzji2i2zmA=='),
    hash: 'wDNrgwHWAVukwB8kg4YRcnALHIg=',
  },
  {
    source: 'rclone, 20 bytes',
    input: b64('T6LYJIfDh81JrAK309H2JMJTXis='),
    hash: 'zBTHrspn3mEcohlJdIUAbjGNaNg=',
  },
  {
    source: 'rclone, 21 bytes',
    input: b64('DWAAX5/CIfrmErgZa8ot6ZraeSbu'),
    hash: 'LR2Z0PjuRYGKQB/mhQAuMrAGZbQ=',
  },
  {
    source: 'rclone, 64 bytes',
    input: b64(
      'Mb7EGva2rEE5fENDL85P+BsapHEEjv2/siVhKjvAQe02feExVOQSkfmuYzU/kTF1MaKjPmKF/w+cbvwfdWL8aQ==',
    ),
    hash: 'n1anP5NfvD4XDYWIeRPW3ZkPv1Y=',
  },
];

const BOUNDARY_SIZES = [1, 19, 20, 21, 159, 160, 161, 65_536, 65_537];

describe('quickXorHash', () => {
  for (const vector of PUBLISHED_VECTORS) {
    it(`matches the published vector: ${vector.source}`, () => {
      assert.equal(quickXorHash(vector.input), vector.hash);
    });
  }

  for (const size of BOUNDARY_SIZES) {
    it(`matches the bit-by-bit reference at ${size} bytes`, () => {
      const data = seededBytes(size, size);
      assert.equal(quickXorHash(data), referenceQuickXorHash(data));
    });
  }

  it('returns the same digest for any chunking', () => {
    const data = seededBytes(70_001, 7);
    const whole = quickXorHash(data);
    for (const chunkSize of [1, 3, 19, 20, 159, 160, 161, 4096]) {
      const hash = new QuickXorHash();
      for (let offset = 0; offset < data.length; offset += chunkSize) {
        hash.update(data.subarray(offset, offset + chunkSize));
      }
      assert.equal(hash.digestBase64(), whole, `chunks of ${chunkSize} bytes`);
    }
  });

  it('keeps accepting input after digest()', () => {
    const hash = new QuickXorHash().update(Buffer.from('hello '));
    hash.digest();
    hash.update(Buffer.from('world'));
    assert.equal(hash.digestBase64(), 'aCgDG9jwBhDc4Q1yawMZAAAAAAA=');
    assert.equal(hash.length, 11);
  });

  it('differs when one bit of the input changes', () => {
    const data = seededBytes(1000, 3);
    const flipped = Buffer.from(data);
    flipped[500] = flipped[500]! ^ 0x01;
    assert.notEqual(quickXorHash(flipped), quickXorHash(data));
  });

  it('matches the reference on a 20 MiB + 1 random file', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'quickxor-'));
    try {
      const data = seededBytes(20 * 1024 * 1024 + 1, 12);
      const path = join(directory, 'big');
      await writeFile(path, data);
      const streamed = await quickXorHashOfStream(
        createReadStream(path, { highWaterMark: 100_003 }),
      );
      assert.equal(streamed, referenceQuickXorHash(data));
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

function b64(text: string): Buffer {
  return Buffer.from(text, 'base64');
}

// Deterministic bytes from SHA-256 in counter mode, so a failure reproduces.
function seededBytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  for (let block = 0, offset = 0; offset < size; block++, offset += 32) {
    createHash('sha256').update(`${seed}:${block}`).digest().copy(out, offset);
  }
  return out;
}

// An independent, deliberately simple reading of Microsoft's description:
// flip single bits of a 160-entry bit array, then pack the bits
// little-endian and XOR the length into the last 8 bytes.
function referenceQuickXorHash(data: Uint8Array): string {
  const bits = new Uint8Array(160);
  for (let i = 0; i < data.length; i++) {
    for (let b = 0; b < 8; b++) {
      if ((data[i]! >> b) & 1) {
        const position = (i * 11 + b) % 160;
        bits[position] = bits[position]! ^ 1;
      }
    }
  }
  const out = Buffer.alloc(20);
  for (let position = 0; position < 160; position++) {
    out[position >> 3] = out[position >> 3]! | (bits[position]! << (position & 7));
  }
  let length = BigInt(data.length);
  for (let k = 12; k < 20; k++) {
    out[k] = out[k]! ^ Number(length & 0xffn);
    length >>= 8n;
  }
  return out.toString('base64');
}
