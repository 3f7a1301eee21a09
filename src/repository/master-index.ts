/**
 * The in-memory index of every blob, built from the index files
 * (restic design document, "Indexing"), and the encoding of index files.
 */
import { createHash } from 'node:crypto';
import type { Backend } from '../backend/index.ts';
import { openUnpacked, sealUnpacked, type MasterKey } from '../crypto/index.ts';
import { BackupError, errorMessage } from '../errors/index.ts';
import { BlobTable } from './blob-table.ts';
import type { PackedBlob } from './pack.ts';
import type { BlobLocation, BlobType, Id } from './types.ts';

/** The JSON of an index file. */
export interface IndexJson {
  supersedes?: Id[] | null;
  packs: {
    id: Id;
    blobs: {
      id: Id;
      type: BlobType;
      offset: number;
      length: number;
      uncompressed_length?: number;
    }[];
  }[];
}

/** A pack and the blobs its header lists. */
export interface PackContents {
  packId: Id;
  blobs: PackedBlob[];
}

/** Every indexed blob, looked up by type and id, kept compact in a BlobTable. */
export class MasterIndex {
  private readonly table = new BlobTable();
  private readonly packIds: Id[] = [];
  private readonly packNumbers = new Map<Id, number>();
  /** End of the last indexed blob of each pack, by pack number. */
  private readonly blobsEnds: number[] = [];

  /** Adds the blobs of one pack; a pack added again adds only blobs at new offsets. */
  addPack(packId: Id, blobs: readonly PackedBlob[]): void {
    let pack = this.packNumbers.get(packId);
    const seenBefore = pack !== undefined;
    if (pack === undefined) {
      pack = this.packIds.push(packId) - 1;
      this.packNumbers.set(packId, pack);
    }
    let blobsEnd = this.blobsEnds[pack] ?? 0;
    for (const blob of blobs) {
      blobsEnd = Math.max(blobsEnd, blob.offset + blob.length);
      if (seenBefore && this.hasEntryAt(pack, blob.offset)) continue;
      this.table.add({ ...blob, pack });
    }
    this.blobsEnds[pack] = blobsEnd;
  }

  /** Returns where the last indexed blob of a pack ends, or undefined for a pack not indexed. */
  blobsEnd(packId: Id): number | undefined {
    const pack = this.packNumbers.get(packId);
    return pack === undefined ? undefined : this.blobsEnds[pack];
  }

  /** Returns where a blob is stored, or undefined. */
  lookup(type: BlobType, id: Id): BlobLocation | undefined {
    const i = this.table.find(type, id);
    if (i < 0) return undefined;
    const { pack, ...entry } = this.table.entry(i);
    return { ...entry, packId: this.packIds[pack]! };
  }

  /** Tells whether a blob is indexed. */
  has(type: BlobType, id: Id): boolean {
    return this.table.find(type, id) >= 0;
  }

  /** Returns every indexed pack with its blobs, duplicates of blobs in other packs included. */
  packs(): PackContents[] {
    const lists: PackedBlob[][] = this.packIds.map(() => []);
    for (let i = 0; i < this.table.size; i++) {
      const { pack, ...blob } = this.table.entry(i);
      lists[pack]!.push(blob);
    }
    return this.packIds.map((packId, pack) => ({ packId, blobs: lists[pack]! }));
  }

  /** Number of distinct indexed blobs. */
  get size(): number {
    return this.table.distinctSize;
  }

  // Linear, but only runs for a pack that a second index file lists again.
  private hasEntryAt(pack: number, offset: number): boolean {
    for (let i = 0; i < this.table.size; i++) if (this.table.isAt(i, pack, offset)) return true;
    return false;
  }
}

/** Reads every index file, leaving out those that other index files supersede. */
export async function loadMasterIndex(backend: Backend, key: MasterKey): Promise<MasterIndex> {
  const files = new Map<Id, IndexJson>();
  for (const { name } of await backend.list('index')) {
    files.set(name, await readIndexFile(backend, key, name));
  }
  const superseded = new Set<Id>();
  for (const json of files.values()) for (const id of json.supersedes ?? []) superseded.add(id);

  const index = new MasterIndex();
  for (const [name, json] of files) {
    if (superseded.has(name)) continue;
    for (const pack of json.packs ?? []) index.addPack(pack.id, pack.blobs.map(fromJsonBlob));
  }
  return index;
}

/** Reads and decodes one index file. */
export async function readIndexFile(
  backend: Backend,
  key: MasterKey,
  name: Id,
): Promise<IndexJson> {
  const sealed = await backend.load({ type: 'index', name });
  try {
    return JSON.parse(openUnpacked(key, sealed).toString('utf8')) as IndexJson;
  } catch (err) {
    throw new BackupError(
      'ERR_REPO_CORRUPT',
      `index file index/${name} cannot be read: ${errorMessage(err)}; run \`bgapp-backup check\``,
      { cause: err },
    );
  }
}

/** Writes an index file listing `packs`; returns its id. */
export async function writeIndexFile(
  backend: Backend,
  key: MasterKey,
  packs: readonly PackContents[],
): Promise<Id> {
  const json: IndexJson = {
    packs: packs.map((p) => ({ id: p.packId, blobs: p.blobs.map(toJsonBlob) })),
  };
  const sealed = sealUnpacked(key, Buffer.from(JSON.stringify(json)));
  const id = createHash('sha256').update(sealed).digest('hex');
  await backend.save({ type: 'index', name: id }, sealed);
  return id;
}

function toJsonBlob(blob: PackedBlob): IndexJson['packs'][number]['blobs'][number] {
  const out: IndexJson['packs'][number]['blobs'][number] = {
    id: blob.id,
    type: blob.type,
    offset: blob.offset,
    length: blob.length,
  };
  if (blob.uncompressedLength !== undefined) out.uncompressed_length = blob.uncompressedLength;
  return out;
}

function fromJsonBlob(blob: IndexJson['packs'][number]['blobs'][number]): PackedBlob {
  const out: PackedBlob = {
    type: blob.type,
    id: blob.id,
    offset: blob.offset,
    length: blob.length,
  };
  if (blob.uncompressed_length !== undefined) out.uncompressedLength = blob.uncompressed_length;
  return out;
}
