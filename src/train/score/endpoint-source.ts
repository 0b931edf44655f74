/**
 * Rollouts from any OpenAI-compatible endpoint (a vLLM server of a real SFT model, a hosted API, the
 * simulated teacher), through the teacher's client (rate limits, retries, breaker, cost cap) and its
 * response cache (`cachedCall`).
 *
 * What is sent for a row: its images first (smart-resized to the pixel budget, as the teacher and the
 * eval send them), then its prompt with the `<image>` placeholders removed, i.e. the question and
 * UniVG-R1's instruction, the text the model was trained on. Each of the G rollouts is its own request:
 * same messages, temperature (default 1, as in UniVG-R1's GRPO), max_tokens, and its own `seed`
 * (`rolloutSeed`), so the G requests have G cache keys, a server that honours seeds (vLLM does) samples
 * them independently and reproducibly, and a rerun after a kill re-requests nothing already answered.
 */
import { setMaxListeners } from 'node:events';
import { ConfigError, GeometryError, InputError, RecordError, UnivgError } from '../../errors.js';
import { smartResize } from '../../geometry/index.js';
import { TeacherConfig } from '../../schema/config.js';
import type { BoxConvention, ImageRef, RlRow } from '../../schema/records.js';
import { cachedCall } from '../../teacher/cached-call.js';
import { choiceText, type ChatChoice, type TeacherEvent } from '../../teacher/client.js';
import { TeacherRequestError } from '../../teacher/errors.js';
import { openTeacher } from '../../teacher/handle.js';
import { ImagePreparer } from '../../teacher/images.js';
import { CANONICAL_VERSION, requestHash, sha256Hex, type CanonicalRequest } from '../../teacher/request.js';
import { PAPER_EVAL } from '../eval/endpoint.js';
import { loadRowImage } from './images.js';
import type { RolloutSampling, RolloutSource } from './source.js';

/** Recorded in cache entries and request keys; bump when the text sent for a row changes. */
export const SCORE_PROMPT_VERSION = 'score-v1';

/** The paper's GRPO `max_completion_length`. */
export const SCORE_MAX_TOKENS = 256;

/** The user text for a row: its training prompt without the `<image>` placeholders (images are sent as parts). */
export function scorePrompt(row: Pick<RlRow, 'prompt'>): string {
  return row.prompt.replace(/<image>/g, '').trim();
}

/**
 * The request seed of rollout g: the first 31 bits of sha256("univg-score:<seed>:<g>"). Distinct per
 * rollout, the same on every rerun, and independent of G (raising G keeps the first answers).
 */
export function rolloutSeed(seed: number, g: number): number {
  return Number.parseInt(sha256Hex(`univg-score:${seed}:${g}`).slice(0, 8), 16) >>> 1;
}

export interface EndpointSourceOptions extends RolloutSampling {
  baseUrl: string;
  model: string;
  /** Environment variable holding the key (default OPENAI_API_KEY; local endpoints need none). */
  apiKeyEnv?: string;
  env?: Record<string, string | undefined>;
  /** Requests in flight (default 8). */
  concurrency?: number;
  /** Response cache (default cache/teacher, shared with the teacher: keys never collide). */
  cacheDir?: string;
  /** Directory a relative cacheDir is resolved against (default the working directory). */
  root?: string;
  /** Convention the model answers in (default: each row's own `convention`). */
  convention?: BoxConvention;
  minPixels?: number;
  maxPixels?: number;
  timeoutMs?: number;
  maxRetries?: number;
  log?: (e: TeacherEvent) => void;
}

/** Errors that belong to one row; anything else (fatal endpoint error, cost cap, interruption) stops the run. */
export function isRowError(err: unknown): err is Error {
  return err instanceof TeacherRequestError || err instanceof InputError || err instanceof GeometryError || err instanceof RecordError;
}

/**
 * The preparer wraps a loader's error and knows no row: surface the loader's own typed error (it names
 * the row, the image and a reason), or name them here.
 */
function rowImageError(err: unknown, id: string, k: number): Error {
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof UnivgError && cause.context.recordId !== undefined) return cause;
  const message = err instanceof Error ? err.message : String(err);
  const context = err instanceof UnivgError ? err.context : {};
  return new InputError(message, { ...context, recordId: id, field: `images[${k}]`, reason: 'image_unreadable' }, { cause: err });
}

export async function openEndpointSource(o: EndpointSourceOptions): Promise<RolloutSource> {
  const parsed = TeacherConfig.safeParse({
    model: o.model,
    baseUrl: o.baseUrl,
    ...(o.apiKeyEnv !== undefined ? { apiKeyEnv: o.apiKeyEnv } : {}),
    // The client wants a teacher mode; "blind" is the truthful one (no ground truth is ever sent).
    mode: 'blind',
    candidates: 1,
    ...(o.convention !== undefined ? { convention: o.convention } : {}),
    temperature: o.temperature,
    maxTokens: o.maxTokens ?? SCORE_MAX_TOKENS,
    minPixels: o.minPixels ?? PAPER_EVAL.minPixels,
    maxPixels: o.maxPixels ?? PAPER_EVAL.maxPixels,
    concurrency: o.concurrency ?? 8,
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.maxRetries !== undefined ? { maxRetries: o.maxRetries } : {}),
    cacheDir: o.cacheDir ?? 'cache/teacher',
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`endpoint option ${issue.path.join('.') || '(root)'}: ${issue.message}`, { field: issue.path.join('.') });
  }
  const config = parsed.data;
  const handle = await openTeacher(config, { ...(o.env ? { env: o.env } : {}), ...(o.log ? { log: o.log } : {}), ...(o.root ? { root: o.root } : {}) });
  const { client, cache } = handle;

  // The preparer loads by hash from whatever rows in flight registered: bytes are read only on a miss.
  const loaders = new Map<string, { load: () => Promise<Buffer>; refs: number }>();
  const images = new ImagePreparer({
    loader: (sha) => {
      const e = loaders.get(sha);
      return e ? e.load() : Promise.reject(new Error('image not registered by a row in flight'));
    },
    minPixels: config.minPixels,
    maxPixels: config.maxPixels,
    maxBytes: config.imageCacheBytes,
  });
  const counts = { rows: 0, rollouts: 0, requests: 0, cached: 0, failed: 0 };

  const rollouts = async (row: RlRow, signal?: AbortSignal): Promise<string[]> => {
    const refs: ImageRef[] = row.images.map((im, k) => ({
      sha256: row.imageSha256[k] ?? '',
      path: im.path ?? `${row.id}/images[${k}]`,
      width: row.imageWidth[k] ?? 0,
      height: row.imageHeight[k] ?? 0,
    }));
    if (refs.some((r) => !/^[0-9a-f]{64}$/.test(r.sha256) || !(r.width > 0 && r.height > 0))) {
      throw new RecordError('every image needs its sha256, width and height', { recordId: row.id, field: 'imageSha256', reason: 'record_invalid' });
    }
    const seen = refs.map((r) => smartResize(r.width, r.height, { minPixels: config.minPixels, maxPixels: config.maxPixels }));
    const text = scorePrompt(row);
    const content: CanonicalRequest['messages'][number]['content'] = refs.map((r, k) => ({ type: 'image' as const, sha256: r.sha256, width: seen[k]!.width, height: seen[k]!.height }));
    content.push({ type: 'text', text });
    const messages: CanonicalRequest['messages'] = [{ role: 'user', content }];
    const rawPromptTokens = client.estimator.rawPrompt(text, seen);

    // Images are prepared once per row (and kept in the preparer's LRU), whatever G is.
    let prepared: Promise<Array<{ dataUrl: string }>> | null = null;
    const prepare = () => {
      if (prepared) return prepared;
      refs.forEach((r, k) => {
        const e = loaders.get(r.sha256);
        if (e) e.refs++;
        else loaders.set(r.sha256, { load: () => loadRowImage(row, k, o.dataRoot), refs: 1 });
      });
      prepared = Promise.all(refs.map((r, k) => images.prepare(r).catch((err: unknown) => Promise.reject(rowImageError(err, row.id, k))))).finally(() => {
        for (const r of refs) {
          const e = loaders.get(r.sha256);
          if (e && --e.refs === 0) loaders.delete(r.sha256);
        }
      });
      return prepared;
    };

    const one = async (g: number): Promise<string> => {
      const params = { temperature: config.temperature, max_tokens: config.maxTokens, seed: rolloutSeed(o.seed, g) };
      const canonical: CanonicalRequest = { canonical: CANONICAL_VERSION, model: config.model, promptVersion: SCORE_PROMPT_VERSION, params, messages };
      const r = await cachedCall({
        client,
        cache,
        hash: requestHash(canonical),
        requestModel: config.model,
        promptVersion: SCORE_PROMPT_VERSION,
        params,
        body: async () => {
          const imgs = await prepare();
          return {
            model: config.model,
            messages: [{ role: 'user' as const, content: [...imgs.map((im) => ({ type: 'image_url' as const, image_url: { url: im.dataUrl } })), { type: 'text' as const, text }] }],
            ...params,
          };
        },
        rawPromptTokens,
        choices: 1,
        ...(signal ? { signal } : {}),
      });
      if (r.cached) counts.cached++;
      else counts.requests++;
      const choices = (r.value.response as { choices?: ChatChoice[] }).choices ?? [];
      const c = choices.find((x) => x.index === 0) ?? choices[0];
      // A reply without a choice is an empty completion: accuracy 0, as for any answer without a box.
      return c ? choiceText(c) : '';
    };

    // allSettled: every rollout's request finishes (and is cached) before the row is judged.
    const settled = await Promise.allSettled(Array.from({ length: o.G }, (_, g) => one(g)));
    const bad = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
    const stop = bad.find((e) => !isRowError(e));
    if (stop !== undefined) throw stop;
    if (bad.length > 0) {
      const first = bad[0] as Error;
      if (first instanceof TeacherRequestError) {
        counts.failed += bad.length;
        throw new TeacherRequestError(`${bad.length} of ${o.G} rollouts failed: ${first.message}`, first.outcome, first.attempts, first.status, { recordId: row.id, field: 'rollouts', reason: 'request_failed' });
      }
      throw first;
    }
    counts.rows++;
    counts.rollouts += o.G;
    return settled.map((s) => (s as PromiseFulfilledResult<string>).value);
  };

  return {
    name: `endpoint:${config.model}`,
    convention: o.convention ?? null,
    budget: { minPixels: config.minPixels, maxPixels: config.maxPixels },
    // Enough rows in flight to keep `concurrency` requests busy with G requests per row.
    concurrency: Math.max(2, Math.ceil((2 * config.concurrency) / o.G)),
    rollouts: async (row, signal) => {
      // Each of the G requests of every row in flight listens on the run's signal.
      if (signal) setMaxListeners(0, signal);
      return rollouts(row, signal);
    },
    stats: () => ({ ...counts }),
    close: () => handle.close(),
  };
}
