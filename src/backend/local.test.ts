import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readlinkSync, writeFileSync, utimesSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isBackupError } from '../errors/index.ts';
import { runBackendConformance } from './conformance.ts';
import { LocalBackend } from './local.ts';

/** Folders the tests created, removed at the end even when a test fails first. */
const createdFolders: string[] = [];
after(() => Promise.all(createdFolders.map((folder) => rm(folder, { recursive: true, force: true }))));

function tempFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'bgapp-backend-'));
  createdFolders.push(folder);
  return folder;
}

runBackendConformance('LocalBackend', async () => {
  const root = tempFolder();
  const backend = new LocalBackend(join(root, 'repo'));
  await backend.create();
  return { backend, dispose: () => rm(root, { recursive: true, force: true }) };
});

describe('LocalBackend', () => {
  it('keeps few pack files open', async () => {
    const root = tempFolder();
    const backend = new LocalBackend(join(root, 'repo'));
    await backend.create();
    const packs = Array.from({ length: 40 }, (_, i) => ({ name: i.toString(16).padStart(64, '0'), bytes: Buffer.alloc(64, i) }));
    for (const pack of packs) await backend.save({ type: 'data', name: pack.name }, pack.bytes);
    const openPacks = () => readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(join(root, 'repo', 'data'));
      } catch {
        return false;
      }
    }).length;

    for (let round = 0; round < 3; round++) {
      await Promise.all(packs.map(async (pack, i) => {
        const part = await backend.load({ type: 'data', name: pack.name }, { offset: round, length: 8 });
        assert.ok(part.equals(Buffer.alloc(8, i)));
      }));
    }
    // Evicted files close in the background: wait for that, but for less than
    // the 2 s after which idle files close anyway.
    for (let waited = 0; waited < 1000 && openPacks() > 16; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(openPacks() <= 16, `${openPacks()} pack files stay open`);
    await backend.remove({ type: 'data', name: packs[0]!.name });
    await assert.rejects(backend.load({ type: 'data', name: packs[0]!.name }, { offset: 0, length: 8 }), (err) => isBackupError(err, 'ERR_BACKEND_IO'));
    await rm(root, { recursive: true });
  });

  it('names a pack cut short as damaged', async () => {
    const backend = new LocalBackend(join(tempFolder(), 'repo'));
    await backend.create();
    const pack = { type: 'data' as const, name: 'cd'.repeat(32) };
    await backend.save(pack, Buffer.alloc(100));
    await assert.rejects(backend.load(pack, { offset: 90, length: 20 }), (err) => {
      assert.ok(isBackupError(err, 'ERR_BACKEND_IO'));
      assert.match(err.message, /shorter than 110 bytes, so it was cut short or damaged/);
      assert.doesNotMatch(err.message, /writable/);
      return true;
    });
  });

  it('rejects save when the folder is missing', async () => {
    const root = tempFolder();
    const missing = join(root, 'no-such-folder');
    const backend = new LocalBackend(missing);
    await assert.rejects(
      backend.save({ type: 'data', name: 'ab'.repeat(32) }, Buffer.from('x')),
      (err) => isBackupError(err, 'ERR_BACKEND_IO') && err.message.includes(missing),
    );
    await assert.rejects(backend.list('snapshots'), (err) => isBackupError(err, 'ERR_BACKEND_IO'));
    await rm(root, { recursive: true });
  });

  it('rejects save when the folder is not writable', async () => {
    const root = tempFolder();
    const backend = new LocalBackend(join(root, 'repo'));
    await backend.create();
    chmodSync(join(root, 'repo', 'snapshots'), 0o555);
    // Root ignores mode bits, so the write runs as the unprivileged user "nobody".
    chmodSync(root, 0o755);
    const script = `
      import { LocalBackend } from ${JSON.stringify(join(import.meta.dirname, 'local.ts'))};
      const b = new LocalBackend(${JSON.stringify(join(root, 'repo'))});
      try { await b.save({ type: 'snapshots', name: '${'cd'.repeat(32)}' }, Buffer.from('x')); console.log('saved'); }
      catch (err) { console.log(err.code + ' ' + err.message); }`;
    const output = execFileSync(
      'runuser',
      ['-u', 'nobody', '--', process.execPath, '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
      },
    );
    assert.match(output, /^ERR_BACKEND_IO /);
    assert.ok(output.includes(join(root, 'repo', 'snapshots')), output);
    await rm(root, { recursive: true });
  });

  it('ignores leftover temporary files in list and removes old ones', async () => {
    const root = tempFolder();
    const backend = new LocalBackend(join(root, 'repo'));
    await backend.create();
    const leftover = join(root, 'repo', 'data', 'ab', `~$${'ab'.repeat(32)}.123456.tmp`);
    writeFileSync(leftover, 'partial');
    const fresh = join(root, 'repo', 'index', `~$${'cd'.repeat(32)}.654321.tmp`);
    writeFileSync(fresh, 'partial');
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(leftover, hourAgo, hourAgo);

    assert.deepEqual(await backend.list('data'), []);
    assert.deepEqual(await backend.list('index'), []);
    assert.equal((await backend.listLeftovers()).length, 2);
    assert.equal(await backend.removeLeftovers(60_000), 1);
    assert.deepEqual(readdirSync(join(root, 'repo', 'data', 'ab')), []);
    assert.equal(readdirSync(join(root, 'repo', 'index')).length, 1);
    await rm(root, { recursive: true });
  });
});
