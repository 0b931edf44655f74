/**
 * Request and token rate control: two token buckets (requests/min, tokens/min) charged before a call
 * from an estimate, reconciled with real usage after it, and corrected from the server's
 * `x-ratelimit-*` and `retry-after` headers while the run goes (Curator's reserve-then-free plus live
 * header refresh). Waiters are served first-in first-out so a large request is never starved.
 */

export type Clock = () => number;

/** A bucket refilled continuously at `perMinute / 60` per second, holding at most `capacity`. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private perMs: number;
  capacity: number;

  constructor(
    perMinute: number,
    /** Seconds of refill the bucket may hold: the largest burst after an idle spell. */
    private readonly burstSeconds: number,
    private readonly now: Clock,
    /** Tokens at start, as seconds of refill; small so a fresh run does not burst past a sliding window. */
    startSeconds = 1,
  ) {
    this.perMs = perMinute / 60_000;
    this.capacity = Math.max(1, this.perMs * burstSeconds * 1000);
    this.tokens = Math.min(this.capacity, Math.max(1, this.perMs * startSeconds * 1000));
    this.last = now();
  }

  get ratePerMinute(): number {
    return this.perMs * 60_000;
  }

  private refill(): void {
    const t = this.now();
    if (t > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.perMs);
      this.last = t;
    }
  }

  available(): number {
    this.refill();
    return this.tokens;
  }

  /**
   * Milliseconds until `n` can be taken (0 = now). A request larger than the bucket is admitted when the
   * bucket is full, then leaves a debt, so it is slowed but never blocked forever.
   */
  waitMs(n: number): number {
    this.refill();
    const need = Math.min(n, this.capacity);
    if (this.tokens >= need) return 0;
    return Math.ceil((need - this.tokens) / this.perMs);
  }

  take(n: number): void {
    this.refill();
    this.tokens -= n;
  }

  /** Give back (positive) or charge more (negative) after the real count is known. */
  adjust(delta: number): void {
    this.refill();
    this.tokens = Math.min(this.capacity, this.tokens + delta);
  }

  /** Never hold more than the server says is left. */
  clampTo(max: number): void {
    this.refill();
    if (this.tokens > max) this.tokens = max;
  }

  setRate(perMinute: number): void {
    this.refill();
    this.perMs = perMinute / 60_000;
    this.capacity = Math.max(1, this.perMs * this.burstSeconds * 1000);
    if (this.tokens > this.capacity) this.tokens = this.capacity;
  }
}

/** `1s`, `6m0s`, `20ms`, `1m30.5s`, `2h`, or a bare number of seconds -> milliseconds; null if unreadable. */
export function parseDurationMs(text: string | null | undefined): number | null {
  if (text === null || text === undefined) return null;
  const s = text.trim();
  if (s === '') return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    const v = Number(m[1]);
    total += m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : m[2] === 'm' ? v * 60_000 : v * 3_600_000;
    matched = re.lastIndex;
  }
  return matched === s.length ? total : null;
}

/** `retry-after-ms`, or `retry-after` as seconds or an HTTP date -> milliseconds from now; null if absent. */
export function retryAfterMs(get: (name: string) => string | null, now: number = Date.now()): number | null {
  const ms = get('retry-after-ms');
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms.trim())) return Number(ms);
  const ra = get('retry-after');
  if (ra === null) return null;
  if (/^\d+(\.\d+)?$/.test(ra.trim())) return Number(ra) * 1000;
  const date = Date.parse(ra);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

export interface RateHeaders {
  limitRequests: number | null;
  limitTokens: number | null;
  remainingRequests: number | null;
  remainingTokens: number | null;
  resetRequestsMs: number | null;
  resetTokensMs: number | null;
}

export function readRateHeaders(get: (name: string) => string | null): RateHeaders {
  const num = (n: string) => {
    const v = get(n);
    if (v === null || v.trim() === '') return null;
    const x = Number(v);
    return Number.isFinite(x) && x >= 0 ? x : null;
  };
  return {
    limitRequests: num('x-ratelimit-limit-requests'),
    limitTokens: num('x-ratelimit-limit-tokens'),
    remainingRequests: num('x-ratelimit-remaining-requests'),
    remainingTokens: num('x-ratelimit-remaining-tokens'),
    resetRequestsMs: parseDurationMs(get('x-ratelimit-reset-requests')),
    resetTokensMs: parseDurationMs(get('x-ratelimit-reset-tokens')),
  };
}

export interface RateLimiterOptions {
  /** Configured requests per minute (an upper bound; headers can only lower it). */
  rpm?: number | undefined;
  tpm?: number | undefined;
  /** Share of a limit actually used, so clock skew and rounding do not tip us over it. */
  safety?: number;
  burstSeconds?: number;
  now?: Clock;
}

export interface Reservation {
  tokens: number;
  /** Value of the send counter when this request was admitted (to discount later sends from headers). */
  seq: number;
}

interface Waiter {
  tokens: number;
  resolve: (r: Reservation) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal | undefined;
  onAbort?: () => void;
}

export class RateLimiter {
  private rpmBucket: TokenBucket | null = null;
  private tpmBucket: TokenBucket | null = null;
  private configured: { rpm?: number | undefined; tpm?: number | undefined };
  private learned: { rpm: number | null; tpm: number | null } = { rpm: null, tpm: null };
  private pausedUntil = 0;
  private queue: Waiter[] = [];
  private timer: NodeJS.Timeout | null = null;
  private seq = 0;
  private readonly safety: number;
  private readonly burstSeconds: number;
  private readonly now: Clock;

  constructor(opts: RateLimiterOptions = {}) {
    this.configured = { rpm: opts.rpm, tpm: opts.tpm };
    this.safety = opts.safety ?? 0.98;
    this.burstSeconds = opts.burstSeconds ?? 3;
    this.now = opts.now ?? Date.now;
    this.apply();
  }

  /** Effective limits, after configuration, headers and the safety margin. */
  limits(): { rpm: number | null; tpm: number | null } {
    return { rpm: this.rpmBucket?.ratePerMinute ?? null, tpm: this.tpmBucket?.ratePerMinute ?? null };
  }

  /** Limits learned from the server's x-ratelimit-limit-* headers (null: not announced). */
  learnedLimits(): { rpm: number | null; tpm: number | null } {
    return { ...this.learned };
  }

  private effective(conf: number | undefined, learned: number | null): number | null {
    const vals = [conf, learned].filter((v): v is number => typeof v === 'number' && v > 0);
    return vals.length ? Math.min(...vals) * this.safety : null;
  }

  private apply(): void {
    const rpm = this.effective(this.configured.rpm, this.learned.rpm);
    const tpm = this.effective(this.configured.tpm, this.learned.tpm);
    if (rpm === null) this.rpmBucket = null;
    else if (this.rpmBucket) this.rpmBucket.setRate(rpm);
    else this.rpmBucket = new TokenBucket(rpm, this.burstSeconds, this.now);
    if (tpm === null) this.tpmBucket = null;
    else if (this.tpmBucket) this.tpmBucket.setRate(tpm);
    else this.tpmBucket = new TokenBucket(tpm, this.burstSeconds, this.now);
  }

  /** Wait until a request of `tokens` estimated tokens may be sent. FIFO. */
  acquire(tokens: number, signal?: AbortSignal): Promise<Reservation> {
    return new Promise<Reservation>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const w: Waiter = { tokens, resolve, reject, signal };
      if (signal) {
        w.onAbort = () => {
          const i = this.queue.indexOf(w);
          if (i >= 0) this.queue.splice(i, 1);
          reject(signal.reason);
          this.pump();
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.queue.push(w);
      this.pump();
    });
  }

  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const wait = Math.max(this.pausedUntil - this.now(), this.rpmBucket?.waitMs(1) ?? 0, this.tpmBucket?.waitMs(head.tokens) ?? 0);
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), wait);
        return;
      }
      this.queue.shift();
      if (head.signal && head.onAbort) head.signal.removeEventListener('abort', head.onAbort);
      this.rpmBucket?.take(1);
      this.tpmBucket?.take(head.tokens);
      head.resolve({ tokens: head.tokens, seq: ++this.seq });
    }
  }

  /** After the call: charge or refund the difference between the estimate and the real token count. */
  reconcile(r: Reservation, actualTokens: number): void {
    this.tpmBucket?.adjust(r.tokens - actualTokens);
    this.pump();
  }

  /** A 429 or a `retry-after`: nobody sends before `ms` from now, and the buckets start again empty. */
  pause(ms: number): void {
    const until = this.now() + ms;
    if (until > this.pausedUntil) this.pausedUntil = until;
    this.rpmBucket?.clampTo(0);
    this.tpmBucket?.clampTo(0);
    this.pump();
  }

  pausedForMs(): number {
    return Math.max(0, this.pausedUntil - this.now());
  }

  /**
   * Headers of a response to the request admitted as `r`. Limits can only go down from the configured
   * ones; `remaining` caps our bucket (minus what we sent after this request, which the server had not
   * counted yet).
   */
  observe(h: RateHeaders, r?: Reservation): void {
    let changed = false;
    if (h.limitRequests !== null && h.limitRequests > 0 && h.limitRequests !== this.learned.rpm) {
      this.learned.rpm = h.limitRequests;
      changed = true;
    }
    if (h.limitTokens !== null && h.limitTokens > 0 && h.limitTokens !== this.learned.tpm) {
      this.learned.tpm = h.limitTokens;
      changed = true;
    }
    if (changed) this.apply();
    // `reset-*` is the time until the server's bucket is full again (OpenAI), not until the next request
    // fits, so it is not a pause: an empty remaining empties our bucket, which then refills at the rate.
    const sentAfter = r ? Math.max(0, this.seq - r.seq) : 0;
    if (h.remainingRequests !== null && this.rpmBucket) this.rpmBucket.clampTo(h.remainingRequests - sentAfter);
    if (h.remainingTokens !== null && this.tpmBucket) this.tpmBucket.clampTo(h.remainingTokens);
    this.pump();
  }

  /** Reject every waiter (stage stopping). */
  close(reason: unknown): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.queue.splice(0)) {
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      w.reject(reason);
    }
  }
}
