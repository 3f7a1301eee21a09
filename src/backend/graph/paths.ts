/**
 * Graph URLs of the repository's items. Items are addressed by path from the
 * drive's root: `/drives/{id}/root:/{path}:` (Graph v1.0 reference,
 * "Addressing resources in a drive on OneDrive").
 */
import { BackupError } from '../../errors/index.ts';
import type { FileHandle, FileType } from '../types.ts';
import type { DriveSelector } from './types.ts';

/** Default repository folder from the drive's root. */
export const DEFAULT_GRAPH_FOLDER = 'BGAPP_Backups/repository';

/** Returns the URL path of a drive for a selector: `me`, `user:<upn>`, `site:<id>` or a drive id. */
export function drivePath(drive: DriveSelector): string {
  if (drive === 'me') return '/me/drive';
  if (drive.startsWith('user:')) return `/users/${encodeSegment(drive.slice(5), drive)}/drive`;
  if (drive.startsWith('site:')) return `/sites/${encodeSegment(drive.slice(5), drive)}/drive`;
  return `/drives/${encodeSegment(drive, drive)}`;
}

function encodeSegment(value: string, drive: string): string {
  if (value === '' || value.includes('/')) {
    throw new BackupError(
      'ERR_CONFIG_INVALID',
      `invalid Graph drive "${drive}"; use me, user:<name@tenant>, site:<site id> or a drive id`,
    );
  }
  return encodeURIComponent(value);
}

/** Splits a folder path into its names, dropping empty steps; rejects `.` and `..`. */
export function splitFolder(folder: string): string[] {
  const names = folder.split('/').filter((name) => name !== '');
  for (const name of names) {
    if (name === '.' || name === '..') {
      throw new BackupError(
        'ERR_CONFIG_INVALID',
        `invalid repository folder "${folder}"; give a path from the drive's root without . or ..`,
      );
    }
  }
  return names;
}

/** Returns the URL of an item by its path from the drive's root; `[]` is the root itself. */
export function itemUrl(driveBase: string, names: readonly string[], suffix = ''): string {
  if (names.length === 0) return `${driveBase}/root${suffix ? `/${suffix}` : ''}`;
  const path = names.map((name) => encodeURIComponent(name)).join('/');
  return `${driveBase}/root:/${path}:${suffix ? `/${suffix}` : ''}`;
}

/** Returns the folder names of a file type below the repository folder. */
export function typeFolder(type: FileType): string[] {
  return type === 'config' ? [] : [type];
}

/** Returns the path of a repository file below the repository folder, as restic lays it out. */
export function fileNames(handle: FileHandle): string[] {
  if (handle.type === 'config') return ['config'];
  if (handle.name.length < 2 || handle.name.includes('/') || handle.name.startsWith('.')) {
    throw new BackupError('ERR_BACKEND_IO', `invalid ${handle.type} file name "${handle.name}"`);
  }
  if (handle.type === 'data') return ['data', handle.name.slice(0, 2), handle.name];
  return [handle.type, handle.name];
}
