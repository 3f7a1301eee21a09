/**
 * Contract of a backup source. A source reads one part of the stack and
 * writes it into the snapshot below `/<type>/<name>/`, and returns the part of
 * the manifest that a restore is later verified against.
 */
import type { Logger, ProgressListener, Warning } from '../log/index.ts';
import type { SnapshotReader, SnapshotWriter } from '../snapshot/index.ts';

/** Settings of a `postgres` source, as validated from the config file. */
export interface PostgresSourceConfig {
  type: 'postgres';
  name: string;
  /** Connection URL; the password comes from .pgpass or PGPASSWORD. */
  url: string;
  /** When set, pg_dump and pg_dumpall run through `docker exec CONTAINER`. */
  container?: string;
  /** Folder of the local pg_dump, pg_dumpall, pg_restore and psql; PATH when unset. */
  bin_dir?: string;
  /** Also dump roles and tablespaces with pg_dumpall --globals-only. */
  globals: boolean;
}

/** Settings of an `s3` source. */
export interface S3SourceConfig {
  type: 's3';
  name: string;
  endpoint: string;
  region: string;
  access_key_id: string;
  /** Secret key, read from `secret_access_key_file` or the environment. */
  secret_access_key: string;
  buckets: string[];
  /** Path-style addressing, which MinIO needs. */
  force_path_style: boolean;
  /** Objects read at once. */
  concurrency: number;
}

/** Settings of a `files` source. */
export interface FilesSourceConfig {
  type: 'files';
  name: string;
  /** Absolute folder to back up. */
  path: string;
  /** Glob patterns; when set, only matching files are kept. */
  include: string[];
  /** Glob patterns of files and folders to leave out. */
  exclude: string[];
}

export type SourceConfig = PostgresSourceConfig | S3SourceConfig | FilesSourceConfig;
export type SourceType = SourceConfig['type'];

/** What a source is handed for one backup run. */
export interface SourceBackupContext {
  /** Writer scoped to `/<type>/<name>/` of the snapshot. */
  writer: SnapshotWriter;
  /** The same folder in the parent snapshot, when there is one. */
  parent?: SnapshotReader;
  /**
   * This source's section of the parent snapshot's manifest, when the parent
   * has one. A source that skips an unchanged item takes its SHA-256 from here.
   */
  parentManifest?: SourceManifest;
  logger: Logger;
  signal: AbortSignal;
  onEvent: ProgressListener;
  /** Records a problem that does not fail the run (exit code 3). */
  warn(warning: Warning): void;
}

/** A source's part of manifest.json; `readAt` is when reading started. */
export interface SourceManifestBase {
  type: SourceType;
  name: string;
  readAt: string;
  finishedAt: string;
}

export interface PostgresManifest extends SourceManifestBase {
  type: 'postgres';
  database: string;
  /** Role that owned the database; a restore creates the database with it when it exists. */
  databaseOwner?: string;
  serverVersion: string;
  serverVersionNum: number;
  pgDumpVersion: string;
  postgisVersion: string | null;
  /** Extensions and their versions. */
  extensions: Record<string, string>;
  /** Snapshot name exported by the transaction that counted the rows. */
  exportedSnapshot: string;
  /** Rows per table, "schema.table", counted in the dump's snapshot. */
  rowCounts: Record<string, number>;
  largeObjects: { count: number; bytes: number };
  /** Roles the database's objects are owned by or granted to. */
  roles: string[];
  dump: { path: string; bytes: number; sha256: string; command: string[] };
  globals: { path: string; bytes: number; sha256: string } | null;
}

export interface S3ObjectManifest {
  key: string;
  /** Path of the object in the snapshot, relative to the bucket's folder. */
  path: string;
  size: number;
  /**
   * Hex SHA-256 of the object's bytes. With `sha256Omits: 'one-blob'` on the
   * manifest, objects stored as one data blob or none may have no `sha256`,
   * because the snapshot's tree already contains it. The id of that blob is
   * the object's SHA-256, and an empty object has the SHA-256 of no bytes.
   * Leaving them out keeps each backup from storing a large, barely
   * compressible manifest again.
   */
  sha256?: string;
  etag: string;
  lastModified: string;
  contentType?: string;
  metadata: Record<string, string>;
}

export interface S3Manifest extends SourceManifestBase {
  type: 's3';
  endpoint: string;
  buckets: { name: string; objects: number; bytes: number; entries: S3ObjectManifest[] }[];
  /**
   * Set when objects of at most one blob may lack `sha256`; absent in older
   * manifests, where every entry has it. Entries copied from an older parent
   * manifest keep their `sha256`.
   */
  sha256Omits?: 'one-blob';
}

export interface FilesManifest extends SourceManifestBase {
  type: 'files';
  path: string;
  files: number;
  bytes: number;
  /**
   * SHA-256 per regular file, by path relative to the source folder. With
   * `sha256Omits: 'one-blob'`, files stored as one data blob or none are left
   * out: the id of that blob is the file's SHA-256 (restic's blob id is the
   * SHA-256 of its bytes), and an empty file has the SHA-256 of no bytes.
   * Those hashes would repeat the snapshot's trees and make each backup
   * store a large, barely compressible manifest again.
   */
  sha256: Record<string, string>;
  /** Set when files of at most one blob are left out of `sha256`; absent in older manifests. */
  sha256Omits?: 'one-blob';
}

export type SourceManifest = PostgresManifest | S3Manifest | FilesManifest;

/** A configured source, ready to run. */
export interface Source {
  readonly type: SourceType;
  readonly name: string;
  /**
   * Set when the source uses neither the parent snapshot nor its manifest, so
   * it may start while the repository opens. Its writer then accepts files
   * before the repository can store them, and they wait for it.
   */
  readonly startsEarly?: boolean;
  backup(ctx: SourceBackupContext): Promise<SourceManifest>;
}
