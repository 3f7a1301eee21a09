import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatGoTime, goJsonString, goQuote, goUnquote, parseGoTime } from './go-format.ts';
import { compareNames, decodeTree, encodeNode, encodeTree } from './tree.ts';

const mtime = new Date('2024-03-01T10:20:30.125Z');
const ID = 'a'.repeat(64);

describe('goQuote', () => {
  it('quotes names as strconv.Quote does', () => {
    assert.equal(goQuote('plain.txt'), 'plain.txt');
    assert.equal(goQuote('café ünïcode 日本'), 'café ünïcode 日本');
    assert.equal(goQuote('a"b\\c'), 'a\\"b\\\\c');
    assert.equal(goQuote('tab\there\nnl'), 'tab\\there\\nnl');
    assert.equal(goQuote('\x01\x7f'), '\\x01\\x7f');
    assert.equal(goQuote('nb\u00a0sp'), 'nb\\u00a0sp');
    assert.equal(goQuote('\u{e0001}'), '\\U000e0001');
  });

  it('round-trips through goUnquote', () => {
    for (const name of ['plain', 'a"b\\c', 'x\ty\u0007', 'nb\u00a0sp', 'e\u0301', '\u{1f600}']) {
      assert.equal(goUnquote(goQuote(name)), name);
    }
  });

  it('unquotes byte escapes as UTF-8', () => {
    assert.equal(goUnquote('caf\\xc3\\xa9'), 'café');
    assert.equal(goUnquote('\\303\\251'), 'é');
    assert.throws(() => goUnquote('bad\\q'), SyntaxError);
  });
});

describe('goJsonString', () => {
  it('escapes HTML characters as encoding/json does', () => {
    assert.equal(goJsonString('<a&b>'), '"\\u003ca\\u0026b\\u003e"');
  });
});

describe('formatGoTime', () => {
  it('writes RFC 3339 with the fraction trimmed', () => {
    assert.equal(formatGoTime(mtime), '2024-03-01T10:20:30.125Z');
    assert.equal(formatGoTime(new Date('2024-03-01T10:20:30.100Z')), '2024-03-01T10:20:30.1Z');
    assert.equal(formatGoTime(new Date('2024-03-01T10:20:30Z')), '2024-03-01T10:20:30Z');
  });

  it('parses nanoseconds, offsets and year 1', () => {
    const parsed = parseGoTime('2014-12-22T14:47:59.912418701+01:00');
    assert.equal(parsed.toISOString(), '2014-12-22T13:47:59.912Z');
    assert.equal(parseGoTime('0001-01-01T00:00:00Z').getUTCFullYear(), 1);
    assert.throws(() => parseGoTime('yesterday'), SyntaxError);
  });
});

describe('encodeNode', () => {
  it('writes a file node with the fields in restic order', () => {
    const json = encodeNode({
      type: 'file',
      name: 'data.bin',
      meta: { mode: 0o600, mtime, uid: 1000, gid: 100, user: 'u', inode: 2n ** 60n, links: 1 },
      size: 12,
      content: [ID],
    });
    const expected =
      '{"name":"data.bin","type":"file","mode":384,"mtime":"2024-03-01T10:20:30.125Z",' +
      '"atime":"2024-03-01T10:20:30.125Z","ctime":"2024-03-01T10:20:30.125Z",' +
      `"uid":1000,"gid":100,"user":"u","inode":1152921504606846976,"size":12,"links":1,` +
      `"content":["${ID}"]}`;
    assert.equal(json, expected);
  });

  it('sets Go mode bits for folders, symlinks and special bits', () => {
    const dir = JSON.parse(
      encodeNode({ type: 'dir', name: 'd', meta: { mode: 0o2775, mtime }, subtree: ID }),
    );
    assert.equal(dir.mode, 2 ** 31 + 2 ** 22 + 0o775);
    assert.equal(dir.content, null);
    assert.equal(dir.subtree, ID);
    const link = JSON.parse(
      encodeNode({ type: 'symlink', name: 'l', meta: { mode: 0o777, mtime }, linkTarget: '../x' }),
    );
    assert.equal(link.mode, 2 ** 27 + 0o777);
    assert.equal(link.linktarget, '../x');
    const sticky = JSON.parse(
      encodeNode({ type: 'file', name: 'f', meta: { mode: 0o5755, mtime }, size: 0, content: [] }),
    );
    assert.equal(sticky.mode, 2 ** 23 + 2 ** 20 + 0o755);
    assert.deepEqual(sticky.content, []);
    assert.equal(sticky.size, undefined);
  });
});

describe('encodeTree', () => {
  it('sorts nodes by UTF-8 bytes and ends with a newline', () => {
    const names = ['b', '\u{1f600}', 'B', '\uff21', 'a'];
    const blob = encodeTree(
      names.map((name) => ({ type: 'file', name, meta: { mode: 0o644, mtime }, size: 0, content: [] })),
    );
    assert.equal(blob.at(-1), 0x0a);
    const decoded = decodeTree(ID, blob).map((n) => n.name);
    assert.deepEqual(decoded, ['B', 'a', 'b', '\uff21', '\u{1f600}']);
    assert.ok(compareNames('\uff21', '\u{1f600}') < 0);
  });

  it('writes an empty tree as an empty list', () => {
    assert.equal(encodeTree([]).toString(), '{"nodes":[]}\n');
  });
});

describe('decodeTree', () => {
  it('maps restic nodes back to POSIX modes', () => {
    const blob = encodeTree([
      { type: 'dir', name: 'd', meta: { mode: 0o2750, mtime }, subtree: ID },
      { type: 'file', name: 'tab\tname', meta: { mode: 0o4711, mtime, uid: 7 }, size: 3, content: [ID] },
    ]);
    const [dir, file] = decodeTree(ID, blob);
    assert.equal(dir?.mode, 0o2750);
    assert.equal(dir?.subtree, ID);
    assert.equal(file?.name, 'tab\tname');
    assert.equal(file?.mode, 0o4711);
    assert.equal(file?.uid, 7);
    assert.equal(file?.size, 3);
    assert.deepEqual(file?.content, [ID]);
    assert.equal(file?.mtime.getTime(), mtime.getTime());
  });

  it('rejects a blob that is not a tree', () => {
    assert.throws(() => decodeTree(ID, Buffer.from('{"nodes":5}')), /tree a+ is invalid/);
    assert.throws(() => decodeTree(ID, Buffer.from('not json')), { code: 'ERR_REPO_CORRUPT' });
  });
});
