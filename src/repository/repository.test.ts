import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalBackend } from '../backend/index.ts';
import { masterKeyFromBytes } from '../crypto/index.ts';
import { isBackupError } from '../errors/index.ts';
import { silentLogger } from '../log/index.ts';
import { Repository } from './repository.ts';
import { readAllSnapshots } from './snapshots.ts';
import { MIN_KDF_TARGET, TEST_PASSWORD, restic, resticOk, tempFolder, writeFlatSnapshot } from './test-helpers.ts';

describe('Repository snapshots', () => {
  it('leaves out an unreadable snapshot file', async () => {
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_fields: object, message?: string) => void warnings.push(message ?? '') };
    const backend = new LocalBackend(join(newFolder(), 'repo'));
    const repo = await Repository.init(backend, TEST_PASSWORD, { ...MIN_KDF_TARGET, logger });
    const damagedId = await writeFlatSnapshot(repo, { 'a.txt': Buffer.from('first') });
    const keptId = await writeFlatSnapshot(repo, { 'a.txt': Buffer.from('second') });
    const file = join(backend.location, 'snapshots', damagedId);
    const bytes = readFileSync(file);
    bytes.writeUInt8(bytes.readUInt8(bytes.length >> 1) ^ 1, bytes.length >> 1);
    writeFileSync(file, bytes);

    assert.deepEqual((await repo.listSnapshots()).map((e) => e.id), [keptId]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', new RegExp(`snapshots/${damagedId} cannot be read.*left out`));
    const key = masterKeyFromBytes(repo.masterKeyBytes());
    await assert.rejects(readAllSnapshots(backend, key), (err) => isBackupError(err, 'ERR_REPO_CORRUPT'));
  });
});

const folders: string[] = [];
after(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

function newFolder(): string {
  const folder = tempFolder();
  folders.push(folder);
  return folder;
}

describe('Repository', () => {
  it('writes a repository that restic checks and restores', async () => {
    const root = newFolder();
    const repoPath = join(root, 'repo');
    const repo = await Repository.init(new LocalBackend(repoPath), TEST_PASSWORD, MIN_KDF_TARGET);
    const small = Buffer.from('hello from bgapp-backup\n');
    const random = randomBytes(300_000);
    const text = Buffer.from('geo '.repeat(100_000));
    const snapshotId = await writeFlatSnapshot(repo, {
      'hello.txt': small,
      'random.bin': random,
      'text.txt': text,
    });

    resticOk(repoPath, ['check', '--read-data']);
    const listed = JSON.parse(resticOk(repoPath, ['snapshots', '--json']));
    assert.equal(listed.length, 1);
    assert.equal(listed[0].id, snapshotId);

    const target = join(root, 'restore');
    resticOk(repoPath, ['restore', snapshotId, '--target', target]);
    assert.deepEqual(readFileSync(join(target, 'hello.txt')), small);
    assert.deepEqual(readFileSync(join(target, 'random.bin')), random);
    assert.deepEqual(readFileSync(join(target, 'text.txt')), text);
  });

  it('reads a repository that restic wrote', async () => {
    const root = newFolder();
    const repoPath = join(root, 'repo');
    const source = join(root, 'source');
    mkdirSync(join(source, 'sub'), { recursive: true });
    const big = randomBytes(3 * 1024 * 1024);
    writeFileSync(join(source, 'big.bin'), big);
    writeFileSync(join(source, 'sub', 'note.txt'), 'a note\n');
    resticOk(repoPath, ['init', '--repository-version', '2']);
    resticOk(repoPath, ['backup', '--host', 'restic-host', '--tag', 'made-by-restic', source]);

    const repo = await Repository.open(new LocalBackend(repoPath), TEST_PASSWORD);
    assert.equal(repo.config.version, 2);
    const { id, snapshot } = await repo.findSnapshot('latest', { tag: 'made-by-restic' });
    assert.equal(snapshot.hostname, 'restic-host');
    assert.deepEqual(await repo.loadSnapshot(id), snapshot);

    // Walk from the root tree down to the source folder, then read big.bin's blobs.
    let treeId = snapshot.tree;
    for (const name of source.split('/').filter(Boolean)) {
      const tree = JSON.parse((await repo.loadBlob('tree', treeId)).toString());
      const node = tree.nodes.find((n: { name: string }) => n.name === name);
      assert.ok(node, `folder ${name} in the tree`);
      treeId = node.subtree;
    }
    const tree = JSON.parse((await repo.loadBlob('tree', treeId)).toString());
    const file = tree.nodes.find((n: { name: string }) => n.name === 'big.bin');
    const parts = [];
    for (const blobId of file.content) parts.push(await repo.loadBlob('data', blobId));
    assert.deepEqual(Buffer.concat(parts), big);

    const report = await repo.check({ readData: true });
    assert.deepEqual(report, { errors: [], warnings: [] });
  });

  it('deduplicates blobs and counts stored bytes', async () => {
    const repo = await Repository.init(new LocalBackend(join(newFolder(), 'repo')), TEST_PASSWORD, MIN_KDF_TARGET);
    const data = randomBytes(1000);
    const first = await repo.saveBlob('data', data);
    const second = await repo.saveBlob('data', data);
    assert.equal(first.isNew, true);
    assert.ok(first.storedBytes > 1000);
    assert.equal(second.isNew, false);
    assert.equal(second.storedBytes, 0);
    assert.equal(repo.hasBlob('data', first.id), true);
    assert.equal(repo.hasBlob('tree', first.id), false);
    await repo.flush();
    assert.deepEqual(await repo.loadBlob('data', first.id), data);
    assert.deepEqual(repo.stats, {
      plaintextBytes: 2000,
      storedBytes: first.storedBytes,
      newBlobs: 1,
      duplicateBlobs: 1,
    });
    const expectedId = createHash('sha256').update(data).digest('hex');
    assert.equal(first.id, expectedId);
  });

  it('names a missing pack when loading a blob', async () => {
    const path = join(newFolder(), 'repo');
    const repo = await Repository.init(new LocalBackend(path), TEST_PASSWORD, MIN_KDF_TARGET);
    const { id } = await repo.saveBlob('data', randomBytes(1000));
    await repo.flush();
    const [pack] = (await repo.backend.list('data')).map((file) => file.name);
    assert.ok(pack);
    await rm(join(path, 'data', pack.slice(0, 2), pack));
    await assert.rejects(repo.loadBlob('data', id), (err: unknown) => {
      assert.ok(isBackupError(err, 'ERR_REPO_CORRUPT'));
      assert.match(err.message, new RegExp(`pack ${pack}, which the index lists for data blob ${id}, is missing`));
      return true;
    });
  });

  it('rejects init when a repository exists', async () => {
    const backend = new LocalBackend(join(newFolder(), 'repo'));
    await Repository.init(backend, TEST_PASSWORD, MIN_KDF_TARGET);
    await assert.rejects(Repository.init(backend, TEST_PASSWORD, MIN_KDF_TARGET), (err) =>
      isBackupError(err, 'ERR_REPO_EXISTS'),
    );
  });

  it('rejects open when no repository exists', async () => {
    const path = join(newFolder(), 'nothing-here');
    await assert.rejects(
      Repository.open(new LocalBackend(path), TEST_PASSWORD),
      (err) =>
        isBackupError(err, 'ERR_REPO_NOT_FOUND') &&
        err.message.includes(path) &&
        err.message.includes('init'),
    );
  });

  it('rejects open with a wrong password', async () => {
    const repoPath = join(newFolder(), 'repo');
    resticOk(repoPath, ['init', '--repository-version', '2']);
    await assert.rejects(Repository.open(new LocalBackend(repoPath), 'not the password'), (err) =>
      isBackupError(err, 'ERR_PASSWORD_WRONG'),
    );
  });

  it('rejects open of a version 1 repository', async () => {
    const repoPath = join(newFolder(), 'repo');
    resticOk(repoPath, ['init', '--repository-version', '1']);
    await assert.rejects(Repository.open(new LocalBackend(repoPath), TEST_PASSWORD), (err) =>
      isBackupError(err, 'ERR_REPO_UNSUPPORTED'),
    );
  });

  it('finds snapshots by prefix and rejects ambiguous ones', async () => {
    const repo = await Repository.init(new LocalBackend(join(newFolder(), 'repo')), TEST_PASSWORD, MIN_KDF_TARGET);
    const ids = [];
    for (let i = 0; i < 20; i++)
      ids.push(await writeFlatSnapshot(repo, { 'a.txt': Buffer.from(`v${i}`) }));
    const [first] = ids;
    assert.ok(first);
    assert.equal((await repo.findSnapshot(first.slice(0, 12))).id, first);
    assert.equal((await repo.findSnapshot('latest')).id, ids.at(-1));
    await assert.rejects(repo.findSnapshot(''), (err) =>
      isBackupError(err, 'ERR_SNAPSHOT_NOT_FOUND'),
    );
    await assert.rejects(repo.findSnapshot('latest', { tag: 'nope' }), (err) =>
      isBackupError(err, 'ERR_SNAPSHOT_NOT_FOUND'),
    );
    // 20 ids over 16 hex digits: at least two share a first digit.
    const byDigit = new Map<string, number>();
    for (const id of ids) byDigit.set(id[0] ?? '', (byDigit.get(id[0] ?? '') ?? 0) + 1);
    const shared = [...byDigit].find(([, count]) => count > 1)?.[0] ?? '';
    await assert.rejects(repo.findSnapshot(shared), (err) =>
      isBackupError(err, 'ERR_SNAPSHOT_AMBIGUOUS'),
    );
    assert.equal((await repo.listSnapshots()).length, 20);
    assert.ok(restic(repo.backend.location, ['check']).status === 0);
  });
});
