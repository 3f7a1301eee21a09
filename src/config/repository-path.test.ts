import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBackupError } from '../errors/index.ts';
import { resolveRepositoryPath } from './repository-path.ts';
import type { Config } from './types.ts';

let home: string;

before(async () => {
  home = await mkdtemp(join(tmpdir(), 'bgapp-repo-path-'));
  await mkdir(join(home, 'OneDrive - Contoso'));
});

after(async () => {
  await rm(home, { recursive: true, force: true });
});

function configWith(path: string, folder?: string): Config {
  return {
    file: '/etc/bgapp-backup.yaml',
    onedrive: { mode: 'folder', folder },
    repository: { path, kdf_target_ms: 0 },
    backup: { hostname: 'h' },
    plain_copies: { enabled: false, keep: 3 },
    sources: [],
  };
}

describe('resolveRepositoryPath', () => {
  it('prefers --repo over the environment and the config', async () => {
    const env = { BGAPP_BACKUP_REPOSITORY: '/env/repo' };
    const found = await resolveRepositoryPath({ repo: 'flag', env, cwd: '/w', config: configWith('/c') });
    assert.deepEqual(found, { path: '/w/flag', origin: '--repo' });
  });

  it('prefers BGAPP_BACKUP_REPOSITORY over the config', async () => {
    const env = { BGAPP_BACKUP_REPOSITORY: '~/repo' };
    const found = await resolveRepositoryPath({ env, home, config: configWith('/c') });
    assert.deepEqual(found, { path: join(home, 'repo'), origin: 'BGAPP_BACKUP_REPOSITORY' });
  });

  it('uses an absolute config path without looking for OneDrive', async () => {
    const found = await resolveRepositoryPath({ env: {}, home: '/nonexistent', config: configWith('/srv/repo') });
    assert.deepEqual(found, { path: '/srv/repo', origin: 'repository.path' });
  });

  it('finds the configured OneDrive folder around an absolute path inside it', async () => {
    const folder = join(home, 'OneDrive - Contoso');
    const inside = join(folder, 'BGAPP_Backups', 'repository');
    const found = await resolveRepositoryPath({ env: {}, home, config: configWith(inside, folder) });
    assert.equal(found.path, inside);
    assert.equal(found.oneDrive?.path, folder);
    const outside = await resolveRepositoryPath({ env: {}, home, config: configWith('/srv/repo', folder) });
    assert.deepEqual(outside, { path: '/srv/repo', origin: 'repository.path' });
  });

  it('places a relative path inside the detected OneDrive folder', async () => {
    const found = await resolveRepositoryPath({ env: {}, home, config: configWith('Backups/r') });
    assert.equal(found.path, join(home, 'OneDrive - Contoso', 'Backups/r'));
    assert.equal(found.oneDrive?.origin, 'detected');
  });

  it('defaults to BGAPP_Backups/repository without a config', async () => {
    const found = await resolveRepositoryPath({ env: {}, home });
    assert.equal(found.path, join(home, 'OneDrive - Contoso', 'BGAPP_Backups', 'repository'));
    assert.equal(found.origin, 'default');
  });

  it('raises ERR_ONEDRIVE_NOT_FOUND when a relative path has no OneDrive folder', async () => {
    await assert.rejects(resolveRepositoryPath({ env: {}, home: join(home, 'OneDrive - Contoso') }), (err) =>
      isBackupError(err, 'ERR_ONEDRIVE_NOT_FOUND'),
    );
  });
});
