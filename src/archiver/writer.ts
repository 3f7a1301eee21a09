/**
 * The SnapshotWriter over a Repository. Files are chunked, hashed,
 * deduplicated, compressed and sealed through a worker pool while the folder
 * tree grows in memory. `finish` writes the trees bottom-up, flushes the
 * packs and index, and then stores the snapshot, which is the write order
 * that restic's design document requires ("Read and Write Ordering").
 */
import { userInfo } from 'node:os';
import type { Readable } from 'node:stream';
import { Chunker, DEFAULT_CHUNKER_OPTIONS, type ChunkerOptions } from '../chunker/index.ts';
import { BackupError } from '../errors/index.ts';
import { silentLogger, type Logger } from '../log/index.ts';
import type { SnapshotJson } from '../repository/index.ts';
import type {
  ExistingFile,
  LocalFile,
  LocalFileResult,
  LocalFileStats,
  NodeMeta,
  SavedFile,
  SnapshotWriter,
} from '../snapshot/index.ts';
import { BlobSaver, emptyStats, type ArchiverRepository, type ArchiveStats } from './blob-saver.ts';
import { ByteBudget } from './byte-budget.ts';
import { insertEntry, newDir, removeEntry, saveTrees, type FileEntry } from './dir-tree.ts';
import { formatGoTime } from './go-format.ts';
import { encodeTree, type EncodableNode } from './tree.ts';
import { BlobWorkerPool } from './worker-pool.ts';

/** Options of a RepositorySnapshotWriter. */
export interface SnapshotWriterOptions {
  /** Time of the snapshot and of folders made as parents; now when unset. */
  time?: Date;
  logger?: Logger;
  /** Worker threads for hashing, compression and sealing; the number of cores when unset. */
  workers?: number;
  /** Chunk bytes read but not yet stored, across all files (default 32 MiB). */
  maxInFlightBytes?: number;
  /** Chunker limits; the defaults give chunks of 512 KiB to 8 MiB. */
  chunker?: Partial<ChunkerOptions>;
}

/** Snapshot fields that `finish` writes besides the tree. */
export interface FinishOptions {
  tags: string[];
  /** Paths listed in the snapshot, as `restic snapshots` shows them. */
  paths: string[];
  hostname: string;
  username: string;
  /** Id of the snapshot this one was made against. */
  parent?: string;
  /** Written as `program_version`, such as "bgapp-backup 0.1.0". */
  programVersion: string;
}

/** Outcome of `finish`. */
export interface FinishResult {
  snapshotId: string;
  /** Id of the snapshot's root tree. */
  treeId: string;
  stats: ArchiveStats;
}

const DEFAULT_MAX_IN_FLIGHT_BYTES = 16 * 1024 * 1024;

/** Mode of folders that were never added but hold added nodes. */
const PARENT_DIR_MODE = 0o755;

/**
 * Writes one snapshot into a Repository. Call `finish` or `abort` at the end,
 * because the worker threads keep the process running until then.
 */
export class RepositorySnapshotWriter implements SnapshotWriter {
  /** Running counts; final once `finish` resolves. */
  readonly stats: ArchiveStats = emptyStats();
  readonly time: Date;
  private readonly repo: ArchiverRepository;
  private readonly options: SnapshotWriterOptions;
  private readonly logger: Logger;
  private readonly root = newDir();
  private readonly budget: ByteBudget;
  private pool: BlobWorkerPool | undefined;
  private saver: BlobSaver | undefined;
  private state: 'open' | 'finishing' | 'done' = 'open';
  private activeFiles = 0;

  constructor(repo: ArchiverRepository, options: SnapshotWriterOptions = {}) {
    this.repo = repo;
    this.options = options;
    this.time = options.time ?? new Date();
    this.logger = options.logger ?? silentLogger;
    this.budget = new ByteBudget(options.maxInFlightBytes ?? DEFAULT_MAX_IN_FLIGHT_BYTES);
  }

  /** Adds a folder; a folder made earlier as a parent takes this metadata. */
  addDir(path: readonly string[], meta: NodeMeta): void {
    this.checkOpen();
    insertEntry(this.root, path, newDir(meta));
  }

  /** Adds a symbolic link pointing at `target`. */
  addSymlink(path: readonly string[], meta: NodeMeta, target: string): void {
    this.checkOpen();
    insertEntry(this.root, path, { kind: 'symlink', meta, target });
    this.stats.symlinks++;
  }

  /**
   * Chunks, deduplicates and stores the stream as the file at `path`. It
   * resolves once every byte is hashed and queued; `finish` waits for the
   * storage. When the stream fails, the path is free again and the stream's
   * error is thrown as is.
   */
  async addFile(
    path: readonly string[],
    meta: NodeMeta,
    content: Readable | AsyncIterable<Uint8Array>,
  ): Promise<SavedFile> {
    this.checkOpen();
    const entry: FileEntry = { kind: 'file', meta, size: 0, content: undefined };
    insertEntry(this.root, path, entry);
    this.activeFiles++;
    const saver = this.blobSaver();
    let stream: number | undefined;
    try {
      const counter = { bytes: 0 };
      const chunks = chunkContent(content, counter, this.options.chunker ?? {});
      const first = await this.takeOnlyChunk(chunks);
      let sha256: string;
      if (first.only !== undefined) {
        // The file's SHA-256 is its only blob's id, so no running hash is kept.
        const id = await saver.saveOnlyChunk(first.only);
        entry.content = [id];
        sha256 = id;
      } else {
        stream = this.pool!.openStream();
        entry.content = await saver.saveChunks(first.chunks, stream);
        sha256 = await this.pool!.digest(stream);
      }
      entry.size = counter.bytes;
      this.stats.files++;
      this.stats.bytesRead += counter.bytes;
      return { size: counter.bytes, sha256, blobs: entry.content.length };
    } catch (err) {
      removeEntry(this.root, path, entry);
      // Ends the stream's running hash in the worker, which would otherwise keep it.
      if (stream !== undefined) this.pool?.digest(stream).catch(() => undefined);
      throw err;
    } finally {
      this.activeFiles--;
    }
  }

  /**
   * Adds a file whose blobs are already stored, as an unchanged file of the
   * parent snapshot is, without reading it. Returns false and adds nothing
   * when any blob is not in the repository, so the caller reads the file.
   */
  addExistingFile(path: readonly string[], meta: NodeMeta, file: ExistingFile): boolean {
    this.checkOpen();
    if (!file.content.every((id) => this.repo.hasBlob('data', id))) return false;
    insertEntry(this.root, path, {
      kind: 'file',
      meta,
      size: file.size,
      content: [...file.content],
    });
    this.stats.files++;
    this.stats.filesUnchanged++;
    this.stats.blobsKnown += file.content.length;
    return true;
  }

  /**
   * Reads, hashes and seals a file smaller than the chunker's minimum chunk
   * on a worker thread, and adds it with the metadata `meta` makes from the
   * worker's fstat. Such a file is one blob, whose id is the file's SHA-256.
   * Resolves to undefined for a larger file, which the caller streams
   * through `addFile` instead.
   */
  async addLocalFile(
    path: readonly string[],
    file: LocalFile,
    meta: (stats: LocalFileStats) => NodeMeta,
  ): Promise<LocalFileResult | undefined> {
    this.checkOpen();
    const minSize = this.options.chunker?.minSize ?? DEFAULT_CHUNKER_OPTIONS.minSize;
    if (file.listedSize >= minSize) return undefined;
    const saver = this.blobSaver();
    this.activeFiles++;
    try {
      await this.budget.acquire(file.listedSize);
      let outcome;
      try {
        outcome = await this.pool!.readSmallFile(file.absolutePath, file.listedSize);
      } catch (err) {
        this.budget.release(file.listedSize);
        throw err;
      }
      if (outcome.kind !== 'read') {
        this.budget.release(file.listedSize);
        return outcome;
      }
      const size = Math.min(outcome.bytesRead, file.listedSize);
      this.budget.release(file.listedSize - size);
      const entry: FileEntry = { kind: 'file', meta: meta(outcome.stats), size, content: [] };
      try {
        insertEntry(this.root, path, entry);
      } catch (err) {
        this.budget.release(size);
        throw err;
      }
      if (outcome.sealed)
        entry.content = [
          saver.saveSealed(outcome.id, outcome.sealed, outcome.uncompressedLength, size),
        ];
      else this.budget.release(size);
      this.stats.files++;
      this.stats.bytesRead += size;
      // The worker hashed the stored bytes, empty ones included, so its id is the file's SHA-256.
      const saved = { size, sha256: outcome.id, blobs: outcome.sealed ? 1 : 0 };
      return { kind: 'saved', file: saved, stats: outcome.stats, bytesRead: outcome.bytesRead };
    } finally {
      this.activeFiles--;
    }
  }

  /** Waits for stored blobs, writes the trees, flushes the repository and saves the snapshot. */
  async finish(options: FinishOptions): Promise<FinishResult> {
    this.checkOpen();
    if (this.activeFiles > 0) {
      throw new BackupError(
        'ERR_USAGE',
        `snapshot finish was called while ${this.activeFiles} files are still being added; ` +
          'await every addFile first',
      );
    }
    this.state = 'finishing';
    try {
      await this.saver?.drain();
      const treeId = await this.writeTrees();
      await this.repo.flush();
      const snapshotId = await this.repo.saveSnapshot(this.snapshotJson(treeId, options));
      this.logger.info({ snapshotId, treeId, stats: this.stats }, 'snapshot saved');
      return { snapshotId, treeId, stats: this.stats };
    } finally {
      this.state = 'done';
      await this.closePool();
    }
  }

  /**
   * Stops the snapshot: later adds fail with ERR_ABORTED and no snapshot is
   * saved. Blobs already stored are flushed to the index, where a later
   * backup can reuse them and `restic prune` can remove them.
   */
  async abort(): Promise<void> {
    if (this.state === 'done') return;
    this.state = 'done';
    // The pool stays open until the flush is done: a pack that its joiner
    // had when the pool closed failed the flush with "pool is closed". The
    // work left is bounded by the in-flight budget and the pending packs.
    await this.saver?.drain().catch((err: unknown) => {
      this.logger.debug({ err }, 'blob failed while the snapshot was aborted');
    });
    try {
      await this.repo.flush();
    } finally {
      await this.closePool();
    }
  }

  /**
   * Reads the first chunk and, when it is shorter than the chunker's minimum
   * and so the last one, returns it as the file's only chunk. Otherwise it
   * returns every chunk, the ones already read included, in order.
   */
  private async takeOnlyChunk(
    chunks: AsyncGenerator<Buffer>,
  ): Promise<{ only?: Buffer; chunks: AsyncIterable<Buffer> }> {
    const minSize = this.options.chunker?.minSize ?? DEFAULT_CHUNKER_OPTIONS.minSize;
    const first = await chunks.next();
    if (first.done) return { chunks: prepend([], chunks) };
    if (first.value.length >= minSize) return { chunks: prepend([first.value], chunks) };
    const second = await chunks.next();
    if (second.done) return { only: first.value, chunks: prepend([], chunks) };
    return { chunks: prepend([first.value, second.value], chunks) };
  }

  private checkOpen(): void {
    if (this.state === 'open') return;
    throw new BackupError('ERR_ABORTED', 'snapshot writer is finished or aborted; start a new one');
  }

  /** Returns the BlobSaver, starting the worker pool on first use. */
  private blobSaver(): BlobSaver {
    if (this.saver) return this.saver;
    this.pool = new BlobWorkerPool({
      keyBytes: this.repo.masterKeyBytes(),
      compression: this.repo.compression,
      size: this.options.workers,
    });
    const pool = this.pool;
    this.repo.setPackHasher((pack) => pool.hashPack(pack));
    this.saver = new BlobSaver(this.repo, this.pool, this.budget, this.stats);
    return this.saver;
  }

  private async closePool(): Promise<void> {
    if (!this.pool) return;
    this.repo.setPackHasher(undefined);
    await this.pool.close();
  }

  private async writeTrees(): Promise<string> {
    const parentMeta: NodeMeta = { mode: PARENT_DIR_MODE, mtime: this.time };
    let trees = 0;
    const treeId = await saveTrees(this.root, parentMeta, async (nodes) => {
      trees++;
      return this.saveTree(nodes);
    });
    this.stats.dirs = trees - 1;
    return treeId;
  }

  private async saveTree(nodes: EncodableNode[]): Promise<string> {
    const blob = encodeTree(nodes);
    const saved = await this.repo.saveBlob('tree', blob);
    if (saved.isNew) {
      this.stats.treesNew++;
      this.stats.bytesNew += blob.length;
      this.stats.bytesStored += saved.storedBytes;
    } else {
      this.stats.treesKnown++;
    }
    return saved.id;
  }

  private snapshotJson(treeId: string, options: FinishOptions): SnapshotJson {
    const snapshot: SnapshotJson = {
      time: formatGoTime(this.time),
      tree: treeId,
      paths: options.paths,
      hostname: options.hostname,
      username: options.username,
    };
    if (options.parent !== undefined) snapshot.parent = options.parent;
    const { uid, gid } = userInfo();
    if (uid > 0) snapshot.uid = uid;
    if (gid > 0) snapshot.gid = gid;
    if (options.tags.length > 0) snapshot.tags = options.tags;
    snapshot.program_version = options.programVersion;
    // The field names of restic 0.17's snapshot summary; older restic ignores them.
    snapshot.summary = {
      backup_start: formatGoTime(this.time),
      backup_end: formatGoTime(new Date()),
      files_unmodified: this.stats.filesUnchanged,
      data_blobs: this.stats.blobsNew,
      tree_blobs: this.stats.treesNew,
      data_added: this.stats.bytesNew,
      data_added_packed: this.stats.bytesStored,
      total_files_processed: this.stats.files,
      total_bytes_processed: this.stats.bytesRead,
    };
    return snapshot;
  }
}

/** Yields the chunks of `content`, counting its bytes. */
async function* prepend(head: Buffer[], rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield* head;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

async function* chunkContent(
  content: Readable | AsyncIterable<Uint8Array>,
  counter: { bytes: number },
  options: Partial<ChunkerOptions>,
): AsyncGenerator<Buffer> {
  const chunker = new Chunker(options);
  for await (const data of content as AsyncIterable<unknown>) {
    if (!(data instanceof Uint8Array)) {
      throw new BackupError(
        'ERR_USAGE',
        'file stream yielded a string; read it without an encoding',
      );
    }
    counter.bytes += data.length;
    yield* chunker.push(data);
  }
  const last = chunker.finish();
  if (last) yield last;
}
