/**
 * Money: price per million tokens from configuration, running cost, a projection from progress, a hard
 * cap that stops new requests (the ones in flight finish and are cached), and a dry-run estimate that
 * calls nothing.
 */
import { ConfigError } from '../errors.js';
import type { TeacherConfig } from '../schema/config.js';
import type { GroundingSample } from '../schema/records.js';
import { planRequests } from './request.js';
import { TokenEstimator } from './tokens.js';

export interface Price {
  inputPerMTok: number;
  outputPerMTok: number;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

export function costOf(usage: Usage, price: Price | undefined): number {
  if (!price) return 0;
  return (usage.promptTokens * price.inputPerMTok + usage.completionTokens * price.outputPerMTok) / 1e6;
}

/** What a request sent through the Batch API costs: teacher.batch.price, else half the online price (OpenAI's batch discount). */
export function batchPrice(config: Pick<TeacherConfig, 'price' | 'batch'>): Price | undefined {
  if (config.batch.price) return config.batch.price;
  if (!config.price) return undefined;
  return { inputPerMTok: config.price.inputPerMTok / 2, outputPerMTok: config.price.outputPerMTok / 2 };
}

/**
 * Spend so far plus what requests in flight are expected to cost. A new request is admitted when its
 * estimate fits under the cap next to what is spent and reserved; when it does not fit only because of
 * requests in flight, it waits for them to settle (their real cost is usually below the estimate); when
 * it does not fit with nothing in flight, the cap is reached and stays reached for the run.
 */
export class CostTracker {
  spentUsd = 0;
  private reservedUsd = 0;
  capReached = false;
  private waiters: Array<() => void> = [];

  constructor(
    readonly price: Price | undefined,
    readonly capUsd: number | undefined,
  ) {}

  get reserved(): number {
    return this.reservedUsd;
  }

  /** Reserve `estimateUsd` for a new request; false once the cap is reached. Rejects when `signal` aborts. */
  async admit(estimateUsd: number, signal?: AbortSignal): Promise<boolean> {
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      if (this.capUsd === undefined) {
        this.reservedUsd += estimateUsd;
        return true;
      }
      if (this.capReached) return false;
      if (this.spentUsd + this.reservedUsd + estimateUsd <= this.capUsd) {
        this.reservedUsd += estimateUsd;
        return true;
      }
      if (this.reservedUsd <= 1e-12) {
        this.capReached = true;
        this.wake();
        return false;
      }
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        this.waiters.push(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The request ended: drop its reservation, add what it really cost (0 when it failed). */
  settle(estimateUsd: number, actualUsd: number): void {
    this.reservedUsd = Math.max(0, this.reservedUsd - estimateUsd);
    this.spentUsd += actualUsd;
    this.wake();
  }

  /** Total this run is heading for: spend so far scaled by the share of work done. */
  project(done: number, total: number | undefined): number | null {
    if (total === undefined || total <= 0 || done <= 0) return null;
    return (this.spentUsd * total) / Math.min(done, total);
  }
}

export interface RunEstimate {
  /** Samples the estimate was computed from, and the total it is scaled to. */
  sampled: number;
  totalSamples: number;
  requests: number;
  /** Requests found in the response cache in the sample (scaled); 0 when no cache was given. */
  cachedRequests: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number | null;
  /** The same tokens at the Batch API's price (teacher.batch.price, default half), whichever api the config picks. */
  batchCostUsd: number | null;
  minutes: number;
  bottleneck: 'rpm' | 'tpm' | 'concurrency';
  assumptions: { completionTokensPerChoice: number; latencyMs: number; imageTokenMode: string };
}

export interface EstimateOptions {
  totalSamples?: number;
  /** Assumed latency of one request (for the concurrency bound on time). */
  latencyMs?: number;
  /** Ask the cache which requests are already paid for. */
  has?: (hash: string) => boolean;
}

/**
 * Tokens, cost and time for a run, from a sample of its inputs, without calling the API or reading an
 * image (sizes come from the records). Completion length is `expectedCompletionTokens` (default half of
 * maxTokens) per choice; the real run calibrates it from usage.
 */
export function estimateRun(samples: readonly GroundingSample[], config: TeacherConfig, opts: EstimateOptions = {}): RunEstimate {
  if (samples.length === 0) throw new ConfigError('estimateRun needs at least one sample');
  const perChoice = config.expectedCompletionTokens ?? Math.ceil(config.maxTokens / 2);
  const est = new TokenEstimator(config.imageTokenMode, perChoice, config.maxTokens);
  let requests = 0;
  let cached = 0;
  let prompt = 0;
  let completion = 0;
  for (const s of samples) {
    for (const plan of planRequests(s, config)) {
      requests++;
      if (opts.has?.(plan.hash)) {
        cached++;
        continue;
      }
      prompt += est.prompt(est.rawPrompt(plan.promptText, plan.seenSizes));
      completion += est.completion(plan.n);
    }
  }
  const total = opts.totalSamples ?? samples.length;
  const scale = total / samples.length;
  const promptTokens = Math.round(prompt * scale);
  const completionTokens = Math.round(completion * scale);
  const uncached = (requests - cached) * scale;
  const latencyMs = opts.latencyMs ?? 10_000;
  const byConcurrency = (uncached * latencyMs) / config.concurrency / 60_000;
  const byRpm = config.rpm ? uncached / config.rpm : 0;
  const byTpm = config.tpm ? (promptTokens + completionTokens) / config.tpm : 0;
  const minutes = Math.max(byConcurrency, byRpm, byTpm);
  const bottleneck = minutes === byRpm && byRpm > 0 ? 'rpm' : minutes === byTpm && byTpm > 0 ? 'tpm' : 'concurrency';
  return {
    sampled: samples.length,
    totalSamples: total,
    requests: Math.round(requests * scale),
    cachedRequests: Math.round(cached * scale),
    promptTokens,
    completionTokens,
    costUsd: config.price ? costOf({ promptTokens, completionTokens }, config.price) : null,
    batchCostUsd: batchPrice(config) ? costOf({ promptTokens, completionTokens }, batchPrice(config)) : null,
    minutes,
    bottleneck,
    assumptions: { completionTokensPerChoice: perChoice, latencyMs, imageTokenMode: config.imageTokenMode },
  };
}
