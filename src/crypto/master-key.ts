/**
 * The repository master key: an AES-256 key for encryption and a
 * Poly1305-AES key (AES-128 key k and Poly1305 key r) for authentication.
 */
import { randomBytes } from 'node:crypto';
import { BackupError } from '../errors/index.ts';

/** Length of the raw master key: 32 bytes encryption key, 16 bytes k, 16 bytes r. */
export const MASTER_KEY_BYTES = 64;

/** Keys that encrypt and authenticate every file and blob of a repository. */
export interface MasterKey {
  /** AES-256-CTR key. */
  readonly encryption: Buffer;
  /** AES-128 key that turns the nonce into Poly1305's one-time pad s. */
  readonly macK: Buffer;
  /** Poly1305 key r; it is clamped when the MAC is computed. */
  readonly macR: Buffer;
}

/** Creates a new random master key. */
export function generateMasterKey(): MasterKey {
  return masterKeyFromBytes(randomBytes(MASTER_KEY_BYTES));
}

/**
 * Builds a master key from 64 raw bytes (encryption key || k || r), the layout
 * that `masterKeyToBytes` returns and scrypt output uses; worker threads
 * receive this form.
 */
export function masterKeyFromBytes(bytes: Uint8Array): MasterKey {
  if (bytes.length !== MASTER_KEY_BYTES) {
    throw new BackupError(
      'ERR_REPO_CORRUPT',
      `invalid master key length ${bytes.length}, expected ${MASTER_KEY_BYTES} bytes`,
    );
  }
  const copy = Buffer.from(bytes);
  return {
    encryption: copy.subarray(0, 32),
    macK: copy.subarray(32, 48),
    macR: copy.subarray(48, 64),
  };
}

/** Returns the 64 raw bytes of a master key (encryption key || k || r). */
export function masterKeyToBytes(key: MasterKey): Uint8Array {
  return Buffer.concat([key.encryption, key.macK, key.macR]);
}

/** JSON form of a master key inside a key file's `data` field. */
export interface MasterKeyJson {
  mac: { k: string; r: string };
  encrypt: string;
}

/** Encodes a master key as restic's key-file JSON (base64 fields). */
export function masterKeyToJson(key: MasterKey): MasterKeyJson {
  return {
    mac: { k: key.macK.toString('base64'), r: key.macR.toString('base64') },
    encrypt: key.encryption.toString('base64'),
  };
}

/** Decodes restic's key-file JSON form of a master key. */
export function masterKeyFromJson(json: unknown): MasterKey {
  const value = json as Partial<MasterKeyJson> | null;
  const encrypt = Buffer.from(String(value?.encrypt ?? ''), 'base64');
  const k = Buffer.from(String(value?.mac?.k ?? ''), 'base64');
  const r = Buffer.from(String(value?.mac?.r ?? ''), 'base64');
  if (encrypt.length !== 32 || k.length !== 16 || r.length !== 16) {
    throw new BackupError('ERR_REPO_CORRUPT', 'invalid master key in key file');
  }
  return masterKeyFromBytes(Buffer.concat([encrypt, k, r]));
}
