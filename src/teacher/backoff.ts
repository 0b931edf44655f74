/**
 * What an attempt's outcome means for the next one: retry (and how long to wait) or stop.
 */

/** Outcome of one HTTP attempt, as counted in the report. */
export type AttemptOutcome =
  | 'ok'
  | 'rate_limited' // 429
  | 'server_error' // 5xx, 408, 409
  | 'timeout' // no answer within timeoutMs
  | 'connection' // reset, refused, socket closed
  | 'malformed' // 200 whose body is not a chat completion
  | 'client_error' // 413, 422, a 400 about this request's own content: asking again will not help
  | 'fatal'; // 400, 401, 403, 404: every request would fail the same way; stop the run

export const ATTEMPT_OUTCOMES: readonly AttemptOutcome[] = ['ok', 'rate_limited', 'server_error', 'timeout', 'connection', 'malformed', 'client_error', 'fatal'];

export function outcomeOfStatus(status: number): AttemptOutcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 429) return 'rate_limited';
  if (status === 408 || status === 409 || status >= 500) return 'server_error';
  if (status === 400 || status === 401 || status === 403 || status === 404) return 'fatal';
  return 'client_error';
}

/**
 * Error codes of a 400 that are about one request's own content (its images, its length), not about
 * how every request is made: that sample is set aside and the run goes on. Any other 400 (an unknown
 * parameter, `n` out of range, a model that takes no images) would fail every request the same way.
 */
const REQUEST_SPECIFIC_400 = new Set([
  'invalid_image',
  'invalid_image_format',
  'invalid_image_url',
  'image_parse_error',
  'image_too_large',
  'context_length_exceeded',
  'string_above_max_length',
]);

/** What the error body of a 4xx says about itself (OpenAI's `error.code` and `error.param`). */
export interface ErrorBodyHints {
  code?: string | null;
  param?: string | null;
}

/**
 * Outcome of an HTTP error status, honouring the server's `x-should-retry` header where it overrides the
 * status (a 429 for a request larger than the whole token limit says `false`: waiting will not help).
 * 401/403/404 stay fatal whatever the header says; a 400 is fatal unless its error code says it is about
 * this request's content (REQUEST_SPECIFIC_400).
 */
export function classifyStatus(status: number, shouldRetry: string | null, hints: ErrorBodyHints = {}): AttemptOutcome {
  let o = outcomeOfStatus(status);
  if (status === 400 && typeof hints.code === 'string' && REQUEST_SPECIFIC_400.has(hints.code)) o = 'client_error';
  if (o === 'ok') return o;
  if (o === 'fatal') return status === 400 && shouldRetry === 'true' ? 'server_error' : o;
  if (shouldRetry === 'false' && isRetryable(o)) return 'client_error';
  if (shouldRetry === 'true' && o === 'client_error') return 'server_error';
  return o;
}

export function isRetryable(o: AttemptOutcome): boolean {
  return o === 'rate_limited' || o === 'server_error' || o === 'timeout' || o === 'connection' || o === 'malformed';
}

export interface BackoffOptions {
  baseMs?: number;
  capMs?: number;
  random?: () => number;
}

/**
 * Delay before retry number `retry` (0-based): "equal jitter" exponential backoff, half fixed and half
 * random, so a crowd of clients spreads out but no retry comes back immediately. A server-sent
 * `retry-after` is honoured as a floor, with a little jitter on top so the crowd does not return at once.
 */
export function backoffMs(retry: number, retryAfter: number | null, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? 500;
  const cap = opts.capMs ?? 30_000;
  const rnd = opts.random ?? Math.random;
  const exp = Math.min(cap, base * 2 ** Math.min(retry, 30));
  const jittered = exp / 2 + rnd() * (exp / 2);
  if (retryAfter !== null && retryAfter >= 0) return retryAfter + rnd() * Math.min(1000, Math.max(50, retryAfter * 0.1));
  return jittered;
}
