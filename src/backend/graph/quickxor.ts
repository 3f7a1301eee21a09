/**
 * quickXorHash, the content hash that OneDrive and SharePoint report in
 * `file.hashes.quickXorHash` (Microsoft, "Code snippets: QuickXorHash
 * algorithm", learn.microsoft.com/onedrive/developer/code-snippets/quickxorhash).
 *
 * The state is 160 bits. Byte i of the input is XORed into the state at bit
 * position (11 * i) mod 160, with bits that pass bit 159 wrapping round to
 * bit 0. The 20-byte digest is the state in little-endian byte order, with the
 * input length as a 64-bit little-endian integer XORed into its last 8 bytes,
 * and it is shown in base64.
 */

/** Digest length in bytes. */
export const QUICK_XOR_HASH_BYTES = 20;

const WIDTH_IN_BITS = 160;
const SHIFT_IN_BITS = 11;
const WORDS = WIDTH_IN_BITS / 32;

// Byte i and byte i + 160 land at the same bit position, because
// 160 * 11 is a multiple of 160. So update() only XORs each byte into a
// 160-byte fold, and digest() places the 160 folded bytes once each.
const CYCLE_BYTES = WIDTH_IN_BITS;

/** Streaming quickXorHash: call update() with each chunk, then digest(). */
export class QuickXorHash {
  #fold = new Uint8Array(CYCLE_BYTES);
  #position = 0;
  #length = 0;

  /** Adds a chunk of input. Returns this hash, so calls can be chained. */
  update(chunk: Uint8Array): this {
    const fold = this.#fold;
    let position = this.#position;
    let i = 0;
    // Finish the current cycle, then fold whole cycles without index checks.
    while (i < chunk.length && position !== 0) {
      fold[position] = fold[position]! ^ chunk[i++]!;
      position = position === CYCLE_BYTES - 1 ? 0 : position + 1;
    }
    for (; i + CYCLE_BYTES <= chunk.length; i += CYCLE_BYTES) {
      for (let j = 0; j < CYCLE_BYTES; j++) {
        fold[j] = fold[j]! ^ chunk[i + j]!;
      }
    }
    for (; i < chunk.length; i++) {
      fold[position] = fold[position]! ^ chunk[i]!;
      position++;
    }
    this.#position = position;
    this.#length += chunk.length;
    return this;
  }

  /** Input length so far, in bytes. */
  get length(): number {
    return this.#length;
  }

  /** Computes the 20-byte digest of the input so far. The hash can take more input afterwards. */
  digest(): Buffer {
    const state = new Uint32Array(WORDS);
    for (let i = 0; i < CYCLE_BYTES; i++) {
      xorByteAt(state, this.#fold[i]!, (i * SHIFT_IN_BITS) % WIDTH_IN_BITS);
    }
    const out = Buffer.alloc(QUICK_XOR_HASH_BYTES);
    for (let w = 0; w < WORDS; w++) {
      out.writeUInt32LE(state[w]!, w * 4);
    }
    xorLengthIntoTail(out, this.#length);
    return out;
  }

  /** Computes the digest as base64, the form Graph reports. */
  digestBase64(): string {
    return this.digest().toString('base64');
  }
}

/** Computes the base64 quickXorHash of one buffer. */
export function quickXorHash(data: Uint8Array): string {
  return new QuickXorHash().update(data).digestBase64();
}

/** Computes the base64 quickXorHash of a stream of chunks, such as a file read stream. */
export async function quickXorHashOfStream(source: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = new QuickXorHash();
  for await (const chunk of source) {
    hash.update(chunk);
  }
  return hash.digestBase64();
}

// XORs `value` (one byte) into the 160-bit state at bit `bit`. A byte
// placed at bits 153..159 spills its high bits into word 0, because
// 160 is a multiple of 32 and so the state wraps at a word boundary.
function xorByteAt(state: Uint32Array, value: number, bit: number): void {
  const word = bit >>> 5;
  const offset = bit & 31;
  state[word] = state[word]! ^ (value << offset);
  if (offset > 24) {
    const next = (word + 1) % WORDS;
    state[next] = state[next]! ^ (value >>> (32 - offset));
  }
}

function xorLengthIntoTail(out: Buffer, length: number): void {
  const tail = QUICK_XOR_HASH_BYTES - 8;
  const low = length >>> 0;
  const high = Math.floor(length / 2 ** 32) >>> 0;
  out.writeUInt32LE((out.readUInt32LE(tail) ^ low) >>> 0, tail);
  out.writeUInt32LE((out.readUInt32LE(tail + 4) ^ high) >>> 0, tail + 4);
}
