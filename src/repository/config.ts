/**
 * The repository config file and the chunker polynomial it names. The config
 * file is sealed but never compressed, because a reader must know the
 * repository version before it can decode compressed files.
 */
import { randomBytes } from 'node:crypto';
import type { RepositoryConfig } from './types.ts';

/** Repository format version this project writes. */
export const REPOSITORY_VERSION = 2;

/** Creates the config of a new repository with a random id and polynomial. */
export function newConfig(): RepositoryConfig {
  return {
    version: REPOSITORY_VERSION,
    id: randomBytes(32).toString('hex'),
    chunker_polynomial: randomPolynomial().toString(16),
  };
}

const DEGREE = 53n;

/**
 * Picks a random irreducible polynomial of degree 53 over GF(2), which is what
 * the Rabin fingerprint chunker needs.
 */
export function randomPolynomial(): bigint {
  for (;;) {
    const random = randomBytes(8).readBigUInt64LE();
    const candidate = (random & ((1n << DEGREE) - 1n)) | (1n << DEGREE);
    if (isIrreducible(candidate)) return candidate;
  }
}

/**
 * Tells whether a polynomial over GF(2) is irreducible with Ben-Or's test: f of
 * degree d is irreducible when gcd(f, x^(2^i) - x mod f) = 1 for i = 1 .. d/2.
 */
export function isIrreducible(f: bigint): boolean {
  const degree = degreeOf(f);
  let power = 2n; // the polynomial x
  for (let i = 1; i <= degree / 2; i++) {
    power = mulMod(power, power, f);
    if (gcd(power ^ 2n, f) !== 1n) return false;
  }
  return true;
}

function degreeOf(f: bigint): number {
  return f.toString(2).length - 1;
}

function mod(a: bigint, f: bigint): bigint {
  const fd = degreeOf(f);
  while (a !== 0n && degreeOf(a) >= fd) a ^= f << BigInt(degreeOf(a) - fd);
  return a;
}

function mulMod(a: bigint, b: bigint, f: bigint): bigint {
  let result = 0n;
  while (b !== 0n) {
    if (b & 1n) result ^= a;
    b >>= 1n;
    a = mod(a << 1n, f);
  }
  return mod(result, f);
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, mod(a, b)];
  return a;
}
