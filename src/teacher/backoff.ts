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
  | 'client_error' // 400, 413, 422...: this request is wrong, asking again will not help
  | 'fatal'; // 401, 403, 404: every request would fail the same way; stop the stage

export const ATTEMPT_OUTCOMES: readonly AttemptOutcome[] = ['ok', 'rate_limited', 'server_error', 'timeout', 'connection', 'malformed', 'client_error', 'fatal'];

export function outcomeOfStatus(status: number): AttemptOutcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 429) return 'rate_limited';
  if (status === 408 || status === 409 || status >= 500) return 'server_error';
  if (status === 401 || status === 403 || status === 404) return 'fatal';
  return 'client_error';
}

/**
 * Outcome of an HTTP error status, honouring the server's `x-should-retry` header where it overrides the
 * status (a 429 for a request larger than the whole token limit says `false`: waiting will not help).
 * 401/403/404 stay fatal whatever the header says.
 */
export function classifyStatus(status: number, shouldRetry: string | null): AttemptOutcome {
  const o = outcomeOfStatus(status);
  if (o === 'ok' || o === 'fatal') return o;
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
