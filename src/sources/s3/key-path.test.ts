import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeSegment,
  encodeSegment,
  keyToPath,
  pathToKey,
  planKeyPaths,
} from './key-path.ts';

const longKey = Array.from({ length: 10 }, (_, i) => `${i}`.repeat(99)).join('/');

const edgeKeys = [
  'a',
  'a/b',
  'dir/',
  'dir',
  '/lead',
  'a//b',
  './x',
  'a/../b',
  '..',
  '.',
  '%41',
  '%',
  '%empty',
  '%object',
  'x%2E',
  'caf\u00e9',
  'cafe\u0301',
  'tab\there',
  'nul\u0000byte',
  longKey,
  'x/',
  'x',
  'x//',
  '//',
  '/',
];

function isValidName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

describe('keyToPath', () => {
  it('maps every edge key to valid names and back exactly', () => {
    const plan = planKeyPaths(edgeKeys);
    for (const key of edgeKeys) {
      const path = plan.get(key);
      assert.ok(path, `no path for ${JSON.stringify(key)}`);
      for (const name of path) assert.ok(isValidName(name), `invalid name ${JSON.stringify(name)}`);
      assert.equal(pathToKey(path), key);
    }
  });

  it('gives distinct keys of one bucket distinct paths', () => {
    const plan = planKeyPaths(edgeKeys);
    const seen = new Map<string, string>();
    for (const [key, path] of plan) {
      const joined = path.join('/');
      assert.equal(seen.get(joined), undefined, `${JSON.stringify(key)} shares ${joined}`);
      seen.set(joined, key);
    }
  });

  it('keeps no file at a path that is also a folder', () => {
    const plan = planKeyPaths(edgeKeys);
    const folders = new Set<string>();
    for (const path of plan.values()) {
      for (let i = 1; i < path.length; i++) folders.add(path.slice(0, i).join('/'));
    }
    for (const [key, path] of plan) {
      assert.ok(!folders.has(path.join('/')), `file of ${JSON.stringify(key)} is a folder`);
    }
  });

  it('suffixes an object whose key is also a prefix', () => {
    const plan = planKeyPaths(['a', 'a/b', 'x', 'x/']);
    assert.deepEqual(plan.get('a'), ['a%object']);
    assert.deepEqual(plan.get('a/b'), ['a', 'b']);
    assert.deepEqual(plan.get('x'), ['x%object']);
    assert.deepEqual(plan.get('x/'), ['x', '%empty']);
  });

  it('escapes dot segments, empty segments and percent signs', () => {
    assert.deepEqual(keyToPath('/lead', false), ['%empty', 'lead']);
    assert.deepEqual(keyToPath('a//b', false), ['a', '%empty', 'b']);
    assert.deepEqual(keyToPath('./x', false), ['%2E', 'x']);
    assert.deepEqual(keyToPath('a/../b', false), ['a', '%2E%2E', 'b']);
    assert.deepEqual(keyToPath('%41', false), ['%2541']);
    assert.deepEqual(keyToPath('dir/', false), ['dir', '%empty']);
  });

  it('keeps NFC and NFD spellings apart', () => {
    const nfc = keyToPath('caf\u00e9', false);
    const nfd = keyToPath('cafe\u0301', false);
    assert.notDeepEqual(nfc, nfd);
    assert.equal(pathToKey(nfc), 'caf\u00e9');
    assert.equal(pathToKey(nfd), 'cafe\u0301');
  });

  it('maps a 1000-byte key and back', () => {
    const key = `${'k'.repeat(200)}/`.repeat(5).slice(0, 1000);
    assert.equal(Buffer.byteLength(key), 1000);
    assert.equal(pathToKey(keyToPath(key, false)), key);
  });
});

describe('decodeSegment', () => {
  it('rejects names that escaping never produces', () => {
    assert.throws(() => decodeSegment('%41'), RangeError);
    assert.throws(() => decodeSegment('%zz'), RangeError);
    assert.throws(() => decodeSegment('%2e'), RangeError);
    assert.throws(() => decodeSegment('.'), RangeError);
  });

  it('inverts encodeSegment on control characters', () => {
    for (let code = 0; code < 0x80; code++) {
      const segment = `a${String.fromCharCode(code)}b`;
      if (segment.includes('/')) continue;
      assert.equal(decodeSegment(encodeSegment(segment)), segment);
    }
  });
});
