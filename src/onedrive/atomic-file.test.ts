import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBackupError } from '../errors/index.ts';
import { isTempName, writeFileAtomic } from './atomic-file.ts';

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bgapp-atomic-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshFolder(name: string): Promise<string> {
  const folder = join(root, name);
  await mkdir(folder);
  return folder;
}

/** Returns a stream that yields `first`, waits for `release`, then fails or ends. */
function pausedStream(first: string, release: Promise<void>, failure?: Error): AsyncIterable<Uint8Array> {
  return (async function* () {
    yield Buffer.from(first);
    await release;
    if (failure) throw failure;
    yield Buffer.from(' and the rest');
  })();
}

describe('writeFileAtomic', () => {
  it('writes the stream under the final name with mode 0600', async () => {
    const folder = await freshFolder('simple');
    const target = join(folder, 'geo.dump');
    const bytes = await writeFileAtomic(target, (async function* () {
      yield Buffer.from('hello ');
      yield Buffer.from('world');
    })());
    assert.equal(bytes, 11);
    assert.equal(await readFile(target, 'utf8'), 'hello world');
    assert.equal((await stat(target)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(folder), ['geo.dump']);
  });

  it('writes under a temporary name OneDrive skips until the end', async () => {
    const folder = await freshFolder('midway');
    const target = join(folder, 'data.tar.gz');
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const writing = writeFileAtomic(target, pausedStream('first part', released));

    await waitFor(async () => (await readdir(folder)).length === 1);
    const [tempName] = await readdir(folder);
    assert.ok(tempName?.startsWith('~$data.tar.gz.'), `temp name ${tempName}`);
    assert.ok(tempName?.endsWith('.tmp'));
    assert.ok(isTempName(tempName ?? ''));

    release();
    await writing;
    assert.deepEqual(await readdir(folder), ['data.tar.gz']);
    assert.equal(await readFile(target, 'utf8'), 'first part and the rest');
  });

  it('keeps the old file and removes the temporary file when the stream fails', async () => {
    const folder = await freshFolder('failing');
    const target = join(folder, 'configs.tar.gz');
    await writeFile(target, 'old copy');
    const failing = pausedStream('partial', Promise.resolve(), new Error('source broke'));
    await assert.rejects(writeFileAtomic(target, failing), (err) => {
      assert.ok(isBackupError(err, 'ERR_BACKEND_IO'));
      assert.match(err.message, /cannot write .*configs\.tar\.gz: source broke/);
      return true;
    });
    assert.deepEqual(await readdir(folder), ['configs.tar.gz']);
    assert.equal(await readFile(target, 'utf8'), 'old copy');
  });

  it('leaves nothing when the stream fails and there was no old file', async () => {
    const folder = await freshFolder('failing-new');
    const failing = pausedStream('partial', Promise.resolve(), new Error('source broke'));
    await assert.rejects(writeFileAtomic(join(folder, 'x.dump'), failing));
    assert.deepEqual(await readdir(folder), []);
  });

  it('raises ERR_ABORTED and removes the temporary file on abort', async () => {
    const folder = await freshFolder('aborted');
    const controller = new AbortController();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const writing = writeFileAtomic(join(folder, 'x.dump'), pausedStream('a', released), {
      signal: controller.signal,
    });
    await waitFor(async () => (await readdir(folder)).length === 1);
    controller.abort();
    release();
    await assert.rejects(writing, (err) => isBackupError(err, 'ERR_ABORTED'));
    assert.deepEqual(await readdir(folder), []);
  });

  it('raises ERR_BACKEND_IO when the folder does not exist', async () => {
    const target = join(root, 'missing-folder', 'x.dump');
    await assert.rejects(writeFileAtomic(target, (async function* () {})()), (err) => {
      assert.ok(isBackupError(err, 'ERR_BACKEND_IO'));
      assert.match(err.message, /check free space and permissions of .*missing-folder/);
      return true;
    });
  });
});

async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.fail('condition not met within 1 s');
}
