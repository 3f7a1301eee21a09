import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend, ByteRange, FileHandle } from '../backend/index.ts';
import { NETWORK_WINDOW_BYTES, PackWindows, WINDOWS_KEPT } from './pack-windows.ts';

const PACK = 'a'.repeat(64);

/** Returns a backend with one pack of numbered bytes that records each ranged load. */
function fakeBackend(packBytes: number, rangedReadBytes?: number) {
  const pack = Buffer.alloc(packBytes);
  for (let i = 0; i < packBytes; i++) pack[i] = i % 251;
  const loads: ByteRange[] = [];
  const returned: Buffer[] = [];
  let failNext = false;
  const backend = {
    location: 'memory',
    rangedReadBytes,
    load(handle: FileHandle, range?: ByteRange): Promise<Buffer> {
      assert.equal(handle.name, PACK);
      assert.ok(range);
      loads.push(range);
      if (failNext) {
        failNext = false;
        return Promise.reject(new Error('read failed'));
      }
      assert.ok(range.offset + range.length <= packBytes, 'read past the pack');
      const data = Buffer.allocUnsafeSlow(range.length);
      pack.copy(data, 0, range.offset, range.offset + range.length);
      returned.push(data);
      return Promise.resolve(data);
    },
  } as unknown as Backend;
  return { backend, pack, loads, returned, failOnce: () => (failNext = true) };
}

describe('PackWindows', () => {
  it('serves neighbouring blobs from one read', async () => {
    const { backend, pack, loads } = fakeBackend(10_000, 4096);
    const windows = new PackWindows(backend);
    for (let offset = 0; offset < 4000; offset += 100) {
      const blob = await windows.read(PACK, offset, 100, 9_000);
      assert.deepEqual(blob, pack.subarray(offset, offset + 100));
    }
    assert.deepEqual(loads, [{ offset: 0, length: 4096 }]);
  });

  it('stops windows at the last blob', async () => {
    const { backend, loads } = fakeBackend(10_000, 4096);
    const windows = new PackWindows(backend);
    await windows.read(PACK, 8_000, 100, 8_500);
    assert.deepEqual(loads, [{ offset: 8_000, length: 500 }]);
  });

  it('reads large blobs alone', async () => {
    const { backend, pack, loads } = fakeBackend(10_000, 1000);
    const windows = new PackWindows(backend);
    assert.deepEqual(await windows.read(PACK, 0, 3000, 9_000), pack.subarray(0, 3000));
    assert.deepEqual(await windows.read(PACK, 3000, 251, 9_000), pack.subarray(3000, 3251));
    assert.deepEqual(await windows.read(PACK, 8_900, 100, 9_000), pack.subarray(8_900, 9_000));
    assert.deepEqual(loads, [
      { offset: 0, length: 3000 },
      { offset: 3000, length: 251 },
      { offset: 8_900, length: 100 },
    ]);
  });

  it('shares a window among reads at once', async () => {
    const { backend, pack, loads } = fakeBackend(10_000, 4096);
    const windows = new PackWindows(backend);
    const blobs = await Promise.all([0, 100, 200, 300].map((offset) => windows.read(PACK, offset, 100, 9_000)));
    assert.equal(loads.length, 1);
    assert.deepEqual(blobs[3], pack.subarray(300, 400));
  });

  it('returns copies that own their buffers', async () => {
    const { backend } = fakeBackend(10_000, 4096);
    const windows = new PackWindows(backend);
    const blob = await windows.read(PACK, 100, 100, 9_000);
    assert.equal(blob.byteOffset, 0);
    assert.equal(blob.buffer.byteLength, 100);
  });

  it('frees dropped windows, keeps the newest', async () => {
    const { backend, loads, returned } = fakeBackend(100_000, 1000);
    const windows = new PackWindows(backend);
    for (let i = 0; i <= WINDOWS_KEPT; i++) await windows.read(PACK, i * 1000, 10, 90_000);
    assert.equal(loads.length, WINDOWS_KEPT + 1);
    // The first window was dropped for the last one, and its buffer freed.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(returned[0]!.buffer.byteLength, 0);
    assert.equal(returned[1]!.buffer.byteLength, 1000);
    await windows.read(PACK, 1010, 10, 90_000);
    await windows.read(PACK, 10, 10, 90_000);
    assert.equal(loads.length, WINDOWS_KEPT + 2);
  });

  it('reads again after a failed read', async () => {
    const { backend, pack, loads, failOnce } = fakeBackend(10_000, 4096);
    const windows = new PackWindows(backend);
    failOnce();
    await assert.rejects(windows.read(PACK, 0, 100, 9_000), /read failed/);
    assert.deepEqual(await windows.read(PACK, 0, 100, 9_000), pack.subarray(0, 100));
    assert.equal(loads.length, 2);
  });

  it('uses 4 MiB windows without a ranged read size', async () => {
    const { backend, loads } = fakeBackend(NETWORK_WINDOW_BYTES + 10_000);
    const windows = new PackWindows(backend);
    await windows.read(PACK, 0, 100, NETWORK_WINDOW_BYTES + 10_000);
    assert.deepEqual(loads, [{ offset: 0, length: NETWORK_WINDOW_BYTES }]);
  });
});
