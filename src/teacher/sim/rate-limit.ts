/**
 * The server side of OpenAI's rate limits: a requests bucket and a tokens bucket, each holding up to its
 * per-minute limit and refilling continuously at limit/60 per second. A request is admitted only when both
 * buckets hold enough (1 request; prompt tokens plus max_tokens per choice, as OpenAI estimates); otherwise
 * it gets a 429 whose retry-after is exactly the time until it would fit. Every response carries the
 * `x-ratelimit-*` headers with the state after the request.
 */

export class TokenBucket {
  private level: number;
  private last: number;

  constructor(
    readonly limitPerMinute: number,
    now: number,
  ) {
    this.level = limitPerMinute;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.level = Math.min(this.limitPerMinute, this.level + ((now - this.last) * this.limitPerMinute) / 60_000);
      this.last = now;
    }
  }

  /** Milliseconds until `cost` fits (0 when it fits now; Infinity when it never can). */
  waitMs(cost: number, now: number): number {
    this.refill(now);
    if (cost > this.limitPerMinute) return Infinity;
    if (this.level >= cost) return 0;
    return ((cost - this.level) * 60_000) / this.limitPerMinute;
  }

  take(cost: number, now: number): void {
    this.refill(now);
    this.level -= cost;
  }

  remaining(now: number): number {
    this.refill(now);
    return Math.max(0, Math.floor(this.level));
  }

  /** Milliseconds until the bucket is full again: OpenAI's `x-ratelimit-reset-*`. */
  resetMs(now: number): number {
    this.refill(now);
    return ((this.limitPerMinute - this.level) * 60_000) / this.limitPerMinute;
  }
}

/** OpenAI's duration format for reset headers: "20ms", "1s", "8.64s", "6m0s", "1h2m3s". */
export function formatResetDuration(ms: number): string {
  if (!(ms > 0)) return '0s';
  if (ms < 1000) return `${Math.max(1, Math.ceil(ms))}ms`;
  const totalS = ms / 1000;
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS - h * 3600) / 60);
  const s = totalS - h * 3600 - m * 60;
  const sec = `${Number(s.toFixed(3)).toString()}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}

export interface Admission {
  ok: boolean;
  /** Which limit refused the request. */
  kind?: 'requests' | 'tokens';
  /** Exact wait in ms before the request would be admitted; Infinity when it never fits. */
  retryAfterMs?: number;
  headers: Record<string, string>;
}

export class RateLimiter {
  readonly requests: TokenBucket;
  readonly tokens: TokenBucket;

  constructor(rpm: number, tpm: number, now: number) {
    this.requests = new TokenBucket(rpm, now);
    this.tokens = new TokenBucket(tpm, now);
  }

  /** Admit (and charge) a request that costs `tokens`, or say how long to wait. */
  admit(tokens: number, now: number): Admission {
    const wr = this.requests.waitMs(1, now);
    const wt = this.tokens.waitMs(tokens, now);
    if (wr === 0 && wt === 0) {
      this.requests.take(1, now);
      this.tokens.take(tokens, now);
      return { ok: true, headers: this.headers(now) };
    }
    const kind = wr >= wt ? 'requests' : 'tokens';
    return { ok: false, kind, retryAfterMs: Math.max(wr, wt), headers: this.headers(now) };
  }

  headers(now: number, override?: { requestsRemaining?: number; requestsResetMs?: number }): Record<string, string> {
    return {
      'x-ratelimit-limit-requests': String(this.requests.limitPerMinute),
      'x-ratelimit-remaining-requests': String(override?.requestsRemaining ?? this.requests.remaining(now)),
      'x-ratelimit-reset-requests': formatResetDuration(override?.requestsResetMs ?? this.requests.resetMs(now)),
      'x-ratelimit-limit-tokens': String(this.tokens.limitPerMinute),
      'x-ratelimit-remaining-tokens': String(this.tokens.remaining(now)),
      'x-ratelimit-reset-tokens': formatResetDuration(this.tokens.resetMs(now)),
    };
  }
}
