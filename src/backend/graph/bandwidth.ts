/** An upload bandwidth limit shared by all uploads of one backend (a token bucket). */
import type { Clock } from './clock.ts';

/** Slice size of a paced request body: small enough that the rate stays smooth. */
const SLICE_BYTES = 64 * 1024;

/** Spends a byte budget that refills at `bytesPerSecond`; 0 means no limit. */
export class BandwidthLimiter {
  private readonly bytesPerSecond: number;
  private readonly clock: Clock;
  private nextFreeAt = 0;

  constructor(bytesPerSecond: number, clock: Clock) {
    this.bytesPerSecond = bytesPerSecond;
    this.clock = clock;
  }

  /** Tells whether a limit is set. */
  get limited(): boolean {
    return this.bytesPerSecond > 0;
  }

  /** Waits until `bytes` may be sent; concurrent callers share the rate. */
  async take(bytes: number): Promise<void> {
    if (!this.limited) return;
    const now = this.clock.now();
    const start = Math.max(now, this.nextFreeAt);
    this.nextFreeAt = start + (bytes * 1000) / this.bytesPerSecond;
    if (start > now) await this.clock.sleep(start - now);
  }

  /** Returns `data` as a request body whose slices are sent no faster than the limit. */
  body(data: Uint8Array): Uint8Array | ReadableStream<Uint8Array> {
    if (!this.limited) return data;
    let offset = 0;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (offset >= data.length) {
          controller.close();
          return;
        }
        const slice = data.subarray(offset, offset + SLICE_BYTES);
        await this.take(slice.length);
        offset += slice.length;
        controller.enqueue(slice);
      },
    });
  }
}
