/**
 * The data path of the archiver: each chunk is hashed on a worker, checked
 * against the repository and the blobs in flight, and only when new is it
 * compressed and sealed on a worker and handed to the repository's packer.
 */
import type { Repository } from '../repository/index.ts';
import type { ByteBudget } from './byte-budget.ts';
import type { BlobWorkerPool } from './worker-pool.ts';

/** The part of Repository that the archiver's writer and reader use. */
export type ArchiverRepository = Pick<
  Repository,
  | 'masterKeyBytes'
  | 'compression'
  | 'hasBlob'
  | 'saveBlob'
  | 'savePreparedBlob'
  | 'setPackHasher'
  | 'setBlobOpener'
  | 'loadBlob'
  | 'flush'
  | 'saveSnapshot'
  | 'loadSnapshot'
>;

/** Counts of one snapshot's work; byte counts include tree blobs. */
export interface ArchiveStats {
  files: number;
  /** Files added from the parent snapshot by metadata, without reading them. */
  filesUnchanged: number;
  dirs: number;
  symlinks: number;
  /** Bytes read from file streams. */
  bytesRead: number;
  /** Plaintext bytes of blobs the repository did not have. */
  bytesNew: number;
  /** Bytes added to packs: sealed, and compressed where that helped. */
  bytesStored: number;
  /** Data blobs the repository did not have. */
  blobsNew: number;
  /** Data blobs found in the repository or already in flight in this snapshot. */
  blobsKnown: number;
  treesNew: number;
  treesKnown: number;
}

/** Returns stats with every count at zero. */
export function emptyStats(): ArchiveStats {
  return {
    files: 0,
    filesUnchanged: 0,
    dirs: 0,
    symlinks: 0,
    bytesRead: 0,
    bytesNew: 0,
    bytesStored: 0,
    blobsNew: 0,
    blobsKnown: 0,
    treesNew: 0,
    treesKnown: 0,
  };
}

/** Saves data chunks through the worker pool, deduplicating within and across snapshots. */
export class BlobSaver {
  private readonly inFlight = new Set<string>();
  private readonly pending = new Set<Promise<void>>();
  private failure: unknown;
  private readonly repo: ArchiverRepository;
  private readonly pool: BlobWorkerPool;
  private readonly budget: ByteBudget;
  private readonly stats: ArchiveStats;

  constructor(repo: ArchiverRepository, pool: BlobWorkerPool, budget: ByteBudget, stats: ArchiveStats) {
    this.repo = repo;
    this.pool = pool;
    this.budget = budget;
    this.stats = stats;
  }

  /**
   * Saves every chunk of `chunks` and returns their blob ids in order. It
   * resolves once each chunk is hashed and either known or queued for
   * storage; `drain` waits for the storage. Pulling the next chunk waits
   * while the byte budget is spent, which slows down a fast reader. With
   * `stream` (from `pool.openStream()`), every chunk also feeds that stream's
   * running SHA-256.
   */
  async saveChunks(chunks: AsyncIterable<Buffer>, stream?: number): Promise<string[]> {
    const ids: Promise<string>[] = [];
    for await (const chunk of chunks) {
      this.throwIfFailed();
      await this.budget.acquire(chunk.length);
      const id = this.saveChunk(chunk, stream);
      // Rejections are collected by Promise.all below; this keeps them from
      // being reported as unhandled while the loop is still reading.
      id.catch(() => {});
      ids.push(id);
    }
    return Promise.all(ids);
  }

  /**
   * Saves the only chunk of a file and returns its blob id, which is also
   * the file's SHA-256. One worker task hashes and seals it, and the seal is
   * dropped when the blob is known. It resolves once the chunk is known or
   * queued for storage.
   */
  async saveOnlyChunk(chunk: Buffer): Promise<string> {
    this.throwIfFailed();
    const length = chunk.length;
    await this.budget.acquire(length);
    let prepared;
    try {
      prepared = await this.pool.hashAndSeal(chunk);
    } catch (err) {
      this.budget.release(length);
      throw err;
    }

    return this.saveSealed(prepared.id, prepared.sealed, prepared.uncompressedLength, length);
  }

  /**
   * Stores a blob that a worker already hashed and sealed, unless it is
   * known, and returns its id. The caller has acquired `length` bytes of the
   * budget, which this releases once the blob is stored or found known.
   */
  saveSealed(id: string, sealed: Buffer, uncompressedLength: number | undefined, length: number): string {
    if (this.inFlight.has(id) || this.repo.hasBlob('data', id)) {
      this.stats.blobsKnown++;
      this.budget.release(length);
      return id;
    }
    this.startStoring(id, length, () => this.storeSealed(id, sealed, uncompressedLength, length));
    return id;
  }

  /** Waits until every queued blob is in the repository's packer; throws the first failure. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    this.throwIfFailed();
  }

  private async saveChunk(chunk: Buffer, stream: number | undefined): Promise<string> {
    const length = chunk.length;
    let hashed;
    try {
      hashed = await this.pool.hash(chunk, stream);
    } catch (err) {
      this.budget.release(length);
      throw err;
    }

    const { id, data } = hashed;
    if (this.inFlight.has(id) || this.repo.hasBlob('data', id)) {
      this.stats.blobsKnown++;
      this.budget.release(length);
      return id;
    }

    this.startStoring(id, length, () => this.store(id, data));
    return id;
  }

  /** Counts a new blob and tracks its storage, which releases its budget when done. */
  private startStoring(id: string, length: number, store: () => Promise<void>): void {
    this.inFlight.add(id);
    this.stats.blobsNew++;
    this.stats.bytesNew += length;
    const storing = store().finally(() => {
      this.inFlight.delete(id);
      this.budget.release(length);
    });
    this.track(storing);
  }

  private async store(id: string, data: Buffer): Promise<void> {
    const plaintextLength = data.length;
    const { sealed, uncompressedLength } = await this.pool.seal(data);
    await this.storeSealed(id, sealed, uncompressedLength, plaintextLength);
  }

  private async storeSealed(
    id: string,
    sealed: Buffer,
    uncompressedLength: number | undefined,
    plaintextLength: number,
  ): Promise<void> {
    const saved = await this.repo.savePreparedBlob({
      type: 'data',
      id,
      sealed,
      uncompressedLength,
      plaintextLength,
    });
    this.stats.bytesStored += saved.storedBytes;
    if (!saved.isNew) {
      // Another writer on the same Repository stored it between our check and now.
      this.stats.blobsNew--;
      this.stats.blobsKnown++;
      this.stats.bytesNew -= plaintextLength;
    }
  }

  private track(storing: Promise<void>): void {
    this.pending.add(storing);
    storing.then(
      () => this.pending.delete(storing),
      (err: unknown) => {
        this.failure ??= err;
        this.pending.delete(storing);
      },
    );
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
