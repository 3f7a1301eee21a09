/** Repository: the facade over keys, config, blobs and packs, snapshots, locks and check. */
import { createHash } from 'node:crypto';
import { hostname as osHostname, userInfo } from 'node:os';
import type { Backend } from '../backend/index.ts';
import {
  generateMasterKey,
  masterKeyToBytes,
  open,
  openBlob,
  seal,
  sealBlob,
  type MasterKey,
} from '../crypto/index.ts';
import { BackupError, errorMessage } from '../errors/index.ts';
import { silentLogger, type Logger, type ProgressListener } from '../log/index.ts';
import { BlobStore } from './blob-store.ts';
import { checkRepository } from './check.ts';
import { newConfig, REPOSITORY_VERSION } from './config.ts';
import { listKeyInfos, openWithPassword, readKeyFile, writeKeyFile } from './keys.ts';
import { acquireLock, removeStaleLocks, type LockContext } from './lock.ts';
import { loadMasterIndex, type MasterIndex } from './master-index.ts';
import { PackWindows } from './pack-windows.ts';
import { pickSnapshot, readAllSnapshots, readSnapshot, writeSnapshot } from './snapshots.ts';
import type {
  BlobLocation,
  BlobStats,
  BlobType,
  CheckOptions,
  CheckReport,
  Id,
  KeyInfo,
  BlobOpener,
  LockHandle,
  PackHasher,
  PreparedBlob,
  RepositoryConfig,
  RepositoryOptions,
  SavedBlob,
  SnapshotEntry,
  SnapshotJson,
} from './types.ts';

const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
const EMPTY = new Uint8Array(0);

interface RepositoryParts {
  backend: Backend;
  key: MasterKey;
  keyId: Id;
  config: RepositoryConfig;
  index: MasterIndex;
  opts: RepositoryOptions;
}

/**
 * An open restic format version 2 repository. Blob, snapshot and key methods
 * may run concurrently; `flush()` must finish before a snapshot that refers
 * to new blobs is saved.
 */
export class Repository {
  /** Creates a repository in an empty backend; ERR_REPO_EXISTS when one is there. */
  static async init(
    backend: Backend,
    password: string,
    opts: RepositoryOptions = {},
  ): Promise<Repository> {
    if (await backend.stat({ type: 'config', name: 'config' })) {
      throw new BackupError(
        'ERR_REPO_EXISTS',
        `a repository already exists at ${backend.location}; use it as it is or choose an empty folder`,
      );
    }
    await backend.create();
    const key = generateMasterKey();
    const keyId = await writeKeyFile(backend, key, password, who(opts), opts.kdfTargetMillis);
    const config = newConfig();
    // The config is sealed but never compressed: readers learn the version from it.
    await backend.save(
      { type: 'config', name: 'config' },
      seal(key, Buffer.from(JSON.stringify(config))),
    );
    return new Repository({
      backend,
      key,
      keyId,
      config,
      index: await loadMasterIndex(backend, key),
      opts,
    });
  }

  /** Opens a repository with a password (ERR_REPO_NOT_FOUND, ERR_PASSWORD_WRONG, ERR_REPO_UNSUPPORTED). */
  static async open(
    backend: Backend,
    password: string,
    opts: RepositoryOptions = {},
  ): Promise<Repository> {
    if (!(await backend.stat({ type: 'config', name: 'config' }))) {
      throw new BackupError(
        'ERR_REPO_NOT_FOUND',
        `no repository found at ${backend.location}; create one with \`bgapp-backup init\``,
      );
    }
    const { master: key, keyId } = await openWithPassword(backend, password);
    const config = await readConfig(backend, key);
    const index = await loadMasterIndex(backend, key);
    return new Repository({ backend, key, keyId, config, index, opts });
  }

  readonly backend: Backend;
  readonly config: RepositoryConfig;
  private readonly key: MasterKey;
  private keyId: Id;
  private readonly index: MasterIndex;
  private readonly blobs: BlobStore;
  private readonly logger: Logger;
  private readonly onEvent: ProgressListener;
  private readonly hostname: string;
  private readonly lockWaitMillis: number;
  private blobOpener: BlobOpener | undefined;
  private readonly windows: PackWindows;

  private constructor(parts: RepositoryParts) {
    const { opts } = parts;
    this.backend = parts.backend;
    this.config = parts.config;
    this.key = parts.key;
    this.keyId = parts.keyId;
    this.index = parts.index;
    this.logger = opts.logger ?? silentLogger;
    this.onEvent = opts.onEvent ?? (() => {});
    this.hostname = opts.hostname ?? osHostname();
    this.lockWaitMillis = opts.lockWaitMillis ?? 0;
    this.windows = new PackWindows(this.backend);
    this.blobs = new BlobStore(this.backend, this.key, this.index, {
      packSizeTarget: opts.packSizeTarget ?? DEFAULT_PACK_SIZE,
      maxPendingPacks: opts.maxPendingPacks ?? 2,
      packsPerIndex: 4,
      logger: this.logger,
    });
  }

  /** The repository's id from its config. */
  get id(): Id {
    return this.config.id;
  }

  /** Whether new blobs are compressed: always true in format version 2. */
  get compression(): boolean {
    return this.config.version >= 2;
  }

  /** Returns the 64 raw master key bytes, for sealBlob in worker threads. Never log them. */
  masterKeyBytes(): Uint8Array {
    return masterKeyToBytes(this.key);
  }

  /** Tells whether a blob is indexed or waiting in a pack that is not indexed yet. */
  hasBlob(type: BlobType, id: Id): boolean {
    return this.blobs.has(type, id);
  }

  /** Hashes, deduplicates, compresses, seals and packs a blob on this thread. */
  async saveBlob(type: BlobType, plaintext: Uint8Array): Promise<SavedBlob> {
    const id = createHash('sha256').update(plaintext).digest('hex');
    if (this.blobs.has(type, id))
      return this.blobs.add(type, id, EMPTY, undefined, plaintext.length);
    const { sealed, uncompressedLength } = sealBlob(this.key, plaintext, this.compression);
    return this.blobs.add(type, id, sealed, uncompressedLength, plaintext.length);
  }

  /** Packs a blob that sealBlob prepared elsewhere; deduplicates by id. */
  async savePreparedBlob(blob: PreparedBlob): Promise<SavedBlob> {
    return this.blobs.add(
      blob.type,
      blob.id,
      blob.sealed,
      blob.uncompressedLength,
      blob.plaintextLength,
    );
  }

  /**
   * Loads, decrypts and verifies an indexed blob, reading its pack through a
   * window that serves the blobs after it too. Blobs saved since the last
   * `flush()` may not be indexed yet.
   */
  async loadBlob(type: BlobType, id: Id): Promise<Buffer> {
    const location = this.index.lookup(type, id);
    if (!location) {
      throw new BackupError(
        'ERR_REPO_CORRUPT',
        `${type} blob ${id} is not in the index of ${this.backend.location}; run \`bgapp-backup check\``,
      );
    }
    const pack = { type: 'data' as const, name: location.packId };
    let sealed: Buffer;
    try {
      const { offset, length } = location;
      const blobsEnd = this.index.blobsEnd(location.packId) ?? offset + length;
      sealed = await this.windows.read(location.packId, offset, length, blobsEnd);
    } catch (err) {
      // The backend's own hint (check the repository path) misleads when only this pack is gone.
      if ((await this.backend.stat(pack).catch(() => null)) !== undefined) throw err;
      throw new BackupError(
        'ERR_REPO_CORRUPT',
        `pack ${location.packId}, which the index lists for ${type} blob ${id}, is missing; run \`bgapp-backup check --read-data\``,
        { cause: err },
      );
    }
    if (this.blobOpener) return this.openElsewhere(type, id, location, sealed);
    const plaintext = openBlob(this.key, sealed, location.uncompressedLength);
    if (createHash('sha256').update(plaintext).digest('hex') !== id) {
      throw new BackupError(
        'ERR_REPO_CORRUPT',
        `${type} blob ${id} in pack ${location.packId} does not match its id; run \`bgapp-backup check --read-data\``,
      );
    }
    return plaintext;
  }

  /**
   * Sets the function that hashes finished pack files, such as a worker
   * pool's, or clears it to hash them on this thread again. Clear it before
   * the hasher stops, because packs in its hands then fail.
   */
  setPackHasher(hasher: PackHasher | undefined): void {
    this.blobs.hasher = hasher;
  }

  /**
   * Sets the function that opens and verifies loaded blobs, such as a worker
   * pool's, so that `loadBlob` calls running at once use several cores. Clear
   * it to open blobs on this thread again.
   */
  setBlobOpener(opener: BlobOpener | undefined): void {
    this.blobOpener = opener;
  }

  private async openElsewhere(
    type: BlobType,
    id: Id,
    location: BlobLocation,
    sealed: Buffer,
  ): Promise<Buffer> {
    const { uncompressedLength, packId } = location;
    try {
      return await this.blobOpener!({ sealed, uncompressedLength, id });
    } catch (err) {
      throw new BackupError(
        'ERR_REPO_CORRUPT',
        `${type} blob ${id} in pack ${packId} cannot be opened: ${errorMessage(err)}; run \`bgapp-backup check --read-data\``,
        { cause: err },
      );
    }
  }

  /** Finishes open packs, waits for their uploads and writes the index. */
  async flush(): Promise<void> {
    await this.blobs.flush();
  }

  /** Byte counts of blobs saved through this object. */
  get stats(): BlobStats {
    return { ...this.blobs.stats };
  }

  /** Stores a snapshot and returns its id. */
  async saveSnapshot(snapshot: SnapshotJson): Promise<Id> {
    return writeSnapshot(this.backend, this.key, snapshot);
  }

  /**
   * Loads every snapshot, oldest first. A snapshot file that cannot be read
   * is logged as a warning and left out, as restic's listing does.
   */
  async listSnapshots(): Promise<SnapshotEntry[]> {
    return readAllSnapshots(this.backend, this.key, (id, err) => {
      this.logger.warn(
        { kind: 'unreadable-snapshot' },
        `${err.message}; it is left out, and the other snapshots are used. Run \`bgapp-backup check\` to list what else is damaged`,
      );
    });
  }

  /** Finds a snapshot by full id, unique id prefix or `latest`, optionally among those with a tag. */
  async findSnapshot(ref: string, filter: { tag?: string } = {}): Promise<SnapshotEntry> {
    return pickSnapshot(await this.listSnapshots(), ref, filter.tag);
  }

  /** Loads one snapshot by its full id; ERR_SNAPSHOT_NOT_FOUND when missing. */
  async loadSnapshot(id: Id): Promise<SnapshotJson> {
    return readSnapshot(this.backend, this.key, id);
  }

  /** Takes a lock, waiting up to lockWaitMillis while another process holds a conflicting one. */
  async lock(opts: { exclusive: boolean }): Promise<LockHandle> {
    return acquireLock(this.lockContext(), opts.exclusive, this.lockWaitMillis);
  }

  /** Removes stale locks and returns their ids; a live lock is never removed. */
  async removeStaleLocks(): Promise<Id[]> {
    return removeStaleLocks(this.lockContext());
  }

  /** Lists the key files. */
  async listKeys(): Promise<KeyInfo[]> {
    return listKeyInfos(this.backend, this.keyId);
  }

  /**
   * Adds a key file for another password; returns its id. Its scrypt cost is
   * calibrated to about `kdfTargetMillis` (default 500 ms, 0 for the minimum).
   */
  async addKey(password: string, kdfTargetMillis?: number): Promise<Id> {
    const owner = who({ hostname: this.hostname });
    return writeKeyFile(this.backend, this.key, password, owner, kdfTargetMillis);
  }

  /** Removes a key file; rejects the key in use and the last key with ERR_USAGE. */
  async removeKey(id: Id): Promise<void> {
    if (id === this.keyId) {
      throw new BackupError(
        'ERR_USAGE',
        `key ${id.slice(0, 8)} is the one in use; open the repository with another password to remove it`,
      );
    }
    const keys = await this.backend.list('keys');
    if (!keys.some((k) => k.name === id)) {
      throw new BackupError(
        'ERR_USAGE',
        `key ${id} not found; list keys with \`bgapp-backup key list\``,
      );
    }
    await readKeyFile(this.backend, id);
    await this.backend.remove({ type: 'keys', name: id });
  }

  /**
   * Replaces the key in use with one for a new password, calibrated like
   * addKey; returns the new key's id.
   */
  async changePassword(newPassword: string, kdfTargetMillis?: number): Promise<Id> {
    const old = this.keyId;
    const id = await this.addKey(newPassword, kdfTargetMillis);
    this.keyId = id;
    await this.backend.remove({ type: 'keys', name: old });
    return id;
  }

  /**
   * Deletes temporary files that interrupted writes left behind, once older
   * than `olderThanMillis` (default one day, so a running writer keeps its own).
   */
  async removeLeftovers(olderThanMillis = 24 * 60 * 60 * 1000): Promise<number> {
    return this.backend.removeLeftovers(olderThanMillis);
  }

  /**
   * Checks the repository's structure and, with readData, every blob, which
   * check opens on worker threads of its own.
   */
  async check(opts: CheckOptions = {}): Promise<CheckReport> {
    const ctx = { backend: this.backend, key: this.key, loadBlob: this.loadBlob.bind(this) };
    return checkRepository(ctx, opts.readData ?? false, opts.onEvent ?? this.onEvent);
  }

  private lockContext(): LockContext {
    return { backend: this.backend, key: this.key, hostname: this.hostname, logger: this.logger };
  }
}

function who(opts: { hostname?: string }): { username: string; hostname: string } {
  return { username: userInfo().username, hostname: opts.hostname ?? osHostname() };
}

async function readConfig(backend: Backend, key: MasterKey): Promise<RepositoryConfig> {
  let config: RepositoryConfig;
  try {
    const sealed = await backend.load({ type: 'config', name: 'config' });
    config = JSON.parse(open(key, sealed).toString('utf8')) as RepositoryConfig;
  } catch (err) {
    throw new BackupError(
      'ERR_REPO_CORRUPT',
      `config of ${backend.location} cannot be read: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  if (config.version !== REPOSITORY_VERSION) {
    const hint =
      config.version === 1
        ? '; upgrade it with `restic migrate upgrade_repo_v2`'
        : '; a newer program wrote it';
    throw new BackupError(
      'ERR_REPO_UNSUPPORTED',
      `repository ${backend.location} has format version ${config.version}, only version ${REPOSITORY_VERSION} is supported${hint}`,
    );
  }
  return config;
}
