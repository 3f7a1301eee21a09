/** Types of the repository engine's public API. */
import type { Logger, ProgressListener } from '../log/index.ts';

/** Kinds of blob: file contents and tree (folder listing) JSON. */
export type BlobType = 'data' | 'tree';

/** Lower-case hex SHA-256: of a blob's plaintext, or of a stored file's bytes. */
export type Id = string;

/** Options of `Repository.init` and `Repository.open`. */
export interface RepositoryOptions {
  logger?: Logger;
  onEvent?: ProgressListener;
  /** Host name written to locks and key files; os.hostname() when unset. */
  hostname?: string;
  /** How long `lock()` retries while another process holds a lock; 0 when unset. */
  lockWaitMillis?: number;
  /** Packs uploaded at once (default 2). */
  maxPendingPacks?: number;
  /** Pack size to aim for, in bytes (default 16 MiB); tests lower it. */
  packSizeTarget?: number;
  /**
   * Time `init` aims for when deriving the new key file's key, in
   * milliseconds (default 500, as restic; 0 gives the minimum cost, N=2^15, r=8, p=1).
   */
  kdfTargetMillis?: number;
}

/** The decrypted `config` file (restic design document, "Repository Format"). */
export interface RepositoryConfig {
  version: number;
  id: Id;
  /** Rabin fingerprint polynomial of the content-defined chunker, in hex. */
  chunker_polynomial: string;
}

/** Location of a blob in a pack, as an index file lists it. */
export interface BlobLocation {
  type: BlobType;
  id: Id;
  packId: Id;
  offset: number;
  /** Length of the sealed (encrypted) blob in the pack. */
  length: number;
  /** Plaintext length of a compressed blob; absent when stored uncompressed. */
  uncompressedLength?: number;
}

/** Result of saving a blob. */
export interface SavedBlob {
  id: Id;
  /** True when the blob was new; false when it was indexed or in flight already. */
  isNew: boolean;
  /** Bytes the blob adds to the repository: its sealed length, or 0 when deduplicated. */
  storedBytes: number;
}

/** A blob compressed and sealed elsewhere (a worker thread), ready to pack. */
export interface PreparedBlob {
  type: BlobType;
  /** SHA-256 of the uncompressed plaintext. */
  id: Id;
  /** Output of sealBlob: IV || ciphertext || MAC. */
  sealed: Uint8Array;
  /** Plaintext length when compressed, else absent. */
  uncompressedLength?: number;
  /** Plaintext length, for statistics. */
  plaintextLength: number;
}

/**
 * Hashes a finished pack file, such as on a worker thread, and returns its
 * bytes with its id, the hex SHA-256 of the bytes. `pack` may be transferred
 * to another thread, so the caller must use only the returned bytes.
 */
export type PackHasher = (pack: Buffer) => Promise<{ bytes: Buffer; id: Id }>;

/**
 * Opens a sealed blob elsewhere, such as on a worker thread: checks its MAC,
 * decrypts and decompresses it, checks that its SHA-256 is `id`, and returns
 * the plaintext. `sealed` may be transferred, so the caller must not use it
 * afterwards. Rejects when any check fails.
 */
export type BlobOpener = (blob: {
  sealed: Buffer;
  uncompressedLength?: number;
  id: Id;
}) => Promise<Buffer>;

/** Running byte counts of blobs saved through one Repository object. */
export interface BlobStats {
  /** Plaintext bytes offered, including duplicates. */
  plaintextBytes: number;
  /** Sealed bytes of new blobs written to packs. */
  storedBytes: number;
  newBlobs: number;
  duplicateBlobs: number;
}

/**
 * A snapshot as restic stores it. Unknown fields (such as `summary`) are kept
 * and restic ignores them.
 */
export interface SnapshotJson {
  time: string;
  parent?: Id;
  tree: Id;
  paths: string[];
  hostname?: string;
  username?: string;
  uid?: number;
  gid?: number;
  excludes?: string[];
  tags?: string[];
  original?: Id;
  program_version?: string;
  [extra: string]: unknown;
}

/** A snapshot and the id of its file. */
export interface SnapshotEntry {
  id: Id;
  snapshot: SnapshotJson;
}

/** The contents of a lock file (restic design document, "Locks"). */
export interface LockJson {
  time: string;
  exclusive: boolean;
  hostname: string;
  username: string;
  pid: number;
  uid?: number;
  gid?: number;
}

/** A held lock; it refreshes itself until released. */
export interface LockHandle {
  readonly id: Id;
  readonly exclusive: boolean;
  /** Stops refreshing and deletes the lock file. */
  release(): Promise<void>;
}

/** A key file's public fields. */
export interface KeyInfo {
  id: Id;
  created: string;
  username: string;
  hostname: string;
  /** True for the key this Repository object was opened with. */
  current: boolean;
}

/** One problem that `check` found, naming the repository file it is about. */
export interface CheckProblem {
  /** Path relative to the repository root, such as `data/ab/ab12...`. */
  file: string;
  message: string;
}

/** Outcome of `check`: errors mean damage; warnings mean leftovers that do no harm. */
export interface CheckReport {
  errors: CheckProblem[];
  warnings: CheckProblem[];
}

/** Options of `check`. */
export interface CheckOptions {
  /** Download every pack, decrypt and hash every blob. */
  readData?: boolean;
  onEvent?: ProgressListener;
}
