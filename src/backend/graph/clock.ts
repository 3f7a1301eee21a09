/** Time source of the Graph backend, so tests can run retries without real waits. */
import { setTimeout as sleepReal } from 'node:timers/promises';

/** Reads the time and waits. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Waits `millis`; rejects with the signal's reason when it is aborted first. */
  sleep(millis: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (millis, signal) => {
    await sleepReal(millis, undefined, { signal });
  },
};

/** A clock whose `sleep` returns at once and moves its time forward; it records every wait. */
export class FakeClock implements Clock {
  readonly sleeps: number[] = [];
  private time: number;

  constructor(start = Date.UTC(2025, 0, 1)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  async sleep(millis: number): Promise<void> {
    this.sleeps.push(millis);
    this.time += millis;
    await Promise.resolve();
  }
}
