/**
 * Generate stage: k teacher candidates per sample. Each sample becomes one request with n=k or k
 * requests with seeds (config nMode); each request is answered from the response cache when it was
 * ever paid for, else sent through the teacher client and cached before its rows exist.
 *
 * Output order is the input order, then candidate index, whatever order answers arrive in; at most
 * `window` samples are in flight or waiting to be emitted. A sample whose request failed after its last
 * retry, or that could not be asked at all, is reported to `onFailure` (transient or not, with its
 * reason) and gives rows with `error` set, unless `failedRows` is false: then it gives no rows (the
 * generate stage quarantines it, or leaves its task to be redone). A sample's rows come out together or
 * not at all: when the run stops
 * (abort signal, cost cap, fatal endpoint error) requests already sent finish and are cached, the
 * complete samples in order are emitted, and then the stopping error is thrown.
 */
import { setMaxListeners } from 'node:events';
import { GeometryError, InputError, InterruptedError, RecordError, UnivgError } from '../errors.js';
import type { TeacherConfig } from '../schema/config.js';
import type { GroundingSample, TeacherCandidate } from '../schema/records.js';
import type { BatchRequest } from '../teacher/batch.js';
import type { CachedResponse, ResponseCache } from '../teacher/cache.js';
import { cachedCall } from '../teacher/cached-call.js';
import { choiceText, type ChatChoice, type TeacherClient } from '../teacher/client.js';
import { TeacherRequestError } from '../teacher/errors.js';
import { isRetryable } from '../teacher/backoff.js';
import { ImagePreparer, type ImageLoader } from '../teacher/images.js';
import { checkPromptVersion } from '../teacher/prompts.js';
import { chatBody, planRequests, type RequestPlan } from '../teacher/request.js';

export interface GenerateProgress {
  samplesDone: number;
  samplesTotal: number | null;
  candidates: number;
  cachedCandidates: number;
  failedCandidates: number;
  /** Spent by this run (cache hits cost nothing). */
  costUsd: number;
  projectedCostUsd: number | null;
}

export interface GenerateOptions {
  config: TeacherConfig;
  client: TeacherClient;
  cache: ResponseCache;
  imageLoader: ImageLoader;
  /** Share one preparer (and its LRU) across calls; built from config when absent. */
  images?: ImagePreparer;
  signal?: AbortSignal;
  onProgress?: (p: GenerateProgress) => void;
  /** For the projected cost, when the caller knows how many samples are coming. */
  totalSamples?: number;
  /** Samples in flight or buffered for in-order output (default 4 x concurrency, at least 16). */
  window?: number;
  /** Called, in output order, for every sample with a failed request or that could not be asked. */
  onFailure?: (f: SampleFailure) => void;
  /** Emit error rows for failed samples (default true); false: failed samples give no rows. */
  failedRows?: boolean;
  /**
   * Batch mode: the Batch API has filled the cache. `fresh`: answers it brought in this run (their rows
   * are this run's spend, not replays); `failures`: why a request still has no answer. A request not in
   * the cache fails with that reason instead of being sent online (unless teacher.batch.retryOnline).
   */
  batch?: { fresh: ReadonlySet<string>; failures: ReadonlyMap<string, Error> };
}

/**
 * Why a sample got no answer. `transient`: the endpoint may answer next time (connection, timeout,
 * 5xx, 429 after retries, a body that is not a completion), so the work is not done; otherwise this
 * sample itself is the problem (the endpoint refused its content, an image cannot be read or encoded,
 * the sample cannot be turned into a request) and asking again will not help.
 */
export interface SampleFailure {
  sampleId: string;
  transient: boolean;
  /** Short reason code: connection, timeout, server_error, rate_limited, malformed, teacher_rejected, image_unreadable, sample_invalid. */
  reason: string;
  message: string;
  /** Candidates of the sample that have no answer. */
  candidates: number;
}

/** The reason code and whether it can pass, for an error that failed one sample's request. */
function failureOf(err: Error): { transient: boolean; reason: string } {
  if (err instanceof TeacherRequestError) {
    if (isRetryable(err.outcome)) return { transient: true, reason: err.outcome };
    return { transient: false, reason: 'teacher_rejected' };
  }
  if (err instanceof InputError) return { transient: false, reason: 'image_unreadable' };
  return { transient: false, reason: 'sample_invalid' };
}

/** Errors that belong to one sample or request and become rows; anything else stops the stage. */
function isRowError(err: unknown): err is Error {
  return err instanceof TeacherRequestError || err instanceof InputError || err instanceof GeometryError || err instanceof RecordError;
}

/** What rows need to know about the request behind them. */
type PlanInfo = Pick<RequestPlan, 'hash' | 'promptVersion' | 'n' | 'firstCandidate' | 'seenSizes'>;

interface RowBase {
  sample: GroundingSample;
  plan: PlanInfo;
  config: TeacherConfig;
}

function baseRow({ sample, plan, config }: RowBase, candidateIndex: number): Omit<TeacherCandidate, 'completion' | 'finishReason' | 'error' | 'promptTokens' | 'completionTokens' | 'costUsd' | 'latencyMs' | 'attempts' | 'cached'> {
  return {
    sampleId: sample.id,
    candidateIndex,
    requestHash: plan.hash,
    model: config.model,
    promptVersion: plan.promptVersion,
    promptMode: config.mode,
    convention: config.convention,
    seenSizes: plan.seenSizes.map((s) => ({ width: s.width, height: s.height })),
  };
}

export function errorRows(b: RowBase, message: string, attempts: number, indexes?: number[]): TeacherCandidate[] {
  const idx = indexes ?? Array.from({ length: b.plan.n }, (_, j) => b.plan.firstCandidate + j);
  return idx.map((i) => ({
    ...baseRow(b, i),
    completion: null,
    finishReason: null,
    error: message,
    promptTokens: null,
    completionTokens: null,
    costUsd: 0,
    latencyMs: 0,
    attempts,
    cached: false,
  }));
}

/** Split `total` into integer parts proportional to `weights` (largest remainder), summing to total. */
export function splitInteger(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  const w = sum > 0 ? weights : weights.map(() => 1);
  const ws = sum > 0 ? sum : weights.length;
  const raw = w.map((x) => (total * x) / ws);
  const out = raw.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => [r - Math.floor(r), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) out[order[k]![1]]!++;
  return out;
}

/**
 * Rows for one answered request. With n > 1 the usage covers every choice: each row gets its share
 * (prompt evenly, completion by text length, cost accordingly) so sums over rows equal what was billed.
 */
export function rowsFromResponse(b: RowBase, value: CachedResponse, run: { cached: boolean; attempts: number }): TeacherCandidate[] {
  const resp = value.response as { choices?: ChatChoice[] };
  const choices = [...(resp.choices ?? [])].sort((x, y) => x.index - y.index).slice(0, b.plan.n);
  const m = choices.length;
  const prompt = splitInteger(value.usage.promptTokens, choices.map(() => 1));
  const completion = splitInteger(
    value.usage.completionTokens,
    choices.map((c) => choiceText(c).length),
  );
  const costs = prompt.map((p, j) => p + completion[j]!);
  const costSum = costs.reduce((a, c) => a + c, 0);
  const rows: TeacherCandidate[] = choices.map((c, j) => ({
    ...baseRow(b, b.plan.firstCandidate + j),
    completion: choiceText(c),
    finishReason: c.finish_reason ?? null,
    error: null,
    promptTokens: prompt[j]!,
    completionTokens: completion[j]!,
    costUsd: costSum > 0 ? (value.costUsd * costs[j]!) / costSum : value.costUsd / m,
    latencyMs: value.latencyMs,
    attempts: run.attempts,
    cached: run.cached,
  }));
  if (m < b.plan.n) {
    const missing = Array.from({ length: b.plan.n - m }, (_, j) => b.plan.firstCandidate + m + j);
    rows.push(...errorRows(b, `missing_choice: the server returned ${m} of ${b.plan.n} choices`, run.attempts, missing).map((r) => ({ ...r, cached: run.cached })));
  }
  return rows;
}

/** One request of a sample as the cache and the Batch API see it; its body is built (images read and encoded) only when called. */
function requestOf(sample: GroundingSample, plan: RequestPlan, config: TeacherConfig, client: TeacherClient, images: ImagePreparer): BatchRequest {
  return {
    hash: plan.hash,
    requestModel: config.model,
    promptVersion: plan.promptVersion,
    params: plan.canonical.params,
    body: async () => chatBody(plan, await Promise.all(sample.images.map((im) => images.prepare(im)))),
    rawPromptTokens: client.estimator.rawPrompt(plan.promptText, plan.seenSizes),
    choices: plan.n,
  };
}

/** Every request of these samples, in order, for the Batch API: the same requests and keys online mode sends. A sample that cannot be planned is left to the online path's rows. */
export async function* batchRequests(samples: AsyncIterable<GroundingSample>, config: TeacherConfig, client: TeacherClient, images: ImagePreparer): AsyncGenerator<BatchRequest> {
  for await (const sample of samples) {
    let plans: RequestPlan[];
    try {
      plans = planRequests(sample, config);
    } catch (err) {
      if (isRowError(err)) continue;
      throw err;
    }
    for (const plan of plans) yield requestOf(sample, plan, config, client, images);
  }
}

export function imagePreparerFor(config: TeacherConfig, loader: ImageLoader): ImagePreparer {
  return new ImagePreparer({ loader, minPixels: config.minPixels, maxPixels: config.maxPixels, maxBytes: config.imageCacheBytes });
}

export async function* generateCandidates(samples: AsyncIterable<GroundingSample> | Iterable<GroundingSample>, opts: GenerateOptions): AsyncGenerator<TeacherCandidate, void, undefined> {
  const { config, client, cache } = opts;
  checkPromptVersion(config.mode, config.promptVersion);
  const images = opts.images ?? imagePreparerFor(config, opts.imageLoader);
  const window = opts.window ?? Math.max(16, config.concurrency * 4);
  // Our own stop signal: aborted by the caller's signal or when the consumer stops iterating.
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(opts.signal?.reason);
  if (opts.signal?.aborted) stop.abort(opts.signal.reason);
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const signal = stop.signal;
  // Every request waiting for a slot, a rate token or the breaker listens on it: many listeners is normal.
  setMaxListeners(0, signal);

  type Outcome = { rows: TeacherCandidate[]; failure: SampleFailure | null };
  const failed = (sample: GroundingSample, rows: TeacherCandidate[], err: Error, message: string): Outcome => ({
    rows,
    failure: { sampleId: sample.id, ...failureOf(err), message, candidates: rows.length },
  });

  const batch = opts.batch;
  const miss = batch && !config.batch.retryOnline ? (hash: string) => () => batch.failures.get(hash) ?? new TeacherRequestError('timeout: no batch answered this request', 'timeout', 0, null) : null;

  const processPlan = async (sample: GroundingSample, plan: RequestPlan): Promise<Outcome> => {
    const b: RowBase = { sample, plan, config };
    try {
      const r = await cachedCall({ client, cache, ...requestOf(sample, plan, config, client, images), signal, ...(miss ? { miss: miss(plan.hash) } : {}) });
      // An answer a batch of this run brought into the cache was paid for by this run.
      const fresh = batch?.fresh.has(plan.hash) ?? false;
      return { rows: rowsFromResponse(b, r.value, { cached: r.cached && !fresh, attempts: fresh ? r.value.attempts : r.attempts }), failure: null };
    } catch (err) {
      if (err instanceof TeacherRequestError) return failed(sample, errorRows(b, err.message, err.attempts), err, err.message);
      // A bad image of this sample (thrown while building the body, before any request): rows, not a stop.
      if (isRowError(err)) {
        const message = err instanceof UnivgError ? err.describe() : err.message;
        return failed(sample, errorRows(b, message, 0), err, message);
      }
      throw err;
    }
  };

  const processSample = async (sample: GroundingSample): Promise<Outcome> => {
    let plans: RequestPlan[];
    try {
      plans = planRequests(sample, config);
    } catch (err) {
      if (!isRowError(err)) throw err;
      // A sample that cannot even be turned into a request: k error rows, no request hash to speak of.
      const none: PlanInfo = { hash: '-', promptVersion: `${config.mode}-${config.promptVersion}`, n: config.candidates, firstCandidate: 0, seenSizes: [] };
      const message = err instanceof UnivgError ? err.describe() : err.message;
      return failed(sample, errorRows({ sample, plan: none, config }, message, 0), err, message);
    }
    // allSettled: every request of the sample finishes (and is cached) before the sample is judged.
    const settled = await Promise.allSettled(plans.map((p) => processPlan(sample, p)));
    const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (rejected) throw rejected.reason;
    const outcomes = settled.map((s) => (s as PromiseFulfilledResult<Outcome>).value);
    const failures = outcomes.map((o) => o.failure).filter((f): f is SampleFailure => f !== null);
    // One failure per sample: a transient one wins (the sample is not done), its candidates summed.
    const first = failures.find((f) => f.transient) ?? failures[0];
    const failure = first ? { ...first, candidates: failures.reduce((a, f) => a + f.candidates, 0) } : null;
    return { rows: outcomes.flatMap((o) => o.rows), failure };
  };

  const it = Symbol.asyncIterator in samples ? (samples as AsyncIterable<GroundingSample>)[Symbol.asyncIterator]() : (samples as Iterable<GroundingSample>)[Symbol.iterator]();
  const ready = new Map<number, Outcome>();
  const inflight = new Set<Promise<void>>();
  let stopError: unknown = null;
  let nextIn = 0;
  let nextOut = 0;
  let inputDone = false;
  let wake: (() => void) | null = null;
  const progress = { samplesDone: 0, candidates: 0, cachedCandidates: 0, failedCandidates: 0 };
  const seenIds = new Set<string>();

  const start = (seq: number, sample: GroundingSample) => {
    const p: Promise<void> = processSample(sample)
      .then(
        (outcome) => void ready.set(seq, outcome),
        (err) => {
          // The first reason to stop wins; interruptions that follow it are its consequence.
          if (stopError === null || (stopError instanceof InterruptedError && !(err instanceof InterruptedError))) stopError = err;
          if (!signal.aborted) stop.abort(err);
        },
      )
      .finally(() => {
        inflight.delete(p);
        wake?.();
      });
    inflight.add(p);
  };

  try {
    for (;;) {
      while (!inputDone && !signal.aborted && nextIn - nextOut < window) {
        const r = await it.next();
        if (r.done) {
          inputDone = true;
          break;
        }
        const s = r.value;
        if (seenIds.has(s.id)) {
          throw new RecordError(`duplicate sample id ${JSON.stringify(s.id)} in the input; candidate rows are keyed by it`, { recordId: s.id });
        }
        seenIds.add(s.id);
        start(nextIn++, s);
      }
      while (ready.has(nextOut)) {
        const { rows, failure } = ready.get(nextOut)!;
        ready.delete(nextOut);
        nextOut++;
        progress.samplesDone++;
        if (failure) opts.onFailure?.(failure);
        for (const row of rows) {
          progress.candidates++;
          if (row.cached) progress.cachedCandidates++;
          if (row.error !== null) progress.failedCandidates++;
          if (failure && opts.failedRows === false) continue;
          yield row;
        }
        opts.onProgress?.({
          ...progress,
          samplesTotal: opts.totalSamples ?? null,
          costUsd: client.cost.spentUsd,
          projectedCostUsd: client.cost.project(progress.samplesDone, opts.totalSamples),
        });
      }
      if (inflight.size === 0 && (inputDone || signal.aborted)) break;
      if (inflight.size > 0 && !ready.has(nextOut) && (inputDone || signal.aborted || nextIn - nextOut >= window)) {
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    }
    if (signal.aborted) {
      if (stopError !== null && !(stopError instanceof InterruptedError)) throw stopError;
      throw new InterruptedError('generation interrupted; answers received so far are cached, re-run to continue');
    }
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
    if (!signal.aborted && (inflight.size > 0 || !inputDone)) stop.abort(new InterruptedError());
    // Requests already sent finish and are cached before the caller can close the cache.
    while (inflight.size > 0) await Promise.race(inflight);
    if (!inputDone) await it.return?.();
  }
}
