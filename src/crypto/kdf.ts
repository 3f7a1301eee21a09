/** scrypt key derivation for key files (restic design document, "Keys, Encryption and MAC"). */
import { randomBytes, scrypt } from 'node:crypto';
import { masterKeyFromBytes, type MasterKey } from './master-key.ts';

/** scrypt cost parameters and salt as a key file stores them. */
export interface KdfParams {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
}

/** Cost parameters for new key files: N=2^15, r=8, p=1 (about 32 MiB and 0.1 s). */
export function newKdfParams(): KdfParams {
  return { N: 32768, r: 8, p: 1, salt: randomBytes(64) };
}

/**
 * Derives the 64-byte key that opens a key file's `data` from a password:
 * 32 bytes AES key, then 16 bytes k and 16 bytes r for Poly1305-AES.
 */
export function deriveKey(password: string, params: KdfParams): Promise<MasterKey> {
  // scrypt needs about 128 * N * r bytes (32 MiB for N=32768, r=8), which Node's
  // default maxmem of 32 MiB rejects, so allow twice that.
  const maxmem = 256 * params.N * params.r + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(
      password,
      params.salt,
      64,
      { N: params.N, r: params.r, p: params.p, maxmem },
      (err, derived) => (err ? reject(err) : resolve(masterKeyFromBytes(derived))),
    );
  });
}
