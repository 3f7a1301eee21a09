import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isBackupError } from '../errors/index.ts';
import {
  generateMasterKey,
  masterKeyFromBytes,
  masterKeyToBytes,
  open,
  openBlob,
  openUnpacked,
  seal,
  sealBlob,
  sealUnpacked,
  SEAL_OVERHEAD,
} from './index.ts';

describe('seal', () => {
  it('round-trips with a fresh IV each time', () => {
    const key = generateMasterKey();
    const plaintext = randomBytes(1000);
    const a = seal(key, plaintext);
    const b = seal(key, plaintext);
    assert.equal(a.length, plaintext.length + SEAL_OVERHEAD);
    assert.notDeepEqual(a, b);
    assert.deepEqual(open(key, a), plaintext);
    assert.deepEqual(open(key, seal(key, Buffer.alloc(0))), Buffer.alloc(0));
  });

  it('rejects a flipped bit with ERR_REPO_CORRUPT', () => {
    const key = generateMasterKey();
    const sealed = seal(key, Buffer.from('secret data'));
    for (const at of [0, 20, sealed.length - 1]) {
      const damaged = Buffer.from(sealed);
      damaged[at] = (damaged[at] ?? 0) ^ 1;
      assert.throws(
        () => open(key, damaged),
        (err) => isBackupError(err, 'ERR_REPO_CORRUPT'),
      );
    }
  });

  it('rejects another key and short input', () => {
    const sealed = seal(generateMasterKey(), Buffer.from('x'));
    assert.throws(
      () => open(generateMasterKey(), sealed),
      (err) => isBackupError(err, 'ERR_REPO_CORRUPT'),
    );
    assert.throws(
      () => open(generateMasterKey(), Buffer.alloc(10)),
      (err) => isBackupError(err, 'ERR_REPO_CORRUPT'),
    );
  });

  it('works from raw key bytes', () => {
    const key = generateMasterKey();
    const copy = masterKeyFromBytes(masterKeyToBytes(key));
    assert.deepEqual(open(copy, seal(key, Buffer.from('worker'))).toString(), 'worker');
  });
});

describe('sealBlob', () => {
  it('compresses text and stores random bytes as is', () => {
    const key = generateMasterKey();
    const text = Buffer.from('postgis '.repeat(10_000));
    const packed = sealBlob(key, text, true);
    assert.equal(packed.uncompressedLength, text.length);
    assert.ok(packed.sealed.length < text.length / 10);
    assert.deepEqual(openBlob(key, packed.sealed, packed.uncompressedLength), text);

    const random = randomBytes(10_000);
    const plain = sealBlob(key, random, true);
    assert.equal(plain.uncompressedLength, undefined);
    assert.deepEqual(openBlob(key, plain.sealed), random);
    assert.equal(sealBlob(key, text, false).uncompressedLength, undefined);
  });

  it('rejects a wrong uncompressed length', () => {
    const key = generateMasterKey();
    const packed = sealBlob(key, Buffer.from('a'.repeat(1000)), true);
    assert.throws(
      () => openBlob(key, packed.sealed, 999),
      (err) => isBackupError(err, 'ERR_REPO_CORRUPT'),
    );
  });
});

describe('openUnpacked', () => {
  it('reads compressed and plain JSON', () => {
    const key = generateMasterKey();
    const json = Buffer.from('{"a":1}');
    assert.deepEqual(openUnpacked(key, sealUnpacked(key, json)), json);
    assert.deepEqual(openUnpacked(key, seal(key, json)), json);
    assert.deepEqual(openUnpacked(key, seal(key, Buffer.from('[1]'))).toString(), '[1]');
  });

  it('rejects an unknown encoding version', () => {
    const key = generateMasterKey();
    assert.throws(
      () => openUnpacked(key, seal(key, Buffer.from([7, 1, 2]))),
      (err) => isBackupError(err, 'ERR_REPO_CORRUPT'),
    );
  });
});
