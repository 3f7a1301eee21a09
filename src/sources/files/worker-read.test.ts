import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  symlink,
  truncate,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { RepositorySnapshotReader, RepositorySnapshotWriter } from '../../archiver/index.ts';
import {
  removeTempFolders,
  resticOk,
  tempFolder,
  TEST_PASSWORD,
} from '../../archiver/test-support.ts';
import { LocalBackend } from '../../backend/index.ts';
import { silentLogger, type Warning } from '../../log/index.ts';
import { Repository } from '../../repository/index.ts';
import { restoreFiles } from '../../restore/files/index.ts';
import {
  scopeReader,
  scopeWriter,
  type LocalFileStats,
  type NodeMeta,
} from '../../snapshot/index.ts';
import { ensureTestUser, runNodeAs } from '../../../test/support/run-as.ts';
import type { FilesManifest } from '../types.ts';
import { createFilesSource } from './files-source.ts';

const runScript = fileURLToPath(
  new URL('../../../test/support/run-files-source.ts', import.meta.url),
);
const KiB = 1024;
const finishOptions = {
  tags: [],
  paths: ['/files/etc'],
  hostname: 'test-host',
  username: 'tester',
  programVersion: 'test',
};

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

const metaOf = (stats: LocalFileStats): NodeMeta => ({
  mode: Number(stats.mode & 0o7777n),
  mtime: stats.mtime,
});

describe("small files read by the writer's workers", () => {
  let repoPath: string;
  let sourceDir: string;
  let repo: Repository;

  before(async () => {
    repoPath = join(tempFolder(), 'repo');
    sourceDir = tempFolder();
    repo = await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD, { kdfTargetMillis: 0 });
  });
  after(removeTempFolders);

  it('stores files with bytes, hashes and metadata', async () => {
    const contents = new Map<string, Buffer>([
      ['empty.txt', Buffer.alloc(0)],
      ['one.txt', Buffer.from('x')],
      ['four-k.txt', Buffer.from('line of text\n'.repeat(315))],
      ['random.bin', randomBytes(100 * KiB)],
      ['sub/just-below-min.bin', randomBytes(512 * KiB - 1)],
      // One or two chunks, depending on where the chunker finds a boundary.
      ['sub/above-min.bin', randomBytes(600 * KiB)],
      // Larger than the chunker's 8 MiB maximum, so several chunks for certain.
      ['sub/large.bin', randomBytes(20 * 1024 * KiB)],
    ]);
    await mkdir(join(sourceDir, 'sub'));
    const time = new Date(Date.UTC(2025, 4, 6, 7, 8, 9, 123));
    for (const [name, data] of contents) {
      await writeFile(join(sourceDir, name), data);
      await utimes(join(sourceDir, name), time, time);
    }
    await chmod(join(sourceDir, 'one.txt'), 0o640);

    const writer = new RepositorySnapshotWriter(repo);
    const warnings: Warning[] = [];
    const source = createFilesSource({
      type: 'files',
      name: 'etc',
      path: sourceDir,
      include: [],
      exclude: [],
    });
    const manifest = (await source.backup({
      writer: scopeWriter(writer, ['files', 'etc']),
      logger: silentLogger,
      signal: new AbortController().signal,
      onEvent: () => {},
      warn: (warning) => warnings.push(warning),
    })) as FilesManifest;
    const { snapshotId } = await writer.finish(finishOptions);

    assert.deepEqual(warnings, []);
    assert.equal(manifest.files, contents.size);
    const reader = await RepositorySnapshotReader.open(repo, snapshotId);
    for (const [name, data] of contents) {
      const node = await reader.lookup(['files', 'etc', ...name.split('/')]);
      assert.ok(node?.type === 'file', `${name} is a file node`);
      // Files of one blob or none are left out of the manifest: the blob id is their hash.
      const content = node.content ?? [];
      if (data.length === 0) assert.deepEqual(content, []);
      else if (content.length === 1) assert.deepEqual(content, [sha256(data)]);
      if (data.length > 0 && data.length < 512 * KiB)
        assert.equal(content.length, 1, `${name} is one blob`);
      if (name === 'sub/large.bin') assert.ok(content.length > 2, `${name} is several blobs`);
      assert.equal(
        manifest.sha256[name],
        content.length > 1 ? sha256(data) : undefined,
        `manifest hash of ${name}`,
      );
      assert.equal(node.size, data.length);
      assert.equal(
        node.mtime.getTime(),
        (await lstat(join(sourceDir, name), { bigint: true })).mtime.getTime(),
      );
      const parts: Buffer[] = [];
      for await (const chunk of reader.openFile(node)) parts.push(Buffer.from(chunk));
      assert.ok(Buffer.concat(parts).equals(data), `bytes of ${name}`);
    }
    const one = await reader.lookup(['files', 'etc', 'one.txt']);
    assert.equal(one?.mode, 0o640);
    resticOk(repoPath, ['check', '--read-data']);

    // The restore checks the files left out of the manifest against their blob ids;
    // without `sha256Omits`, the same manifest would leave them unexplained.
    const restore = (target: string, filesManifest: FilesManifest) =>
      restoreFiles(
        {
          reader: scopeReader(reader, ['files', 'etc']),
          manifest: filesManifest,
          force: false,
          logger: silentLogger,
          signal: new AbortController().signal,
          onEvent: () => {},
        },
        { targetDir: join(tempFolder(), target) },
      );
    const report = await restore('restored', manifest);
    assert.deepEqual(report.differences, []);
    assert.equal(report.verified, true);
    const { sha256Omits: _omitted, ...older } = manifest;
    const unexplained = await restore('restored-older', older);
    assert.equal(unexplained.verified, false);
    assert.ok(
      unexplained.differences.some((d) => d === 'one.txt was restored but is not in the manifest'),
    );
  });

  describe('addLocalFile', () => {
    let folder: string;
    let writer: RepositorySnapshotWriter;

    before(async () => {
      folder = tempFolder();
      writer = new RepositorySnapshotWriter(repo);
    });
    after(async () => {
      await writer.abort();
    });

    const add = (name: string, listedSize: number) =>
      writer.addLocalFile(['t', name], { absolutePath: join(folder, name), listedSize }, metaOf);

    it('reports a vanished file as a failed open with ENOENT', async () => {
      const result = await add('gone.txt', 10);
      assert.ok(result?.kind === 'failed');
      assert.equal(result.during, 'open');
      assert.equal(result.error.code, 'ENOENT');
    });

    it('rejects a file swapped for a symlink', async () => {
      await writeFile(join(folder, 'real.txt'), 'real');
      await symlink('real.txt', join(folder, 'link.txt'));
      const result = await add('link.txt', 4);
      assert.ok(result?.kind === 'failed');
      assert.equal(result.error.code, 'ELOOP');
    });

    it('reports a swapped-in folder or FIFO', async () => {
      await mkdir(join(folder, 'now-a-dir'));
      execFileSync('mkfifo', [join(folder, 'now-a-fifo')]);
      assert.deepEqual(await add('now-a-dir', 10), { kind: 'notFile' });
      assert.deepEqual(await add('now-a-fifo', 10), { kind: 'notFile' });
    });

    it('stores the listed size of a grown file', async () => {
      const data = Buffer.from('0123456789abcdef');
      await writeFile(join(folder, 'grew.log'), data);
      const result = await add('grew.log', 10);
      assert.ok(result?.kind === 'saved');
      assert.equal(result.bytesRead, 11);
      assert.deepEqual(result.file, { size: 10, sha256: sha256(data.subarray(0, 10)), blobs: 1 });
      assert.equal(result.stats.size, 16n);
    });

    it('stores what is left of a truncated file', async () => {
      await writeFile(join(folder, 'cut.log'), 'abcdefgh');
      await truncate(join(folder, 'cut.log'), 3);
      const result = await add('cut.log', 8);
      assert.ok(result?.kind === 'saved');
      assert.equal(result.bytesRead, 3);
      assert.deepEqual(result.file, { size: 3, sha256: sha256('abc'), blobs: 1 });
    });

    it('leaves larger files to the caller', async () => {
      await writeFile(join(folder, 'big.bin'), Buffer.alloc(512 * KiB));
      assert.equal(await add('big.bin', 512 * KiB), undefined);
      await unlink(join(folder, 'big.bin'));
    });
  });

  it('warns on an unreadable file as another user', async () => {
    const user = await ensureTestUser();
    const base = await mkdtemp(join(tmpdir(), 'bgapp-worker-read-'));
    await chmod(base, 0o777);
    const dir = join(base, 'source');
    await mkdir(dir);
    await chmod(dir, 0o755);
    await writeFile(join(dir, 'public.txt'), 'public');
    await writeFile(join(dir, 'secret.txt'), 'secret');
    await chmod(join(dir, 'secret.txt'), 0o600);
    assert.equal((await lstat(join(dir, 'secret.txt'))).uid, 0);

    const result = await runNodeAs(user.name, runScript, ['backup-repo', dir, join(base, 'repo')]);
    assert.equal(result.code, 0, result.stderr + result.stdout);
    const output = JSON.parse(result.stdout) as { manifest: FilesManifest; warnings: Warning[] };
    assert.equal(output.manifest.files, 1);
    assert.deepEqual(output.manifest.sha256, {});
    assert.deepEqual(
      output.warnings.map((w) => [w.item, w.kind]),
      [['secret.txt', 'unreadable']],
    );
    assert.match(output.warnings[0]?.message ?? '', /permission denied/);
    execFileSync('rm', ['-rf', base]);
  });
});
