import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { LocalBackend, type FileHandle } from '../backend/index.ts';
import { Repository } from './repository.ts';
import { MIN_KDF_TARGET, TEST_PASSWORD, fileTree, resticOk, tempFolder } from './test-helpers.ts';
import { loadMasterIndex } from './master-index.ts';
import { masterKeyFromBytes } from '../crypto/index.ts';

const root = tempFolder();
after(() => rm(root, { recursive: true, force: true }));

/** Seals `plaintext` in a worker thread that gets only the raw master key bytes. */
function sealInWorker(keyBytes: Uint8Array, plaintext: Buffer) {
  const source = `
    import { parentPort, workerData } from 'node:worker_threads';
    import { masterKeyFromBytes, sealBlob } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../crypto/index.ts')).href)};
    const result = sealBlob(masterKeyFromBytes(workerData.key), workerData.plaintext, true);
    parentPort.postMessage(result);`;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), {
    workerData: { key: keyBytes, plaintext },
  });
  return new Promise<{ sealed: Uint8Array; uncompressedLength?: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

/** Creates a repository of packs of 256 KiB that records every large data pack it saves. */
async function recordingRepository(name: string) {
  const repoPath = join(root, name);
  const saved: Uint8Array[] = [];
  const backend = new (class extends LocalBackend {
    override async save(handle: FileHandle, data: Uint8Array): Promise<void> {
      // releaseBuffer leaves buffers of Node.js's shared pool alone, such as the small tree pack.
      const large = data.byteLength > Buffer.poolSize;
      await super.save(handle, data);
      if (handle.type === 'data' && large) saved.push(data);
    }
  })(repoPath);
  const repo = await Repository.init(backend, TEST_PASSWORD, {
    ...MIN_KDF_TARGET,
    packSizeTarget: 256 * 1024,
  });
  return { repo, repoPath, saved };
}

/** Polls `done` every 10 ms for up to two seconds. */
async function waitFor(done: () => boolean): Promise<void> {
  for (let waited = 0; !done(); waited += 10) {
    assert.ok(waited < 2000, 'timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('Repository blobs', () => {
  it('packs blobs sealed in a worker thread', async () => {
    const repoPath = join(root, 'worker');
    const repo = await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD, MIN_KDF_TARGET);
    const plaintext = Buffer.from('tile '.repeat(20_000));
    const prepared = await sealInWorker(repo.masterKeyBytes(), plaintext);
    const id = createHash('sha256').update(plaintext).digest('hex');
    const blob = { type: 'data' as const, id, plaintextLength: plaintext.length, ...prepared };
    assert.equal((await repo.savePreparedBlob(blob)).isNew, true);
    assert.equal((await repo.savePreparedBlob(blob)).isNew, false);
    const tree = await repo.saveBlob('tree', fileTree('tiles.txt', plaintext.length, [id]));
    await repo.flush();
    assert.deepEqual(await repo.loadBlob('data', id), plaintext);
    await repo.saveSnapshot({ time: new Date().toISOString(), tree: tree.id, paths: ['/w'] });
    resticOk(repoPath, ['check', '--read-data']);
  });

  it('splits many blobs into bounded packs of one type each', async () => {
    const repoPath = join(root, 'many');
    const repo = await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD, {
      ...MIN_KDF_TARGET,
      packSizeTarget: 256 * 1024,
    });
    const ids = [];
    for (let i = 0; i < 40; i++) ids.push((await repo.saveBlob('data', randomBytes(50_000))).id);
    const tree = await repo.saveBlob('tree', fileTree('big.bin', 40 * 50_000, ids));
    await repo.flush();
    await repo.saveSnapshot({ time: new Date().toISOString(), tree: tree.id, paths: ['/m'] });

    const index = await loadMasterIndex(repo.backend, masterKeyFromBytes(repo.masterKeyBytes()));
    const packs = index.packs();
    assert.ok(packs.length >= 8, `${packs.length} packs`);
    for (const pack of packs) {
      assert.equal(
        new Set(pack.blobs.map((b) => b.type)).size,
        1,
        `pack ${pack.packId} mixes types`,
      );
    }
    for (const { size } of await repo.backend.list('data')) assert.ok(size < 2 * 256 * 1024);
    resticOk(repoPath, ['check', '--read-data']);
    const target = join(root, 'many-restore');
    resticOk(repoPath, ['restore', 'latest', '--target', target]);
  });

  it('moves a pack to a larger buffer for a blob beyond its room', async () => {
    const repoPath = join(root, 'large');
    const repo = await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD, {
      ...MIN_KDF_TARGET,
      packSizeTarget: 256 * 1024,
    });
    // A pack's buffer has room for its target plus 8 MiB and a little more.
    const small = randomBytes(100_000);
    const large = randomBytes(10 * 1024 * 1024);
    const ids = [(await repo.saveBlob('data', small)).id, (await repo.saveBlob('data', large)).id];
    const tree = await repo.saveBlob('tree', fileTree('large.bin', small.length + large.length, ids));
    await repo.flush();
    await repo.saveSnapshot({ time: new Date().toISOString(), tree: tree.id, paths: ['/l'] });
    assert.deepEqual(await repo.loadBlob('data', ids[1]!), large);
    assert.deepEqual(await repo.loadBlob('data', ids[0]!), small);
    resticOk(repoPath, ['check', '--read-data']);
  });

  it('frees every pack buffer by the end of flush', async () => {
    const { repo, repoPath, saved } = await recordingRepository('freed');
    const ids = [];
    for (let i = 0; i < 12; i++) ids.push((await repo.saveBlob('data', randomBytes(50_000))).id);
    const tree = await repo.saveBlob('tree', fileTree('freed.bin', 12 * 50_000, ids));
    await repo.flush();
    await repo.saveSnapshot({ time: new Date().toISOString(), tree: tree.id, paths: ['/f'] });
    assert.ok(saved.length >= 2, `${saved.length} packs`);
    for (const pack of saved) assert.equal(pack.byteLength, 0);
    resticOk(repoPath, ['check', '--read-data']);
  });

  it("gives a saved pack's buffer to the next pack, and frees it when idle", async () => {
    const { repo, repoPath, saved } = await recordingRepository('reused');
    // Six blobs of 50,000 bytes fill a pack of 256 KiB. Each pack is saved
    // before the next one starts.
    const ids = [];
    for (let i = 0; i < 18; i++) {
      ids.push((await repo.saveBlob('data', randomBytes(50_000))).id);
      if (i % 6 === 5) await waitFor(() => saved.length === (i + 1) / 6);
    }
    assert.equal(saved.length, 3);
    assert.equal(new Set(saved.map((pack) => pack.buffer)).size, 1, 'packs share one buffer');
    await waitFor(() => saved[2]!.byteLength === 0);
    const tree = await repo.saveBlob('tree', fileTree('reused.bin', 18 * 50_000, ids));
    await repo.flush();
    await repo.saveSnapshot({ time: new Date().toISOString(), tree: tree.id, paths: ['/r'] });
    resticOk(repoPath, ['check', '--read-data']);
  });
});
