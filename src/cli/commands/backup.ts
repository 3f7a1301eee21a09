/**
 * `backup`: one snapshot of every configured source (or those named with
 * --source), then plain copies when the config enables them.
 */
import { hostname as osHostname, userInfo } from 'node:os';
import { RepositorySnapshotReader, RepositorySnapshotWriter } from '../../archiver/index.ts';
import { resolvePassword, type Config } from '../../config/index.ts';
import { isBackupError } from '../../errors/index.ts';
import { runBackup, sourceTag } from '../../job/backup.ts';
import type { BackupJobResult, SnapshotSession } from '../../job/backup.ts';
import { createSources } from '../../job/sources.ts';
import { TOOL_VERSION } from '../../job/version.ts';
import { findOneDriveFolder, writePlainCopies } from '../../onedrive/index.ts';
import type { LockHandle, Repository, SnapshotEntry } from '../../repository/index.ts';
import type { Source } from '../../sources/index.ts';
import { loadCommandConfig, openRepositoryWith } from '../context.ts';
import type { CommandContext } from '../context.ts';
import { EXIT_OK, EXIT_WARNINGS } from '../exit-codes.ts';
import { formatBytes, plural, printResult } from '../output.ts';

/** Runs the backup; exit 3 when the snapshot was written with warnings. */
export async function runBackupCommand(ctx: CommandContext, only: string[]): Promise<number> {
  const config = await loadCommandConfig(ctx, true);
  if (!config) throw new Error('backup needs a config');
  // Read first, so that a missing password stops the run before any source starts.
  const password = await resolvePassword({ config });
  const sources = await createSources(config.sources, only);
  let repo: Repository | undefined;
  let lock: LockHandle | undefined;
  let result: BackupJobResult;
  try {
    result = await runBackup({
      sources,
      async open() {
        repo = await openRepositoryWith(ctx, config, password);
        lock = await lockForBackup(ctx, repo);
        // Read once: every snapshot file is decrypted, and a damaged one is reported once.
        const snapshots = await repo.listSnapshots();
        await warnWhenSpaceLow(ctx, repo, snapshots);
        const parentId = findParent(snapshots, sources, config.backup.hostname ?? osHostname());
        if (parentId !== undefined) ctx.logger.info({ parent: parentId }, 'using parent snapshot');
        return {
          session: openSession(repo, ctx, config),
          parent: parentId === undefined ? undefined : await RepositorySnapshotReader.open(repo, parentId),
          parentId,
        };
      },
      hostname: config.backup.hostname,
      before: config.backup.before,
      after: config.backup.after,
      logger: ctx.logger,
      onEvent: ctx.progress.listener,
      signal: ctx.signal,
    });
    if (config.plain_copies.enabled && repo) await writeCopies(ctx, repo, config, result);
  } finally {
    await lock
      ?.release()
      .catch((err: unknown) => ctx.logger.warn({ err }, 'failed to remove the lock'));
  }
  ctx.progress.done();
  printResult(
    ctx.options,
    {
      snapshot_id: result.snapshotId,
      stored_bytes: result.storedBytes,
      warnings: result.warnings,
      sources: result.manifest.sources.map((s) => ({ type: s.type, name: s.name })),
    },
    () => [
      `snapshot ${result.snapshotId.slice(0, 8)} saved, ${formatBytes(result.storedBytes)} added` +
        (result.warnings.length > 0
          ? `, with ${plural(result.warnings.length, 'warning')} (listed above)`
          : ''),
    ],
  );
  return result.warnings.length > 0 ? EXIT_WARNINGS : EXIT_OK;
}

/**
 * Removes stale locks, takes a shared lock and removes the temporary files of
 * interrupted runs. A killed run leaves its lock behind, and restic refuses
 * to work on a repository with any lock in it, so stale locks go first.
 */
async function lockForBackup(ctx: CommandContext, repo: Repository): Promise<LockHandle> {
  const stale = await repo.removeStaleLocks();
  if (stale.length > 0)
    ctx.logger.warn({ locks: stale }, 'removed stale locks left by runs that were killed');
  const lock = await repo.lock({ exclusive: false });
  try {
    const removed = await repo.removeLeftovers();
    if (removed > 0)
      ctx.logger.info({ removed }, 'removed temporary files left by interrupted runs');
  } catch (err) {
    await lock.release().catch(() => {});
    throw err;
  }
  return lock;
}

/**
 * Warns when the drive (Graph) or file system (folder) has less free space
 * than the newest snapshot added, read from its restic-style summary.
 */
async function warnWhenSpaceLow(
  ctx: CommandContext,
  repo: Repository,
  snapshots: readonly SnapshotEntry[],
): Promise<void> {
  const newest = snapshots.at(-1);
  const summary = newest?.snapshot.summary as { data_added_packed?: unknown } | undefined;
  const lastAdded = typeof summary?.data_added_packed === 'number' ? summary.data_added_packed : 0;
  if (lastAdded === 0) return;
  const free = await repo.backend.freeSpace();
  if (free === undefined || free >= lastAdded) return;
  ctx.logger.warn(
    { freeBytes: free, lastAddedBytes: lastAdded },
    `only ${formatBytes(free)} free, less than the ${formatBytes(lastAdded)} the last backup added; ` +
      'the backup may run out of space: free some space first',
  );
}

function openSession(repo: Repository, ctx: CommandContext, config: Config): SnapshotSession {
  const writer = new RepositorySnapshotWriter(repo, { logger: ctx.logger });
  return {
    addDir: (path, meta) => writer.addDir(path, meta),
    addSymlink: (path, meta, target) => writer.addSymlink(path, meta, target),
    addFile: (path, meta, content) => writer.addFile(path, meta, content),
    addExistingFile: (path, meta, file) => writer.addExistingFile(path, meta, file),
    addLocalFile: (path, file, meta) => writer.addLocalFile(path, file, meta),
    abort: () => writer.abort(),
    async finish(meta) {
      const done = await writer.finish({
        ...meta,
        hostname: meta.hostname || config.backup.hostname,
        username: userInfo().username,
        programVersion: `bgapp-backup ${TOOL_VERSION}`,
      });
      return { snapshotId: done.snapshotId, storedBytes: done.stats.bytesStored };
    },
  };
}

/**
 * Returns the id of the newest of `snapshots` (oldest first) that is of
 * `hostname` and tagged with every source of this run: the parent whose
 * unchanged items are not read again.
 */
function findParent(
  snapshots: readonly SnapshotEntry[],
  sources: readonly Source[],
  hostname: string,
): string | undefined {
  const tags = sources.map(sourceTag);
  const candidates = snapshots.filter(
    ({ snapshot }) =>
      snapshot.hostname === hostname && tags.every((tag) => snapshot.tags?.includes(tag)),
  );
  return candidates.at(-1)?.id;
}

async function writeCopies(
  ctx: CommandContext,
  repo: Repository,
  config: Config,
  result: BackupJobResult,
): Promise<void> {
  try {
    const folder = await findOneDriveFolder({ configured: config.onedrive.folder });
    const reader = await RepositorySnapshotReader.open(repo, result.snapshotId);
    const filesFolders = Object.fromEntries(
      config.sources.flatMap((s) => (s.type === 'files' ? [[s.name, s.plain_copy_folder]] : [])),
    );
    const report = await writePlainCopies({
      reader,
      manifests: result.manifest.sources,
      oneDriveFolder: folder.path,
      keep: config.plain_copies.keep,
      time: new Date(result.manifest.startedAt),
      filesFolders,
      logger: ctx.logger,
      onEvent: ctx.progress.listener,
      signal: ctx.signal,
    });
    for (const failed of report.failed) result.warnings.push(failed);
  } catch (err) {
    if (!isBackupError(err)) throw err;
    result.warnings.push({ source: 'plain_copies', item: '', kind: 'other', message: err.message });
  }
}
