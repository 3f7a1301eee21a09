import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RepositorySnapshotReader, RepositorySnapshotWriter } from '../../archiver/index.ts';
import {
  removeTempFolders,
  resticOk,
  tempFolder,
  TEST_PASSWORD,
} from '../../archiver/test-support.ts';
import { LocalBackend } from '../../backend/index.ts';
import { silentLogger } from '../../log/index.ts';
import { Repository } from '../../repository/index.ts';
import { scopeReader, scopeWriter } from '../../snapshot/index.ts';
import type { FilesManifest, SourceBackupContext } from '../types.ts';
import { createFilesSource } from './files-source.ts';
import { recordingWriter } from '../../../test/support/recording-writer.ts';

const finishOptions = {
  tags: ['files:etc'],
  paths: ['/files/etc'],
  hostname: 'test-host',
  username: 'tester',
  programVersion: 'bgapp-backup test',
};

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('files source against a parent snapshot', () => {
  let repoPath: string;
  let sourceDir: string;
  let repo: Repository;
  let bigSha256: string;
  const source = () =>
    createFilesSource({ type: 'files', name: 'etc', path: sourceDir, include: [], exclude: [] });

  async function backUp(parent?: { id: string; manifest: FilesManifest }) {
    const writer = new RepositorySnapshotWriter(repo);
    const read: string[] = [];
    const reused: string[] = [];
    const ctx: SourceBackupContext = {
      writer: recordingWriter(scopeWriter(writer, ['files', 'etc']), read, reused),
      logger: silentLogger,
      signal: new AbortController().signal,
      onEvent: () => {},
      warn: (warning) => assert.fail(`unexpected warning: ${warning.message}`),
    };
    if (parent) {
      const reader = await RepositorySnapshotReader.open(repo, parent.id);
      ctx.parent = scopeReader(reader, ['files', 'etc']);
      ctx.parentManifest = parent.manifest;
    }
    const manifest = (await source().backup(ctx)) as FilesManifest;
    const { snapshotId, stats } = await writer.finish({ ...finishOptions, parent: parent?.id });
    return { id: snapshotId, manifest, read: read.sort(), reused: reused.sort(), stats };
  }

  before(async () => {
    repoPath = join(tempFolder(), 'repo');
    sourceDir = tempFolder();
    await mkdir(join(sourceDir, 'sub'));
    const big = randomBytes(3 * 1024 * 1024);
    bigSha256 = sha256(big);
    await writeFile(join(sourceDir, 'big.bin'), big);
    await writeFile(join(sourceDir, 'sub', 'app.yaml'), 'port: 8080\n');
    await writeFile(join(sourceDir, 'app.log'), 'started\n');
    repo = await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD, { kdfTargetMillis: 0 });
  });

  after(removeTempFolders);

  it('reads only changed files', async () => {
    const first = await backUp();
    assert.deepEqual(first.read, ['app.log', 'big.bin', 'sub/app.yaml']);
    await appendFile(join(sourceDir, 'app.log'), 'stopped\n');

    const second = await backUp({ id: first.id, manifest: first.manifest });
    assert.deepEqual(second.read, ['app.log']);
    assert.deepEqual(second.reused, ['big.bin', 'sub/app.yaml']);
    assert.equal(second.stats.filesUnchanged, 2);
    // Only big.bin is several blobs; the others' hashes are their blob ids.
    assert.deepEqual(Object.keys(second.manifest.sha256), ['big.bin']);
    assert.equal(second.manifest.sha256Omits, 'one-blob');
    assert.equal(second.manifest.sha256['big.bin'], first.manifest.sha256['big.bin']);
    assert.equal(first.manifest.sha256['big.bin'], bigSha256);
    assert.equal(second.manifest.files, 3);
    assert.equal(second.manifest.bytes, first.manifest.bytes + 'stopped\n'.length);
  });

  it('passes restic check and dump', async () => {
    const snapshots = JSON.parse(resticOk(repoPath, ['snapshots', '--json'])) as {
      id: string;
      parent?: string;
    }[];
    const last = snapshots.at(-1)!;
    assert.equal(last.parent, snapshots.at(-2)!.id);
    resticOk(repoPath, ['check', '--read-data']);
    const dumped = resticOk(repoPath, ['dump', last.id, '/files/etc/sub/app.yaml']);
    assert.equal(dumped, 'port: 8080\n');
  });

  it('rejects blobs missing from the index', async () => {
    const writer = new RepositorySnapshotWriter(repo);
    const meta = { mode: 0o644, mtime: new Date() };
    const added = writer.addExistingFile(['ghost'], meta, { size: 10, content: ['00'.repeat(32)] });
    assert.equal(added, false);
    assert.equal(writer.stats.files, 0);
    await writer.abort();
  });
});
