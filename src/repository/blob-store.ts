/**
 * Packs sealed blobs into pack files, uploads a bounded number at once and
 * writes an index file after every few uploaded packs. A pack is uploaded
 * before any index file names it, so a killed run leaves at most packs that
 * no index lists, never an index entry without its pack.
 *
 * Each blob is copied into its pack's one buffer as it arrives. Keeping the
 * blobs as separate buffers and joining them at the end held every pack twice
 * while it was joined, and left thousands of small buffers alive per pack of
 * small files.
 */
import { createHash } from 'node:crypto';
import type { Backend } from '../backend/index.ts';
import { releaseBuffer, seal, type MasterKey } from '../crypto/index.ts';
import type { Logger } from '../log/index.ts';
import { encodeHeader, type PackedBlob } from './pack.ts';
import { writeIndexFile, type MasterIndex, type PackContents } from './master-index.ts';
import type { BlobStats, BlobType, Id, PackHasher, SavedBlob } from './types.ts';

/** Settings of a BlobStore. */
export interface BlobStoreOptions {
  packSizeTarget: number;
  maxPendingPacks: number;
  /** Uploaded packs that trigger an index file. */
  packsPerIndex: number;
  logger: Logger;
}

interface OpenPack {
  /** The pack's bytes so far, in a buffer with room for more. */
  buffer: Buffer;
  blobs: PackedBlob[];
  size: number;
}

/**
 * Room a new pack buffer has beyond the pack size target: the largest blob
 * the chunker cuts (8 MiB) sealed, plus its header. glibc usually gives a
 * buffer this large a mapping of its own, whose pages take memory only once
 * written, so the room costs little.
 */
const PACK_BUFFER_SLACK = 8 * 1024 * 1024 + 64 * 1024;

/**
 * How long a saved pack's buffer waits for the next pack before it is freed.
 * Writing a new buffer costs a page fault per 4 KiB: copying blobs into fresh
 * buffers took 14% of the main thread in a first backup of 1 GiB of random
 * data. When data flows that fast, the next pack starts within this time.
 * A slow source, such as a bucket of small objects, keeps no idle buffer.
 */
const SPARE_IDLE_MILLIS = 250;

/** Collects blobs into packs of one type each and indexes them once stored. */
export class BlobStore {
  private readonly open = new Map<BlobType, OpenPack>();
  /** One saved pack's buffer, kept for the next pack for SPARE_IDLE_MILLIS. */
  private spare: { buffer: Buffer; timer: NodeJS.Timeout } | undefined;
  private readonly inFlight = new Set<string>();
  private readonly uploads = new Set<Promise<void>>();
  private unindexed: PackContents[] = [];
  /** Sealed bytes accepted but not yet uploaded: open packs plus packs being hashed or saved. */
  private queuedBytes = 0;
  private indexWrite: Promise<void> = Promise.resolve();
  private failure: unknown;
  /** Hashes finished packs off this thread when set; see `Repository.setPackHasher`. */
  hasher: PackHasher | undefined;
  readonly stats: BlobStats = { plaintextBytes: 0, storedBytes: 0, newBlobs: 0, duplicateBlobs: 0 };

  private readonly backend: Backend;
  private readonly key: MasterKey;
  private readonly index: MasterIndex;
  private readonly options: BlobStoreOptions;

  constructor(backend: Backend, key: MasterKey, index: MasterIndex, options: BlobStoreOptions) {
    this.backend = backend;
    this.key = key;
    this.index = index;
    this.options = options;
  }

  /** Tells whether a blob is indexed or accepted into a pack not yet indexed. */
  has(type: BlobType, id: Id): boolean {
    return this.index.has(type, id) || this.inFlight.has(type + id);
  }

  /** Adds a sealed blob unless it is known; may wait for an upload slot. */
  async add(
    type: BlobType,
    id: Id,
    sealed: Uint8Array,
    uncompressedLength: number | undefined,
    plaintextLength: number,
  ): Promise<SavedBlob> {
    this.throwIfFailed();
    this.stats.plaintextBytes += plaintextLength;
    if (this.has(type, id)) {
      this.stats.duplicateBlobs++;
      return { id, isNew: false, storedBytes: 0 };
    }
    this.inFlight.add(type + id);
    await this.waitForUploads();
    const pack = this.packFor(type);
    const { length } = sealed;
    const blob: PackedBlob = { type, id, offset: pack.size, length };
    if (uncompressedLength !== undefined) blob.uncompressedLength = uncompressedLength;
    pack.blobs.push(blob);
    appendToPack(pack, sealed);
    this.queuedBytes += length;
    this.stats.storedBytes += length;
    this.stats.newBlobs++;
    if (pack.size >= this.options.packSizeTarget) await this.finishPack(type);
    return { id, isNew: true, storedBytes: length };
  }

  /** Finishes open packs, waits for every upload and indexes everything. */
  async flush(): Promise<void> {
    for (const type of [...this.open.keys()]) await this.finishPack(type);
    while (this.uploads.size > 0) await Promise.allSettled([...this.uploads]);
    this.freeSpare();
    this.throwIfFailed();
    await this.writeIndex();
    this.throwIfFailed();
  }

  /**
   * Waits while the sealed bytes not yet uploaded exceed one pack more than
   * the uploads allowed at once. Without this, blobs that do not fill a pack
   * return at once while the one that does waits for an upload slot, so
   * finished packs would pile up in memory whenever the backend is slower
   * than the workers. While no upload runs, no pack waits for one, so this
   * cannot wait forever.
   */
  private async waitForUploads(): Promise<void> {
    const limit = (this.options.maxPendingPacks + 1) * this.options.packSizeTarget;
    while (this.queuedBytes >= limit && this.uploads.size > 0) {
      await Promise.race(this.uploads);
    }
  }

  private packFor(type: BlobType): OpenPack {
    let pack = this.open.get(type);
    if (!pack) {
      const buffer = this.takeSpare() ?? Buffer.allocUnsafeSlow(this.packCapacity());
      pack = { buffer, blobs: [], size: 0 };
      this.open.set(type, pack);
    }
    return pack;
  }

  private async finishPack(type: BlobType): Promise<void> {
    const pack = this.open.get(type);
    if (!pack) return;
    this.open.delete(type);
    while (this.uploads.size >= this.options.maxPendingPacks) await Promise.race(this.uploads);
    this.throwIfFailed();

    const blobBytes = pack.size;
    const header = seal(this.key, encodeHeader(pack.blobs));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(header.length);
    appendToPack(pack, header);
    appendToPack(pack, length);
    const upload = this.upload(pack.buffer.subarray(0, pack.size), pack.blobs);
    this.uploads.add(upload);
    void upload.finally(() => {
      this.queuedBytes -= blobBytes;
      this.uploads.delete(upload);
    });
  }

  private async upload(pack: Buffer, blobs: PackedBlob[]): Promise<void> {
    try {
      const { bytes, id: packId } = this.hasher ? await this.hasher(pack) : hashPack(pack);
      const packLength = bytes.length;
      await this.backend.save({ type: 'data', name: packId }, bytes);
      this.keepOrFree(bytes);
      this.options.logger.debug({ packId, bytes: packLength, blobs: blobs.length }, 'pack saved');
      this.unindexed.push({ packId, blobs });
      if (this.unindexed.length >= this.options.packsPerIndex) await this.writeIndex();
    } catch (err) {
      this.failure ??= err;
    }
  }

  private packCapacity(): number {
    return this.options.packSizeTarget + PACK_BUFFER_SLACK;
  }

  /**
   * Keeps a saved pack's buffer as the spare, or frees it now rather than at
   * the next garbage collection, so saved packs do not pile up. The backend
   * keeps no reference once `save` resolves.
   */
  private keepOrFree(bytes: Buffer): void {
    const { buffer, byteOffset } = bytes;
    const whole = buffer instanceof ArrayBuffer && byteOffset === 0;
    if (this.spare !== undefined || !whole || buffer.byteLength < this.packCapacity()) {
      releaseBuffer(bytes);
      return;
    }
    const timer = setTimeout(() => this.freeSpare(), SPARE_IDLE_MILLIS);
    timer.unref();
    this.spare = { buffer: Buffer.from(buffer), timer };
  }

  private takeSpare(): Buffer | undefined {
    const { spare } = this;
    if (spare === undefined) return undefined;
    clearTimeout(spare.timer);
    this.spare = undefined;
    return spare.buffer;
  }

  private freeSpare(): void {
    const buffer = this.takeSpare();
    if (buffer !== undefined) releaseBuffer(buffer);
  }

  /** Writes one index file for the packs uploaded since the last one, one write at a time. */
  private writeIndex(): Promise<void> {
    const next = this.indexWrite.then(async () => {
      const packs = this.unindexed;
      if (packs.length === 0) return;
      this.unindexed = [];
      try {
        const indexId = await writeIndexFile(this.backend, this.key, packs);
        this.options.logger.debug({ indexId, packs: packs.length }, 'index saved');
        for (const pack of packs) {
          this.index.addPack(pack.packId, pack.blobs);
          for (const blob of pack.blobs) this.inFlight.delete(blob.type + blob.id);
        }
      } catch (err) {
        this.failure ??= err;
      }
    });
    this.indexWrite = next;
    return next;
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/**
 * Copies `bytes` to the end of the pack, moving the pack to a larger buffer
 * first when they do not fit: a blob larger than any chunk, such as a large
 * tree, or the header of very many tiny blobs.
 */
function appendToPack(pack: OpenPack, bytes: Uint8Array): void {
  const needed = pack.size + bytes.length;
  if (needed > pack.buffer.length) {
    const larger = Buffer.allocUnsafeSlow(Math.max(needed, pack.buffer.length * 2));
    pack.buffer.copy(larger, 0, 0, pack.size);
    releaseBuffer(pack.buffer);
    pack.buffer = larger;
  }
  pack.buffer.set(bytes, pack.size);
  pack.size = needed;
}

/** Hashes a pack file on this thread. Its id is the SHA-256 of its bytes. */
function hashPack(bytes: Buffer): { bytes: Buffer; id: Id } {
  return { bytes, id: createHash('sha256').update(bytes).digest('hex') };
}
