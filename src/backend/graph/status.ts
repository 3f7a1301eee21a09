/**
 * Drive and repository figures for the `status` command: the drive's quota,
 * the repository's size, and how the remote files compare with a list of
 * files the local index expects.
 */
import { FILE_TYPES, type ExpectedFile, type FileType } from '../types.ts';
import type { GraphBackend } from './backend.ts';
import type { DriveItem } from './types.ts';

/** Quota and repository size of a Graph backend, in bytes. */
export interface DriveStatus {
  driveId: string;
  driveType: string | undefined;
  quota: {
    total: number | undefined;
    used: number | undefined;
    remaining: number | undefined;
    /** Bytes in the recycle bin, which count against the quota. */
    deleted: number | undefined;
    /** `normal`, `nearing`, `critical` or `exceeded` (Graph's quota resource). */
    state: string | undefined;
  };
  repository: { files: number; bytes: number };
}

/** How the remote repository differs from the expected files. */
export interface RemoteComparison {
  /** Expected files that exist remotely with the right size (and hash, where checked). */
  present: number;
  missing: string[];
  wrongSize: { name: string; expected: number; actual: number }[];
  wrongHash: string[];
  /** Expected files whose hash could not be checked because Graph reported no SHA-256. */
  hashNotChecked: number;
  /** Remote files that were not expected, such as packs of an interrupted run. */
  unexpected: string[];
}

/** Reads the drive's quota and sums the repository's files. */
export async function getDriveStatus(backend: GraphBackend): Promise<DriveStatus> {
  const drive = await backend.readDrive();
  const files = await remoteFiles(backend);
  let bytes = 0;
  for (const item of files.values()) bytes += item.size ?? 0;
  const quota = drive.quota ?? {};
  return {
    driveId: drive.id,
    driveType: drive.driveType,
    quota: {
      total: quota.total,
      used: quota.used,
      remaining: quota.remaining,
      deleted: quota.deleted,
      state: quota.state,
    },
    repository: { files: files.size, bytes },
  };
}

/** Compares the remote repository with `expected`, listing each folder once. */
export async function compareWithRemote(
  backend: GraphBackend,
  expected: readonly ExpectedFile[],
): Promise<RemoteComparison> {
  const remote = await remoteFiles(backend);
  const result: RemoteComparison = {
    present: 0,
    missing: [],
    wrongSize: [],
    wrongHash: [],
    hashNotChecked: 0,
    unexpected: [],
  };
  const expectedNames = new Set<string>();
  for (const file of expected) {
    expectedNames.add(file.name);
    compareOne(file, remote.get(file.name), result);
  }
  for (const name of remote.keys()) {
    if (!expectedNames.has(name)) result.unexpected.push(name);
  }
  return result;
}

function compareOne(file: ExpectedFile, item: DriveItem | undefined, result: RemoteComparison) {
  if (item === undefined) {
    result.missing.push(file.name);
    return;
  }
  if ((item.size ?? 0) !== file.size) {
    result.wrongSize.push({ name: file.name, expected: file.size, actual: item.size ?? 0 });
    return;
  }
  const remoteSha = item.file?.hashes?.sha256Hash?.toLowerCase();
  if (file.sha256 !== undefined && remoteSha === undefined) result.hashNotChecked++;
  if (file.sha256 !== undefined && remoteSha !== undefined && remoteSha !== file.sha256) {
    result.wrongHash.push(file.name);
    return;
  }
  result.present++;
}

/** Lists every repository file by its path in the repository. */
async function remoteFiles(backend: GraphBackend): Promise<Map<string, DriveItem>> {
  const out = new Map<string, DriveItem>();
  for (const type of FILE_TYPES) {
    for (const item of await backend.listRemoteFiles(type)) {
      out.set(repositoryPath(type, item.name), item);
    }
  }
  return out;
}

function repositoryPath(type: FileType, name: string): string {
  if (type === 'config') return 'config';
  if (type === 'data') return `data/${name.slice(0, 2)}/${name}`;
  return `${type}/${name}`;
}
