import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, chmod, mkdir, readFile, rename, truncate, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isBackupError } from '../../errors/index.ts';
import { silentLogger, type Warning } from '../../log/index.ts';
import { scopeWriter, type NodeMeta, type SnapshotWriter } from '../../snapshot/index.ts';
import { MemorySnapshot } from '../../../test/support/memory-snapshot.ts';
import {
  buildFixture,
  fixtureFiles,
  fixtureLinks,
  makeTempDir,
  nfcName,
  nfdName,
  removeTempDir,
} from '../../../test/support/files-fixture.ts';
import { ensureTestUser, runNodeAs } from '../../../test/support/run-as.ts';
import type { FilesManifest, FilesSourceConfig } from '../types.ts';
import { createFilesSource, type FilesSourceDeps } from './index.ts';

const runScript = fileURLToPath(new URL('../../../test/support/run-files-source.ts', import.meta.url));

type ChunkHook = (relative: string, chunkIndex: number) => Promise<void> | void;

interface BackupResult {
  manifest: FilesManifest;
  warnings: Warning[];
  snapshot: MemorySnapshot;
  metas: Map<string, NodeMeta>;
}

// Records each node's metadata, which the in-memory snapshot partly drops, and
// calls `afterChunk` each time the snapshot has taken one more chunk of a file.
function recordingWriter(inner: SnapshotWriter, metas: Map<string, NodeMeta>, afterChunk?: ChunkHook): SnapshotWriter {
  return {
    addDir(path, meta) {
      metas.set(path.join('/'), meta);
      inner.addDir(path, meta);
    },
    addSymlink(path, meta, target) {
      metas.set(path.join('/'), meta);
      inner.addSymlink(path, meta, target);
    },
    addFile(path, meta, content) {
      const relative = path.join('/');
      metas.set(relative, meta);
      async function* watched() {
        let index = 0;
        for await (const chunk of content) {
          yield chunk;
          await afterChunk?.(relative, index++);
        }
      }
      return inner.addFile(path, meta, watched());
    },
  };
}

async function runBackup(
  config: Partial<FilesSourceConfig> & { path: string },
  deps: FilesSourceDeps = {},
  afterChunk?: ChunkHook,
  signal = new AbortController().signal,
): Promise<BackupResult> {
  const snapshot = new MemorySnapshot();
  const metas = new Map<string, NodeMeta>();
  const warnings: Warning[] = [];
  const source = createFilesSource({ type: 'files', name: 'etc', include: [], exclude: [], ...config }, deps);
  const manifest = await source.backup({
    writer: recordingWriter(scopeWriter(snapshot, ['files', 'etc']), metas, afterChunk),
    logger: silentLogger,
    signal,
    onEvent: () => {},
    warn: (warning) => warnings.push(warning),
  });
  assert.equal(manifest.type, 'files');
  return { manifest: manifest as FilesManifest, warnings, snapshot, metas };
}

async function storedBytes(snapshot: MemorySnapshot, relative: string): Promise<Buffer> {
  const node = await snapshot.lookup(['files', 'etc', ...relative.split('/')]);
  assert.ok(node, `${relative} is in the snapshot`);
  const parts: Buffer[] = [];
  for await (const chunk of snapshot.openFile(node)) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

async function storedPaths(snapshot: MemorySnapshot): Promise<string[]> {
  const paths: string[] = [];
  for await (const { path } of snapshot.walk(['files', 'etc'])) paths.push(path.slice(2).join('/'));
  return paths;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function pattern(size: number, seed: number): Buffer {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = (i * 31 + seed) % 251;
  return data;
}

describe('createFilesSource', () => {
  let root: string;
  before(async () => {
    root = await makeTempDir('files-source');
  });
  after(async () => {
    await removeTempDir(root);
  });

  async function freshFolder(name: string): Promise<string> {
    const dir = join(root, name);
    await mkdir(dir);
    await chmod(dir, 0o755);
    return dir;
  }

  it('stores files, folders and links with metadata', async () => {
    const dir = await buildFixture(await freshFolder('fixture'));
    const { manifest, warnings, snapshot, metas } = await runBackup({ path: dir });

    assert.deepEqual(warnings, []);
    for (const [relative, text] of Object.entries(fixtureFiles)) {
      assert.equal((await storedBytes(snapshot, relative)).toString(), text, relative);
      assert.equal(manifest.sha256[relative], sha256(text), relative);
    }
    assert.equal(manifest.files, Object.keys(fixtureFiles).length);
    const totalBytes = Object.values(fixtureFiles).reduce((sum, text) => sum + Buffer.byteLength(text), 0);
    assert.equal(manifest.bytes, totalBytes);
    assert.equal(manifest.path, dir);
    assert.ok(Date.parse(manifest.readAt) <= Date.parse(manifest.finishedAt));

    for (const [relative, target] of Object.entries(fixtureLinks)) {
      const node = await snapshot.lookup(['files', 'etc', relative]);
      assert.equal(node?.type, 'symlink', relative);
      assert.equal(node?.linkTarget, target, relative);
    }
    assert.equal((await snapshot.lookup(['files', 'etc', 'empty']))?.type, 'dir');
    assert.deepEqual(await snapshot.list(['files', 'etc', 'empty']), []);
    assert.notEqual(nfcName, nfdName);
    assert.equal((await storedBytes(snapshot, nfcName)).toString(), 'precomposed\n');
    assert.equal((await storedBytes(snapshot, nfdName)).toString(), 'decomposed\n');

    assert.equal(metas.get('secret.key')?.mode, 0o600);
    assert.equal(metas.get('shared')?.mode, 0o2775);
    assert.equal(metas.get('empty')?.mode, 0o750);
    const meta = metas.get('app.conf');
    assert.equal(meta?.uid, 0);
    assert.equal(meta?.user, 'root');
    assert.equal(meta?.group, 'root');
    assert.equal(meta?.mtime.toISOString(), '2023-04-05T06:07:08.500Z');
    assert.ok(meta?.atime instanceof Date);
    assert.ok(meta?.ctime instanceof Date);
    assert.equal(typeof meta?.inode, 'bigint');
    assert.equal(meta?.links, 1);
    assert.equal(metas.get('')?.mode, 0o755);
  });

  it('reads files in byte order of names', async () => {
    const dir = await freshFolder('order');
    for (const name of ['b', 'B', 'a', '\u00e9', 'z', '\u{1F600}', '\uFF21']) await writeFile(join(dir, name), name);
    const readOrder: string[] = [];
    const hook: ChunkHook = (relative) => {
      readOrder.push(relative);
    };
    await runBackup({ path: dir }, { concurrency: 1 }, hook);

    // UTF-16 order would put U+1F600 before U+FF21; UTF-8 byte order does not.
    assert.deepEqual(readOrder, ['B', 'a', 'b', 'z', '\u00e9', '\uFF21', '\u{1F600}']);
  });

  it('leaves out excluded files and folders', async () => {
    const dir = await buildFixture(await freshFolder('exclude'));
    execFileSync('mkfifo', [join(dir, 'cache', 'pipe')]);
    const { manifest, warnings, snapshot } = await runBackup({ path: dir, exclude: ['*.tmp', 'cache'] });

    const paths = await storedPaths(snapshot);
    assert.ok(!paths.includes('scratch.tmp'));
    assert.ok(!paths.includes('shared/.hidden.tmp'));
    assert.ok(!paths.includes('cache'));
    assert.ok(paths.includes('shared/readme.txt'));
    assert.equal(manifest.sha256['scratch.tmp'], undefined);
    // A walk into the excluded folder would have warned about the FIFO.
    assert.deepEqual(warnings, []);
  });

  it('keeps only included files', async () => {
    const dir = await buildFixture(await freshFolder('include'));
    const byBaseName = await runBackup({ path: dir, include: ['*.conf'] });
    assert.deepEqual(Object.keys(byBaseName.manifest.sha256), ['app.conf']);
    assert.ok(!(await storedPaths(byBaseName.snapshot)).includes('absolute-link'));

    const byFolder = await runBackup({ path: dir, include: ['shared'], exclude: ['*.tmp'] });
    assert.deepEqual(Object.keys(byFolder.manifest.sha256), ['shared/nested/deep/data.json', 'shared/readme.txt']);

    const byPath = await runBackup({ path: dir, include: ['shared/**/*.json'] });
    assert.deepEqual(Object.keys(byPath.manifest.sha256), ['shared/nested/deep/data.json']);
  });

  it('rejects a missing source folder', async () => {
    const missing = join(root, 'does-not-exist');
    await assert.rejects(runBackup({ path: missing }), (err: unknown) => {
      assert.ok(isBackupError(err, 'ERR_FILES_FAILED'));
      assert.match(err.message, /does-not-exist/);
      return true;
    });
  });

  it('rejects a source path that is a file', async () => {
    const file = join(root, 'plain-file');
    await writeFile(file, 'x');
    await assert.rejects(runBackup({ path: file }), (err: unknown) => isBackupError(err, 'ERR_FILES_FAILED'));
  });

  it('skips FIFOs and sockets with warnings', async () => {
    const dir = await freshFolder('special');
    await writeFile(join(dir, 'kept.txt'), 'kept');
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, 'socket'), resolve));
    try {
      const { manifest, warnings } = await runBackup({ path: dir });
      assert.deepEqual(Object.keys(manifest.sha256), ['kept.txt']);
      assert.deepEqual(
        warnings.map((w) => [w.item, w.kind]),
        [
          ['pipe', 'skipped'],
          ['socket', 'skipped'],
        ],
      );
      assert.match(warnings[0]?.message ?? '', /FIFO/);
      assert.match(warnings[1]?.message ?? '', /socket/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('skips names that are not UTF-8', async () => {
    const dir = await freshFolder('latin1');
    // A Latin-1 "é" (0xE9) alone is not valid UTF-8.
    execFileSync('sh', ['-c', 'printf x > "$1/$(printf "caf\\351")"', 'sh', dir]);
    await writeFile(join(dir, 'ok.txt'), 'ok');
    const { manifest, warnings } = await runBackup({ path: dir });
    assert.deepEqual(Object.keys(manifest.sha256), ['ok.txt']);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.kind, 'skipped');
    assert.match(warnings[0]?.message ?? '', /636166e9/);
  });

  it('warns when a file vanishes before reading', async () => {
    const dir = await freshFolder('vanish');
    await writeFile(join(dir, 'a.txt'), 'first');
    await writeFile(join(dir, 'b.txt'), 'second');
    const hook: ChunkHook = async (relative) => {
      if (relative === 'a.txt') await unlink(join(dir, 'b.txt'));
    };
    const { manifest, warnings } = await runBackup({ path: dir }, { concurrency: 1 }, hook);

    assert.deepEqual(Object.keys(manifest.sha256), ['a.txt']);
    assert.equal(manifest.files, 1);
    assert.deepEqual(warnings.map((w) => [w.item, w.kind]), [['b.txt', 'vanished']]);
  });

  describe('logs changing while read', () => {
    const chunkBytes = 64 * 1024;
    const original = pattern(4 * chunkBytes, 7);

    async function logFolder(name: string): Promise<string> {
      const dir = await freshFolder(name);
      await writeFile(join(dir, 'app.log'), original);
      return dir;
    }

    function assertChanged(warnings: Warning[]): void {
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0]?.item, 'app.log');
      assert.equal(warnings[0]?.kind, 'changed');
    }

    function assertPrefix(stored: Buffer, whole: Buffer): void {
      assert.ok(stored.length > 0, 'stored bytes are not empty');
      assert.ok(stored.length <= whole.length, `${stored.length} stored bytes fit in ${whole.length}`);
      assert.ok(stored.equals(whole.subarray(0, stored.length)), 'stored bytes are a prefix');
    }

    it('stores a growing log up to its size at open', async () => {
      const dir = await logFolder('growing');
      const hook: ChunkHook = async (_relative, index) => {
        if (index === 0) await appendFile(join(dir, 'app.log'), pattern(chunkBytes, 9));
      };
      const { manifest, warnings, snapshot } = await runBackup({ path: dir }, { chunkBytes }, hook);

      const stored = await storedBytes(snapshot, 'app.log');
      const final = await readFile(join(dir, 'app.log'));
      assertPrefix(stored, final);
      assert.equal(stored.length, original.length);
      assert.equal(manifest.sha256['app.log'], sha256(stored));
      assertChanged(warnings);
      assert.match(warnings[0]?.message ?? '', /grew from 262144 to 327680 bytes/);
    });

    it('stores a rotated log from the opened file', async () => {
      const dir = await logFolder('rotated');
      const hook: ChunkHook = async (_relative, index) => {
        if (index !== 0) return;
        await rename(join(dir, 'app.log'), join(dir, 'app.log.1'));
        await writeFile(join(dir, 'app.log'), '');
        await appendFile(join(dir, 'app.log.1'), 'written after rotation\n');
      };
      const { warnings, snapshot } = await runBackup({ path: dir }, { chunkBytes }, hook);

      const stored = await storedBytes(snapshot, 'app.log');
      assertPrefix(stored, await readFile(join(dir, 'app.log.1')));
      assert.equal(stored.length, original.length);
      assertChanged(warnings);
      assert.match(warnings[0]?.message ?? '', /renamed and replaced/);
    });

    it('stores a truncated log up to its new end', async () => {
      const dir = await logFolder('truncated');
      const keptBytes = chunkBytes * 2 + 100;
      const hook: ChunkHook = async (_relative, index) => {
        if (index === 0) await truncate(join(dir, 'app.log'), keptBytes);
      };
      const { warnings, snapshot } = await runBackup({ path: dir }, { chunkBytes }, hook);

      const stored = await storedBytes(snapshot, 'app.log');
      const final = await readFile(join(dir, 'app.log'));
      assertPrefix(stored, final);
      assert.equal(stored.length, keptBytes);
      assertChanged(warnings);
      assert.match(warnings[0]?.message ?? '', /truncated during the read/);
    });

    it('stores the read part of a copytruncated log', async () => {
      // copytruncate empties the file below bytes already stored, which cannot
      // be taken back, so the stored bytes are a prefix of the old contents.
      const dir = await logFolder('copytruncate');
      const hook: ChunkHook = async (_relative, index) => {
        if (index !== 0) return;
        await truncate(join(dir, 'app.log'), 0);
        await appendFile(join(dir, 'app.log'), 'new line\n');
      };
      const { warnings, snapshot } = await runBackup({ path: dir }, { chunkBytes }, hook);

      const stored = await storedBytes(snapshot, 'app.log');
      assertPrefix(stored, original);
      assert.equal(stored.length, chunkBytes);
      assertChanged(warnings);
      assert.match(warnings[0]?.message ?? '', /contents before the truncation/);
    });

    it('stores an emptied log as empty', async () => {
      const dir = await logFolder('emptied');
      await writeFile(join(dir, 'other.log'), 'x');
      const hook: ChunkHook = async (relative) => {
        if (relative === 'app.log') await truncate(join(dir, 'other.log'), 0);
      };
      const { manifest, warnings } = await runBackup({ path: dir }, { chunkBytes, concurrency: 1 }, hook);

      assert.equal(manifest.sha256['other.log'], sha256(''));
      assert.deepEqual(warnings.map((w) => [w.item, w.kind]), [['other.log', 'changed']]);
    });
  });

  it('rejects with ERR_ABORTED when aborted', async () => {
    const dir = await buildFixture(await freshFolder('abort'));
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(runBackup({ path: dir }, {}, undefined, controller.signal), (err: unknown) =>
      isBackupError(err, 'ERR_ABORTED'),
    );
  });

  it('warns on unreadable entries as another user', async () => {
    const user = await ensureTestUser();
    const dir = await freshFolder('unreadable');
    await writeFile(join(dir, 'public.txt'), 'public');
    await writeFile(join(dir, 'secret.txt'), 'secret');
    await chmod(join(dir, 'secret.txt'), 0o600);
    await mkdir(join(dir, 'private'));
    await writeFile(join(dir, 'private', 'inner.txt'), 'inner');
    await chmod(join(dir, 'private'), 0o700);

    const result = await runNodeAs(user.name, runScript, ['backup', dir]);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    const output = JSON.parse(result.stdout) as { manifest: FilesManifest; warnings: Warning[] };

    assert.deepEqual(Object.keys(output.manifest.sha256), ['public.txt']);
    assert.equal(output.manifest.sha256['public.txt'], sha256('public'));
    assert.deepEqual(
      output.warnings.map((w) => [w.item, w.kind]),
      [
        ['private', 'unreadable'],
        ['secret.txt', 'unreadable'],
      ],
    );
    assert.match(output.warnings[0]?.message ?? '', /permission denied/);
  });
});
