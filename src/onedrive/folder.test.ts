import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBackupError } from '../errors/index.ts';
import { createLayout, findOneDriveFolder } from './folder.ts';

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bgapp-onedrive-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function fakeHome(name: string, folders: string[], files: string[] = []): Promise<string> {
  const home = join(root, name);
  for (const folder of folders) await mkdir(join(home, folder), { recursive: true });
  await mkdir(home, { recursive: true });
  for (const file of files) await writeFile(join(home, file), '');
  return home;
}

describe('findOneDriveFolder', () => {
  it('picks the business folder before the macOS one and lists both', async () => {
    const home = await fakeHome('both', ['OneDrive - Contoso', 'Library/CloudStorage/OneDrive-Personal']);
    const found = await findOneDriveFolder({ home });
    assert.equal(found.path, join(home, 'OneDrive - Contoso'));
    assert.equal(found.origin, 'detected');
    assert.deepEqual(found.candidates, [
      join(home, 'OneDrive - Contoso'),
      join(home, 'Library/CloudStorage/OneDrive-Personal'),
    ]);
  });

  it('prefers ~/OneDrive over every other candidate', async () => {
    const home = await fakeHome('plain', ['OneDrive - Contoso', 'OneDrive']);
    const found = await findOneDriveFolder({ home });
    assert.equal(found.path, join(home, 'OneDrive'));
    assert.equal(found.candidates.length, 2);
  });

  it('orders business folders by name', async () => {
    const home = await fakeHome('two-business', ['OneDrive - Zeta', 'OneDrive - Alpha']);
    const found = await findOneDriveFolder({ home });
    assert.equal(found.path, join(home, 'OneDrive - Alpha'));
  });

  it('finds the macOS folder alone', async () => {
    const home = await fakeHome('mac', ['Library/CloudStorage/OneDrive-Personal']);
    const found = await findOneDriveFolder({ home });
    assert.equal(found.path, join(home, 'Library/CloudStorage/OneDrive-Personal'));
  });

  it('ignores files that are named like a OneDrive folder', async () => {
    const home = await fakeHome('files-only', [], ['OneDrive', 'OneDrive - Contoso']);
    await assert.rejects(findOneDriveFolder({ home }), (err) => isBackupError(err, 'ERR_ONEDRIVE_NOT_FOUND'));
  });

  it('rejects with the places searched and the key to set when none exists', async () => {
    const home = await fakeHome('none', ['Documents']);
    await assert.rejects(findOneDriveFolder({ home }), (err) => {
      assert.ok(isBackupError(err, 'ERR_ONEDRIVE_NOT_FOUND'));
      assert.ok(err.message.includes(join(home, 'OneDrive - *')));
      assert.ok(err.message.includes(join(home, 'Library/CloudStorage/OneDrive-*')));
      assert.match(err.message, /set onedrive\.folder in the config/);
      return true;
    });
  });

  it('uses the configured folder without searching', async () => {
    const home = await fakeHome('configured', ['OneDrive', 'Sync']);
    const found = await findOneDriveFolder({ home, configured: join(home, 'Sync') });
    assert.equal(found.path, join(home, 'Sync'));
    assert.equal(found.origin, 'config');
    assert.deepEqual(found.searched, []);
  });

  it('rejects a configured folder that does not exist', async () => {
    const home = await fakeHome('configured-missing', ['OneDrive']);
    await assert.rejects(findOneDriveFolder({ home, configured: join(home, 'Gone') }), (err) => {
      assert.ok(isBackupError(err, 'ERR_ONEDRIVE_NOT_FOUND'));
      assert.match(err.message, /Gone \(onedrive\.folder in the config\) does not exist/);
      return true;
    });
  });
});

describe('createLayout', () => {
  it('creates the backup folders but not the repository', async () => {
    const oneDrive = join(root, 'layout');
    await mkdir(oneDrive);
    const layout = await createLayout(oneDrive);
    assert.deepEqual((await readdir(oneDrive)).sort(), ['BGAPP_Archive', 'BGAPP_Backups', 'BGAPP_Sync']);
    assert.deepEqual((await readdir(layout.backups)).sort(), ['configs', 'logs', 'minio_data', 'postgres_dumps']);
    assert.equal(layout.repository, join(oneDrive, 'BGAPP_Backups', 'repository'));
    assert.ok((await stat(layout.postgresDumps)).isDirectory());
  });

  it('keeps existing folders and their files', async () => {
    const oneDrive = join(root, 'layout-again');
    const first = await createLayout(oneDrive);
    await writeFile(join(first.logs, 'keep.txt'), 'x');
    await createLayout(oneDrive);
    assert.deepEqual(await readdir(first.logs), ['keep.txt']);
  });
});
