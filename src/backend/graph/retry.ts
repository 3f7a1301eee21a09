/**
 * The Graph backend's one retry policy: it sorts failures into retryable and
 * final, computes each wait, and bounds the total wait of one operation.
 * Graph's throttling guidance: on 429 and 503 wait for Retry-After, which
 * is delta-seconds or an HTTP date (RFC 9110, section 10.2.3).
 */
import { BackupError, errorMessage } from '../../errors/index.ts';
import type { Clock } from './clock.ts';
import type { Gate } from './gate.ts';

/** The failure of one request: an HTTP status with its headers, or a network error. */
export type Failure =
  | { kind: 'status'; status: number; headers: Headers; detail: string }
  | { kind: 'network'; error: unknown };

/** Settings of a RetryPolicy, in milliseconds. */
export interface RetrySettings {
  maxTotalWaitMillis: number;
  baseBackoffMillis: number;
  maxBackoffMillis: number;
  random: () => number;
  /** Ends a wait at once when aborted. */
  signal?: AbortSignal;
}

/** Parses a Retry-After value into milliseconds from `nowMillis`, or undefined when unusable. */
export function parseRetryAfter(value: string | null, nowMillis: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMillis);
}

/**
 * Statuses worth another attempt. 501 and 507 (insufficient storage) are
 * final, because waiting does not change them.
 */
const RETRYABLE_STATUSES = new Set([429, 500, 502, 503, 504]);

/** Tells whether a failure may succeed when tried again. */
export function isRetryable(failure: Failure): boolean {
  if (failure.kind === 'network') return true;
  return RETRYABLE_STATUSES.has(failure.status);
}

/** Tells whether a failure is the service asking the client to slow down. */
export function isThrottling(failure: Failure): boolean {
  return failure.kind === 'status' && (failure.status === 429 || failure.status === 503);
}

/** Describes a failure for messages and logs. */
export function describeFailure(failure: Failure): string {
  if (failure.kind === 'network') return `network error: ${errorMessage(failure.error)}`;
  return `HTTP ${failure.status}${failure.detail ? ` ${failure.detail}` : ''}`;
}

/** Turns a failure that is not retried into the BackupError the caller receives. */
export type FinalErrorMapper = (failure: Failure, what: string) => BackupError;

/** Tracks the waits of one operation, such as one file's upload. */
export class RetryBudget {
  attempts = 0;
  waitedMillis = 0;
}

/** Decides and performs the waits between attempts. */
export class RetryPolicy {
  private readonly settings: RetrySettings;
  private readonly clock: Clock;
  private readonly gate: Gate;
  private readonly finalError: FinalErrorMapper;

  constructor(settings: RetrySettings, clock: Clock, gate: Gate, finalError: FinalErrorMapper) {
    this.settings = settings;
    this.clock = clock;
    this.gate = gate;
    this.finalError = finalError;
  }

  /** Returns the wait before the next attempt after `failure`: Retry-After when given, else back-off. */
  delayFor(failure: Failure, budget: RetryBudget): number {
    if (failure.kind === 'status') {
      const header = failure.headers.get('retry-after');
      const retryAfter = parseRetryAfter(header, this.clock.now());
      if (retryAfter !== undefined) return retryAfter;
    }
    const ceiling = Math.min(
      this.settings.maxBackoffMillis,
      this.settings.baseBackoffMillis * 2 ** Math.min(budget.attempts, 30),
    );
    // Jitter keeps concurrent uploads from retrying in step: a delay in [ceiling/2, ceiling].
    return Math.max(1, Math.round(ceiling / 2 + (this.settings.random() * ceiling) / 2));
  }

  /**
   * Waits before retrying `failure`, or throws when it is final or the wait
   * would take the operation past its total wait limit.
   */
  async waitToRetry(failure: Failure, budget: RetryBudget, what: string): Promise<number> {
    if (!isRetryable(failure)) throw this.finalError(failure, what);
    this.settings.signal?.throwIfAborted();
    const delay = this.delayFor(failure, budget);
    if (budget.waitedMillis + delay > this.settings.maxTotalWaitMillis) {
      throw this.gaveUpError(failure, budget, what);
    }
    budget.attempts++;
    budget.waitedMillis += delay;
    if (isThrottling(failure)) this.gate.throttle(this.clock.now() + delay);
    await this.clock.sleep(delay, this.settings.signal);
    return delay;
  }

  private gaveUpError(failure: Failure, budget: RetryBudget, what: string): BackupError {
    const waited = Math.round(budget.waitedMillis / 1000);
    const limit = Math.round(this.settings.maxTotalWaitMillis / 1000);
    if (failure.kind === 'status' && failure.status === 429) {
      return new BackupError(
        'ERR_GRAPH_THROTTLED',
        `throttled by OneDrive: gave up on ${what} after ${budget.attempts + 1} attempts and ` +
          `${waited} s of waiting (limit ${limit} s); run the backup again later, or raise ` +
          'the retry wait limit',
      );
    }
    return new BackupError(
      failure.kind === 'status' && failure.status === 503
        ? 'ERR_GRAPH_THROTTLED'
        : 'ERR_BACKEND_IO',
      `OneDrive kept failing: gave up on ${what} after ${budget.attempts + 1} attempts and ` +
        `${waited} s of waiting (limit ${limit} s); last error ${describeFailure(failure)}; ` +
        'run the backup again later',
      { cause: failure.kind === 'network' ? failure.error : undefined },
    );
  }
}
