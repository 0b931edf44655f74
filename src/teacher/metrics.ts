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

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Breaker states from the best to the worst, for the figures of several processes together. */
const BREAKER_ORDER = ['closed', 'half-open', 'open', 'failed'];

/**
 * The teacher figures of several processes of one run (task workers, queue workers) as one: counts and
 * spend add up, latency histograms merge (quantiles recomputed from the merged buckets), the limits are
 * the tightest any process learned, the breaker the worst state any process ended in, and the response
 * cache (one cache, shared) the largest view of it. One process's figures come back as they are.
 */
export function mergeTeacherSummaries(list: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> | null {
  if (list.length === 0) return null;
  if (list.length === 1) return list[0]!;
  const merge = (key: string, vals: Json[]): Json => {
    const present = vals.filter((v) => v !== null && v !== undefined);
    if (present.length === 0) return null;
    const first = present[0]!;
    if (key === 'limits' || key === 'rpm' || key === 'tpm') {
      if (typeof first === 'number') return Math.min(...(present as number[]));
    }
    if (key === 'entries' || key === 'segments') return Math.max(...(present as number[]));
    if (key === 'maxMs') return Math.max(...(present as number[]));
    if (key === 'state' && typeof first === 'string') return [...(present as string[])].sort((a, b) => BREAKER_ORDER.indexOf(b) - BREAKER_ORDER.indexOf(a))[0]!;
    if (typeof first === 'number') return (present as number[]).reduce((a, b) => a + b, 0);
    if (typeof first === 'boolean') return (present as boolean[]).some(Boolean);
    if (Array.isArray(first)) {
      // Histogram buckets: summed position by position.
      return (first as Json[]).map((b, i) => (b && typeof b === 'object' && !Array.isArray(b) ? merge(String(i), present.map((p) => (p as Json[])[i] ?? null)) : b));
    }
    if (typeof first === 'object') {
      const keys = [...new Set(present.flatMap((p) => Object.keys(p as object)))];
      const out: Record<string, Json> = {};
      for (const k of keys) {
        // A bucket's bound is a label, not a count.
        out[k] = k === 'leMs' ? (first as Record<string, Json>)[k]! : merge(k, present.map((p) => (p as Record<string, Json>)[k] ?? null));
      }
      if (key === 'latency') return latencyFromBuckets(out, present as Array<Record<string, Json>>);
      return out;
    }
    return first;
  };
  return merge('', list as Json[]) as Record<string, unknown>;
}

/** A merged latency histogram with its mean and quantiles recomputed. */
function latencyFromBuckets(h: Record<string, Json>, parts: Array<Record<string, Json>>): Json {
  const count = Number(h.count ?? 0);
  const sum = parts.reduce((s, p) => s + Number(p.meanMs ?? 0) * Number(p.count ?? 0), 0);
  const buckets = (h.buckets ?? []) as Array<{ leMs: number | null; count: number }>;
  const max = Number(h.maxMs ?? 0);
  const q = (x: number) => {
    if (count === 0) return 0;
    const target = Math.ceil(x * count);
    let acc = 0;
    for (const b of buckets) {
      acc += b.count;
      if (acc >= target) return Math.min(b.leMs ?? Infinity, max);
    }
    return max;
  };
  return { ...h, meanMs: count ? sum / count : 0, p50Ms: q(0.5), p95Ms: q(0.95), p99Ms: q(0.99) };
}
