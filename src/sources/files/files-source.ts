/**
 * The `files` source: backs up one folder, such as a config or log folder,
 * with its metadata, into the snapshot folder `/files/<name>/`.
 */
import type { BigIntStats } from 'node:fs';
import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { BackupError, isBackupError } from '../../errors/index.ts';
import type { NodeMeta, TreeNode } from '../../snapshot/index.ts';
import type { FilesManifest, FilesSourceConfig, Source, SourceBackupContext } from '../types.ts';
import { describeSystemError, systemErrorCode, warningKindOf, type EntryWarn } from './fs-warnings.ts';
import { loadOwnerNames, type OwnerFiles, type OwnerNames } from './owner-names.ts';
import { createPathFilter } from './path-filter.ts';
import { describeChange, readOpenedFile, type ReadProgress } from './read-file.ts';
import { TaskPool } from './task-pool.ts';
import { walkFolder, type WalkEntry } from './walk.ts';

/** Tuning and test seams of a `files` source; every field has a default. */
export interface FilesSourceDeps {
  /** Files read at once; 16 by default. */
  concurrency?: number;
  /** Bytes read from a file per read call; 1 MiB by default. */
  chunkBytes?: number;
  /** Account files that map uid and gid to names; /etc/passwd and /etc/group by default. */
  ownerFiles?: OwnerFiles;
}

interface RunState {
  source: string;
  ctx: SourceBackupContext;
  owners: OwnerNames;
  warn: EntryWarn;
  chunkBytes: number;
  files: number;
  bytes: number;
  sha256: Map<string, string>;
}

/**
 * Creates the source that backs up the folder `config.path`. Symbolic links
 * are stored as links and never followed, except the folder itself when it is
 * one. Unreadable, vanished and changed entries become warnings; a missing or
 * unreadable source folder fails with ERR_FILES_FAILED.
 */
export function createFilesSource(config: FilesSourceConfig, deps: FilesSourceDeps = {}): Source {
  return {
    type: 'files',
    name: config.name,
    backup: (ctx) => backupFolder(config, deps, ctx),
  };
}

async function backupFolder(
  config: FilesSourceConfig,
  deps: FilesSourceDeps,
  ctx: SourceBackupContext,
): Promise<FilesManifest> {
  const readAt = new Date().toISOString();
  const run: RunState = {
    source: config.name,
    ctx,
    owners: await loadOwnerNames(deps.ownerFiles),
    warn: (item, kind, message) => ctx.warn({ source: config.name, item, kind, message }),
    chunkBytes: deps.chunkBytes ?? 1024 * 1024,
    files: 0,
    bytes: 0,
    sha256: new Map(),
  };

  const pool = new TaskPool(deps.concurrency ?? 16);
  const filter = createPathFilter(config.include, config.exclude);
  try {
    for await (const entry of walkFolder(config.path, filter, run.warn)) {
      throwIfAborted(ctx.signal, config.path);
      await addEntry(entry, run, pool);
    }
  } finally {
    // Tasks already started finish before the error leaves, so no file
    // descriptor stays open; a task's own failure loses to the walk's.
    await pool.drain().catch(() => undefined);
  }
  await pool.drain();

  return {
    type: 'files',
    name: config.name,
    path: config.path,
    readAt,
    finishedAt: new Date().toISOString(),
    files: run.files,
    bytes: run.bytes,
    sha256: Object.fromEntries([...run.sha256].sort(byUtf8Path)),
  };
}

async function addEntry(entry: WalkEntry, run: RunState, pool: TaskPool): Promise<void> {
  const { writer } = run.ctx;
  if (entry.kind === 'dir') {
    writer.addDir(entry.path, toMeta(entry.stats, run.owners));
  } else if (entry.kind === 'symlink') {
    writer.addSymlink(entry.path, toMeta(entry.stats, run.owners), entry.target);
  } else if (!(await addUnchanged(entry, run))) {
    await pool.run(() => addFile(entry, run));
  }
}

/**
 * Adds a file without reading it when the parent snapshot has it with the
 * same size, mtime, ctime and inode, and the parent's manifest has its
 * SHA-256, as restic's archiver decides too. Times compare to the
 * millisecond, the precision that NodeMeta and the stored trees keep.
 */
async function addUnchanged(entry: WalkEntry, run: RunState): Promise<boolean> {
  const { parent, parentManifest, writer } = run.ctx;
  if (!parent || parentManifest?.type !== 'files' || !writer.addExistingFile) return false;
  const relative = entry.path.join('/');
  const sha256 = parentManifest.sha256[relative];
  if (sha256 === undefined) return false;
  const node = await parent.lookup(entry.path);
  if (!node || !sameFile(node, entry.stats)) return false;
  const size = Number(entry.stats.size);
  const meta = toMeta(entry.stats, run.owners);
  if (!writer.addExistingFile(entry.path, meta, { size, content: node.content ?? [] })) return false;
  run.files += 1;
  run.bytes += size;
  run.sha256.set(relative, sha256);
  run.ctx.onEvent({ type: 'item', source: run.source, item: relative, bytes: size });
  return true;
}

function sameFile(node: TreeNode, stats: BigIntStats): boolean {
  return (
    node.type === 'file' &&
    node.size === Number(stats.size) &&
    node.mtime.getTime() === stats.mtime.getTime() &&
    node.ctime?.getTime() === stats.ctime.getTime() &&
    node.inode === Number(stats.ino)
  );
}

async function addFile(entry: WalkEntry, run: RunState): Promise<void> {
  const relative = entry.path.join('/');
  const handle = await openForReading(entry.absolutePath, relative, run.warn);
  if (!handle) return;
  try {
    const opened = await handle.stat({ bigint: true });
    if (!opened.isFile()) {
      run.warn(relative, 'changed', `${relative} was replaced by something other than a file after the folder was listed, so it is not backed up`);
      return;
    }

    const progress: ReadProgress = { bytesRead: 0 };
    const content = readOpenedFile(handle, Number(opened.size), run.chunkBytes, run.ctx.signal, progress);
    const saved = await saveContent(entry, toMeta(opened, run.owners), content, run);
    const after = await handle.stat({ bigint: true });
    const current = await lstat(entry.absolutePath, { bigint: true }).catch(() => undefined);

    const change = describeChange({ relativePath: relative, listed: entry.stats, opened, after, current, bytesRead: progress.bytesRead });
    if (change) run.warn(relative, 'changed', change);
    run.files += 1;
    run.bytes += saved.size;
    run.sha256.set(relative, saved.sha256);
    run.ctx.onEvent({ type: 'item', source: run.source, item: relative, bytes: saved.size });
  } finally {
    await handle.close();
  }
}

// O_NOFOLLOW keeps a file swapped for a link after the listing from being
// followed, and O_NONBLOCK keeps a file swapped for a FIFO from blocking open(2).
async function openForReading(absolutePath: string, relative: string, warn: EntryWarn): Promise<FileHandle | undefined> {
  try {
    return await open(absolutePath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (systemErrorCode(err) === 'ELOOP') {
      warn(relative, 'changed', `${relative} was replaced by a symbolic link after the folder was listed, so it is not backed up`);
      return undefined;
    }
    const kind = warningKindOf(err);
    if (kind === undefined) throw err;
    warn(relative, kind, `cannot read ${relative}: ${describeSystemError(err)}, so it is not backed up`);
    return undefined;
  }
}

async function saveContent(
  entry: WalkEntry,
  meta: NodeMeta,
  content: AsyncIterable<Uint8Array>,
  run: RunState,
) {
  try {
    return await run.ctx.writer.addFile(entry.path, meta, content);
  } catch (err) {
    if (isBackupError(err) || systemErrorCode(err) === undefined) throw err;
    throw new BackupError('ERR_FILES_FAILED', `reading ${entry.absolutePath} failed: ${describeSystemError(err)}`, { cause: err });
  }
}

/** Converts lstat or fstat results into the snapshot's node metadata. */
function toMeta(stats: BigIntStats, owners: OwnerNames): NodeMeta {
  const uid = Number(stats.uid);
  const gid = Number(stats.gid);
  return {
    mode: Number(stats.mode & 0o7777n),
    mtime: stats.mtime,
    atime: stats.atime,
    ctime: stats.ctime,
    uid,
    gid,
    user: owners.user(uid),
    group: owners.group(gid),
    inode: stats.ino,
    deviceId: stats.dev,
    links: Number(stats.nlink),
  };
}

// Byte order of UTF-8, the order of the walk, so the manifest lists files as they were read.
function byUtf8Path([a]: [string, string], [b]: [string, string]): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function throwIfAborted(signal: AbortSignal, folder: string): void {
  if (signal.aborted) throw new BackupError('ERR_ABORTED', `backup of ${folder} aborted`, { cause: signal.reason });
}
