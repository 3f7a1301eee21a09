/**
 * The conformance suite every Backend must pass. A backend's test file calls
 * `runBackendConformance` with a factory for fresh, created, empty backends.
 */
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { isBackupError } from '../errors/index.ts';
import type { Backend } from './types.ts';

/** Creates an empty backend on which `create()` has run, and a function that disposes of it. */
export type BackendFactory = () => Promise<{ backend: Backend; dispose: () => Promise<void> }>;

function idOf(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function withBackend(factory: BackendFactory, work: (b: Backend) => Promise<void>) {
  const { backend, dispose } = await factory();
  try {
    await work(backend);
  } finally {
    await dispose();
  }
}

/** Registers the conformance tests for one backend implementation. */
export function runBackendConformance(name: string, factory: BackendFactory): void {
  describe(`Backend conformance: ${name}`, () => {
    it('returns saved files whole and by range', () =>
      withBackend(factory, async (backend) => {
        const data = randomBytes(100_000);
        const handle = { type: 'data' as const, name: idOf(data) };
        await backend.save(handle, data);
        assert.deepEqual(await backend.load(handle), data);
        assert.deepEqual(
          await backend.load(handle, { offset: 500, length: 1000 }),
          data.subarray(500, 1500),
        );
        assert.deepEqual(await backend.stat(handle), { name: handle.name, size: data.length });
      }));

    it('lists files by type with sizes', () =>
      withBackend(factory, async (backend) => {
        const files = [randomBytes(10), randomBytes(20), randomBytes(30)];
        for (const data of files) await backend.save({ type: 'snapshots', name: idOf(data) }, data);
        const pack = randomBytes(40);
        await backend.save({ type: 'data', name: idOf(pack) }, pack);
        await backend.save({ type: 'config', name: 'config' }, randomBytes(50));

        const listed = (await backend.list('snapshots')).sort((a, b) =>
          a.name.localeCompare(b.name),
        );
        const expected = files
          .map((d) => ({ name: idOf(d), size: d.length }))
          .sort((a, b) => a.name.localeCompare(b.name));
        assert.deepEqual(listed, expected);
        assert.deepEqual(await backend.list('data'), [{ name: idOf(pack), size: 40 }]);
        assert.deepEqual(await backend.list('config'), [{ name: 'config', size: 50 }]);
        assert.deepEqual(await backend.list('index'), []);
      }));

    it('returns undefined from stat when a file is missing', () =>
      withBackend(factory, async (backend) => {
        assert.equal(await backend.stat({ type: 'keys', name: 'f'.repeat(64) }), undefined);
        assert.equal(await backend.stat({ type: 'config', name: 'config' }), undefined);
      }));

    it('rejects load of a missing file with ERR_BACKEND_IO', () =>
      withBackend(factory, async (backend) => {
        await assert.rejects(backend.load({ type: 'index', name: 'a'.repeat(64) }), (err) =>
          isBackupError(err, 'ERR_BACKEND_IO'),
        );
      }));

    it('rejects a range that goes past the end', () =>
      withBackend(factory, async (backend) => {
        const data = randomBytes(100);
        const handle = { type: 'data' as const, name: idOf(data) };
        await backend.save(handle, data);
        await assert.rejects(backend.load(handle, { offset: 90, length: 20 }), (err) =>
          isBackupError(err, 'ERR_BACKEND_IO'),
        );
      }));

    it('removes files and ignores missing ones', () =>
      withBackend(factory, async (backend) => {
        const data = randomBytes(10);
        const handle = { type: 'locks' as const, name: idOf(data) };
        await backend.save(handle, data);
        await backend.remove(handle);
        assert.equal(await backend.stat(handle), undefined);
        await backend.remove(handle);
        assert.deepEqual(await backend.list('locks'), []);
      }));

    it('replaces a file that is saved twice', () =>
      withBackend(factory, async (backend) => {
        await backend.save({ type: 'config', name: 'config' }, Buffer.from('first'));
        await backend.save({ type: 'config', name: 'config' }, Buffer.from('second'));
        const loaded = await backend.load({ type: 'config', name: 'config' });
        assert.equal(loaded.toString(), 'second');
      }));

    it('saves many files concurrently', () =>
      withBackend(factory, async (backend) => {
        const files = Array.from({ length: 20 }, () => randomBytes(1000));
        await Promise.all(files.map((d) => backend.save({ type: 'data', name: idOf(d) }, d)));
        assert.equal((await backend.list('data')).length, 20);
        assert.deepEqual(await backend.listLeftovers(), []);
      }));
  });
}
