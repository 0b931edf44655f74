/**
 * The one way any stage asks an OpenAI-compatible endpoint: look the request key up in the response
 * cache, else send it through the teacher client (limits, retries, breaker, cost cap) and append the
 * answer to the cache before returning it. Generation, the judge, evaluation-style scoring and
 * difficulty scoring all go through here, so "an answer already paid for is never requested again"
 * holds for every caller by construction.
 *
 * The body is built lazily: on a hit no image is read, resized or encoded.
 */
import { InterruptedError } from '../errors.js';
import type { CachedResponse, ResponseCache } from './cache.js';
import type { ChatBody, TeacherClient } from './client.js';
import type { RequestClaim } from './shared.js';

export interface CachedCall {
  client: TeacherClient;
  cache: ResponseCache;
  /** The cache key: `requestHash` of the canonical request (model, params, prompt version, images, text). */
  hash: string;
  /** What is recorded next to the response: the model as requested, the prompt version and the params that shaped the answer. */
  requestModel: string;
  promptVersion: string;
  params: Record<string, unknown>;
  /** Build the body to send; called only on a miss. Errors it throws (a bad image) reach the caller as they are. */
  body: () => Promise<ChatBody> | ChatBody;
  /** Uncalibrated prompt token estimate (text + images at the size sent), for rate limits and the cost projection. */
  rawPromptTokens: number;
  /** Choices asked for (n). */
  choices: number;
  signal?: AbortSignal;
  /**
   * On a miss, throw this instead of sending the request (batch mode: the Batch API was the way to ask,
   * and this says why it gave no answer).
   */
  miss?: () => Error;
}

export interface CachedCallResult {
  value: CachedResponse;
  /** True when answered from the cache (no request was made). */
  cached: boolean;
  /** HTTP attempts made by this call (0 on a hit). */
  attempts: number;
}

/**
 * The answer to one request, from the cache or the endpoint. Throws what the client throws
 * (TeacherRequestError after the last retry, TeacherFatalError, CostCapError, InterruptedError) and
 * whatever `body()` throws; nothing is cached then.
 */
export async function cachedCall(c: CachedCall): Promise<CachedCallResult> {
  const hit = await c.cache.get(c.hash);
  if (hit) return { value: hit, cached: true, attempts: 0 };
  if (c.miss) throw c.miss();
  // A request that could never be sent (the endpoint refused the run, the breaker gave up) reads no image.
  c.client.assertUsable();
  const got = await claimOrWait(c);
  if ('value' in got) return { value: got.value, cached: true, attempts: 0 };
  try {
    return await send(c);
  } finally {
    await got.claim?.release();
  }
}

/**
 * With claims shared by other processes (queue workers): claim the key before sending it. While another
 * process holds it, wait for its answer to reach the cache (or for its claim to go: it failed, or died
 * and its claim expired) and claim again. The answer, when it arrived meanwhile.
 */
async function claimOrWait(c: CachedCall): Promise<{ claim: RequestClaim | null } | { value: CachedResponse }> {
  const claims = c.client.claims;
  if (!claims) return { claim: null };
  const answered = async () => {
    await c.cache.refresh();
    return c.cache.has(c.hash) ? await c.cache.get(c.hash) : undefined;
  };
  for (;;) {
    if (c.signal?.aborted) throw new InterruptedError();
    const claim = await claims.claim(c.hash);
    // Claimed: the holder before us may have cached the answer just before releasing its claim.
    if (claim) {
      const value = await answered();
      if (!value) return { claim };
      await claim.release();
      return { value };
    }
    await claims.waitReleased(c.hash, c.signal);
    const value = await answered();
    if (value) return { value };
  }
}

async function send(c: CachedCall): Promise<CachedCallResult> {
  const body = await c.body();
  const res = await c.client.complete({
    body,
    requestHash: c.hash,
    rawPromptTokens: c.rawPromptTokens,
    choices: c.choices,
    ...(c.signal ? { signal: c.signal } : {}),
  });
  const value: CachedResponse = {
    format: 1,
    requestModel: c.requestModel,
    promptVersion: c.promptVersion,
    params: c.params,
    response: res.response,
    usage: res.usage,
    costUsd: res.costUsd,
    latencyMs: Math.round(res.latencyMs * 1000) / 1000,
    attempts: res.attempts,
    createdAt: new Date().toISOString(),
  };
  // Cached before the caller sees it: a crash after this point never pays for it again.
  await c.cache.put(c.hash, value);
  return { value, cached: false, attempts: res.attempts };
}
