/**
 * Pack file layout (restic design document, "Pack Format"):
 * sealed blobs || sealed header || uint32 LE length of the sealed header.
 * Header entries: 1 type byte (0 data, 1 tree, 2 compressed data,
 * 3 compressed tree), uint32 LE sealed length, for compressed types a uint32 LE
 * plaintext length, then the 32-byte SHA-256 of the plaintext.
 */
import { BackupError } from '../errors/index.ts';
import { SEAL_OVERHEAD } from '../crypto/index.ts';
import type { BlobType, Id } from './types.ts';

/** A blob's entry in a pack header, with its offset computed. */
export interface PackedBlob {
  type: BlobType;
  id: Id;
  offset: number;
  length: number;
  uncompressedLength?: number;
}

const PLAIN_ENTRY_BYTES = 1 + 4 + 32;
const COMPRESSED_ENTRY_BYTES = 1 + 4 + 4 + 32;


/** Encodes the plaintext pack header for blobs in pack order. */
export function encodeHeader(blobs: readonly PackedBlob[]): Buffer {
  const size = blobs.reduce(
    (sum, b) =>
      sum + (b.uncompressedLength === undefined ? PLAIN_ENTRY_BYTES : COMPRESSED_ENTRY_BYTES),
    0,
  );
  const out = Buffer.alloc(size);
  let at = 0;
  for (const blob of blobs) {
    const compressed = blob.uncompressedLength !== undefined;
    out[at] = (blob.type === 'tree' ? 1 : 0) | (compressed ? 2 : 0);
    out.writeUInt32LE(blob.length, at + 1);
    at += 5;
    if (compressed) {
      out.writeUInt32LE(blob.uncompressedLength ?? 0, at);
      at += 4;
    }
    Buffer.from(blob.id, 'hex').copy(out, at);
    at += 32;
  }
  return out;
}

/** Decodes a plaintext pack header; offsets run from 0 in header order. */
export function decodeHeader(header: Buffer, packName: string): PackedBlob[] {
  const blobs: PackedBlob[] = [];
  let at = 0;
  let offset = 0;
  while (at < header.length) {
    const kind = header[at] ?? 255;
    if (kind > 3) throw corrupt(packName, `invalid blob type ${kind} in the pack header`);
    const compressed = (kind & 2) !== 0;
    const entryBytes = compressed ? COMPRESSED_ENTRY_BYTES : PLAIN_ENTRY_BYTES;
    if (at + entryBytes > header.length) throw corrupt(packName, 'truncated pack header entry');
    const length = header.readUInt32LE(at + 1);
    const uncompressedLength = compressed ? header.readUInt32LE(at + 5) : undefined;
    const id = header.subarray(at + entryBytes - 32, at + entryBytes).toString('hex');
    if (length < SEAL_OVERHEAD)
      throw corrupt(packName, `blob ${id} is shorter than its IV and MAC`);
    const blob: PackedBlob = { type: kind & 1 ? 'tree' : 'data', id, offset, length };
    if (uncompressedLength !== undefined) blob.uncompressedLength = uncompressedLength;
    blobs.push(blob);
    offset += length;
    at += entryBytes;
  }
  return blobs;
}

/**
 * Reads the sealed header's length from a pack's last 4 bytes and checks that
 * it fits; returns where the sealed header starts.
 */
export function headerStart(tail: Buffer, packSize: number, packName: string): number {
  if (packSize < 4 + SEAL_OVERHEAD) throw corrupt(packName, `pack is only ${packSize} bytes`);
  const headerLength = tail.readUInt32LE(tail.length - 4);
  const start = packSize - 4 - headerLength;
  if (headerLength < SEAL_OVERHEAD || start < 0) {
    throw corrupt(
      packName,
      `pack header length ${headerLength} does not fit the pack size ${packSize}`,
    );
  }
  return start;
}

/** Error for a pack whose header cannot be read. `detail` describes the damage without naming the pack. */
export class PackFormatError extends BackupError {
  readonly detail: string;

  constructor(packName: string, detail: string) {
    super('ERR_REPO_CORRUPT', `pack ${packName}: ${detail}; run \`bgapp-backup check\` to find damaged packs`);
    this.detail = detail;
  }
}

function corrupt(packName: string, detail: string): BackupError {
  return new PackFormatError(packName, detail);
}
