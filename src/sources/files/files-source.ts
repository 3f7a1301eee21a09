/**
 * The `files` source: backs up one folder, such as a config or log folder,
 * with its metadata, into the snapshot folder `/files/<name>/`.
 */
import type { BigIntStats } from 'node:fs';
import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { BackupError, isBackupError } from '../../errors/index.ts';
import type { LocalFileStats, NodeMeta, SavedFile, SnapshotReader, TreeNode } from '../../snapshot/index.ts';
import type { FilesManifest, FilesSourceConfig, Source, SourceBackupContext } from '../types.ts';
import { describeSystemError, systemErrorCode, warningKindOf, type EntryWarn } from './fs-warnings.ts';
import { loadOwnerNames, type OwnerFiles, type OwnerNames } from './owner-names.ts';
import { createPathFilter } from './path-filter.ts';
import { describeChange, describeSmallChange, readOpenedFile, type ReadProgress } from './read-file.ts';
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
  /** Children of recently seen folders of the parent snapshot, by folder path. */
  parentFolders: Map<string, Promise<Map<string, TreeNode>>>;
}

/** Parent snapshot folders whose children stay looked up at once. */
const PARENT_FOLDERS_KEPT = 16;

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
    parentFolders: new Map(),
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
    sha256: sortedByUtf8Path(run.sha256),
    sha256Omits: 'one-blob',
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
  const node = (await parentChildren(parent, entry.path.slice(0, -1), run)).get(entry.path.at(-1)!);
  if (!node || !sameFile(node, entry.stats)) return false;
  const content = node.content ?? [];
  // A file of several blobs takes its SHA-256 from the parent's manifest. A
  // file of one blob or none is left out, because its blob id is its SHA-256.
  const sha256 = content.length > 1 ? parentManifest.sha256[relative] : undefined;
  if (content.length > 1 && sha256 === undefined) return false;
  const size = Number(entry.stats.size);
  const meta = toMeta(entry.stats, run.owners);
  if (!writer.addExistingFile(entry.path, meta, { size, content })) return false;
  run.files += 1;
  run.bytes += size;
  if (sha256 !== undefined) run.sha256.set(relative, sha256);
  run.ctx.onEvent({ type: 'item', source: run.source, item: relative, bytes: size });
  return true;
}

/**
 * Returns the children of a folder of the parent snapshot by name, loading
 * each folder once while it stays among the last few used, instead of
 * searching the folder's node list for every file.
 */
function parentChildren(parent: SnapshotReader, folder: string[], run: RunState): Promise<Map<string, TreeNode>> {
  const key = folder.join('/');
  let children = run.parentFolders.get(key);
  if (children === undefined) {
    children = loadParentChildren(parent, folder);
    if (run.parentFolders.size >= PARENT_FOLDERS_KEPT) {
      run.parentFolders.delete(run.parentFolders.keys().next().value!);
    }
    run.parentFolders.set(key, children);
  }
  return children;
}

async function loadParentChildren(parent: SnapshotReader, folder: string[]): Promise<Map<string, TreeNode>> {
  const node = await parent.lookup(folder);
  if (node?.type !== 'dir') return new Map();
  return new Map((await parent.list(folder)).map((child) => [child.name, child]));
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
  if (await addLocalFile(entry, relative, run)) return;
  const handle = await openForReading(entry.absolutePath, relative, run.warn);
  if (!handle) return;
  try {
    if (entry.stats.size <= BigInt(run.chunkBytes)) await addSmallFile(entry, relative, handle, run);
    else await addLargeFile(entry, relative, handle, run);
  } finally {
    await handle.close();
  }
}

/**
 * Lets the writer read a small file on a worker thread, when it can; returns
 * false when the file must be read here. The checks and warnings are those
 * of `addSmallFile`.
 */
async function addLocalFile(entry: WalkEntry, relative: string, run: RunState): Promise<boolean> {
  const { writer } = run.ctx;
  if (!writer.addLocalFile) return false;
  const listedSize = Number(entry.stats.size);
  const file = { absolutePath: entry.absolutePath, listedSize };
  const result = await writer.addLocalFile(entry.path, file, (stats) => toMeta(stats, run.owners));
  if (result === undefined) return false;
  if (result.kind === 'failed' && result.during === 'open') {
    reportOpenError(result.error, relative, run.warn);
  } else if (result.kind === 'failed') {
    throw new BackupError('ERR_FILES_FAILED', `reading ${entry.absolutePath} failed: ${describeSystemError(result.error)}`, {
      cause: result.error,
    });
  } else if (result.kind === 'notFile') {
    run.warn(relative, 'changed', `${relative} was replaced by something other than a file after the folder was listed, so it is not backed up`);
  } else {
    const change = describeSmallChange(relative, entry.stats, result.stats, result.bytesRead);
    if (change) run.warn(relative, 'changed', change);
    addSaved(relative, result.file, run);
  }
  return true;
}

/**
 * Reads a file that fits in one read call, requesting one byte past its listed
 * size, then compares one fstat with the listing. The read is one system call,
 * so the path is not checked again for a rename, unlike a large file.
 */
async function addSmallFile(entry: WalkEntry, relative: string, handle: FileHandle, run: RunState): Promise<void> {
  const listedSize = Number(entry.stats.size);
  const read = await readSmallFile(handle, listedSize);
  const stats = await handle.stat({ bigint: true });
  if (!stats.isFile() || read === undefined) {
    run.warn(relative, 'changed', `${relative} was replaced by something other than a file after the folder was listed, so it is not backed up`);
    return;
  }
  const bytes = read.subarray(0, Math.min(read.length, listedSize));
  const saved = await saveContent(entry, toMeta(stats, run.owners), oneChunk(bytes), run);
  const change = describeSmallChange(relative, entry.stats, stats, read.length);
  if (change) run.warn(relative, 'changed', change);
  addSaved(relative, saved, run);
}

// A read error on a descriptor that is no longer a regular file (a folder or
// a FIFO swapped in) means the file was replaced, which the caller reports.
async function readSmallFile(handle: FileHandle, listedSize: number): Promise<Buffer | undefined> {
  const buffer = Buffer.allocUnsafe(listedSize + 1);
  try {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead);
  } catch (err) {
    if ((await handle.stat()).isFile()) throw err;
    return undefined;
  }
}

async function* oneChunk(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  if (bytes.length > 0) yield bytes;
}

// A file of one blob or none is left out of the manifest (see FilesManifest).
function addSaved(relative: string, saved: SavedFile, run: RunState): void {
  run.files += 1;
  run.bytes += saved.size;
  if (saved.blobs === undefined || saved.blobs > 1) run.sha256.set(relative, saved.sha256);
  run.ctx.onEvent({ type: 'item', source: run.source, item: relative, bytes: saved.size });
}

async function addLargeFile(entry: WalkEntry, relative: string, handle: FileHandle, run: RunState): Promise<void> {
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
  addSaved(relative, saved, run);
}

// O_NOFOLLOW keeps a file swapped for a link after the listing from being
// followed, and O_NONBLOCK keeps a file swapped for a FIFO from blocking open(2).
async function openForReading(absolutePath: string, relative: string, warn: EntryWarn): Promise<FileHandle | undefined> {
  try {
    return await open(absolutePath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    reportOpenError(err, relative, warn);
    return undefined;
  }
}

/** Turns a failed open of a listed file into a warning; raises errors that are not system errors. */
function reportOpenError(err: unknown, relative: string, warn: EntryWarn): void {
  if (systemErrorCode(err) === 'ELOOP') {
    warn(relative, 'changed', `${relative} was replaced by a symbolic link after the folder was listed, so it is not backed up`);
    return;
  }
  const kind = warningKindOf(err);
  if (kind === undefined) throw err;
  warn(relative, kind, `cannot read ${relative}: ${describeSystemError(err)}, so it is not backed up`);
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
function toMeta(stats: LocalFileStats, owners: OwnerNames): NodeMeta {
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

// Byte order of UTF-8, the order of the walk, so the manifest lists files as
// they were read. Each path is encoded once, not once per comparison.
function sortedByUtf8Path(sha256: Map<string, string>): Record<string, string> {
  const keyed = [...sha256].map(([path, hash]) => ({ bytes: Buffer.from(path, 'utf8'), path, hash }));
  keyed.sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  return Object.fromEntries(keyed.map(({ path, hash }) => [path, hash]));
}

function throwIfAborted(signal: AbortSignal, folder: string): void {
  if (signal.aborted) throw new BackupError('ERR_ABORTED', `backup of ${folder} aborted`, { cause: signal.reason });
}
