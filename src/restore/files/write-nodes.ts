/**
 * Writing of single nodes below the target folder. No call follows a symbolic
 * link that is already on disk: files are created with O_EXCL and O_NOFOLLOW,
 * folders are checked with lstat, and metadata is set through descriptors
 * opened with O_NOFOLLOW. Callers create every parent folder first and write
 * symbolic links last.
 *
 * NOTE: Node.js has no openat(2), so paths are resolved from the target folder
 * on each call. Another process that swaps a folder for a link during the
 * restore can still redirect a write; the checks hold only for a quiet target.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  chmod,
  lchown,
  lstat,
  lutimes,
  mkdir,
  open,
  rename,
  rm,
  symlink,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { utimesSeconds } from '../../snapshot/times.ts';
import { BackupError, isBackupError } from '../../errors/index.ts';
import { isRepositoryReadError } from '../checks.ts';
import type { OneBlobFile, SnapshotReader, TreeNode } from '../../snapshot/index.ts';

/** Options for writing the nodes of one restore. */
export interface WriteOptions {
  /** Replace entries already in the target instead of failing on them. */
  force: boolean;
  /** Set uid and gid, which only root may do. */
  setOwner: boolean;
  /** Writes files on worker threads; without it every file is written on this thread. */
  workerWriter?: WorkerFileWriter;
}

/**
 * Writes files on worker threads, such as RepositorySnapshotReader. Each
 * method resolves to false or undefined, having written nothing, when it
 * cannot write that node, and the file is then written on this thread.
 */
export interface WorkerFileWriter {
  /** Writes a file node of one blob into a new file. */
  writeOneBlobFile(node: TreeNode, file: OneBlobFile): Promise<boolean>;
  /**
   * Writes the contents of a file node of several blobs into the open file
   * `fd` at `path`, and returns the hex SHA-256 of the bytes written.
   */
  writeContents?(
    node: TreeNode,
    fd: number,
    path: string,
    hashChecked?: boolean,
  ): Promise<string | undefined>;
}

/**
 * Creates the folder at `absolutePath` with mode 0700, so that its contents
 * can be written. With `force`, an existing folder is kept and anything else
 * at that path is removed first.
 */
export async function makeFolder(absolutePath: string, options: WriteOptions): Promise<void> {
  try {
    await mkdir(absolutePath, { mode: 0o700 });
    return;
  } catch (err) {
    if (!options.force || systemCode(err) !== 'EEXIST') throw writeFailed(absolutePath, err);
  }
  const existing = await lstat(absolutePath);
  if (existing.isDirectory()) {
    // A folder left by an earlier restore may be read-only; its final mode is set later.
    await chmod(absolutePath, (existing.mode & 0o7777) | 0o700).catch((err: unknown) => {
      throw writeFailed(absolutePath, err);
    });
    return;
  }
  await unlink(absolutePath);
  await mkdir(absolutePath, { mode: 0o700 }).catch((err: unknown) => {
    throw writeFailed(absolutePath, err);
  });
}

/**
 * Streams a file node's contents into a new file at `absolutePath`, sets its
 * owner, mode and times, and returns the hex SHA-256 of the bytes written.
 * Each chunk is hashed once write(2) has taken all of it, so the sum covers
 * what reached the file without reading it back. `hashChecked` means that
 * the caller compares the result with a trusted SHA-256, so a worker writer
 * may leave out the check of each blob's id.
 */
export async function writeFile(
  absolutePath: string,
  node: TreeNode,
  reader: SnapshotReader,
  options: WriteOptions,
  hashChecked = false,
): Promise<string> {
  // With force, a file is written beside the entry it replaces and renamed
  // over it once complete, so a file that cannot be read from the repository
  // leaves the entry as it was.
  const existing = options.force ? await lstat(absolutePath).catch(ignoreMissing) : undefined;
  if (existing === undefined) {
    try {
      return await writeNewFile(absolutePath, node, reader, options, hashChecked);
    } catch (err) {
      // A file that a damaged or missing blob spoiled is removed: the target
      // had no entry of its name, so this call created it.
      if (isRepositoryReadError(err)) await unlink(absolutePath).catch(() => undefined);
      throw err;
    }
  }
  const temporary = join(dirname(absolutePath), `.bgapp-restore-${randomBytes(6).toString('hex')}`);
  let sha256: string;
  try {
    sha256 = await writeNewFile(temporary, node, reader, options, hashChecked);
  } catch (err) {
    await unlink(temporary).catch(() => undefined);
    throw err;
  }
  try {
    if (existing.isDirectory()) await rm(absolutePath, { recursive: true, force: true });
    await rename(temporary, absolutePath);
  } catch (err) {
    await unlink(temporary).catch(() => undefined);
    throw writeFailed(absolutePath, err);
  }
  return sha256;
}

/** Returns undefined for a missing entry and raises any other lstat failure. */
function ignoreMissing(err: unknown): undefined {
  if (systemCode(err) === 'ENOENT') return undefined;
  throw err;
}

/** Creates the file at `absolutePath`, which must not exist, and writes the node's contents. */
async function writeNewFile(
  absolutePath: string,
  node: TreeNode,
  reader: SnapshotReader,
  options: WriteOptions,
  hashChecked: boolean,
): Promise<string> {
  const oneBlobId = await writeOneBlob(absolutePath, node, options);
  if (oneBlobId !== undefined) return oneBlobId;
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const handle = await open(absolutePath, flags, 0o600).catch((err: unknown) => {
    throw writeFailed(absolutePath, err);
  });
  let finished = false;
  try {
    const sha256 =
      (await options.workerWriter?.writeContents?.(node, handle.fd, absolutePath, hashChecked)) ??
      (await streamContents(handle, node, reader));
    await setMeta(handle, node, options);
    finished = true;
    return sha256;
  } catch (err) {
    throw isBackupError(err) || systemCode(err) === undefined
      ? err
      : writeFailed(absolutePath, err);
  } finally {
    await handle.close();
    // A partial file must not keep the name of the file it was meant to be.
    if (!finished) await unlink(absolutePath).catch(() => undefined);
  }
}

/**
 * Writes a file node's contents through `handle` on this thread and returns
 * their hex SHA-256. Each chunk is hashed once write(2) has taken all of it.
 */
async function streamContents(handle: FileHandle, node: TreeNode, reader: SnapshotReader): Promise<string> {
  // Written through the FileHandle: a write stream made with autoClose false
  // leaves handle.close() unsettled on Node 24.
  const hash = createHash('sha256');
  for await (const chunk of reader.openFile(node)) {
    await writeAll(handle, chunk as Uint8Array);
    hash.update(chunk as Uint8Array);
  }
  return hash.digest('hex');
}

/**
 * Has `options.workerWriter` write a file of one blob, and returns the
 * file's SHA-256, which is the blob's id because the writer checks the
 * blob's bytes against it. Returns undefined when the file is left to the caller.
 */
async function writeOneBlob(
  absolutePath: string,
  node: TreeNode,
  options: WriteOptions,
): Promise<string | undefined> {
  const blobId = node.content?.length === 1 ? node.content[0] : undefined;
  if (options.workerWriter === undefined || blobId === undefined) return undefined;
  const setOwner = options.setOwner && node.uid !== undefined && node.gid !== undefined;
  const file: OneBlobFile = {
    path: absolutePath,
    mode: node.mode & 0o7777,
    ...(setOwner ? { uid: node.uid, gid: node.gid } : {}),
    atimeMillis: (node.atime ?? node.mtime).getTime(),
    mtimeMillis: node.mtime.getTime(),
  };
  try {
    return (await options.workerWriter.writeOneBlobFile(node, file)) ? blobId : undefined;
  } catch (err) {
    throw isBackupError(err) || systemCode(err) === undefined
      ? err
      : writeFailed(absolutePath, err);
  }
}

/** Creates the symbolic link at `absolutePath` and sets its owner and times. */
export async function writeSymlink(
  absolutePath: string,
  node: TreeNode,
  options: WriteOptions,
): Promise<void> {
  if (options.force) await removeExisting(absolutePath);
  try {
    await symlink(node.linkTarget ?? '', absolutePath);
    if (options.setOwner && node.uid !== undefined && node.gid !== undefined) {
      await lchown(absolutePath, node.uid, node.gid);
    }
    await lutimes(absolutePath, utimesSeconds(node.atime ?? node.mtime), utimesSeconds(node.mtime));
  } catch (err) {
    throw writeFailed(absolutePath, err);
  }
}

/**
 * Sets a folder's owner, mode and times once its contents are written, since
 * writing into a folder changes its mtime. Raises when the path is no folder.
 */
export async function finishFolder(
  absolutePath: string,
  node: TreeNode,
  options: WriteOptions,
): Promise<void> {
  const flags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
  const handle = await open(absolutePath, flags).catch((err: unknown) => {
    throw writeFailed(absolutePath, err);
  });
  try {
    await setMeta(handle, node, options);
  } catch (err) {
    throw writeFailed(absolutePath, err);
  } finally {
    await handle.close();
  }
}

// write(2) may write fewer bytes than requested, so the rest is written again.
async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

// chown(2) clears setuid and setgid, so the mode is set after the owner.
async function setMeta(handle: FileHandle, node: TreeNode, options: WriteOptions): Promise<void> {
  if (options.setOwner && node.uid !== undefined && node.gid !== undefined) {
    await handle.chown(node.uid, node.gid);
  }
  await handle.chmod(node.mode & 0o7777);
  await handle.utimes(utimesSeconds(node.atime ?? node.mtime), utimesSeconds(node.mtime));
}

// rm(2) and unlink(2) remove a symbolic link itself, never what it points to.
async function removeExisting(absolutePath: string): Promise<void> {
  try {
    const existing = await lstat(absolutePath);
    if (existing.isDirectory()) await rm(absolutePath, { recursive: true, force: true });
    else await unlink(absolutePath);
  } catch (err) {
    if (systemCode(err) !== 'ENOENT') throw writeFailed(absolutePath, err);
  }
}

function writeFailed(absolutePath: string, err: unknown): BackupError {
  const detail = err instanceof Error ? err.message : String(err);
  return new BackupError(
    'ERR_RESTORE_TARGET_NOT_WRITABLE',
    `writing ${absolutePath} failed (${detail}): check the permissions and free space of the restore target`,
    { cause: err },
  );
}

function systemCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('syscall' in err)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
