import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBackupError } from '../../errors/index.ts';
import { FakeClock } from './clock.ts';
import { Gate } from './gate.ts';
import { finalGraphError } from './graph-errors.ts';
import { parseRetryAfter, RetryBudget, RetryPolicy, type Failure } from './retry.ts';
import { fragmentEnd, checkFragmentBytes, FRAGMENT_UNIT_BYTES } from './upload.ts';

function policy(clock: FakeClock, maxTotalWaitMillis = 30 * 60_000) {
  const gate = new Gate(4, clock);
  const settings = {
    maxTotalWaitMillis,
    baseBackoffMillis: 1000,
    maxBackoffMillis: 60_000,
    random: () => 0.5,
  };
  return { gate, policy: new RetryPolicy(settings, clock, gate, finalGraphError) };
}

function status(code: number, headers: Record<string, string> = {}): Failure {
  return { kind: 'status', status: code, headers: new Headers(headers), detail: '' };
}

describe('parseRetryAfter', () => {
  it('reads delta-seconds', () => {
    assert.equal(parseRetryAfter('3', 0), 3000);
  });

  it('reads an HTTP date relative to now', () => {
    const now = Date.UTC(2025, 0, 1, 0, 0, 0);
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now), 10_000);
  });

  it('returns undefined when the value is missing or invalid', () => {
    assert.equal(parseRetryAfter(null, 0), undefined);
    assert.equal(parseRetryAfter('soon', 0), undefined);
  });
});

describe('RetryPolicy', () => {
  it('honours a lower-case Retry-After', async () => {
    const clock = new FakeClock();
    const { policy: retry } = policy(clock);
    // Headers are case-insensitive, so a lower-case name from the wire is found.
    await retry.waitToRetry(status(429, { 'retry-after': '3' }), new RetryBudget(), 'upload x');
    assert.deepEqual(clock.sleeps, [3000]);
  });

  it('backs off with a bounded delay when Retry-After is missing', async () => {
    const clock = new FakeClock();
    const { policy: retry } = policy(clock);
    const budget = new RetryBudget();
    for (let i = 0; i < 10; i++) await retry.waitToRetry(status(500), budget, 'upload x');
    for (const wait of clock.sleeps) {
      assert.ok(wait > 0);
      assert.ok(wait <= 60_000);
    }
    assert.ok(clock.sleeps[1]! > clock.sleeps[0]!);
  });

  it('rejects with ERR_GRAPH_THROTTLED when the total wait would pass the limit', async () => {
    const clock = new FakeClock();
    const { policy: retry } = policy(clock, 10 * 60_000);
    const budget = new RetryBudget();
    await assert.rejects(
      (async () => {
        for (;;) await retry.waitToRetry(status(429), budget, 'upload x');
      })(),
      (err) =>
        isBackupError(err, 'ERR_GRAPH_THROTTLED') && /throttled by OneDrive/.test(err.message),
    );
    assert.ok(budget.waitedMillis <= 10 * 60_000);
  });

  it('rejects a 403 at once with ERR_GRAPH_FORBIDDEN', async () => {
    const clock = new FakeClock();
    const { policy: retry } = policy(clock);
    await assert.rejects(retry.waitToRetry(status(403), new RetryBudget(), 'list data'), (err) =>
      isBackupError(err, 'ERR_GRAPH_FORBIDDEN'),
    );
    assert.deepEqual(clock.sleeps, []);
  });

  it('rejects a 401 with ERR_AUTH_EXPIRED naming login', async () => {
    const { policy: retry } = policy(new FakeClock());
    await assert.rejects(
      retry.waitToRetry(status(401), new RetryBudget(), 'list data'),
      (err) => isBackupError(err, 'ERR_AUTH_EXPIRED') && /bgapp-backup login/.test(err.message),
    );
  });

  it('lowers the gate to one request while throttled', async () => {
    const clock = new FakeClock();
    const { policy: retry, gate } = policy(clock);
    await retry.waitToRetry(status(503, { 'Retry-After': '2' }), new RetryBudget(), 'upload x');
    assert.equal(gate.throttled, true);
  });
});

describe('fragmentEnd', () => {
  it('re-aligns to the next 320 KiB boundary after an unaligned resume', () => {
    const size = 26_214_400;
    const end = fragmentEnd(14_485_760, size, 10_485_760);
    assert.equal(end % FRAGMENT_UNIT_BYTES, 0);
    assert.ok(end > 14_485_760);
    assert.equal(fragmentEnd(end, size, 10_485_760), end + 10_485_760);
  });

  it('rejects fragment sizes Graph does not accept', () => {
    assert.throws(
      () => checkFragmentBytes(1_000_000),
      (err) => isBackupError(err, 'ERR_CONFIG_INVALID'),
    );
    assert.throws(
      () => checkFragmentBytes(60 * 1024 * 1024),
      (err) => isBackupError(err, 'ERR_CONFIG_INVALID'),
    );
    checkFragmentBytes(32 * FRAGMENT_UNIT_BYTES);
  });
});
