/**
 * The teacher client: one logical chat-completion request in, one answer (or a typed failure) out, with
 * everything between done here rather than by the SDK (which runs with maxRetries 0): request and token
 * rate limits learned from headers, adaptive concurrency, jittered retries, a circuit breaker, a cost
 * cap, and counters for the report. The API key is read from the environment variable the config names
 * and never appears in an event, an error or a counter.
 */
import OpenAI from 'openai';
import { ConfigError, InterruptedError, redactSecrets } from '../errors.js';
import type { TeacherConfig } from '../schema/config.js';
import { backoffMs, classifyStatus, isRetryable, type AttemptOutcome } from './backoff.js';
import { CircuitBreaker, type BreakerState } from './breaker.js';
import { AdaptiveLimiter } from './concurrency.js';
import { costOf, CostTracker } from './cost.js';
import { CostCapError, TeacherFatalError, TeacherRequestError } from './errors.js';
import { emptyAttempts, Histogram, type TeacherCounters } from './metrics.js';
import { RateLimiter, readRateHeaders, retryAfterMs, type Reservation } from './rate-limit.js';
import type { RateControl, RequestClaims, TeacherCoordination } from './shared.js';
import { TokenEstimator, textTokens } from './tokens.js';
import { createNodeFetch } from './transport.js';

export type TeacherEvent =
  | { type: 'retry'; requestHash: string; attempt: number; outcome: AttemptOutcome; status: number | null; delayMs: number; message: string }
  | { type: 'rate_limited'; requestHash: string; retryAfterMs: number | null; concurrency: number }
  | { type: 'breaker'; state: BreakerState; failureRate: number; opens: number; cooldownMs: number; reason: string | null; endpoint: string }
  | { type: 'failed'; requestHash: string; outcome: AttemptOutcome; status: number | null; attempts: number; message: string }
  | { type: 'fatal'; status: number | null; message: string }
  | { type: 'cost_cap'; spentUsd: number; capUsd: number }
  /** Limits the endpoint announced in x-ratelimit-* headers (null: that one was not announced). */
  | { type: 'limits'; rpm: number | null; tpm: number | null };

export interface TeacherClientOptions {
  config: TeacherConfig;
  /** Where the key and base URL are read from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Overrides config.baseUrl and $OPENAI_BASE_URL (the simulated teacher's URL, for example). */
  baseUrl?: string;
  log?: (event: TeacherEvent) => void;
  random?: () => number;
  /** Backoff base and cap (ms); tests shorten them. */
  backoff?: { baseMs?: number; capMs?: number };
  /** The budget, breaker and request claims shared with other processes (src/teacher/shared.ts); absent: this process's own. */
  coordination?: TeacherCoordination;
}

/** The chat-completion body this client sends (a subset of the OpenAI type, text and image parts). */
export interface ChatBody {
  model: string;
  messages: Array<{ role: 'user'; content: Array<{ type: 'image_url'; image_url: { url: string } } | { type: 'text'; text: string }> }>;
  n?: number;
  temperature: number;
  max_tokens: number;
  seed?: number;
}

export interface CompletionCall {
  body: ChatBody;
  requestHash: string;
  /** Uncalibrated prompt token estimate (text + images at the size sent). */
  rawPromptTokens: number;
  /** Choices requested (n). */
  choices: number;
  /** Stops waiting and retrying; an attempt already sent is never cut (its answer is worth keeping). */
  signal?: AbortSignal;
}

export interface ChatChoice {
  index: number;
  message: { content: string | null | Array<{ type?: string; text?: string }> } & Record<string, unknown>;
  finish_reason: string | null;
}

/** The text of a choice: string content, text parts joined, or '' when the server sent none. */
export function choiceText(c: ChatChoice): string {
  const content = c.message.content;
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p.text === 'string' ? p.text : '')).join('');
  return '';
}

export interface ChatCompletionBody {
  id?: string;
  model?: string;
  choices: ChatChoice[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } | null;
}

export interface CompletionResult {
  response: ChatCompletionBody;
  usage: { promptTokens: number; completionTokens: number };
  costUsd: number;
  latencyMs: number;
  attempts: number;
}

interface AttemptResult {
  outcome: AttemptOutcome;
  status: number | null;
  data?: ChatCompletionBody;
  headers: Headers | null;
  latencyMs: number;
  message: string;
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\]|::1)$/i;

/** A 200 body that is a chat completion, or null. */
export function asChatCompletion(data: unknown): ChatCompletionBody | null {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return null;
  const choices = (data as { choices?: unknown }).choices;
  if (!Array.isArray(choices) || choices.length === 0) return null;
  for (const c of choices) {
    if (!c || typeof c !== 'object' || typeof (c as ChatChoice).index !== 'number') return null;
    const m = (c as ChatChoice).message;
    if (!m || typeof m !== 'object') return null;
    const content: unknown = m.content;
    // Some servers send content as text parts; an absent content (refusal, filter) is an empty answer.
    const ok = typeof content === 'string' || content === null || content === undefined || (Array.isArray(content) && content.every((p) => p && typeof p === 'object'));
    if (!ok) return null;
  }
  return data as ChatCompletionBody;
}

const CONNECTION_PHRASES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connect timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'socket closed',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
};

/**
 * What a failed connection was, from the socket's error code anywhere in the cause chain (the SDK says
 * only "Connection error."): e.g. "connection refused (connect ECONNREFUSED 127.0.0.1:9)".
 */
export function connectionMessage(err: unknown): string {
  const chain: unknown[] = [];
  const seen = new Set<unknown>();
  const walk = (e: unknown, depth: number) => {
    if (e === null || e === undefined || seen.has(e) || depth > 6) return;
    seen.add(e);
    chain.push(e);
    if (e instanceof AggregateError) for (const x of e.errors) walk(x, depth + 1);
    walk((e as { cause?: unknown }).cause, depth + 1);
  };
  walk(err, 0);
  for (const e of chain) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_PHRASES[code]) {
      const m = e instanceof Error && e.message ? e.message : code;
      return `${CONNECTION_PHRASES[code]} (${m.includes(code) ? m : `${code}: ${m}`})`;
    }
  }
  const messages = chain.filter((e): e is Error => e instanceof Error && e.message !== '').map((e) => e.message);
  return messages.length ? messages.join(': ') : String(err);
}

export function resolveEndpoint(config: TeacherConfig, env: Record<string, string | undefined>, baseUrlOverride?: string): { baseUrl: string; apiKey: string } {
  const baseUrl = baseUrlOverride ?? config.baseUrl ?? env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1';
  let host: string;
  try {
    host = new URL(baseUrl).hostname;
  } catch {
    throw new ConfigError(`teacher base URL is not a URL: ${JSON.stringify(redactSecrets(baseUrl))}`, { field: 'teacher.baseUrl' });
  }
  const key = env[config.apiKeyEnv];
  if (key) return { baseUrl, apiKey: key };
  // Local servers (vLLM, the simulated teacher) take any key; a remote one without a key is a mistake.
  if (LOOPBACK.test(host)) return { baseUrl, apiKey: 'EMPTY' };
  throw new ConfigError(`no API key: set the environment variable ${config.apiKeyEnv} (named by teacher.apiKeyEnv) for ${host}`, { field: 'teacher.apiKeyEnv' });
}

export class TeacherClient {
  readonly baseUrl: string;
  readonly model: string;
  private readonly apiKey: string;
  private readonly openai: OpenAI;
  private readonly rate: RateControl;
  private readonly limiter: AdaptiveLimiter;
  private readonly breaker: CircuitBreaker;
  readonly cost: CostTracker;
  readonly estimator: TokenEstimator;
  private readonly latency = new Histogram();
  private readonly c = { requests: 0, answered: 0, failed: 0, retries: 0, rateLimited: 0, promptTokens: 0, completionTokens: 0, attempts: emptyAttempts() };
  private fatal: TeacherFatalError | null = null;
  private costCapLogged = false;
  private lastLimits = '';

  constructor(private readonly o: TeacherClientOptions) {
    const cfg = o.config;
    const { baseUrl, apiKey } = resolveEndpoint(cfg, o.env ?? process.env, o.baseUrl);
    this.baseUrl = baseUrl;
    this.apiKey = apiKey;
    this.model = cfg.model;
    // Retries, timeouts and logging are ours: the SDK would retry behind our counters and limits.
    this.openai = new OpenAI({
      baseURL: baseUrl,
      apiKey,
      maxRetries: 0,
      timeout: cfg.timeoutMs,
      logLevel: 'off',
      ...(cfg.httpTransport === 'node' ? { fetch: createNodeFetch({ maxSockets: cfg.concurrency * 2 }) } : {}),
    });
    this.rate = o.coordination?.rate ?? new RateLimiter({ rpm: cfg.rpm, tpm: cfg.tpm });
    // Slow start from one request: its response's headers say the limits before anything bursts.
    this.limiter = new AdaptiveLimiter(cfg.concurrency, 1000, Date.now, 1);
    this.breaker = new CircuitBreaker({
      window: cfg.breakerWindow,
      failureRate: cfg.breakerFailureRate,
      cooldownMs: cfg.breakerCooldownMs,
      maxOpens: cfg.breakerMaxOpens,
      consecutiveFailures: cfg.breakerConsecutiveFailures,
      endpoint: redactSecrets(baseUrl, [apiKey]),
      ...(o.coordination?.breaker ? { peers: o.coordination.breaker } : {}),
      onChange: (state, info) => this.emit({ type: 'breaker', state, endpoint: this.redact(this.baseUrl), ...info }),
    });
    this.cost = new CostTracker(cfg.price, cfg.maxCostUsd);
    this.estimator = new TokenEstimator(cfg.imageTokenMode, cfg.expectedCompletionTokens ?? Math.ceil(cfg.maxTokens / 2), cfg.maxTokens);
  }

  private emit(e: TeacherEvent): void {
    this.o.log?.(e);
  }

  private redact(text: string): string {
    return redactSecrets(text, [this.apiKey]);
  }

  /** Claims on requests in flight shared with other processes (cached-call.ts), when there are any. */
  get claims(): RequestClaims | null {
    return this.o.coordination?.claims ?? null;
  }

  /**
   * An SDK client on this endpoint and key for the Batch API's files and batches (src/teacher/batch.ts):
   * the global fetch (the lean transport sends no multipart body and streams no download), and the SDK's
   * own retries, since status checks and downloads are safe to repeat.
   */
  batchSdk(): OpenAI {
    return new OpenAI({ baseURL: this.baseUrl, apiKey: this.apiKey, maxRetries: 4, timeout: 10 * 60_000, logLevel: 'off' });
  }

  /** The base URL as it may be shown: in messages, summaries, quarantine records (never the key). */
  get endpoint(): string {
    return this.redact(this.baseUrl);
  }

  /** Send one logical request, retrying as the outcome allows. */
  async complete(call: CompletionCall): Promise<CompletionResult> {
    if (this.fatal) throw this.fatal;
    if (call.signal?.aborted) throw new InterruptedError();
    const promptEst = this.estimator.prompt(call.rawPromptTokens);
    const tokensEst = promptEst + this.estimator.completion(call.choices);
    const costEst = costOf({ promptTokens: promptEst, completionTokens: tokensEst - promptEst }, this.o.config.price);
    let admitted: boolean;
    try {
      admitted = await this.cost.admit(costEst, call.signal);
    } catch {
      throw new InterruptedError();
    }
    if (!admitted) {
      if (!this.costCapLogged) {
        this.costCapLogged = true;
        this.emit({ type: 'cost_cap', spentUsd: this.cost.spentUsd, capUsd: this.cost.capUsd! });
      }
      throw new CostCapError(this.cost.spentUsd, this.cost.capUsd!);
    }
    let settled = false;
    let attempts = 0;
    let retries = 0;
    let rlRetries = 0;
    let counted = false;
    // A request holds its slot from its first attempt to its last, backoff included: the slot is taken
    // before the breaker's gate, so when the breaker opens at most `concurrency` requests are past it,
    // and a probe never waits for a slot held by requests queued behind the gate.
    await this.slot(call.signal);
    try {
      for (;;) {
        if (this.fatal) throw this.fatal;
        // Every attempt passes the breaker: a request between retries waits for the probe instead of
        // retrying into an endpoint that is down.
        let probe: boolean;
        try {
          probe = await this.breaker.gate(call.signal);
        } catch (err) {
          if (call.signal?.aborted) throw new InterruptedError();
          throw err;
        }
        if (!counted) {
          counted = true;
          this.c.requests++;
        }
        let reservation: Reservation;
        try {
          reservation = await this.rate.acquire(tokensEst, call.signal);
        } catch (err) {
          if (probe) this.breaker.abandonProbe();
          if (call.signal?.aborted) throw new InterruptedError();
          throw err;
        }
        attempts++;
        const r = await this.attempt(call);
        this.c.attempts[r.outcome]++;
        // The endpoint answered unless the attempt never got a usable HTTP response.
        const down = r.outcome === 'connection' || r.outcome === 'timeout' || r.outcome === 'server_error' || r.outcome === 'malformed';
        this.breaker.record(!down, probe, { why: down ? this.whyOf(r) : undefined, reached: r.status !== null });
        if (r.headers) {
          const h = r.headers;
          this.rate.observe(readRateHeaders((n) => h.get(n)), reservation);
          this.noteLimits();
        }
        if (r.outcome === 'ok') {
          const resp = r.data!;
          const usage = this.usageOf(resp, promptEst);
          this.rate.reconcile(reservation, usage.promptTokens + usage.completionTokens);
          this.estimator.observe(call.rawPromptTokens, usage, call.choices);
          const costUsd = costOf(usage, this.o.config.price);
          this.cost.settle(costEst, costUsd);
          settled = true;
          this.c.answered++;
          this.c.promptTokens += usage.promptTokens;
          this.c.completionTokens += usage.completionTokens;
          this.latency.add(r.latencyMs);
          this.limiter.onSuccess();
          return { response: resp, usage, costUsd, latencyMs: r.latencyMs, attempts };
        }
        // The server did not count tokens for these; give them back to the bucket.
        if (r.outcome === 'rate_limited' || r.outcome === 'server_error' || r.outcome === 'client_error' || r.outcome === 'fatal') this.rate.reconcile(reservation, 0);
        if (r.outcome === 'fatal') {
          this.fatal ??= new TeacherFatalError(
            `teacher endpoint ${this.redact(this.baseUrl)} refused the request with HTTP ${r.status} (${this.fatalHint(r.status)}; every request would fail the same way, so the run stops): ${r.message}`,
            r.status,
            { endpoint: this.redact(this.baseUrl), model: this.model },
          );
          this.emit({ type: 'fatal', status: r.status, message: this.fatal.message });
          throw this.fatal;
        }
        let delay: number;
        if (r.outcome === 'rate_limited') {
          this.c.rateLimited++;
          const ra = r.headers ? retryAfterMs((n) => r.headers!.get(n)) : null;
          this.limiter.onRateLimited();
          this.emit({ type: 'rate_limited', requestHash: call.requestHash, retryAfterMs: ra, concurrency: this.limiter.limit });
          // Everyone waits (the limit is shared); this request goes back into the rate queue.
          this.rate.pause(ra ?? backoffMs(rlRetries, null, { ...this.o.backoff, random: this.o.random }));
          if (++rlRetries > this.o.config.maxRateLimitRetries) return this.fail(call, r, attempts);
          delay = 0;
        } else if (isRetryable(r.outcome)) {
          if (retries >= this.o.config.maxRetries) return this.fail(call, r, attempts);
          const ra = r.headers ? retryAfterMs((n) => r.headers!.get(n)) : null;
          delay = backoffMs(retries, ra, { ...this.o.backoff, random: this.o.random });
          retries++;
        } else {
          return this.fail(call, r, attempts);
        }
        this.c.retries++;
        this.emit({ type: 'retry', requestHash: call.requestHash, attempt: attempts, outcome: r.outcome, status: r.status, delayMs: delay, message: r.message });
        if (delay > 0) {
          try {
            await this.breaker.backoff(delay, call.signal);
          } catch {
            throw new InterruptedError();
          }
        }
      }
    } finally {
      this.limiter.release();
      if (!settled) this.cost.settle(costEst, 0);
    }
  }

  /** A request the Batch API answered (src/teacher/batch.ts): counted with the online ones, so run.json and `univg status` say what was asked. */
  countBatchAnswer(usage: { promptTokens: number; completionTokens: number }): void {
    this.c.requests++;
    this.c.answered++;
    this.c.promptTokens += usage.promptTokens;
    this.c.completionTokens += usage.completionTokens;
  }

  /**
   * Throws what every new request would meet at once (a fatal refusal, a breaker that gave up), so a
   * caller can skip building a request body (reading and encoding images) that could never be sent.
   */
  assertUsable(): void {
    if (this.fatal) throw this.fatal;
    const gaveUp = this.breaker.gaveUp;
    if (gaveUp) throw gaveUp;
  }

  private fatalHint(status: number | null): string {
    if (status === 401) return `check the API key in $${this.o.config.apiKeyEnv}`;
    if (status === 403) return 'the key lacks permission for this model or endpoint';
    if (status === 400) return 'the endpoint rejects how requests are made: check teacher.model, candidates and nMode, maxTokens, temperature';
    return 'check teacher.model and teacher.baseUrl';
  }

  /** One short phrase for a failed attempt: the outcome and what the server or the socket said. */
  private whyOf(r: AttemptResult): string {
    return r.status !== null ? `HTTP ${r.status}: ${r.message}` : r.message;
  }

  private async slot(signal?: AbortSignal): Promise<void> {
    try {
      await this.limiter.acquire(signal);
    } catch (err) {
      if (signal?.aborted) throw new InterruptedError();
      throw err;
    }
  }

  private fail(call: CompletionCall, r: AttemptResult, attempts: number): never {
    this.c.failed++;
    const msg = `${r.outcome}${r.status !== null ? ` (HTTP ${r.status})` : ''} after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${r.message}`;
    this.emit({ type: 'failed', requestHash: call.requestHash, outcome: r.outcome, status: r.status, attempts, message: msg });
    throw new TeacherRequestError(msg, r.outcome, attempts, r.status, { requestHash: call.requestHash });
  }

  private usageOf(resp: ChatCompletionBody, promptEst: number): { promptTokens: number; completionTokens: number } {
    const u = resp.usage;
    const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
    if (u && ok(u.prompt_tokens) && ok(u.completion_tokens)) return { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens };
    // No usage from the server: bill our estimate so cost and limits stay conservative.
    return { promptTokens: promptEst, completionTokens: resp.choices.reduce((s, c) => s + textTokens(choiceText(c)), 0) };
  }

  /** Say once what limits the endpoint's headers announced; an endpoint that sends none says nothing. */
  private noteLimits(): void {
    const l = this.rate.learnedLimits();
    if (l.rpm === null && l.tpm === null) return;
    const key = `${l.rpm}/${l.tpm}`;
    if (key !== this.lastLimits) {
      this.lastLimits = key;
      this.emit({ type: 'limits', ...l });
    }
  }

  /** One HTTP attempt; never throws, the outcome says what happened. */
  private async attempt(call: CompletionCall): Promise<AttemptResult> {
    const timeoutMs = this.o.config.timeoutMs;
    // With the global fetch the SDK's timeout stops at the response headers, so a deadline of our own
    // covers a body that never ends; the node transport reads the whole body inside the SDK's timeout.
    const deadline = this.o.config.httpTransport === 'fetch' ? new AbortController() : null;
    const timer = deadline ? setTimeout(() => deadline.abort(), timeoutMs) : null;
    const t0 = performance.now();
    try {
      const { data, response } = await this.openai.chat.completions
        .create(call.body as unknown as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming, {
          ...(deadline ? { signal: deadline.signal } : {}),
          timeout: timeoutMs,
          headers: { 'x-univg-request-hash': call.requestHash },
        })
        .withResponse();
      const latencyMs = performance.now() - t0;
      const body = asChatCompletion(data);
      if (!body) {
        const shown = typeof data === 'string' ? data : JSON.stringify(data);
        return { outcome: 'malformed', status: response.status, headers: response.headers, latencyMs, message: `response is not a chat completion: ${this.redact(String(shown).slice(0, 200))}` };
      }
      return { outcome: 'ok', status: response.status, data: body, headers: response.headers, latencyMs, message: 'ok' };
    } catch (err) {
      const latencyMs = performance.now() - t0;
      if (err instanceof OpenAI.APIError && typeof err.status === 'number') {
        const headers = (err.headers as Headers | undefined) ?? null;
        const hints = { code: typeof err.code === 'string' ? err.code : null, param: typeof err.param === 'string' ? err.param : null };
        return { outcome: classifyStatus(err.status, headers?.get('x-should-retry') ?? null, hints), status: err.status, headers, latencyMs, message: this.redact(err.message) };
      }
      if (deadline?.signal.aborted || err instanceof OpenAI.APIConnectionTimeoutError) {
        return { outcome: 'timeout', status: null, headers: null, latencyMs, message: `no complete answer within ${timeoutMs} ms` };
      }
      const message = this.redact(err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}` : String(err));
      // A 200 whose JSON does not parse.
      if (err instanceof SyntaxError) return { outcome: 'malformed', status: 200, headers: null, latencyMs, message: `response body is not JSON: ${message}` };
      return { outcome: 'connection', status: null, headers: null, latencyMs, message: this.redact(connectionMessage(err)) };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  counters(): TeacherCounters {
    return {
      requests: this.c.requests,
      answered: this.c.answered,
      failed: this.c.failed,
      attempts: { ...this.c.attempts },
      retries: this.c.retries,
      rateLimited: this.c.rateLimited,
      promptTokens: this.c.promptTokens,
      completionTokens: this.c.completionTokens,
      costUsd: this.cost.spentUsd,
      costCapReached: this.cost.capReached,
      concurrencyLimit: this.limiter.limit,
      limits: this.rate.limits(),
      breaker: { state: this.breaker.state, opens: this.breaker.openCount },
      latency: this.latency.toJSON(),
    };
  }

  /** Stop: every request still waiting for a slot fails with `reason`. */
  close(reason: unknown = new InterruptedError()): void {
    this.rate.close(reason);
    this.limiter.close(reason);
    this.breaker.close();
  }
}
