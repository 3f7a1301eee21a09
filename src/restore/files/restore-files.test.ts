import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chown, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BackupError, isBackupError } from '../../errors/index.ts';
import { silentLogger } from '../../log/index.ts';
import { scopeReader, scopeWriter, type SnapshotReader, type TreeNode } from '../../snapshot/index.ts';
import { createFilesSource } from '../../sources/files/index.ts';
import type { FilesManifest } from '../../sources/types.ts';
import { MemorySnapshot } from '../../../test/support/memory-snapshot.ts';
import {
  buildFixture,
  fixtureFiles,
  fixtureLinks,
  fixtureMtime,
  makeTempDir,
  nfcName,
  nfdName,
  removeTempDir,
} from '../../../test/support/files-fixture.ts';
import { ensureTestUser, runNodeAs } from '../../../test/support/run-as.ts';
import type { RestoreReport } from '../types.ts';
import { restoreFiles } from './index.ts';

const runScript = fileURLToPath(new URL('../../../test/support/run-files-source.ts', import.meta.url));

interface Backup {
  reader: SnapshotReader;
  manifest: FilesManifest;
}

async function backUp(path: string): Promise<Backup> {
  const snapshot = new MemorySnapshot();
  const source = createFilesSource({ type: 'files', name: 'etc', path, include: [], exclude: [] });
  const manifest = await source.backup({
    writer: scopeWriter(snapshot, ['files', 'etc']),
    logger: silentLogger,
    signal: new AbortController().signal,
    onEvent: () => {},
    warn: (warning) => assert.fail(`unexpected warning: ${warning.message}`),
  });
  return { reader: scopeReader(snapshot, ['files', 'etc']), manifest: manifest as FilesManifest };
}

function restore(backup: Backup, targetDir: string, force = false): Promise<RestoreReport> {
  return restoreFiles(
    {
      reader: backup.reader,
      manifest: backup.manifest,
      force,
      logger: silentLogger,
      signal: new AbortController().signal,
      onEvent: () => {},
    },
    { targetDir },
  );
}

interface CraftedEntry {
  path: string[];
  node: TreeNode;
  data?: string;
}

// A reader over a hand-made list of nodes, as a damaged or crafted snapshot
// could hold them; the in-memory snapshot cannot store most of these.
function craftedReader(entries: CraftedEntry[]): SnapshotReader {
  const contents = new Map(entries.map((entry) => [entry.node, entry.data ?? '']));
  return {
    lookup: async (path) => (path.length === 0 ? dirNode('') : entries.find((e) => e.path.join('\0') === path.join('\0'))?.node),
    list: async () => [],
    async *walk() {
      for (const { path, node } of entries) yield { path, node };
    },
    openFile: (node) => Readable.from([Buffer.from(contents.get(node) ?? '')]),
  };
}

function dirNode(name: string): TreeNode {
  return { name, type: 'dir', mode: 0o755, mtime: fixtureMtime };
}

function fileNode(name: string): TreeNode {
  return { name, type: 'file', mode: 0o644, mtime: fixtureMtime };
}

function craftedManifest(sha256: Record<string, string> = {}): FilesManifest {
  const now = new Date().toISOString();
  return { type: 'files', name: 'etc', path: '/etc/bgapp', readAt: now, finishedAt: now, files: Object.keys(sha256).length, bytes: 0, sha256 };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

describe('restoreFiles', () => {
  let root: string;
  let source: string;
  let backup: Backup;
  before(async () => {
    root = await makeTempDir('files-restore');
    source = join(root, 'source');
    await mkdir(source);
    await buildFixture(source);
    backup = await backUp(source);
  });
  after(async () => {
    await removeTempDir(root);
  });

  it('restores bytes, modes, times and links', async () => {
    const target = join(root, 'round-trip');
    const report = await restore(backup, target);

    assert.deepEqual(report.differences, []);
    assert.equal(report.verified, true);
    assert.equal(report.type, 'files');
    assert.equal(report.target, target);
    for (const [relative, text] of Object.entries(fixtureFiles)) {
      assert.equal(await readFile(join(target, relative), 'utf8'), text, relative);
      const stats = await lstat(join(target, relative));
      assert.equal(stats.mtime.toISOString(), fixtureMtime.toISOString(), relative);
      assert.equal(stats.uid, 0, relative);
    }
    for (const [relative, linkTarget] of Object.entries(fixtureLinks)) {
      assert.ok((await lstat(join(target, relative))).isSymbolicLink(), relative);
      assert.equal(await readlink(join(target, relative)), linkTarget, relative);
    }
    assert.deepEqual(await readdir(join(target, 'empty')), []);
    assert.equal(await readFile(join(target, nfcName), 'utf8'), 'precomposed\n');
    assert.equal(await readFile(join(target, nfdName), 'utf8'), 'decomposed\n');

    const modes: Record<string, number> = { 'secret.key': 0o600, 'app.conf': 0o644, shared: 0o2775, empty: 0o750, '.': 0o755 };
    for (const [relative, mode] of Object.entries(modes)) {
      assert.equal((await lstat(join(target, relative))).mode & 0o7777, mode, relative);
    }
    for (const folder of ['shared', 'shared/nested', 'shared/nested/deep', 'empty', '.']) {
      const stats = await lstat(join(target, folder));
      assert.equal(stats.mtime.toISOString(), fixtureMtime.toISOString(), folder);
    }
  });

  it('rejects a target that is not empty', async () => {
    const target = join(root, 'not-empty');
    await mkdir(target);
    await writeFile(join(target, 'existing.txt'), 'keep me');
    await assert.rejects(restore(backup, target), (err: unknown) => {
      assert.ok(isBackupError(err, 'ERR_RESTORE_TARGET_NOT_EMPTY'));
      assert.match(err.message, /not-empty/);
      return true;
    });
    assert.deepEqual(await readdir(target), ['existing.txt']);
  });

  it('overwrites with force and keeps other entries', async () => {
    const target = join(root, 'forced');
    await mkdir(join(target, 'shared'), { recursive: true });
    await writeFile(join(target, 'app.conf'), 'old contents that are longer than the new ones\n');
    await writeFile(join(target, 'extra.txt'), 'not in the snapshot');
    await mkdir(join(target, 'secret.key'));

    const report = await restore(backup, target, true);
    assert.deepEqual(report.differences, []);
    assert.equal(await readFile(join(target, 'app.conf'), 'utf8'), fixtureFiles['app.conf']);
    assert.equal(await readFile(join(target, 'secret.key'), 'utf8'), fixtureFiles['secret.key']);
    assert.equal(await readFile(join(target, 'extra.txt'), 'utf8'), 'not in the snapshot');
    assert.ok(report.notes.some((note) => /left in place/.test(note)));
  });

  it('replaces links in a forced target without following them', async () => {
    const outside = join(root, 'outside-forced');
    await mkdir(outside);
    await writeFile(join(outside, 'victim.txt'), 'untouched');
    const target = join(root, 'forced-links');
    await mkdir(target);
    await symlink(outside, join(target, 'shared'));
    await symlink(join(outside, 'victim.txt'), join(target, 'app.conf'));

    const report = await restore(backup, target, true);
    assert.deepEqual(report.differences, []);
    assert.deepEqual(await readdir(outside), ['victim.txt']);
    assert.equal(await readFile(join(outside, 'victim.txt'), 'utf8'), 'untouched');
    assert.ok((await lstat(join(target, 'shared'))).isDirectory());
    assert.ok((await lstat(join(target, 'app.conf'))).isFile());
  });

  describe('crafted snapshots', () => {
    const unsafeNames: [string, string[]][] = [
      ['..', ['..', 'escaped.txt']],
      ['.', ['.']],
      ['a/b', ['a/b']],
      ['/tmp', ['/tmp']],
      ['x<NUL>y', ['x\0y']],
      ['empty', ['']],
    ];
    for (const [label, path] of unsafeNames) {
      it(`rejects the name ${label}`, async () => {
        const target = join(root, `unsafe-${unsafeNames.findIndex(([other]) => other === label)}`);
        const entries: CraftedEntry[] = [
          { path: ['harmless.txt'], node: fileNode('harmless.txt'), data: 'fine' },
          { path, node: fileNode(path.at(-1) ?? ''), data: 'escaped' },
        ];
        const restoring = restore({ reader: craftedReader(entries), manifest: craftedManifest() }, target);
        await assert.rejects(restoring, (err: unknown) => isBackupError(err, 'ERR_RESTORE_UNSAFE_PATH'));
        assert.equal(await exists(join(root, 'escaped.txt')), false);
        assert.equal(await exists(join(target, 'harmless.txt')), false);
      });
    }

    it('rejects a file below a link', async () => {
      const outside = join(root, 'outside-link');
      await mkdir(outside);
      const target = join(root, 'below-link');
      const entries: CraftedEntry[] = [
        { path: ['evil'], node: { name: 'evil', type: 'symlink', mode: 0o777, mtime: fixtureMtime, linkTarget: outside } },
        { path: ['evil', 'x'], node: fileNode('x'), data: 'planted' },
      ];
      const restoring = restore({ reader: craftedReader(entries), manifest: craftedManifest() }, target);
      await assert.rejects(restoring, (err: unknown) => {
        assert.ok(isBackupError(err, 'ERR_RESTORE_UNSAFE_PATH'));
        assert.match(err.message, /parent is not a folder/);
        return true;
      });
      assert.deepEqual(await readdir(outside), []);
    });

    it('rejects a name that appears twice', async () => {
      const outside = join(root, 'outside-twice');
      await mkdir(outside);
      const target = join(root, 'twice');
      const entries: CraftedEntry[] = [
        { path: ['evil'], node: dirNode('evil') },
        { path: ['evil'], node: { name: 'evil', type: 'symlink', mode: 0o777, mtime: fixtureMtime, linkTarget: outside } },
        { path: ['evil', 'x'], node: fileNode('x'), data: 'planted' },
      ];
      const restoring = restore({ reader: craftedReader(entries), manifest: craftedManifest() }, target);
      await assert.rejects(restoring, (err: unknown) => isBackupError(err, 'ERR_RESTORE_UNSAFE_PATH'));
      assert.deepEqual(await readdir(outside), []);
    });

    it('restores a link pointing outside as a link', async () => {
      const outside = join(root, 'outside-target');
      await mkdir(outside);
      const target = join(root, 'outside-link-kept');
      const entries: CraftedEntry[] = [
        { path: ['link'], node: { name: 'link', type: 'symlink', mode: 0o777, mtime: fixtureMtime, linkTarget: outside } },
      ];
      const report = await restore({ reader: craftedReader(entries), manifest: craftedManifest() }, target);
      assert.equal(report.verified, true);
      assert.equal(await readlink(join(target, 'link')), outside);
      assert.deepEqual(await readdir(outside), []);
    });
  });

  it('lists differences from the manifest', async () => {
    const target = join(root, 'differences');
    const entries: CraftedEntry[] = [
      { path: ['a.txt'], node: fileNode('a.txt'), data: 'actual' },
      { path: ['b.txt'], node: fileNode('b.txt'), data: 'unlisted' },
    ];
    const manifest = craftedManifest({ 'a.txt': sha256('expected'), 'gone.txt': sha256('x'), '../etc/passwd': sha256('y') });
    const report = await restore({ reader: craftedReader(entries), manifest }, target);

    assert.equal(report.verified, false);
    assert.deepEqual(report.differences, [
      `a.txt has SHA-256 ${sha256('actual')} but the manifest has ${sha256('expected')}`,
      'gone.txt is in the manifest but was not restored',
      'manifest path "../etc/passwd" is unsafe because the name ".." is not allowed',
      'b.txt was restored but is not in the manifest',
      '2 files were restored but the manifest counts 3',
    ]);
  });

  it('rejects an unwritable target as another user', async () => {
    const user = await ensureTestUser();
    const target = join(root, 'root-owned');
    await mkdir(target, { mode: 0o755 });

    const result = await runNodeAs(user.name, runScript, ['restore', source, target]);
    const output = JSON.parse(result.stdout) as { error?: { code: string; message: string } };
    assert.equal(result.code, 1, result.stderr);
    assert.equal(output.error?.code, 'ERR_RESTORE_TARGET_NOT_WRITABLE');
    assert.match(output.error?.message ?? '', /root-owned/);
    assert.match(output.error?.message ?? '', /not writable/);
    assert.deepEqual(await readdir(target), []);
  });

  it('restores as another user without owners', async () => {
    const user = await ensureTestUser();
    const publicSource = join(root, 'public-source');
    await mkdir(publicSource, { mode: 0o755 });
    await writeFile(join(publicSource, 'a.txt'), 'a', { mode: 0o644 });
    const parent = join(root, 'user-parent');
    await mkdir(parent, { mode: 0o755 });
    await chown(parent, user.uid, user.gid);

    const result = await runNodeAs(user.name, runScript, ['restore', publicSource, join(parent, 'out')]);
    const output = JSON.parse(result.stdout) as { report?: RestoreReport };
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(output.report?.verified, true);
    assert.ok(output.report?.notes.some((note) => /owners were not restored/.test(note)));
    assert.equal((await lstat(join(parent, 'out', 'a.txt'))).uid, user.uid);
  });
});

describe('restoreFiles on a damaged repository or a linked target', () => {
  let root: string;
  before(async () => {
    root = await makeTempDir('restore-damaged');
  });
  after(async () => {
    await removeTempDir(root);
  });

  /**
   * Restores good.txt and bad.txt, whose blob fails after part of it was
   * read, into `target`, and returns the report.
   */
  function restoreWithDamagedFile(target: string, force: boolean): Promise<RestoreReport> {
    const bad = fileNode('bad.txt');
    const reader = craftedReader([
      { path: ['bad.txt'], node: bad },
      { path: ['good.txt'], node: fileNode('good.txt'), data: 'good\n' },
    ]);
    const damaged: SnapshotReader = {
      ...reader,
      openFile(node) {
        if (node !== bad) return reader.openFile(node);
        return Readable.from(
          (async function* () {
            yield Buffer.from('half');
            throw new BackupError('ERR_REPO_CORRUPT', 'blob 1234 is damaged');
          })(),
        );
      },
    };
    return restoreFiles(
      {
        reader: damaged,
        manifest: craftedManifest({ 'good.txt': sha256('good\n'), 'bad.txt': sha256('bad\n') }),
        force,
        logger: silentLogger,
        signal: new AbortController().signal,
        onEvent: () => {},
      },
      { targetDir: target },
    );
  }

  it('restores the readable files and lists the damaged one', async () => {
    const target = join(root, 'damaged');
    const report = await restoreWithDamagedFile(target, false);
    assert.equal(report.verified, false);
    assert.ok(report.differences.some((d) => d.startsWith('bad.txt could not be read')), report.differences.join('\n'));
    assert.equal(await readFile(join(target, 'good.txt'), 'utf8'), 'good\n');
    assert.equal(await exists(join(target, 'bad.txt')), false, 'the partial file was left in place');
  });

  it('keeps an existing file it cannot replace', async () => {
    const target = join(root, 'damaged-forced');
    await mkdir(target);
    await writeFile(join(target, 'bad.txt'), 'the only good copy\n');
    await writeFile(join(target, 'good.txt'), 'old\n');
    const report = await restoreWithDamagedFile(target, true);
    assert.equal(report.verified, false);
    assert.ok(report.differences.some((d) => d.startsWith('bad.txt could not be read')), report.differences.join('\n'));
    assert.equal(await readFile(join(target, 'bad.txt'), 'utf8'), 'the only good copy\n');
    assert.equal(await readFile(join(target, 'good.txt'), 'utf8'), 'good\n');
    assert.deepEqual((await readdir(target)).sort(), ['bad.txt', 'good.txt']);
  });

  it('restores into the folder a linked target points to', async () => {
    const real = join(root, 'real');
    await mkdir(real);
    const link = join(root, 'link');
    await symlink(real, link);
    const node = fileNode('a.txt');
    const report = await restoreFiles(
      {
        reader: craftedReader([{ path: ['a.txt'], node, data: 'a\n' }]),
        manifest: craftedManifest({ 'a.txt': sha256('a\n') }),
        force: false,
        logger: silentLogger,
        signal: new AbortController().signal,
        onEvent: () => {},
      },
      { targetDir: link },
    );
    assert.equal(report.verified, true, report.differences.join('\n'));
    assert.equal(report.target, real);
    assert.equal(await readFile(join(real, 'a.txt'), 'utf8'), 'a\n');
    assert.ok(report.notes.some((n) => n.includes('symbolic link')));
  });
});
