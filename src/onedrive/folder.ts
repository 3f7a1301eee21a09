/**
 * Finds the OneDrive folder and lays out BGAPP's folders below it.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BackupError } from '../errors/index.ts';

/** The OneDrive folder in use, and how it was chosen. */
export interface OneDriveFolder {
  path: string;
  origin: 'config' | 'detected';
  /**
   * Every folder found, in the order tried; the first is `path`. A caller should log
   * the choice when there is more than one.
   */
  candidates: string[];
  /** Paths searched, as patterns; empty when the config named the folder. */
  searched: string[];
}

/** Inputs of OneDrive folder detection. */
export interface FindOneDriveOptions {
  /** The config's `onedrive.folder`; when set, no detection happens. */
  configured?: string;
  /** Home folder to search; os.homedir() when unset. */
  home?: string;
}

/**
 * Returns the OneDrive folder: the configured one, else the first existing folder of
 * `~/OneDrive`, `~/OneDrive - *` (OneDrive for Business on Windows) and
 * `~/Library/CloudStorage/OneDrive-*` (macOS), with wildcard matches sorted by name.
 * Raises ERR_ONEDRIVE_NOT_FOUND when the configured folder is missing or none is found.
 */
export async function findOneDriveFolder(options: FindOneDriveOptions = {}): Promise<OneDriveFolder> {
  if (options.configured !== undefined) {
    if (!(await isFolder(options.configured))) {
      throw new BackupError(
        'ERR_ONEDRIVE_NOT_FOUND',
        `OneDrive folder ${options.configured} (onedrive.folder in the config) does not exist; ` +
          'create it, start the OneDrive client, or fix onedrive.folder',
      );
    }
    return { path: options.configured, origin: 'config', candidates: [options.configured], searched: [] };
  }

  const home = options.home ?? homedir();
  const cloudStorage = join(home, 'Library', 'CloudStorage');
  const searched = [join(home, 'OneDrive'), join(home, 'OneDrive - *'), join(cloudStorage, 'OneDrive-*')];
  const candidates = [
    ...((await isFolder(join(home, 'OneDrive'))) ? [join(home, 'OneDrive')] : []),
    ...(await matchingFolders(home, 'OneDrive - ')),
    ...(await matchingFolders(cloudStorage, 'OneDrive-')),
  ];
  const first = candidates[0];
  if (first === undefined) {
    throw new BackupError(
      'ERR_ONEDRIVE_NOT_FOUND',
      `no OneDrive folder found (looked for ${searched.join(', ')}); ` +
        'set onedrive.folder in the config to the synced folder',
    );
  }
  return { path: first, origin: 'detected', candidates, searched };
}

/** Absolute paths of BGAPP's folders below the OneDrive folder. */
export interface OneDriveLayout {
  root: string;
  /** BGAPP_Backups: the repository and the plain copies. */
  backups: string;
  /** Default repository folder; createLayout leaves it to the repository's init. */
  repository: string;
  postgresDumps: string;
  minioData: string;
  configs: string;
  logs: string;
  archive: string;
  sync: string;
}

/** Returns the planned folder layout below `root` without touching the disk. */
export function oneDriveLayout(root: string): OneDriveLayout {
  const backups = join(root, 'BGAPP_Backups');
  return {
    root,
    backups,
    repository: join(backups, 'repository'),
    postgresDumps: join(backups, 'postgres_dumps'),
    minioData: join(backups, 'minio_data'),
    configs: join(backups, 'configs'),
    logs: join(backups, 'logs'),
    archive: join(root, 'BGAPP_Archive'),
    sync: join(root, 'BGAPP_Sync'),
  };
}

/**
 * Creates BGAPP's folders below `root`, keeping any that exist, and returns their
 * paths. The repository folder is not created, so the repository's init finds it absent.
 */
export async function createLayout(root: string): Promise<OneDriveLayout> {
  const layout = oneDriveLayout(root);
  const { postgresDumps, minioData, configs, logs, archive, sync } = layout;
  for (const folder of [postgresDumps, minioData, configs, logs, archive, sync]) {
    await mkdir(folder, { recursive: true });
  }
  return layout;
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function matchingFolders(parent: string, prefix: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const matches = names.filter((name) => name.startsWith(prefix) && name.length > prefix.length);
  // The default sort compares UTF-16 code units, so the order is the same on every machine.
  const sorted = matches.sort().map((name) => join(parent, name));
  const folders: string[] = [];
  for (const path of sorted) {
    if (await isFolder(path)) folders.push(path);
  }
  return folders;
}
