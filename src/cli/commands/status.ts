/**
 * `status`: the OneDrive space (total, used, free, percent), the repository's
 * size, the last snapshot, and the sync state: whether every repository file
 * is in the OneDrive cloud with the right size.
 */
import type { StatsFs } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { relative } from 'node:path';
import { FILE_TYPES } from '../../backend/index.ts';
import type { Backend } from '../../backend/index.ts';
import { GraphBackend } from '../../backend/graph/index.ts';
import type { RemoteComparison } from '../../backend/graph/index.ts';
import { resolvePassword } from '../../config/index.ts';
import type { Config } from '../../config/index.ts';
import { errorMessage, isBackupError } from '../../errors/index.ts';
import { listExpectedFiles, Repository } from '../../repository/index.ts';
import { createGraphBackend, graphRepositoryFolder } from '../backend.ts';
import { loadCommandConfig, openBackend } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { EXIT_OK, EXIT_WARNINGS } from '../exit-codes.ts';
import { formatBytes, formatLocalTime, plural, printListing } from '../output.ts';

/**
 * Space figures in bytes. `percent` is used over total for OneDrive, and
 * used over used plus free for a file system, as df computes it.
 */
export interface SpaceStatus {
  total: number | null;
  used: number | null;
  /** Bytes this user may still write. */
  free: number | null;
  percent: number | null;
  /**
   * Bytes free on the file system but not available to this user, such as
   * blocks reserved for root (file system only).
   */
  reserved?: number | null;
  /** Bytes in the OneDrive recycle bin (Graph only). */
  deleted?: number | null;
  /** Graph's quota state: normal, nearing, critical or exceeded. */
  state?: string | null;
  /** Source of the figures. */
  of: 'filesystem' | 'onedrive';
}

/** Comparison of the cloud copy with the repository's own file list. */
export interface SyncStatus {
  checked: boolean;
  /** Reason the sync state was not checked. */
  reason?: string;
  present?: number;
  missing?: string[];
  wrong_size?: { name: string; expected: number; actual: number }[];
  wrong_hash?: string[];
  unexpected?: string[];
}

/** The JSON of `status --json`. */
export interface StatusReport {
  mode: 'folder' | 'graph';
  location: string;
  space: SpaceStatus;
  repository: { files: number; bytes: number };
  last_snapshot: { id: string; time: string; hostname?: string; tags: string[] } | null;
  sync: SyncStatus;
}

/** Prints the status; exit 3 when the cloud copy lacks or differs in any file. */
export async function runStatus(ctx: CommandContext): Promise<number> {
  const config = await loadCommandConfig(ctx, false);
  const password = await resolvePassword({ config });
  const { backend, location } = await openBackend(ctx, config);
  const repo = await Repository.open(backend, password.reveal(), { logger: ctx.logger });
  const mode = isGraph(backend) ? 'graph' : 'folder';
  const report: StatusReport = {
    mode,
    location,
    ...(isGraph(backend) ? await graphFigures(backend) : await folderFigures(backend, location)),
    last_snapshot: await lastSnapshot(repo),
    sync: isGraph(backend)
      ? toSync(await backend.compareWithRemote(await expected(repo)))
      : await folderSync(ctx, repo, config, location),
  };
  printListing(ctx.options, report, () => describe(report));
  return outOfSync(report.sync) === 0 ? EXIT_OK : EXIT_WARNINGS;
}

function outOfSync(sync: SyncStatus): number {
  return (
    (sync.missing?.length ?? 0) + (sync.wrong_size?.length ?? 0) + (sync.wrong_hash?.length ?? 0)
  );
}

function isGraph(backend: Backend): backend is GraphBackend {
  return backend instanceof GraphBackend;
}

function expected(repo: Repository) {
  return listExpectedFiles(repo.backend, repo.masterKeyBytes());
}

async function graphFigures(
  backend: GraphBackend,
): Promise<Pick<StatusReport, 'space' | 'repository'>> {
  const status = await backend.getDriveStatus();
  const { total, used, remaining, deleted, state } = status.quota;
  return {
    space: {
      total: total ?? null,
      used: used ?? null,
      free: remaining ?? null,
      percent: total && used !== undefined ? round(used / total) : null,
      deleted: deleted ?? null,
      state: state ?? null,
      of: 'onedrive',
    },
    repository: status.repository,
  };
}

async function folderFigures(
  backend: Backend,
  location: string,
): Promise<Pick<StatusReport, 'space' | 'repository'>> {
  const space = filesystemSpace(await statfs(location));
  let files = 0;
  let bytes = 0;
  for (const type of FILE_TYPES) {
    for (const file of await backend.list(type)) {
      files += 1;
      bytes += file.size;
    }
  }
  return { space, repository: { files, bytes } };
}

/** Block counts of a file system, as statfs returns them. */
export type FilesystemBlocks = Pick<StatsFs, 'blocks' | 'bfree' | 'bavail' | 'bsize'>;

/**
 * Returns a file system's space as df reports it. Used is every block that
 * is not free, free is what this user may still write (the available
 * blocks), and the free blocks beyond those are reserved. So used, free and
 * reserved add up to the total.
 */
export function filesystemSpace(fs: FilesystemBlocks): SpaceStatus {
  const total = fs.blocks * fs.bsize;
  const used = (fs.blocks - fs.bfree) * fs.bsize;
  const free = fs.bavail * fs.bsize;
  const reserved = Math.max(fs.bfree - fs.bavail, 0) * fs.bsize;
  const usable = used + free;
  return {
    total,
    used,
    free,
    percent: usable === 0 ? null : round(used / usable),
    reserved,
    of: 'filesystem',
  };
}

function round(fraction: number): number {
  return Math.round(fraction * 10000) / 100;
}

async function lastSnapshot(repo: Repository): Promise<StatusReport['last_snapshot']> {
  const newest = (await repo.listSnapshots()).at(-1);
  if (!newest) return null;
  const { time, hostname, tags } = newest.snapshot;
  return { id: newest.id, time, hostname, tags: tags ?? [] };
}

/**
 * For the folder the sync client uploads, compares the local repository with
 * the same folder in the cloud, when Graph settings are configured.
 */
async function folderSync(
  ctx: CommandContext,
  repo: Repository,
  config: Config | undefined,
  location: string,
): Promise<SyncStatus> {
  const graph = config?.onedrive.graph;
  if (!config || !graph) {
    return {
      checked: false,
      reason: 'no onedrive.graph settings, so the cloud copy cannot be read',
    };
  }
  const oneDrive = config.onedrive.folder;
  const folder = oneDrive ? relative(oneDrive, location) : graphRepositoryFolder(config);
  try {
    const remote = await createGraphBackend(graph, folder, ctx.logger, ctx.signal);
    return toSync(await remote.compareWithRemote(await expected(repo)));
  } catch (err) {
    if (!isBackupError(err)) throw err;
    return { checked: false, reason: `the cloud copy could not be read: ${errorMessage(err)}` };
  }
}

function toSync(comparison: RemoteComparison): SyncStatus {
  return {
    checked: true,
    present: comparison.present,
    missing: comparison.missing,
    wrong_size: comparison.wrongSize,
    wrong_hash: comparison.wrongHash,
    unexpected: comparison.unexpected,
  };
}

/**
 * Formats the space line of `status`. Reserved space is named, because
 * without it total, used and free do not add up.
 */
export function describeSpace(space: SpaceStatus): string {
  const figure = (value: number | null | undefined) =>
    value == null ? 'unknown' : formatBytes(value);
  let line = `space (${space.of}): total ${figure(space.total)}, used ${figure(space.used)}, ` +
    `free ${figure(space.free)}`;
  if (space.percent != null) line += `, ${space.percent}% used`;
  if (space.reserved) {
    line += `; ${figure(space.reserved)} more is free but reserved or unavailable to this user`;
  }
  if (space.state) line += `, state ${space.state}`;
  return line;
}

function describe(report: StatusReport): string[] {
  const { sync } = report;
  const lines = [
    `repository: ${report.location} (${report.mode}), ${plural(report.repository.files, 'file')}, ${formatBytes(report.repository.bytes)}`,
    describeSpace(report.space),
    report.last_snapshot
      ? `last snapshot: ${report.last_snapshot.id.slice(0, 8)} at ${formatLocalTime(report.last_snapshot.time)}` +
        (report.last_snapshot.tags.length > 0 ? ` (${report.last_snapshot.tags.join(',')})` : '')
      : 'last snapshot: none',
  ];
  if (!sync.checked) {
    lines.push(`sync: not checked: ${sync.reason}`);
    return lines;
  }
  const problems = [
    ...(sync.missing ?? []).map((name) => `missing in the cloud: ${name}`),
    ...(sync.wrong_size ?? []).map(
      (w) => `size differs in the cloud: ${w.name} (${w.actual} instead of ${w.expected})`,
    ),
    ...(sync.wrong_hash ?? []).map((name) => `content differs in the cloud: ${name}`),
  ];
  lines.push(
    problems.length === 0
      ? `sync: all ${sync.present} files are in the cloud`
      : `sync: ${plural(problems.length, 'file')} not in the cloud yet`,
  );
  return [...lines, ...problems];
}
