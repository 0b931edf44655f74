/**
 * A concurrency limiter whose limit moves (AIMD, as Data Designer does): halve on a rate-limit signal,
 * add one after `limit` successes in a row, never below 1 nor above the configured maximum.
 * It can start in slow start (TCP's): from `initial`, +1 per success (doubling per round trip) until the
 * maximum or the first rate-limit signal, so a run does not open with a burst into limits it has not
 * learned yet (the first response's headers tell them).
 */

export class AdaptiveLimiter {
  private active = 0;
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void; signal?: AbortSignal | undefined; onAbort?: () => void }> = [];
  private successes = 0;
  private lastDecrease = -Infinity;
  private _limit: number;
  private slowStart: boolean;

  constructor(
    readonly max: number,
    /** Decreases closer together than this count once (one 429 storm halves once, not ten times). */
    private readonly decreaseCooldownMs = 1000,
    private readonly now: () => number = Date.now,
    initial = max,
  ) {
    this._limit = Math.max(1, Math.min(max, initial));
    this.slowStart = this._limit < max;
  }

  get limit(): number {
    return this._limit;
  }

  get inFlight(): number {
    return this.active;
  }

  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.active < this._limit) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const w: (typeof this.waiters)[number] = { resolve, reject, signal };
      if (signal) {
        w.onAbort = () => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiters.push(w);
    });
  }

  release(): void {
    this.active--;
    this.drain();
  }

  private drain(): void {
    while (this.active < this._limit && this.waiters.length > 0) {
      const w = this.waiters.shift()!;
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      this.active++;
      w.resolve();
    }
  }

  /** Additive increase: +1 after as many successes as the current limit. */
  onSuccess(): void {
    if (this._limit >= this.max) return;
    if (this.slowStart) {
      this._limit++;
      this.drain();
      return;
    }
    if (++this.successes >= this._limit) {
      this.successes = 0;
      this._limit++;
      this.drain();
    }
  }

  /** Multiplicative decrease on a 429. Returns true when the limit actually changed. */
  onRateLimited(): boolean {
    const t = this.now();
    this.successes = 0;
    this.slowStart = false;
    if (t - this.lastDecrease < this.decreaseCooldownMs) return false;
    this.lastDecrease = t;
    const next = Math.max(1, Math.floor(this._limit / 2));
    const changed = next !== this._limit;
    this._limit = next;
    return changed;
  }

  close(reason: unknown): void {
    for (const w of this.waiters.splice(0)) {
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      w.reject(reason);
    }
  }
}
