/**
 * A compact in-memory table of blob locations. An entry takes 53 bytes in
 * typed arrays (the 32-byte id, flags, pack number, offset and lengths), plus
 * its slot in an open-addressing hash table keyed by the id's first bytes,
 * which are uniformly random because ids are SHA-256 digests. With 200,000
 * blobs this measured 88 bytes per blob, growth slack included, where a Map of
 * strings and objects took 336 (heap plus ArrayBuffers after a full garbage
 * collection, Node.js 24).
 */
import type { BlobType, Id } from './types.ts';

/** One stored entry, as the table returns it. */
export interface TableEntry {
  type: BlobType;
  id: Id;
  pack: number;
  offset: number;
  length: number;
  uncompressedLength?: number;
}

const ID_BYTES = 32;
const TREE = 1;
const COMPRESSED = 2;

/** Stores entries in insertion order and finds the first entry of each type and id. */
export class BlobTable {
  private count = 0;
  private ids = new Uint8Array(0);
  private flags = new Uint8Array(0);
  private packs = new Uint32Array(0);
  private offsets = new Float64Array(0);
  private lengths = new Uint32Array(0);
  private uncompressed = new Uint32Array(0);
  /** Entry index + 1 of the first entry for each distinct type and id, where 0 marks an empty slot. */
  private slots = new Uint32Array(1024);
  private distinct = 0;

  /** Number of entries, duplicates included. */
  get size(): number {
    return this.count;
  }

  /** Number of distinct (type, id) pairs. */
  get distinctSize(): number {
    return this.distinct;
  }

  /** Appends an entry. For a type and id stored twice, `find` returns the first entry. */
  add(entry: TableEntry): void {
    if (this.count === this.packs.length) this.grow();
    const i = this.count++;
    this.ids.set(Buffer.from(entry.id, 'hex').subarray(0, ID_BYTES), i * ID_BYTES);
    const compressed = entry.uncompressedLength !== undefined;
    this.flags[i] = (entry.type === 'tree' ? TREE : 0) | (compressed ? COMPRESSED : 0);
    this.packs[i] = entry.pack;
    this.offsets[i] = entry.offset;
    this.lengths[i] = entry.length;
    this.uncompressed[i] = entry.uncompressedLength ?? 0;
    if (this.findIndex(entry.type, this.ids.subarray(i * ID_BYTES, (i + 1) * ID_BYTES)) < 0) {
      if ((this.distinct + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
      this.insertSlot(i);
      this.distinct++;
    }
  }

  /** Returns the index of the first entry with this type and hex id, or -1. */
  find(type: BlobType, id: Id): number {
    if (id.length !== ID_BYTES * 2) return -1;
    return this.findIndex(type, Buffer.from(id, 'hex'));
  }

  /** Returns entry `i`. */
  entry(i: number): TableEntry {
    const flags = this.flags[i]!;
    const out: TableEntry = {
      type: flags & TREE ? 'tree' : 'data',
      id: Buffer.from(this.ids.buffer, i * ID_BYTES, ID_BYTES).toString('hex'),
      pack: this.packs[i]!,
      offset: this.offsets[i]!,
      length: this.lengths[i]!,
    };
    if (flags & COMPRESSED) out.uncompressedLength = this.uncompressed[i]!;
    return out;
  }

  /** Tells whether entry `i` lies in `pack` at `offset`. */
  isAt(i: number, pack: number, offset: number): boolean {
    return this.packs[i] === pack && this.offsets[i] === offset;
  }

  private findIndex(type: BlobType, id: Uint8Array): number {
    const typeFlag = type === 'tree' ? TREE : 0;
    const mask = this.slots.length - 1;
    for (let slot = this.hashOf(id, typeFlag) & mask; ; slot = (slot + 1) & mask) {
      const stored = this.slots[slot]!;
      if (stored === 0) return -1;
      const i = stored - 1;
      if ((this.flags[i]! & TREE) === typeFlag && this.sameId(i, id)) return i;
    }
  }

  private sameId(i: number, id: Uint8Array): boolean {
    const base = i * ID_BYTES;
    for (let k = 0; k < ID_BYTES; k++) if (this.ids[base + k] !== id[k]) return false;
    return true;
  }

  /** Takes 4 bytes of the id, which SHA-256 makes uniformly random, mixed with the type. */
  private hashOf(id: Uint8Array, typeFlag: number): number {
    return ((id[0]! | (id[1]! << 8) | (id[2]! << 16) | (id[3]! << 24)) ^ typeFlag) >>> 0;
  }

  private insertSlot(i: number): void {
    const mask = this.slots.length - 1;
    const id = this.ids.subarray(i * ID_BYTES, (i + 1) * ID_BYTES);
    let slot = this.hashOf(id, this.flags[i]! & TREE) & mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
    this.slots[slot] = i + 1;
  }

  private rehash(size: number): void {
    const old = this.slots;
    this.slots = new Uint32Array(size);
    for (const stored of old) if (stored !== 0) this.insertSlot(stored - 1);
  }

  private grow(): void {
    const capacity = Math.max(1024, this.packs.length * 2);
    this.ids = resized(this.ids, capacity * ID_BYTES);
    this.flags = resized(this.flags, capacity);
    this.packs = resized(this.packs, capacity);
    this.offsets = resized(this.offsets, capacity);
    this.lengths = resized(this.lengths, capacity);
    this.uncompressed = resized(this.uncompressed, capacity);
  }
}

type TypedArray = Uint8Array | Uint32Array | Float64Array;

function resized<T extends TypedArray>(array: T, length: number): T {
  const out = new (array.constructor as new (length: number) => T)(length);
  out.set(array as never);
  return out;
}
