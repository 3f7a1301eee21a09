/**
 * zstd compression of blobs and of unpacked files, as repository format
 * version 2 stores them (restic design document, "Unpacked Data Format").
 */
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { BackupError, errorMessage } from '../errors/index.ts';
import { open, releaseBuffer, seal } from './seal.ts';
import type { MasterKey } from './master-key.ts';
import { compressBound, compressKept, decompressKept, type ZstdParams } from './zstd-context.ts';

/** First plaintext byte of a version 2 unpacked file whose rest is zstd-compressed JSON. */
const ENCODING_ZSTD = 2;

/**
 * zstd level 1. On this project's 2-core VM, on 1 MiB chunks of a generated
 * mix of SQL-like text and random blocks, level 1 compressed at 0.30 to 0.43
 * GB/s to 57.4% of the input, and level 3 (zstd's default) at 0.25 GB/s to
 * 56.2%. Compression is the largest cost of a first backup of such data, so
 * the 2% of extra bytes buys about a third more speed.
 */
const ZSTD_LEVEL = 1;

const ZSTD_PARAMS: ZstdParams = {
  [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL,
  [constants.ZSTD_c_checksumFlag]: 1,
};

/** Compresses bytes with zstd. */
export function compress(plaintext: Uint8Array): Buffer {
  return (
    compressKept(plaintext, ZSTD_PARAMS) ??
    zstdCompressSync(plaintext, {
      // One output buffer of zstd's worst-case size instead of a list of
      // small ones joined at the end, which halves the garbage.
      chunkSize: compressBound(plaintext.length),
      params: ZSTD_PARAMS,
    })
  );
}

/**
 * Decompresses zstd bytes; `expectedLength`, when known, bounds the output.
 * Throws ERR_REPO_CORRUPT when the data is not valid zstd or has the wrong length.
 */
export function decompress(data: Uint8Array, expectedLength?: number): Buffer {
  let out: Buffer | undefined;
  try {
    if (expectedLength !== undefined) out = decompressKept(data, expectedLength);
    // With the length known, zstd writes into one buffer of exactly that
    // size instead of many small ones joined at the end. That was about twice
    // as fast on 1 MiB of text, and the result owns its whole ArrayBuffer, so
    // a worker transfers it without a copy. zlib's smallest chunk is 64 bytes.
    const options = expectedLength === undefined ? {} : { chunkSize: Math.max(expectedLength, 64) };
    out ??= zstdDecompressSync(data, options);
  } catch (err) {
    throw new BackupError('ERR_REPO_CORRUPT', `invalid zstd data: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new BackupError(
      'ERR_REPO_CORRUPT',
      `decompressed blob has ${out.length} bytes, the index says ${expectedLength}`,
    );
  }
  return out;
}

/** A blob compressed (when asked) and sealed, ready to be appended to a pack. */
export interface SealedBlob {
  sealed: Buffer;
  /** Plaintext length when the blob was compressed; absent for a blob stored as is. */
  uncompressedLength?: number;
}

/**
 * Compresses (when `compressIt` is true and it helps) and seals a blob's
 * plaintext. Uses only the raw key, so it runs in worker threads too.
 */
export function sealBlob(key: MasterKey, plaintext: Uint8Array, compressIt: boolean): SealedBlob {
  if (compressIt && plaintext.length > 0) {
    const packed = compress(plaintext);
    const smaller = packed.length < plaintext.length;
    const sealed = smaller ? seal(key, packed) : undefined;
    releaseBuffer(packed);
    if (sealed) return { sealed, uncompressedLength: plaintext.length };
  }
  return { sealed: seal(key, plaintext) };
}

/** Opens a sealed blob and decompresses it when `uncompressedLength` is given. */
export function openBlob(key: MasterKey, sealed: Uint8Array, uncompressedLength?: number): Buffer {
  const plaintext = open(key, sealed);
  if (uncompressedLength === undefined) return plaintext;
  const out = decompress(plaintext, uncompressedLength);
  // Freed now: on a worker, the next collection may be many blobs away.
  releaseBuffer(plaintext);
  return out;
}

/** Seals a JSON document as a version 2 unpacked file: 0x02 || zstd(JSON). */
export function sealUnpacked(key: MasterKey, json: Uint8Array): Buffer {
  const packed = compress(json);
  const plaintext = Buffer.allocUnsafe(packed.length + 1);
  plaintext[0] = ENCODING_ZSTD;
  packed.copy(plaintext, 1);
  return seal(key, plaintext);
}

/**
 * Opens an unpacked file (index, snapshot, lock) and returns its JSON bytes.
 * Accepts plain JSON (first byte '{' or '[') as version 1 and older writers
 * store it, and 0x02 || zstd(JSON).
 */
export function openUnpacked(key: MasterKey, sealed: Uint8Array): Buffer {
  const plaintext = open(key, sealed);
  const first = plaintext[0];
  if (first === 0x7b || first === 0x5b) return plaintext;
  if (first === ENCODING_ZSTD) return decompress(plaintext.subarray(1));
  throw new BackupError(
    'ERR_REPO_CORRUPT',
    `unknown encoding version ${String(first)} of an unpacked file`,
  );
}
