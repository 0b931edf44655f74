/** Counters the client keeps for the run report: plain numbers, JSON-serializable. */
import { ATTEMPT_OUTCOMES, type AttemptOutcome } from './backoff.js';

/** Fixed log-spaced latency buckets (upper bounds, ms); the last bucket is open. */
export const LATENCY_BUCKETS_MS = [25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000, Infinity] as const;

export class Histogram {
  readonly counts: number[] = LATENCY_BUCKETS_MS.map(() => 0);
  count = 0;
  sum = 0;
  max = 0;

  add(ms: number): void {
    const i = LATENCY_BUCKETS_MS.findIndex((b) => ms <= b);
    this.counts[i]!++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  /** Upper bound of the bucket holding quantile q (a conservative estimate). */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const target = Math.ceil(q * this.count);
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      acc += this.counts[i]!;
      if (acc >= target) return Math.min(LATENCY_BUCKETS_MS[i]!, this.max);
    }
    return this.max;
  }

  toJSON(): { buckets: Array<{ leMs: number | null; count: number }>; count: number; meanMs: number; p50Ms: number; p95Ms: number; p99Ms: number; maxMs: number } {
    return {
      buckets: LATENCY_BUCKETS_MS.map((b, i) => ({ leMs: Number.isFinite(b) ? b : null, count: this.counts[i]! })),
      count: this.count,
      meanMs: this.count ? this.sum / this.count : 0,
      p50Ms: this.quantile(0.5),
      p95Ms: this.quantile(0.95),
      p99Ms: this.quantile(0.99),
      maxMs: this.max,
    };
  }
}

export interface TeacherCounters {
  /** Logical requests started (each may take several attempts). */
  requests: number;
  answered: number;
  failed: number;
  /** HTTP attempts by outcome; their sum is what the server saw. */
  attempts: Record<AttemptOutcome, number>;
  retries: number;
  rateLimited: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  costCapReached: boolean;
  concurrencyLimit: number;
  limits: { rpm: number | null; tpm: number | null };
  breaker: { state: string; opens: number };
  latency: ReturnType<Histogram['toJSON']>;
}

export function emptyAttempts(): Record<AttemptOutcome, number> {
  return Object.fromEntries(ATTEMPT_OUTCOMES.map((o) => [o, 0])) as Record<AttemptOutcome, number>;
}

export function totalAttempts(a: Record<AttemptOutcome, number>): number {
  return ATTEMPT_OUTCOMES.reduce((s, o) => s + a[o], 0);
}
