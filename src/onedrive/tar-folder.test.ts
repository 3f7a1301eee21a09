import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { isBackupError } from '../errors/index.ts';
import { MemorySnapshot } from '../../test/support/memory-snapshot.ts';
import { writeFolderArchive } from './tar-folder.ts';

const run = promisify(execFile);
const meta = { mode: 0o640, mtime: new Date('2024-06-01T12:00:00Z'), uid: 1000, gid: 1000 };

let root: string;
let snapshot: MemorySnapshot;
let big: Buffer;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bgapp-tar-'));
  // Incompressible and larger than every stream buffer, so backpressure comes into play.
  big = randomBytes(8 * 1024 * 1024);
  snapshot = new MemorySnapshot();
  await snapshot.addFile(['files', 'big', 'blob.bin'], meta, Readable.from([big]));
  const longName = `${'n'.repeat(150)}.txt`;
  await snapshot.addFile(['files', 'big', 'deep', longName], meta, Readable.from([Buffer.from('x')]));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('writeFolderArchive', () => {
  it('streams a large file and a long name that GNU tar reads back', async () => {
    const target = join(root, 'big.tar.gz');
    const bytes = await writeFolderArchive(snapshot, ['files', 'big'], 'big', target);
    assert.ok(bytes > big.length, `compressed size ${bytes}`);
    const extracted = join(root, 'extracted');
    await run('mkdir', [extracted]);
    await run('tar', ['-xzf', target, '-C', extracted]);
    assert.deepEqual(await readFile(join(extracted, 'big', 'blob.bin')), big);
    assert.deepEqual(await readdir(join(extracted, 'big', 'deep')), [`${'n'.repeat(150)}.txt`]);
    const { stdout } = await run('tar', ['--numeric-owner', '-tvzf', target, 'big/blob.bin']);
    assert.match(stdout, /^-rw-r----- 1000\/1000 /);
  });

  it('rejects without hanging when the target cannot be written', async () => {
    const target = join(root, 'no-such-folder', 'big.tar.gz');
    await assert.rejects(writeFolderArchive(snapshot, ['files', 'big'], 'big', target), (err) =>
      isBackupError(err, 'ERR_BACKEND_IO'),
    );
  });

  it('rejects with ERR_ABORTED and leaves no file when aborted', async () => {
    const controller = new AbortController();
    const folder = await mkdtemp(join(root, 'abort-'));
    const writing = writeFolderArchive(snapshot, ['files', 'big'], 'big', join(folder, 'a.tar.gz'), controller.signal);
    setImmediate(() => controller.abort());
    await assert.rejects(writing, (err) => isBackupError(err, 'ERR_ABORTED'));
    assert.deepEqual(await readdir(folder), []);
  });

  it('rejects when the folder is not in the snapshot', async () => {
    await assert.rejects(writeFolderArchive(snapshot, ['files', 'gone'], 'gone', join(root, 'gone.tar.gz')));
    assert.ok(!(await readdir(root)).some((name) => name.startsWith('gone') || name.startsWith('~$gone')));
  });
});
