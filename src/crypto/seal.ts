/**
 * Authenticated encryption as restic does it: AES-256-CTR with a random
 * 16-byte IV, then Poly1305-AES over the ciphertext, stored as
 * IV || CIPHERTEXT || MAC (restic design document, "Keys, Encryption and MAC").
 */
import { createCipheriv, createSecretKey, randomBytes } from 'node:crypto';
import type { Cipheriv, KeyObject } from 'node:crypto';
import sodium from 'sodium-native';
import { BackupError } from '../errors/index.ts';
import type { MasterKey } from './master-key.ts';

const IV_BYTES = 16;
const MAC_BYTES = 16;

/** Bytes that sealing adds to a plaintext: the IV and the MAC. */
export const SEAL_OVERHEAD = IV_BYTES + MAC_BYTES;

/** Per-key objects that are costly to make for every blob of a small file. */
interface KeyState {
  encryption: KeyObject;
  /**
   * AES-128 in ECB mode without padding encrypts each whole 16-byte block on
   * its own, so one cipher object serves every nonce of this key.
   */
  macBlock: Cipheriv;
}

const keyStates = new WeakMap<MasterKey, KeyState>();

function stateOf(key: MasterKey): KeyState {
  let state = keyStates.get(key);
  if (state === undefined) {
    const macBlock = createCipheriv('aes-128-ecb', key.macK, null);
    macBlock.setAutoPadding(false);
    state = { encryption: createSecretKey(key.encryption), macBlock };
    keyStates.set(key, state);
  }
  return state;
}

/** Random bytes fetched at once and handed out as IVs, one slice each. */
const IV_POOL_BYTES = 256 * IV_BYTES;
let ivPool = Buffer.alloc(0);
let ivOffset = 0;

/**
 * Returns a fresh random IV, never handed out before. Asking the CSPRNG for
 * 16 bytes a call took about 4% of a worker's busy time in a backup of
 * 20,000 small files, so IVs are cut from a larger random buffer.
 */
function nextIv(): Buffer {
  if (ivOffset + IV_BYTES > ivPool.length) {
    ivPool = randomBytes(IV_POOL_BYTES);
    ivOffset = 0;
  }
  const iv = ivPool.subarray(ivOffset, ivOffset + IV_BYTES);
  ivOffset += IV_BYTES;
  return iv;
}

/** Encrypts and authenticates `plaintext`, returning IV || ciphertext || MAC. */
export function seal(key: MasterKey, plaintext: Uint8Array): Buffer {
  const iv = nextIv();
  // A buffer of its own, not a slice of Node.js's shared pool: a worker then
  // transfers it without a copy, and no 64 KiB slab waits for a collection.
  const out = Buffer.allocUnsafeSlow(plaintext.length + SEAL_OVERHEAD);
  iv.copy(out, 0);
  const cipher = createCipheriv('aes-256-ctr', stateOf(key).encryption, iv);
  const body = cipher.update(plaintext);
  body.copy(out, IV_BYTES);
  releaseBuffer(body);
  cipher.final();
  const ciphertext = out.subarray(IV_BYTES, IV_BYTES + plaintext.length);
  const mac = out.subarray(IV_BYTES + plaintext.length);
  computeMac(key, iv, ciphertext, mac);
  return out;
}

/**
 * Frees the memory of a buffer that nothing else uses, now instead of at the
 * next garbage collection, by detaching its ArrayBuffer. Worker threads need
 * this: they allocate little on the JavaScript heap, so their collections
 * are rare and megabytes of finished chunks would wait for them. The caller
 * must own the whole ArrayBuffer, so that no other view uses it. The slabs of
 * Node.js's shared pool, which small buffers are cut from, are exactly
 * Buffer.poolSize bytes long (64 KiB on Node.js 24) and are left alone.
 */
export function releaseBuffer(bytes: Uint8Array): void {
  const { buffer } = bytes;
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength === Buffer.poolSize) return;
  buffer.transfer(0);
}

/**
 * Returns an ArrayBuffer with exactly the bytes of `bytes`, to transfer to or
 * from a worker thread: the view's own buffer when the view covers all of it,
 * else a copy, because transferring a shared buffer would detach other views.
 */
export function ownedArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const { buffer, byteOffset, byteLength } = bytes;
  if (buffer instanceof ArrayBuffer && byteOffset === 0 && byteLength === buffer.byteLength) {
    return buffer;
  }
  const copy = new Uint8Array(byteLength);
  copy.set(bytes);
  return copy.buffer;
}

/**
 * Checks the MAC of IV || ciphertext || MAC and decrypts it.
 * Throws ERR_REPO_CORRUPT when the data is too short or the MAC does not match.
 */
export function open(key: MasterKey, sealed: Uint8Array): Buffer {
  if (!verifyMac(key, sealed)) {
    throw new BackupError(
      'ERR_REPO_CORRUPT',
      'ciphertext verification failed: the data is damaged or was written with another key',
    );
  }
  const iv = sealed.subarray(0, IV_BYTES);
  const ciphertext = sealed.subarray(IV_BYTES, sealed.length - MAC_BYTES);
  const decipher = createCipheriv('aes-256-ctr', stateOf(key).encryption, iv);
  const plaintext = decipher.update(ciphertext);
  decipher.final();
  return plaintext;
}

/** Tells whether the MAC of IV || ciphertext || MAC matches, without decrypting. */
export function verifyMac(key: MasterKey, sealed: Uint8Array): boolean {
  if (sealed.length < SEAL_OVERHEAD) return false;
  const iv = sealed.subarray(0, IV_BYTES);
  const ciphertext = sealed.subarray(IV_BYTES, sealed.length - MAC_BYTES);
  const expected = Buffer.allocUnsafe(MAC_BYTES);
  computeMac(key, iv, ciphertext, expected);
  return sodium.sodium_memcmp(expected, sealed.subarray(sealed.length - MAC_BYTES));
}

/**
 * Computes Poly1305-AES: the one-time key is r || AES-128_k(nonce). libsodium's
 * crypto_onetimeauth clamps r itself, so r is passed as stored.
 */
function computeMac(key: MasterKey, nonce: Uint8Array, ciphertext: Uint8Array, out: Buffer): void {
  const s = stateOf(key).macBlock.update(nonce);
  const oneTimeKey = Buffer.concat([key.macR, s]);
  sodium.crypto_onetimeauth(out, ciphertext, oneTimeKey);
}
