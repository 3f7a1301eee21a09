/**
 * Contracts between the repository engine and the sources and restorers.
 * Sources write into a SnapshotWriter; restorers read from a SnapshotReader.
 * Paths are arrays of names, each a valid restic tree node name: not empty,
 * not "." or "..", and without "/" or NUL.
 */
import type { Readable } from 'node:stream';

/** Metadata of a node, in POSIX terms; the engine maps it to restic's fields. */
export interface NodeMeta {
  /** Permission bits and setuid, setgid and sticky (st_mode & 0o7777). */
  mode: number;
  mtime: Date;
  atime?: Date;
  ctime?: Date;
  uid?: number;
  gid?: number;
  user?: string;
  group?: string;
  inode?: bigint;
  deviceId?: bigint;
  links?: number;
}

/** What the engine stored for one file's contents. */
export interface SavedFile {
  /** Bytes read from the stream. */
  size: number;
  /** Hex SHA-256 of the bytes read. */
  sha256: string;
  /**
   * Number of data blobs the contents became, when the writer stores blobs.
   * A file of one blob has that blob's id as its SHA-256.
   */
  blobs?: number;
}

/** Contents of a file already stored in the repository, as a parent snapshot lists them. */
export interface ExistingFile {
  /** Size in bytes. */
  size: number;
  /** Data blob ids, in order. */
  content: readonly string[];
}

/**
 * fstat results of a file read by the writer itself (see
 * `SnapshotWriter.addLocalFile`): the fields of node:fs BigIntStats that
 * node metadata and change checks use, so a BigIntStats is one.
 */
export interface LocalFileStats {
  dev: bigint;
  ino: bigint;
  mode: bigint;
  nlink: bigint;
  uid: bigint;
  gid: bigint;
  size: bigint;
  mtimeNs: bigint;
  atime: Date;
  mtime: Date;
  ctime: Date;
}

/** A local file for `SnapshotWriter.addLocalFile`. */
export interface LocalFile {
  absolutePath: string;
  /** Size from the folder listing; one byte more is requested, to see growth. */
  listedSize: number;
}

/**
 * Outcome of `SnapshotWriter.addLocalFile`. `saved` stored the first
 * `min(bytesRead, listedSize)` bytes. `notFile` means the path no longer
 * names a regular file. `failed` carries the system error of opening or
 * reading it, with its `code` and `syscall`. Neither adds anything.
 */
export type LocalFileResult =
  | { kind: 'saved'; file: SavedFile; stats: LocalFileStats; bytesRead: number }
  | { kind: 'notFile' }
  | { kind: 'failed'; error: NodeJS.ErrnoException; during: 'open' | 'read' };

/**
 * Receives the nodes of one snapshot, in any order, concurrently. Parent
 * folders that were never added are created with default metadata.
 */
export interface SnapshotWriter {
  addDir(path: readonly string[], meta: NodeMeta): void;
  addSymlink(path: readonly string[], meta: NodeMeta, target: string): void;
  /**
   * Chunks, deduplicates and stores the stream's bytes as the file at
   * `path`, and resolves once every byte is hashed and queued for storage.
   */
  addFile(
    path: readonly string[],
    meta: NodeMeta,
    content: Readable | AsyncIterable<Uint8Array>,
  ): Promise<SavedFile>;
  /**
   * Adds the file at `path` with contents already in the repository, without
   * reading it. Returns false, and adds nothing, when a blob is not indexed
   * (pruned since, say), so the caller must read the file instead. Writers
   * without this method make every caller read.
   */
  addExistingFile?(path: readonly string[], meta: NodeMeta, file: ExistingFile): boolean;
  /**
   * Reads a small local file itself, off the caller's thread with one open,
   * read, fstat and close, then stores it as the file at `path` with the
   * metadata `meta` makes from the fstat. Resolves to undefined, adding
   * nothing, for a file too large for this path; the caller then streams it
   * through `addFile`. Writers without this method make every caller stream.
   */
  addLocalFile?(
    path: readonly string[],
    file: LocalFile,
    meta: (stats: LocalFileStats) => NodeMeta,
  ): Promise<LocalFileResult | undefined>;
}

/**
 * A new file of one blob's bytes, created with O_EXCL, O_NOFOLLOW and mode
 * 0600, then given its owner, mode and times.
 */
export interface OneBlobFile {
  /** Absolute path of a file that must not exist yet. */
  path: string;
  /** Permission bits with setuid, setgid and sticky, set after the owner because chown(2) clears them. */
  mode: number;
  /** Owner and group, set only when both are given. */
  uid?: number;
  gid?: number;
  atimeMillis: number;
  mtimeMillis: number;
}

/** A node read back from a snapshot's trees. */
export interface TreeNode {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'dev' | 'chardev' | 'fifo' | 'socket';
  /** Permission bits and setuid, setgid and sticky, in POSIX terms. */
  mode: number;
  mtime: Date;
  atime?: Date;
  ctime?: Date;
  uid?: number;
  gid?: number;
  user?: string;
  group?: string;
  /** Inode number; above 2^53 it may be off, because the tree's JSON is parsed into a number. */
  inode?: number;
  size?: number;
  linkTarget?: string;
  /** Content blob ids of a file, in order. */
  content?: string[];
  /** Tree id of a folder. */
  subtree?: string;
}

/** Reads one snapshot's trees and file contents. */
export interface SnapshotReader {
  /** Returns the node at `path`, or undefined when there is none. */
  lookup(path: readonly string[]): Promise<TreeNode | undefined>;
  /** Returns the children of the folder at `path`, sorted by name. */
  list(path: readonly string[]): Promise<TreeNode[]>;
  /** Yields every node below `path`, depth first, parents before children. */
  walk(path: readonly string[]): AsyncIterable<{ path: string[]; node: TreeNode }>;
  /** Streams the contents of a file node. */
  openFile(node: TreeNode): Readable;
}

/** Returns a writer whose paths are relative to `prefix` of `writer`. */
export function scopeWriter(writer: SnapshotWriter, prefix: readonly string[]): SnapshotWriter {
  return {
    addDir: (path, meta) => writer.addDir([...prefix, ...path], meta),
    addSymlink: (path, meta, target) => writer.addSymlink([...prefix, ...path], meta, target),
    addFile: (path, meta, content) => writer.addFile([...prefix, ...path], meta, content),
    addExistingFile: (path, meta, file) =>
      writer.addExistingFile?.([...prefix, ...path], meta, file) ?? false,
    addLocalFile: writer.addLocalFile
      ? (path, file, meta) => writer.addLocalFile!([...prefix, ...path], file, meta)
      : undefined,
  };
}

/** Returns a reader whose paths are relative to `prefix` of `reader`. */
export function scopeReader(reader: SnapshotReader, prefix: readonly string[]): SnapshotReader {
  return {
    lookup: (path) => reader.lookup([...prefix, ...path]),
    list: (path) => reader.list([...prefix, ...path]),
    async *walk(path) {
      for await (const entry of reader.walk([...prefix, ...path])) {
        yield { path: entry.path.slice(prefix.length), node: entry.node };
      }
    },
    openFile: (node) => reader.openFile(node),
  };
}
