/**
 * The storage contract of a repository: a flat store of named files grouped
 * by type. LocalBackend implements it for a folder; a Microsoft Graph backend
 * implements it for OneDrive without a sync client.
 */

/** Kinds of repository file, named after their folders (restic design document, "Repository Layout"). */
export type FileType = 'config' | 'data' | 'index' | 'keys' | 'locks' | 'snapshots';

/** Every file type, in a fixed order. */
export const FILE_TYPES: readonly FileType[] = [
  'config',
  'data',
  'index',
  'keys',
  'locks',
  'snapshots',
];

/** Names one repository file. The config file's name is always "config". */
export interface FileHandle {
  type: FileType;
  name: string;
}

/** A stored file's name and size in bytes. */
export interface FileInfo {
  name: string;
  size: number;
}

/** A byte range of a file. */
export interface ByteRange {
  offset: number;
  length: number;
}

/** A temporary file that a killed run left behind. */
export interface LeftoverFile {
  /** Path relative to the repository root. */
  path: string;
  size: number;
  modified: Date;
}

/**
 * Stores a repository's files. Every file appears whole or not at all, files
 * are never changed once written, and errors are BackupError with code
 * ERR_BACKEND_IO naming the file (`load` of a missing file included).
 */
export interface Backend {
  /** Location of the repository for messages: a path or a URL. */
  readonly location: string;
  /**
   * Bytes worth asking for in one ranged `load` when a reader may split a
   * file into parts, as `check --read-data` does. Unset where each request is
   * costly (a network backend), so readers load whole files.
   */
  readonly rangedReadBytes?: number;
  /** Creates the repository's folders; succeeds when they exist already. */
  create(): Promise<void>;
  /** Writes a file atomically; a file that exists is replaced. */
  save(handle: FileHandle, data: Uint8Array): Promise<void>;
  /** Reads a whole file, or `range` of it. */
  load(handle: FileHandle, range?: ByteRange): Promise<Buffer>;
  /** Returns a file's size, or undefined when it does not exist. */
  stat(handle: FileHandle): Promise<FileInfo | undefined>;
  /** Lists the files of one type, leaving out temporary files. */
  list(type: FileType): Promise<FileInfo[]>;
  /** Deletes a file; succeeds when it does not exist. */
  remove(handle: FileHandle): Promise<void>;
  /** Lists temporary files that interrupted writes left behind. */
  listLeftovers(): Promise<LeftoverFile[]>;
  /** Deletes leftover temporary files older than `olderThanMillis`; returns how many. */
  removeLeftovers(olderThanMillis: number): Promise<number>;
  /** Returns the bytes still free where the repository is stored, or undefined when unknown. */
  freeSpace(): Promise<number | undefined>;
}

/**
 * A file that a repository's index and file lists name, by its path in
 * the repository (`config`, `keys/<id>`, `data/ab/<id>`), for comparing copies.
 */
export interface ExpectedFile {
  name: string;
  size: number;
  /** Hex SHA-256 of the contents: the file's name, except for `config`. */
  sha256?: string;
}
