/**
 * Circuit breaker over final request outcomes (after retries). When more than `failureRate` of the last
 * `window` requests failed, new requests wait instead of burning the queue; after a cooldown one probe
 * goes through. A successful probe closes the breaker; a failed one reopens it with twice the cooldown.
 * After `maxOpens` failed probes in a row the stage fails with TeacherUnavailableError (the stall
 * without an exit that DataDesigner#575 describes is what this prevents).
 */
import { TeacherUnavailableError } from './errors.js';

export type BreakerState = 'closed' | 'open' | 'half-open' | 'failed';

export interface BreakerOptions {
  window: number;
  failureRate: number;
  cooldownMs: number;
  maxOpens: number;
  /** Outcomes needed before the rate is judged (a single early failure must not open it). */
  minCalls?: number;
  now?: () => number;
  onChange?: (state: BreakerState, info: { failureRate: number; opens: number; cooldownMs: number }) => void;
}

export class CircuitBreaker {
  private ring: boolean[] = [];
  private pos = 0;
  private failures = 0;
  private _state: BreakerState = 'closed';
  private openUntil = 0;
  private opens = 0;
  private totalOpens = 0;
  private probing = false;
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private timer: NodeJS.Timeout | null = null;
  private failure: TeacherUnavailableError | null = null;
  private readonly now: () => number;

  constructor(private readonly o: BreakerOptions) {
    this.now = o.now ?? Date.now;
  }

  get state(): BreakerState {
    return this._state;
  }

  /** Times the breaker opened during the run. */
  get openCount(): number {
    return this.totalOpens;
  }

  failureShare(): number {
    return this.ring.length ? this.failures / this.ring.length : 0;
  }

  /**
   * Wait until a new request may start. Resolves true when this request is the half-open probe (its
   * outcome must be recorded with `probe = true`). Throws once the breaker has given up.
   */
  async gate(signal?: AbortSignal): Promise<boolean> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (signal?.aborted) throw signal.reason;
      if (this._state === 'closed') return false;
      if (this._state === 'open' && this.now() >= this.openUntil && !this.probing) {
        this._state = 'half-open';
        this.probing = true;
        this.emit();
        return true;
      }
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => resolve();
        const done = () => signal?.removeEventListener('abort', onAbort);
        this.waiters.push({
          resolve: () => (done(), resolve()),
          reject: (e) => (done(), reject(e)),
        });
        signal?.addEventListener('abort', onAbort, { once: true });
        this.schedule();
      });
    }
  }

  private schedule(): void {
    if (this.timer || this._state !== 'open') return;
    const wait = Math.max(0, this.openUntil - this.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.wake();
    }, wait);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  private emit(): void {
    this.o.onChange?.(this._state, { failureRate: this.failureShare(), opens: this.opens, cooldownMs: this.cooldown() });
  }

  private cooldown(): number {
    return this.o.cooldownMs * 2 ** Math.max(0, this.opens - 1);
  }

  private push(ok: boolean): void {
    if (this.ring.length < this.o.window) {
      this.ring.push(ok);
    } else {
      if (!this.ring[this.pos]) this.failures--;
      this.ring[this.pos] = ok;
      this.pos = (this.pos + 1) % this.o.window;
    }
    if (!ok) this.failures++;
  }

  private open(): void {
    this.opens++;
    this.totalOpens++;
    if (this.opens > this.o.maxOpens) {
      this._state = 'failed';
      this.failure = new TeacherUnavailableError(
        `teacher endpoint failing: ${(this.failureShare() * 100).toFixed(0)}% of the last ${this.ring.length} requests failed after retries, and ${this.o.maxOpens} probes after cooldowns failed too`,
      );
      this.emit();
      for (const w of this.waiters.splice(0)) w.reject(this.failure);
      return;
    }
    this._state = 'open';
    this.openUntil = this.now() + this.cooldown();
    this.emit();
    this.schedule();
  }

  /**
   * Final outcome of a request that passed the gate; `probe` as gate() returned it.
   */
  record(ok: boolean, probe = false): void {
    if (this._state === 'failed') return;
    if (probe) {
      this.probing = false;
      if (ok) {
        this._state = 'closed';
        this.opens = 0;
        this.ring = [];
        this.pos = 0;
        this.failures = 0;
        this.emit();
        this.wake();
      } else {
        this.open();
      }
      return;
    }
    this.push(ok);
    const min = this.o.minCalls ?? Math.min(this.o.window, 10);
    if (this._state === 'closed' && this.ring.length >= min && this.failureShare() > this.o.failureRate) this.open();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.wake();
  }
}
