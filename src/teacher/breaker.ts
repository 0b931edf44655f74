/**
 * Circuit breaker over HTTP attempts. It opens when the endpoint looks down: `consecutiveFailures`
 * attempts in a row failed (connection refused or reset, timeout, 5xx, a body that is not a completion)
 * with no answer between them (3 are enough while the endpoint has never answered), or more than
 * `failureRate` of the last `window` attempts failed. While it is open, requests wait (a request between
 * retries too, instead of retrying into a dead endpoint); after a cooldown one attempt goes through as
 * a probe. A successful probe closes it, a failed one reopens it with twice the cooldown (capped).
 * After `maxOpens` failed probes in a row the stage fails with TeacherUnavailableError, naming the last
 * failure; an endpoint that never answered once in this process (nothing listening, a wrong URL) gets
 * `maxOpensUnreached` probes instead, so a closed port is reported in seconds, not after minutes of
 * backoff (the stall without an exit that DataDesigner#575 describes is what this prevents).
 *
 * Attempts are judged, not requests after their retries: a request retries up to maxRetries times with
 * growing backoff, so judging only final outcomes took minutes to notice a dead endpoint.
 *
 * With `peers` (queue workers calling one endpoint) the breaker is the fleet's: a process that opens it
 * tells the others, which stop sending too; one probe goes out for all of them (claimed through the
 * peers), and its outcome closes, reopens or gives up the breaker everywhere.
 */
import { TeacherUnavailableError } from './errors.js';
import type { BreakerPeers, BreakerState, PeerBreakerState } from './shared.js';

export type { BreakerState };

export interface BreakerOptions {
  window: number;
  failureRate: number;
  cooldownMs: number;
  maxOpens: number;
  /** Failed attempts in a row that open the breaker at once (default 5). */
  consecutiveFailures?: number;
  /** Failed probes tolerated while the endpoint has never answered (default min(2, maxOpens)). */
  maxOpensUnreached?: number;
  /** Longest cooldown, however many times it doubled (default 60 s). */
  maxCooldownMs?: number;
  /** Outcomes needed before the rate is judged (a single early failure must not open it). */
  minCalls?: number;
  /** The endpoint, for messages (already redacted). */
  endpoint?: string;
  now?: () => number;
  /** The other processes' breakers (shared state); absent: this process's own. */
  peers?: BreakerPeers;
  onChange?: (state: BreakerState, info: { failureRate: number; opens: number; cooldownMs: number; reason: string | null }) => void;
}

/** What one attempt said about the endpoint. */
export interface AttemptRecord {
  /** Why it failed, for messages (e.g. "connection refused (ECONNREFUSED 127.0.0.1:9)"). */
  why?: string;
  /** The server sent an HTTP response (a 5xx included): something is listening. Implied by success. */
  reached?: boolean;
}

export class CircuitBreaker {
  private ring: boolean[] = [];
  private pos = 0;
  private failures = 0;
  private streak = 0;
  private _state: BreakerState = 'closed';
  private openUntil = 0;
  private opens = 0;
  private totalOpens = 0;
  private probing = false;
  private reached = false;
  private lastWhy: string | null = null;
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private openListeners = new Set<() => void>();
  private timer: NodeJS.Timeout | null = null;
  private failure: TeacherUnavailableError | null = null;
  private readonly now: () => number;

  private unsubscribe: (() => void) | null = null;

  constructor(private readonly o: BreakerOptions) {
    this.now = o.now ?? Date.now;
    if (o.peers) this.unsubscribe = o.peers.subscribe((s) => this.adopt(s));
  }

  /** What another process's breaker did becomes this one's state too. */
  private adopt(s: PeerBreakerState): void {
    if (this._state === 'failed') return;
    if (s.reason) this.lastWhy = s.reason;
    if (s.state === 'failed') {
      this.giveUp(`teacher endpoint failing${this.o.endpoint ? ` at ${this.o.endpoint}` : ''}${s.reason ? `: ${s.reason}` : ''}; another worker's probes failed too`);
      return;
    }
    if (s.state === 'open') {
      this.opens = Math.max(this.opens, s.opens);
      const until = this.now() + s.cooldownMs;
      if (this._state === 'closed') {
        this._state = 'open';
        this.openUntil = until;
        this.emit();
        for (const l of [...this.openListeners]) l();
      } else if (until > this.openUntil) this.openUntil = until;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.schedule();
      return;
    }
    // Another process's probe succeeded: the endpoint answers again.
    if (this._state !== 'closed' && !this.probing) this.reset();
  }

  private publish(): void {
    const state = this._state === 'half-open' ? 'open' : this._state;
    this.o.peers?.publish({ state, cooldownMs: state === 'open' ? Math.max(0, this.openUntil - this.now()) : 0, opens: this.opens, reason: this.lastWhy });
  }

  private reset(): void {
    this._state = 'closed';
    this.opens = 0;
    this.ring = [];
    this.pos = 0;
    this.failures = 0;
    this.streak = 0;
    this.emit();
    this.wake();
  }

  private giveUp(message: string): void {
    this._state = 'failed';
    this.failure = new TeacherUnavailableError(message, { ...(this.o.endpoint ? { endpoint: this.o.endpoint } : {}), ...(this.lastWhy ? { reason: this.lastWhy } : {}) });
    this.emit();
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
    for (const l of [...this.openListeners]) l();
  }

  get state(): BreakerState {
    return this._state;
  }

  /** Times the breaker opened during the run. */
  get openCount(): number {
    return this.totalOpens;
  }

  /** The last failure an attempt reported, or null. */
  get lastFailure(): string | null {
    return this.lastWhy;
  }

  /** The error every request gets once the breaker gave up, or null while it has not. */
  get gaveUp(): TeacherUnavailableError | null {
    return this.failure;
  }

  failureShare(): number {
    return this.ring.length ? this.failures / this.ring.length : 0;
  }

  /**
   * Wait until an attempt may start. Resolves true when this attempt is the half-open probe (its
   * outcome must be recorded with `probe = true`). Throws once the breaker has given up.
   */
  async gate(signal?: AbortSignal): Promise<boolean> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (signal?.aborted) throw signal.reason;
      if (this._state === 'closed') return false;
      if (this._state === 'open' && this.now() >= this.openUntil && !this.probing) {
        this.probing = true;
        // One probe for the whole fleet: another process's probe decides for this one too.
        if (this.o.peers && !(await this.o.peers.claimProbe(Math.max(this.cooldown(), 1000)))) {
          this.probing = false;
          if (this._state === 'open') this.openUntil = Math.max(this.openUntil, this.now() + 250);
          continue;
        }
        if (this._state !== 'open') {
          this.probing = false;
          continue;
        }
        this._state = 'half-open';
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
    this.o.onChange?.(this._state, { failureRate: this.failureShare(), opens: this.opens, cooldownMs: this.cooldown(), reason: this.lastWhy });
  }

  private cooldown(): number {
    return Math.min(this.o.maxCooldownMs ?? 60_000, this.o.cooldownMs * 2 ** Math.max(0, this.opens - 1));
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
    const limit = this.reached ? this.o.maxOpens : Math.min(this.o.maxOpens, this.o.maxOpensUnreached ?? 2);
    if (this.opens > limit) {
      const where = this.o.endpoint ? ` at ${this.o.endpoint}` : '';
      const why = this.lastWhy ? `: ${this.lastWhy}` : '';
      this.giveUp(
        this.reached
          ? `teacher endpoint failing${where}${why}; ${limit} probe${limit === 1 ? '' : 's'} after cooldowns failed too`
          : `teacher endpoint not reachable${where}${why}; it never answered, and ${limit} probe${limit === 1 ? '' : 's'} after cooldowns failed too (is the server running, and is the URL right?)`,
      );
      this.publish();
      return;
    }
    this._state = 'open';
    this.openUntil = this.now() + this.cooldown();
    this.emit();
    this.schedule();
    for (const l of [...this.openListeners]) l();
    this.publish();
  }

  /**
   * Wait `ms` before a retry, or less: the wait ends when the breaker opens (the retry then waits at the
   * gate for the probe instead of sleeping through its whole backoff). Rejects with the signal's reason.
   */
  backoff(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      if (this._state !== 'closed') return resolve();
      const done = () => {
        clearTimeout(t);
        this.openListeners.delete(onOpen);
        signal?.removeEventListener('abort', onAbort);
      };
      const onOpen = () => (done(), resolve());
      const onAbort = () => (done(), reject(signal!.reason));
      const t = setTimeout(() => (done(), resolve()), ms);
      this.openListeners.add(onOpen);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Outcome of an attempt that passed the gate; `probe` as gate() returned it. A 429 or a 4xx counts as
   * a success here: the endpoint answered.
   */
  record(ok: boolean, probe = false, info: AttemptRecord = {}): void {
    if (this._state === 'failed') return;
    if (ok || info.reached) this.reached = true;
    if (!ok) this.lastWhy = info.why ?? this.lastWhy;
    if (probe) {
      this.probing = false;
      if (ok) {
        this.reset();
        this.publish();
      } else {
        this.open();
      }
      return;
    }
    this.push(ok);
    this.streak = ok ? 0 : this.streak + 1;
    if (this._state !== 'closed') return;
    const min = this.o.minCalls ?? Math.min(this.o.window, 10);
    // An endpoint that never answered (nothing listening, a wrong host) needs fewer failures to be believed.
    const streak = this.reached ? (this.o.consecutiveFailures ?? 5) : Math.min(3, this.o.consecutiveFailures ?? 5);
    if (this.streak >= streak || (this.ring.length >= min && this.failureShare() > this.o.failureRate)) this.open();
  }

  /** The probe never made its attempt (the request was interrupted first): let another one probe. */
  abandonProbe(): void {
    if (this._state !== 'half-open') return;
    this.probing = false;
    this._state = 'open';
    this.schedule();
    this.wake();
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.wake();
  }
}
