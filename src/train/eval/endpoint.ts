/**
 * A predictor that asks any OpenAI-compatible endpoint (a model behind vLLM, a hosted API, the simulated
 * teacher) the MIG-Bench question exactly as UniVG-R1's eval does (AMAP-ML/UniVG-R1
 * `eval/MIG_bench/MIG_bench_eval.py`, `univgr1_process`): the images first, then the question plus
 * `PROMPT_TEMPLATE['format_univg']`, images smart-resized to `max_pixels` 401408 (`min_pixels` 3136),
 * `max_new_tokens` 256, greedy decoding (temperature 0).
 *
 * It reuses the teacher's client (rate limits, retries, breaker, cost) and response cache: a request is
 * keyed by the sha256 of its canonical form (model, parameters, prompt version, image hashes and sizes,
 * text), so an answer already received is never requested again, across runs.
 */
import { ConfigError, redactSecrets } from '../../errors.js';
import { TeacherConfig } from '../../schema/config.js';
import type { BoxConvention, GroundingSample } from '../../schema/records.js';
import { cachedCall } from '../../teacher/cached-call.js';
import { choiceText, type TeacherEvent } from '../../teacher/client.js';
import { TeacherRequestError } from '../../teacher/errors.js';
import { openTeacher } from '../../teacher/handle.js';
import { ImagePreparer } from '../../teacher/images.js';
import { CANONICAL_VERSION, requestHash, seenSizesFor, type CanonicalRequest } from '../../teacher/request.js';
import { PredictionFailedError, type Predictor } from './predictor.js';

/** `PROMPT_TEMPLATE['format_univg']` of UniVG-R1's MIG-Bench eval, appended to the question verbatim. */
export const UNIVG_EVAL_SUFFIX = ' First output the thinking process in <think> </think> tags and then output the bounding box in <answer> </answer> tags.';

/** Recorded in cache entries and request keys; bump when the prompt text rule changes. */
export const EVAL_PROMPT_VERSION = 'migbench-eval-v1';

/** The paper's eval settings (reference §2d, "Eval settings for UniVG-R1"). */
export const PAPER_EVAL = { minPixels: 3136, maxPixels: 401408, maxTokens: 256, temperature: 0 } as const;

/** The user text: the question as the bench gives it, then the paper's instruction. */
export function evalPrompt(sample: Pick<GroundingSample, 'question'>): string {
  return `${sample.question}${UNIVG_EVAL_SUFFIX}`;
}

export interface EndpointPredictorOptions {
  /** Model name sent in every request. */
  model: string;
  /** Default $OPENAI_BASE_URL; ignored when `simulated` is set. */
  baseUrl?: string;
  /** Environment variable holding the key (default OPENAI_API_KEY; local endpoints need none). */
  apiKeyEnv?: string;
  env?: Record<string, string | undefined>;
  /** Start the built-in simulated teacher (blind: the prompt carries no ground truth) and ask it. */
  simulated?: { seed?: number };
  /** Box convention the model answers in (default qwen2vl, Qwen2-VL's 0-1000). */
  convention?: BoxConvention;
  minPixels?: number;
  maxPixels?: number;
  maxTokens?: number;
  temperature?: number;
  seed?: number;
  /** Requests in flight (default 8). */
  concurrency?: number;
  timeoutMs?: number;
  maxRetries?: number;
  /** Response cache directory (default cache/teacher, shared with the teacher: keys never collide). */
  cacheDir?: string;
  /** Directory a relative cacheDir is resolved against (default the working directory). */
  root?: string;
  log?: (e: TeacherEvent) => void;
}

/** Open the endpoint (and the simulated teacher, when asked); `close()` the predictor when done. */
export async function openaiPredictor(o: EndpointPredictorOptions): Promise<Predictor> {
  const convention = o.convention ?? 'qwen2vl';
  if (o.simulated && !['qwen2vl', 'qwen25vl', 'norm'].includes(convention)) {
    throw new ConfigError(`the simulated teacher answers in qwen2vl, qwen25vl or norm, not ${convention}`, { field: 'convention' });
  }
  const parsed = TeacherConfig.safeParse({
    model: o.model,
    ...(o.baseUrl !== undefined && !o.simulated ? { baseUrl: o.baseUrl } : {}),
    ...(o.apiKeyEnv !== undefined ? { apiKeyEnv: o.apiKeyEnv } : {}),
    ...(o.simulated ? { simulated: { seed: o.simulated.seed ?? 0 } } : {}),
    // The client wants a teacher mode; "blind" is the truthful one (no ground truth is ever sent).
    mode: 'blind',
    candidates: 1,
    convention,
    temperature: o.temperature ?? PAPER_EVAL.temperature,
    maxTokens: o.maxTokens ?? PAPER_EVAL.maxTokens,
    minPixels: o.minPixels ?? PAPER_EVAL.minPixels,
    maxPixels: o.maxPixels ?? PAPER_EVAL.maxPixels,
    concurrency: o.concurrency ?? 8,
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.maxRetries !== undefined ? { maxRetries: o.maxRetries } : {}),
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    cacheDir: o.cacheDir ?? 'cache/teacher',
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`endpoint option ${issue.path.join('.') || '(root)'}: ${issue.message}`, { field: issue.path.join('.') });
  }
  const config = parsed.data;
  const handle = await openTeacher(config, { ...(o.env ? { env: o.env } : {}), ...(o.log ? { log: o.log } : {}), ...(o.root ? { root: o.root } : {}) });
  const { client, cache } = handle;

  // predict() is handed the bytes; the preparer (shared, so resized images are reused across samples)
  // loads by hash from whatever calls in flight have handed over.
  const bytes = new Map<string, { buf: Buffer; refs: number }>();
  const images = new ImagePreparer({
    loader: (sha) => {
      const e = bytes.get(sha);
      return e ? Promise.resolve(e.buf) : Promise.reject(new Error('image bytes not provided'));
    },
    minPixels: config.minPixels,
    maxPixels: config.maxPixels,
    maxBytes: config.imageCacheBytes,
  });

  const predict = async (sample: GroundingSample, imgs: Buffer[]): Promise<string> => {
    if (imgs.length !== sample.images.length) throw new ConfigError(`expected ${sample.images.length} image(s) for ${sample.id}, got ${imgs.length}`);
    const text = evalPrompt(sample);
    const seen = seenSizesFor(sample, config);
    const canonical: CanonicalRequest = {
      canonical: CANONICAL_VERSION,
      model: config.model,
      promptVersion: EVAL_PROMPT_VERSION,
      params: { temperature: config.temperature, max_tokens: config.maxTokens, ...(config.seed !== undefined ? { seed: config.seed } : {}) },
      messages: [
        {
          role: 'user',
          content: [...sample.images.map((im, i) => ({ type: 'image' as const, sha256: im.sha256, width: seen[i]!.width, height: seen[i]!.height })), { type: 'text', text }],
        },
      ],
    };
    const hash = requestHash(canonical);
    const p = canonical.params;
    // The images are read, resized and encoded only on a cache miss (inside body()).
    const body = async () => {
      sample.images.forEach((im, i) => {
        const e = bytes.get(im.sha256);
        if (e) e.refs++;
        else bytes.set(im.sha256, { buf: imgs[i]!, refs: 1 });
      });
      let prepared;
      try {
        prepared = await Promise.all(sample.images.map((im) => images.prepare(im)));
      } finally {
        for (const im of sample.images) {
          const e = bytes.get(im.sha256);
          if (e && --e.refs === 0) bytes.delete(im.sha256);
        }
      }
      return {
        model: config.model,
        messages: [{ role: 'user' as const, content: [...prepared.map((im) => ({ type: 'image_url' as const, image_url: { url: im.dataUrl } })), { type: 'text' as const, text }] }],
        temperature: p.temperature,
        max_tokens: p.max_tokens,
        ...(p.seed !== undefined ? { seed: p.seed } : {}),
      };
    };
    try {
      const { value } = await cachedCall({ client, cache, hash, requestModel: config.model, promptVersion: EVAL_PROMPT_VERSION, params: p, body, rawPromptTokens: client.estimator.rawPrompt(text, seen), choices: 1 });
      return firstChoice(value.response, sample.id);
    } catch (err) {
      if (err instanceof TeacherRequestError) throw new PredictionFailedError(err.message, { recordId: sample.id }, { cause: err });
      throw err;
    }
  };

  return {
    name: config.model,
    convention,
    needsImages: true,
    concurrency: config.concurrency,
    info: {
      kind: 'endpoint',
      endpoint: handle.sim ? 'simulated' : redactSecrets(client.baseUrl),
      promptVersion: EVAL_PROMPT_VERSION,
      temperature: config.temperature,
      maxTokens: config.maxTokens,
      minPixels: config.minPixels,
      maxPixels: config.maxPixels,
      seed: config.seed ?? null,
    },
    predict,
    close: () => handle.close(),
  };
}

function firstChoice(response: unknown, id: string): string {
  const choices = (response as { choices?: Array<{ index: number; message: { content: unknown } }> }).choices;
  const c = choices?.find((x) => x.index === 0) ?? choices?.[0];
  if (!c) throw new PredictionFailedError('the endpoint answered with no choice', { recordId: id });
  return choiceText(c as Parameters<typeof choiceText>[0]);
}
