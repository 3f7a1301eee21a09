/**
 * Limits how many Graph requests run at once, and lowers that to one while
 * the service throttles, as Graph's throttling guidance asks.
 */
import type { Clock } from './clock.ts';

/** Grants request slots: `concurrency` normally, one until a throttling pause has passed. */
export class Gate {
  private readonly concurrency: number;
  private readonly clock: Clock;
  private inFlight = 0;
  private pausedUntil = 0;
  private throttledUntil = 0;
  private readonly waiters: (() => void)[] = [];
  /** Most requests in flight at once while throttled; tests read it. */
  maxInFlightWhileThrottled = 0;
  /** Most requests in flight at once overall. */
  maxInFlight = 0;

  constructor(concurrency: number, clock: Clock) {
    this.concurrency = Math.max(1, concurrency);
    this.clock = clock;
  }

  /** Tells whether the service asked the client to slow down recently. */
  get throttled(): boolean {
    return this.clock.now() < this.throttledUntil;
  }

  /**
   * Records a throttling reply: no request starts before `untilMillis`, and
   * only one runs at a time for a minute after it.
   */
  throttle(untilMillis: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, untilMillis);
    this.throttledUntil = Math.max(this.throttledUntil, untilMillis + 60_000);
  }

  /** Runs `work` in a slot. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  private limit(): number {
    return this.throttled ? 1 : this.concurrency;
  }

  private async acquire(): Promise<void> {
    while (this.inFlight >= this.limit()) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    if (this.throttled) {
      this.maxInFlightWhileThrottled = Math.max(this.maxInFlightWhileThrottled, this.inFlight);
    }
  }

  /** Waits until a throttling pause has passed; callers hold no slot meanwhile. */
  async waitForPause(): Promise<void> {
    const wait = this.pausedUntil - this.clock.now();
    if (wait > 0) await this.clock.sleep(wait);
  }

  private release(): void {
    this.inFlight--;
    const waiters = this.waiters.splice(0);
    for (const wake of waiters) wake();
  }
}
