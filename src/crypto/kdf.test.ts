import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBackupError } from '../errors/index.ts';
import {
  DEFAULT_KDF_TARGET_MILLIS,
  MIN_KDF_COST,
  calibrateKdf,
  deriveKey,
  kdfCostFor,
  newKdfParams,
} from './index.ts';

/** Returns the CPU time of this process spent while `work` runs, in milliseconds. */
async function cpuMillis(work: () => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  await work();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

describe('kdfCostFor', () => {
  const timing = { fixedMillis: 30, perLaneMillis: 70 };

  it('returns the minimum for target 0', () => {
    assert.deepEqual(kdfCostFor(0, timing), MIN_KDF_COST);
  });

  it('returns the minimum below one lane', () => {
    assert.deepEqual(kdfCostFor(80, timing), MIN_KDF_COST);
  });

  it('raises only p for larger targets', () => {
    // (500 - 30) / 70 = 6.7 lanes, rounded to 7.
    assert.deepEqual(kdfCostFor(500, timing), { N: 32768, r: 8, p: 7 });
    assert.deepEqual(kdfCostFor(60_000, timing), { N: 32768, r: 8, p: 857 });
  });
});

describe('calibrateKdf', () => {
  it('returns the minimum for target 0 without measuring', async () => {
    const cpu = await cpuMillis(async () => {
      assert.deepEqual(await calibrateKdf(0), MIN_KDF_COST);
    });
    // One p=1 derivation costs about 100 ms of CPU time.
    assert.ok(cpu < 30, `target 0 used ${cpu} ms of CPU time`);
  });

  it('defaults to 500 ms', () => {
    assert.equal(DEFAULT_KDF_TARGET_MILLIS, 500);
  });

  it('raises p for 300 ms and measures once', async () => {
    const cost = await calibrateKdf(300);
    assert.equal(cost.N, 32768);
    assert.equal(cost.r, 8);
    assert.ok(cost.p > 1, `p is ${cost.p}`);

    const cpu = await cpuMillis(async () => {
      assert.deepEqual(await calibrateKdf(300), cost);
    });
    assert.ok(cpu < 30, `a second calibration used ${cpu} ms of CPU time`);
  });

  it('picks a cost whose derivation takes about the target', async () => {
    const cost = await calibrateKdf(300);
    const cpu = await cpuMillis(() => deriveKey('password', newKdfParams(cost)));
    assert.ok(cpu > 150, `a 300 ms target derived in only ${cpu} ms of CPU time`);
    assert.ok(cpu < 600, `a 300 ms target derived in ${cpu} ms of CPU time`);
  });

  it('rejects invalid targets with ERR_USAGE', async () => {
    for (const target of [-1, 1.5, 60_001, Number.NaN]) {
      await assert.rejects(
        calibrateKdf(target),
        (err) => isBackupError(err, 'ERR_USAGE') && err.message.includes(String(target)),
        `target ${target}`,
      );
    }
  });
});
