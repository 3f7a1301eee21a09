/** Upload sources, and the hashes of what an upload sent. */
import { createHash, type Hash } from 'node:crypto';
import { QuickXorHash } from './quickxor.ts';
import type { UploadSource } from './types.ts';

/** Returns an UploadSource over bytes already in memory. */
export function bufferSource(data: Uint8Array): UploadSource {
  return {
    size: data.length,
    read: async (offset, length) => data.subarray(offset, offset + length),
  };
}

/** Largest piece read at once when hashing bytes the upload skipped. */
const GAP_READ_BYTES = 4 * 1024 * 1024;

/**
 * Wraps a source and hashes its bytes in order as the upload reads them, so
 * a large file is read once. Bytes read again after a resume are not hashed twice.
 */
export class HashingSource implements UploadSource {
  readonly size: number;
  private readonly source: UploadSource;
  private readonly quickXor = new QuickXorHash();
  private readonly sha256: Hash = createHash('sha256');
  private hashedUpTo = 0;

  constructor(source: UploadSource) {
    this.source = source;
    this.size = source.size;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    await this.hashGap(offset);
    const data = await this.source.read(offset, length);
    if (data.length !== length) {
      throw new Error(`upload source returned ${data.length} bytes at ${offset}, not ${length}`);
    }
    this.hashFrom(offset, data);
    return data;
  }

  /** Returns the base64 quickXorHash and hex SHA-256 of the whole source, reading what is left. */
  async digests(): Promise<{ quickXorHash: string; sha256: string }> {
    await this.hashGap(this.size);
    return { quickXorHash: this.quickXor.digestBase64(), sha256: this.sha256.copy().digest('hex') };
  }

  private hashFrom(offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    if (end <= this.hashedUpTo || offset > this.hashedUpTo) return;
    const fresh = data.subarray(this.hashedUpTo - offset);
    this.quickXor.update(fresh);
    this.sha256.update(fresh);
    this.hashedUpTo = end;
  }

  private async hashGap(offset: number): Promise<void> {
    while (this.hashedUpTo < offset) {
      const length = Math.min(GAP_READ_BYTES, offset - this.hashedUpTo);
      const start = this.hashedUpTo;
      this.hashFrom(start, await this.source.read(start, length));
    }
  }
}
