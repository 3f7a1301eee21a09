/** scrypt key derivation for key files (restic design document, "Keys, Encryption and MAC"). */
import { randomBytes, scrypt } from 'node:crypto';
import { BackupError } from '../errors/index.ts';
import { masterKeyFromBytes, type MasterKey } from './master-key.ts';

/** scrypt cost parameters and salt as a key file stores them. */
export interface KdfParams {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
}

/** scrypt cost parameters without a salt. */
export type KdfCost = Omit<KdfParams, 'salt'>;

/**
 * The cheapest cost a new key file gets: N=2^15 and r=8 (scrypt's table of
 * 128 * N * r bytes is 32 MiB) and p=1, about 0.1 s of one core. Calibration
 * keeps N and r and raises only p, because OpenSSL runs the p lanes one after
 * another over the same table: each lane adds nearly the time of a p=1
 * derivation but only 128 * r bytes, so memory stays near 32 MiB. restic
 * 0.14 calibrates to 500 ms within 60 MiB (KDFTimeout and KDFMemory in its
 * internal/repository/key.go), and on the 2-core benchmark VM it picked
 * N=2^15, r=8, p=7.
 */
export const MIN_KDF_COST: Readonly<KdfCost> = { N: 32768, r: 8, p: 1 };

/** Default time a new key file's derivation aims for, in milliseconds; restic's KDFTimeout. */
export const DEFAULT_KDF_TARGET_MILLIS = 500;

/** Largest accepted target, in milliseconds, so that a typo such as an extra zero fails. */
export const MAX_KDF_TARGET_MILLIS = 60_000;

/** Lane count of the second calibration run; the first runs one lane. */
const CALIBRATION_LANES = 3;

/** Cost of one derivation at N and r of MIN_KDF_COST: fixed part plus a part for each lane. */
export interface KdfTiming {
  fixedMillis: number;
  perLaneMillis: number;
}

let timing: Promise<KdfTiming> | undefined;

/** Returns new key file parameters: `cost` (default MIN_KDF_COST) and a fresh 64-byte salt. */
export function newKdfParams(cost: KdfCost = MIN_KDF_COST): KdfParams {
  return { N: cost.N, r: cost.r, p: cost.p, salt: randomBytes(64) };
}

/**
 * Picks the cost of a new key file so that deriving its key takes about
 * `targetMillis` on this machine, and never less than MIN_KDF_COST. A target
 * of 0 returns MIN_KDF_COST without measuring. The first call with a target
 * above 0 times two derivations of a throwaway password (about 0.3 s at the
 * minimum cost) and later calls in the process reuse that timing. Rejects
 * with ERR_USAGE when the target is not a whole number from 0 to
 * MAX_KDF_TARGET_MILLIS.
 */
export async function calibrateKdf(targetMillis = DEFAULT_KDF_TARGET_MILLIS): Promise<KdfCost> {
  if (!Number.isInteger(targetMillis) || targetMillis < 0 || targetMillis > MAX_KDF_TARGET_MILLIS) {
    throw new BackupError(
      'ERR_USAGE',
      `invalid key derivation target ${targetMillis} ms; use a whole number of milliseconds from 0 to ${MAX_KDF_TARGET_MILLIS}`,
    );
  }
  if (targetMillis === 0) return { ...MIN_KDF_COST };
  timing ??= measureKdfTiming().catch((err: unknown) => {
    timing = undefined;
    throw err;
  });
  return kdfCostFor(targetMillis, await timing);
}

/**
 * Returns MIN_KDF_COST with the lane count p whose derivation takes closest
 * to `targetMillis` by `measured`, and p=1 when even that is slower.
 */
export function kdfCostFor(targetMillis: number, measured: KdfTiming): KdfCost {
  const lanes = Math.round((targetMillis - measured.fixedMillis) / measured.perLaneMillis);
  return { ...MIN_KDF_COST, p: Math.max(MIN_KDF_COST.p, lanes) };
}

/**
 * Times derivations with 1 and CALIBRATION_LANES lanes and fits a fixed cost
 * (allocating and touching the table) plus a cost for each lane.
 */
async function measureKdfTiming(): Promise<KdfTiming> {
  const oneLane = await timeDerivation(1);
  const many = await timeDerivation(CALIBRATION_LANES);
  // A stall during the single-lane run can make the difference too small, so
  // the lane cost is at least half the average lane of the longer run.
  const perLaneMillis = Math.max(
    (many - oneLane) / (CALIBRATION_LANES - 1),
    many / CALIBRATION_LANES / 2,
  );
  return { fixedMillis: Math.max(0, oneLane - perLaneMillis), perLaneMillis };
}

/**
 * Times one derivation with `p` lanes of a random throwaway password. It
 * takes the smaller of wall time and process CPU time: other processes on a
 * busy machine stretch the wall time, and other threads of this process add
 * CPU time, but neither is the derivation's own cost.
 */
async function timeDerivation(p: number): Promise<number> {
  const params = newKdfParams({ ...MIN_KDF_COST, p });
  const password = randomBytes(16).toString('hex');
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  await deriveBytes(password, params);
  const cpu = process.cpuUsage(cpuStart);
  return Math.min(performance.now() - wallStart, (cpu.user + cpu.system) / 1000);
}

/**
 * Derives the 64-byte key that opens a key file's `data` from a password:
 * 32 bytes AES key, then 16 bytes k and 16 bytes r for Poly1305-AES.
 */
export async function deriveKey(password: string, params: KdfParams): Promise<MasterKey> {
  return masterKeyFromBytes(await deriveBytes(password, params));
}

/** Runs scrypt on libuv's thread pool, so the event loop stays free. */
function deriveBytes(password: string, params: KdfParams): Promise<Buffer> {
  // scrypt needs about 128 * N * r bytes (32 MiB for N=32768, r=8) plus
  // 128 * r * p, which Node's default maxmem of 32 MiB rejects, so allow
  // twice the table.
  const maxmem = 256 * params.N * params.r + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(
      password,
      params.salt,
      64,
      { N: params.N, r: params.r, p: params.p, maxmem },
      (err, derived) => (err ? reject(err) : resolve(derived)),
    );
  });
}
