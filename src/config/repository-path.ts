/**
 * Decides where the repository is, with or without a config file.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { findOneDriveFolder, type OneDriveFolder } from '../onedrive/index.ts';
import { DEFAULT_REPOSITORY_PATH, expandHome } from './resolve.ts';
import type { Config, Env } from './types.ts';

/** The repository folder and what named it. */
export interface RepositoryLocation {
  /** Absolute path of the repository folder. */
  path: string;
  origin: '--repo' | 'BGAPP_BACKUP_REPOSITORY' | 'repository.path' | 'default';
  /** The OneDrive folder, when the path is inside it (relative to it, or absolute below a configured one). */
  oneDrive?: OneDriveFolder;
}

/** Inputs of repository resolution; each defaults to the running process's value. */
export interface RepositoryPathOptions {
  /** Value of the `--repo` option. */
  repo?: string;
  config?: Config;
  env?: Env;
  cwd?: string;
  home?: string;
}

/**
 * Returns the repository folder from, in order, `--repo`, BGAPP_BACKUP_REPOSITORY
 * (both relative to the working folder), the config's repository.path, then
 * `BGAPP_Backups/repository`. The last two are relative to the OneDrive folder
 * unless absolute, so they may raise ERR_ONEDRIVE_NOT_FOUND.
 */
export async function resolveRepositoryPath(
  options: RepositoryPathOptions = {},
): Promise<RepositoryLocation> {
  const cwd = options.cwd ?? process.cwd();
  const home = options.home ?? homedir();
  const env = options.env ?? process.env;
  if (options.repo) return { path: resolve(cwd, expandHome(options.repo, home)), origin: '--repo' };
  const fromEnv = env.BGAPP_BACKUP_REPOSITORY;
  if (fromEnv) {
    return { path: resolve(cwd, expandHome(fromEnv, home)), origin: 'BGAPP_BACKUP_REPOSITORY' };
  }

  const configured = options.config?.repository.path;
  const origin = configured === undefined ? 'default' : 'repository.path';
  const path = configured ?? DEFAULT_REPOSITORY_PATH;
  const oneDriveFolder = options.config?.onedrive.folder;
  if (isAbsolute(path)) {
    // An absolute path inside the configured OneDrive folder still gets
    // BGAPP's folder layout there, as a relative one does.
    if (oneDriveFolder === undefined || !isInside(path, oneDriveFolder)) return { path, origin };
    const oneDrive = await findOneDriveFolder({ configured: oneDriveFolder, home }).catch(() => undefined);
    return oneDrive ? { path, origin, oneDrive } : { path, origin };
  }
  const oneDrive = await findOneDriveFolder({ configured: oneDriveFolder, home });
  return { path: join(oneDrive.path, path), origin, oneDrive };
}

function isInside(path: string, folder: string): boolean {
  const child = relative(resolve(folder), resolve(path));
  return child !== '' && !child.startsWith('..') && !isAbsolute(child);
}
