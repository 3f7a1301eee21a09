/**
 * A counting semaphore over bytes: it bounds the chunk bytes that are read
 * but not yet stored, so a reader faster than the workers and the backend
 * waits instead of filling memory.
 */
export class ByteBudget {
  readonly limit: number;
  private used = 0;
  private readonly waiting: { bytes: number; resume: () => void }[] = [];

  constructor(limit: number) {
    if (!(limit > 0)) throw new RangeError(`byte budget ${limit} is invalid: use a positive size`);
    this.limit = limit;
  }

  /** Bytes taken and not yet released. */
  get inUse(): number {
    return this.used;
  }

  /**
   * Takes `bytes`, waiting until they fit. A request larger than the whole
   * limit is granted when nothing else is taken, so it cannot wait forever.
   */
  async acquire(bytes: number): Promise<void> {
    if (this.waiting.length === 0 && this.fits(bytes)) {
      this.used += bytes;
      return;
    }
    await new Promise<void>((resume) => this.waiting.push({ bytes, resume }));
  }

  /** Returns `bytes` taken earlier and wakes waiters that now fit, in arrival order. */
  release(bytes: number): void {
    this.used -= bytes;
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.used += next.bytes;
      next.resume();
    }
  }

  private fits(bytes: number): boolean {
    return this.used + bytes <= this.limit || this.used === 0;
  }
}
