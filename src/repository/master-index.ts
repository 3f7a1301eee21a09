/**
 * The in-memory index of every blob, built from the index files
 * (restic design document, "Indexing"), and the encoding of index files.
 */
import { createHash } from 'node:crypto';
import type { Backend } from '../backend/index.ts';
import { openUnpacked, sealUnpacked, type MasterKey } from '../crypto/index.ts';
import { BackupError, errorMessage } from '../errors/index.ts';
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

/** Every indexed blob, looked up by type and id. */
export class MasterIndex {
  private readonly blobs = new Map<string, BlobLocation>();
  private readonly packBlobs = new Map<Id, PackedBlob[]>();

  /** Adds the blobs of one pack. */
  addPack(packId: Id, blobs: readonly PackedBlob[]): void {
    const list = this.packBlobs.get(packId) ?? [];
    for (const blob of blobs) {
      const key = keyOf(blob.type, blob.id);
      if (!list.some((b) => b.offset === blob.offset)) list.push(blob);
      if (!this.blobs.has(key)) this.blobs.set(key, { ...blob, packId });
    }
    this.packBlobs.set(packId, list);
  }

  /** Returns where a blob is stored, or undefined. */
  lookup(type: BlobType, id: Id): BlobLocation | undefined {
    return this.blobs.get(keyOf(type, id));
  }

  /** Tells whether a blob is indexed. */
  has(type: BlobType, id: Id): boolean {
    return this.blobs.has(keyOf(type, id));
  }

  /** Returns every indexed pack with its blobs. */
  packs(): PackContents[] {
    return [...this.packBlobs].map(([packId, blobs]) => ({ packId, blobs }));
  }

  /** Number of indexed blobs. */
  get size(): number {
    return this.blobs.size;
  }
}

function keyOf(type: BlobType, id: Id): string {
  return type === 'tree' ? `t${id}` : `d${id}`;
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
