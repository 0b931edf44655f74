/**
 * The simulated teacher's HTTP server (node:http): OpenAI chat completions and model listing, with
 * OpenAI's error bodies and rate-limit headers, injected faults, and `/stats`. The Authorization header is
 * required but never read beyond "is there a bearer token", and never logged.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import sharp from 'sharp';
import { BatchEngine, emptyBatchStats, type LineAnswer, type SimBatchStats } from './batch.js';
import { transportFault } from './faults.js';
import { generateChoices, type GeneratedChoice } from './generate.js';
import { OUTCOMES, resolveOptions, type Outcome, type ResolvedSimOptions, type SimTeacherOptions } from './options.js';
import { perceive, type PerceivedScene } from './perceive.js';
import { RateLimiter } from './rate-limit.js';
import { ApiError, parseChatRequest, type ChatRequest } from './request.js';
import { Rng, hashHex } from './rng.js';
import { MESSAGE_OVERHEAD, REPLY_OVERHEAD, countTokens, imageTokens } from './tokens.js';

export interface SimStats {
  /** Requests to /v1/* (every call a client made, whatever happened to it). */
  requests: number;
  byOutcome: Record<Outcome, number>;
  /** Admitted chat-completion requests per model name. */
  byModel: Record<string, number>;
  /** Choices written, and how many of them carried each content fault. */
  choices: number;
  byChoiceFault: { truncate: number; malformed: number; refusal: number };
  tokens: { prompt: number; completion: number; total: number };
  /** The Batch API: files, batches and their lines (kept apart from the online counts above). */
  batch: SimBatchStats;
}

export interface SimTeacher {
  /** Base URL ending in /v1, for `new OpenAI({ baseURL: sim.url, apiKey })`. */
  readonly url: string;
  readonly port: number;
  readonly options: ResolvedSimOptions;
  stats(): SimStats;
  resetStats(): void;
  close(): Promise<void>;
}

/** Body size limit: a few dozen large images as base64. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Completion tokens assumed per choice for the TPM charge when max_tokens is not set. */
const DEFAULT_MAX_TOKENS_ESTIMATE = 1024;
const ATTEMPT_MEMORY = 100_000;
const SCENE_CACHE = 256;

function emptyStats(): SimStats {
  return {
    requests: 0,
    byOutcome: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>,
    byModel: {},
    choices: 0,
    byChoiceFault: { truncate: 0, malformed: 0, refusal: 0 },
    tokens: { prompt: 0, completion: 0, total: 0 },
    batch: emptyBatchStats(),
  };
}

/** One finished request, for a log line. Carries no header, so no credential can leak through it. */
export interface SimRequestLog {
  method: string;
  path: string;
  status: number;
  outcome: Outcome | null;
  ms: number;
}

export interface SimTeacherHooks {
  onRequest?: (entry: SimRequestLog) => void;
}

export async function startSimTeacher(input: SimTeacherOptions = {}, hooks: SimTeacherHooks = {}): Promise<SimTeacher> {
  const opts = resolveOptions(input);
  const conv = { convention: opts.convention, minPixels: opts.minPixels, maxPixels: opts.maxPixels };
  const limiter = new RateLimiter(opts.rpm, opts.tpm, Date.now());
  const latency = opts.latency ?? (opts.latencyMs !== undefined ? { distribution: 'fixed' as const, medianMs: opts.latencyMs, sigma: 0 } : null);
  let stats = emptyStats();
  const attempts = new Map<string, number>();
  const scenes = new Map<string, Promise<PerceivedScene>>();
  const sockets = new Set<Socket>();
  const waits = new Set<{ timer: NodeJS.Timeout; done: (completed: boolean) => void }>();
  let closing = false;
  const models = opts.models ?? [opts.defaultModel];

  /** Outcome of each response, for the request log. */
  const outcomes = new WeakMap<ServerResponse, Outcome>();
  const count = (res: ServerResponse, o: Outcome) => {
    stats.byOutcome[o]++;
    outcomes.set(res, o);
  };

  /** Wait `ms`, or less if the server closes or the client goes away; resolves whether the wait completed. */
  const wait = (ms: number, res: ServerResponse): Promise<boolean> => {
    if (ms <= 0) return Promise.resolve(!res.destroyed && !closing);
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => finish(true), ms),
        done: (completed: boolean) => finish(completed),
      };
      const onClose = () => finish(false);
      function finish(completed: boolean) {
        if (!waits.delete(entry)) return;
        clearTimeout(entry.timer);
        res.off('close', onClose);
        resolve(completed && !res.destroyed && !closing);
      }
      entry.timer.unref();
      waits.add(entry);
      res.on('close', onClose);
    });
  };

  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.destroyed || res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
    res.end(text);
  };

  const sendError = (res: ServerResponse, err: ApiError, headers: Record<string, string> = {}) => sendJson(res, err.status, err.body(), headers);

  const sceneFor = async (bytes: Buffer, where: string): Promise<PerceivedScene> => {
    try {
      return await sceneOf(bytes);
    } catch (e) {
      throw new ApiError(400, `Invalid image at '${where}': the image could not be decoded (${(e as Error).message}).`, 'invalid_request_error', 'invalid_image_format', `${where}.image_url.url`);
    }
  };

  const sceneOf = (bytes: Buffer): Promise<PerceivedScene> => {
    const k = hashHex(bytes);
    let p = scenes.get(k);
    if (p) {
      // Refresh its place in the LRU order.
      scenes.delete(k);
      scenes.set(k, p);
      return p;
    }
    p = decodeRgb(bytes).then((img) => perceive(img));
    // A failed decode is reported to the caller through `p`; here it is only evicted so a retry decodes again.
    p.catch(() => scenes.delete(k));
    scenes.set(k, p);
    if (scenes.size > SCENE_CACHE) scenes.delete(scenes.keys().next().value!);
    return p;
  };

  /** A chat-completions body validated, its images perceived (a corrupt one is the client's error) and its prompt tokens counted. */
  async function prepareChat(parsed: unknown): Promise<{ request: ChatRequest; scenes: PerceivedScene[]; promptTokens: number }> {
    const request = parseChatRequest(parsed);
    if (opts.models && !opts.models.includes(request.model)) {
      throw new ApiError(404, `The model \`${request.model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found', 'model');
    }
    const scenes = await Promise.all(request.images.map((im) => sceneFor(im.bytes, im.where)));
    let promptTokens = REPLY_OVERHEAD + request.messageCount * MESSAGE_OVERHEAD;
    for (const t of request.texts) promptTokens += countTokens(t);
    scenes.forEach((s, i) => {
      try {
        promptTokens += imageTokens(s.width, s.height, opts);
      } catch (e) {
        const where = request.images[i]!.where;
        throw new ApiError(400, `Invalid image at '${where}': ${(e as Error).message}`, 'invalid_request_error', 'invalid_image_format', `${where}.image_url.url`);
      }
    });
    return { request, scenes, promptTokens };
  }

  /** Hash of the request without `n`: seeds the writing, so choice i is the same whatever n is, online or in a batch. */
  const contentHashOf = (parsed: unknown) => hashHex(JSON.stringify({ ...(parsed as object), n: undefined, stream: undefined }));

  /** One line of a batch, answered as /v1/chat/completions would answer its body (no transport faults, no rate limit). */
  const answerLine = async (body: unknown, bodyHash: string, attempt: number): Promise<LineAnswer> => {
    try {
      const p = await prepareChat(body);
      const contentHash = contentHashOf(body);
      const choices = generateChoices({ request: p.request, scenes: p.scenes, conv, seed: opts.seed, contentHash, bodyHash, attempt, faults: opts.faults });
      const completionTokens = choices.reduce((s, c) => s + c.completionTokens, 0);
      return { status: 200, body: completionBody(p.request, choices, p.promptTokens, contentHash), promptTokens: p.promptTokens, completionTokens };
    } catch (err) {
      if (err instanceof ApiError) return { status: err.status, body: err.body(), promptTokens: 0, completionTokens: 0 };
      throw err;
    }
  };
  const batches = new BatchEngine({ ...opts.batch, seed: opts.seed, faults: opts.faults, answer: answerLine });

  async function completions(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const raw = await readBody(req, MAX_BODY_BYTES);
    const parsed = parseJsonBody(raw);
    const { request, scenes: scenesOf, promptTokens } = await prepareChat(parsed);

    const now = Date.now();
    const charge = promptTokens + request.n * (request.maxTokens ?? DEFAULT_MAX_TOKENS_ESTIMATE);
    const admission = limiter.admit(charge, now);
    if (!admission.ok) {
      count(res, 'rate_limited');
      const kind = admission.kind!;
      const wait = admission.retryAfterMs!;
      if (!Number.isFinite(wait)) {
        sendError(res, new ApiError(429, `Request too large for ${request.model} on tokens per min (TPM): Limit ${opts.tpm}, Requested ${charge}. The input or output tokens must be reduced in order to run successfully.`, 'tokens', 'rate_limit_exceeded'), { ...admission.headers, 'x-should-retry': 'false', 'x-request-id': requestId });
        return;
      }
      const limit = kind === 'requests' ? opts.rpm : opts.tpm;
      const used = kind === 'requests' ? limit : limit - limiter.tokens.remaining(now);
      const msg = `Rate limit reached for ${request.model} in organization org-univg-sim on ${kind} per min (${kind === 'requests' ? 'RPM' : 'TPM'}): Limit ${limit}, Used ${used}, Requested ${kind === 'requests' ? 1 : charge}. Please try again in ${formatWait(wait)}.`;
      sendError(res, new ApiError(429, msg, kind, 'rate_limit_exceeded'), { ...admission.headers, ...retryHeaders(wait), 'x-request-id': requestId });
      return;
    }
    stats.byModel[request.model] = (stats.byModel[request.model] ?? 0) + 1;

    const bodyHash = hashHex(raw);
    const attempt = (attempts.get(bodyHash) ?? 0) + 1;
    attempts.delete(bodyHash);
    attempts.set(bodyHash, attempt);
    if (attempts.size > ATTEMPT_MEMORY) attempts.delete(attempts.keys().next().value!);
    const fault = transportFault(opts.seed, bodyHash, attempt, opts.faults);
    const headers = { ...admission.headers, 'x-request-id': requestId, 'openai-version': '2020-10-01' };

    switch (fault) {
      case 'rate_limit': {
        count(res, 'rate_limited');
        const ms = opts.retryAfterSeconds * 1000;
        const msg = `Rate limit reached for ${request.model} in organization org-univg-sim on requests per min (RPM): Limit ${opts.rpm}, Used ${opts.rpm}, Requested 1. Please try again in ${formatWait(ms)}.`;
        sendError(res, new ApiError(429, msg, 'requests', 'rate_limit_exceeded'), { ...limiter.headers(now, { requestsRemaining: 0, requestsResetMs: ms }), ...retryHeaders(ms), 'x-request-id': requestId });
        return;
      }
      case 'server_error':
        count(res, 'server_error');
        sendError(res, new ApiError(500, 'The server had an error while processing your request. Sorry about that!', 'server_error'), { 'x-request-id': requestId });
        return;
      case 'unavailable':
        count(res, 'unavailable');
        sendError(res, new ApiError(503, 'The server is overloaded or not ready yet.', 'server_error'), { 'x-request-id': requestId });
        return;
      case 'reset':
        count(res, 'reset');
        req.socket.destroy();
        return;
      case 'hang':
        count(res, 'hang');
        // Hold the socket well past any sane client timeout, then answer late if anyone still listens.
        if (!(await wait(opts.hangMs, res))) return;
        break;
      default:
        break;
    }

    const contentHash = contentHashOf(parsed);
    let delay = latency ? sampleLatencyMs(latency, new Rng('latency', opts.seed, bodyHash, attempt)) : 0;
    if (fault === 'slow') {
      count(res, 'slow');
      delay += opts.slowMs;
    }
    const started = Date.now();
    const choices = generateChoices({ request, scenes: scenesOf, conv, seed: opts.seed, contentHash, bodyHash, attempt, faults: opts.faults });
    if (!(await wait(delay - (Date.now() - started), res))) {
      if (fault !== 'hang' && fault !== 'slow') count(res, 'client_closed');
      return;
    }
    respond(res, request, choices, promptTokens, fault, headers, contentHash, started);
  }

  function respond(res: ServerResponse, request: ChatRequest, choices: GeneratedChoice[], promptTokens: number, fault: string | null, headers: Record<string, string>, contentHash: string, started: number) {
    const completionTokens = choices.reduce((s, c) => s + c.completionTokens, 0);
    stats.choices += choices.length;
    for (const c of choices) if (c.fault) stats.byChoiceFault[c.fault]++;
    stats.tokens.prompt += promptTokens;
    stats.tokens.completion += completionTokens;
    stats.tokens.total += promptTokens + completionTokens;
    // Hung and slow requests were counted when the fault was decided (their client may be gone by now).
    if (fault !== 'hang' && fault !== 'slow') {
      const f = choices.map((c) => (c.fault === 'truncate' || c.finishReason === 'length' ? 'truncated' : c.fault));
      count(res, f.includes('refusal') ? 'refusal' : f.includes('malformed') ? 'malformed' : f.includes('truncated') ? 'truncated' : 'ok');
    }
    sendJson(res, 200, completionBody(request, choices, promptTokens, contentHash), { ...headers, 'openai-processing-ms': String(Date.now() - started) });
  }

  function completionBody(request: ChatRequest, choices: GeneratedChoice[], promptTokens: number, contentHash: string) {
    const completionTokens = choices.reduce((s, c) => s + c.completionTokens, 0);
    return {
      id: `chatcmpl-sim${hashHex(contentHash, request.seed ?? '', request.n).slice(0, 24)}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: request.model,
      system_fingerprint: `fp_univgsim_${hashHex(opts.seed, opts.convention).slice(0, 8)}`,
      choices: choices.map((c) => ({ index: c.index, message: { role: 'assistant', content: c.text, refusal: null, annotations: [] }, logprobs: null, finish_reason: c.finishReason })),
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
  }

  /** `/v1/files` and `/v1/batches`: true when answered, false when the path or method is not one of theirs. */
  async function batchApi(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<boolean> {
    const m = /^\/v1\/(files|batches)(?:\/([^/]+))?(?:\/(content|cancel))?$/.exec(path);
    if (!m) return false;
    const [, kind, rawId, action] = m;
    const id = rawId === undefined ? undefined : decodeURIComponent(rawId);
    const ok = (body: unknown): true => {
      count(res, 'ok');
      sendJson(res, 200, body);
      return true;
    };
    const method = req.method ?? 'GET';
    if (kind === 'files') {
      if (method === 'POST' && id === undefined) {
        const type = req.headers['content-type'] ?? '';
        if (!/^multipart\/form-data/i.test(type)) {
          req.resume();
          throw new ApiError(400, 'The files endpoint expects a multipart/form-data body with a file and a purpose.', 'invalid_request_error', 'invalid_content_type');
        }
        const raw = await readBody(req, opts.batch.maxFileBytes + 1024 * 1024);
        let form: FormData;
        try {
          form = await new Request('http://sim/', { method: 'POST', headers: { 'content-type': type }, body: raw }).formData();
        } catch {
          throw new ApiError(400, 'The multipart body could not be parsed.', 'invalid_request_error', 'invalid_multipart');
        }
        const file = form.get('file');
        const purpose = form.get('purpose');
        if (!(file instanceof Blob)) throw new ApiError(400, "Missing required parameter: 'file'.", 'invalid_request_error', 'missing_required_parameter', 'file');
        if (typeof purpose !== 'string') throw new ApiError(400, "Missing required parameter: 'purpose'.", 'invalid_request_error', 'missing_required_parameter', 'purpose');
        const name = (file as File).name || 'upload';
        return ok(batches.upload(name, purpose, Buffer.from(await file.arrayBuffer())));
      }
      req.resume();
      if (method === 'GET' && id === undefined) return ok(batches.listFiles(query));
      if (method === 'GET' && id !== undefined && action === 'content') {
        const data = batches.content(id);
        count(res, 'ok');
        if (!res.headersSent) {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
          res.end(data);
        }
        return true;
      }
      if (method === 'GET' && id !== undefined && action === undefined) return ok(batches.file(id));
      if (method === 'DELETE' && id !== undefined && action === undefined) return ok(batches.deleteFile(id));
      return false;
    }
    if (method === 'POST' && id === undefined) {
      return ok(batches.create(parseJsonBody(await readBody(req, MAX_BODY_BYTES))));
    }
    req.resume();
    if (method === 'GET' && id === undefined) return ok(batches.listBatches(query));
    if (method === 'GET' && id !== undefined && action === undefined) return ok(batches.batch(id));
    if (method === 'POST' && id !== undefined && action === 'cancel') return ok(batches.cancel(id));
    return false;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/stats' && req.method === 'GET') return sendJson(res, 200, { ...stats, batch: batches.stats });
    if (path === '/health' && req.method === 'GET') return sendJson(res, 200, { status: 'ok' });
    stats.requests++;
    const requestId = `req_${hashHex('req', stats.requests, process.pid, Date.now()).slice(0, 24)}`;
    try {
      const auth = req.headers.authorization;
      if (typeof auth !== 'string' || !/^Bearer\s+\S+/i.test(auth)) {
        req.resume();
        count(res, 'unauthorized');
        throw new ApiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 'invalid_request_error', null);
      }
      if (req.method === 'GET' && path === '/v1/models') {
        count(res, 'ok');
        return sendJson(res, 200, { object: 'list', data: models.map(modelCard) });
      }
      if (req.method === 'GET' && path.startsWith('/v1/models/')) {
        const id = decodeURIComponent(path.slice('/v1/models/'.length));
        if (opts.models && !opts.models.includes(id)) throw new ApiError(404, `The model \`${id}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found');
        count(res, 'ok');
        return sendJson(res, 200, modelCard(id));
      }
      if (req.method === 'POST' && path === '/v1/chat/completions') return await completions(req, res, requestId);
      if (await batchApi(req, res, path, url.searchParams)) return;
      req.resume();
      throw new ApiError(404, `Invalid URL (${req.method} ${url.pathname})`, 'invalid_request_error', null);
    } catch (err) {
      if (err instanceof ApiError) {
        if (err.status === 400 || err.status === 409 || err.status === 413) count(res, 'bad_request');
        else if (err.status === 404) count(res, 'not_found');
        sendError(res, err, { 'x-request-id': requestId });
        return;
      }
      // A bug in the simulator: answer like a real server would, and say what broke on the server side.
      count(res, 'server_error');
      process.stderr.write(`univg sim teacher: internal error on ${req.method} ${url.pathname}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      sendError(res, new ApiError(500, 'The server had an error while processing your request. Sorry about that!', 'server_error'), { 'x-request-id': requestId });
    }
  }

  const server: Server = createServer((req, res) => {
    if (hooks.onRequest) {
      const t0 = Date.now();
      const path = (req.url ?? '/').split('?')[0]!;
      res.once('close', () => hooks.onRequest!({ method: req.method ?? '?', path, status: res.headersSent ? res.statusCode : 0, outcome: outcomes.get(res) ?? null, ms: Date.now() - t0 }));
    }
    void handle(req, res);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('simulated teacher: server has no TCP address');
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${hostForUrl}:${addr.port}/v1`;

  return {
    url,
    port: addr.port,
    options: opts,
    stats: () => structuredClone({ ...stats, batch: batches.stats }),
    resetStats: () => {
      stats = emptyStats();
      batches.stats = emptyBatchStats();
    },
    close: async () => {
      if (closing) return;
      closing = true;
      batches.close();
      for (const w of [...waits]) w.done(false);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

export interface LatencySpec {
  distribution: 'fixed' | 'lognormal';
  medianMs: number;
  sigma: number;
}

/** One request's latency: fixed, or lognormal around the median (heavy right tail, like real endpoints). */
export function sampleLatencyMs(spec: LatencySpec, rng: Rng): number {
  return spec.distribution === 'fixed' ? spec.medianMs : spec.medianMs * Math.exp(spec.sigma * rng.normal());
}

function modelCard(id: string) {
  return { id, object: 'model', created: 1_700_000_000, owned_by: 'univg-sim' };
}

function retryHeaders(ms: number): Record<string, string> {
  return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))), 'retry-after-ms': String(Math.ceil(ms)) };
}

/** "20ms", "1.5s", "6m0s" as OpenAI writes waits in messages. */
function formatWait(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number(s.toFixed(3))}s`;
  return `${Math.floor(s / 60)}m${Number((s % 60).toFixed(3))}s`;
}

function parseJsonBody(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ApiError(400, 'We could not parse the JSON body of your request. The API expects a JSON payload, but what was sent was not valid JSON.', 'invalid_request_error', 'invalid_json');
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        // Drain the rest unread so the 413 can still be sent on this connection.
        req.removeAllListeners('data');
        req.resume();
        reject(new ApiError(413, `The request body is larger than ${limit} bytes.`, 'invalid_request_error', 'request_too_large'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Decode to packed RGB: alpha dropped, grey expanded, whatever the PNG/JPEG held. */
async function decodeRgb(bytes: Buffer): Promise<{ width: number; height: number; data: Uint8Array }> {
  const meta = await sharp(bytes).metadata();
  if (meta.format !== 'png' && meta.format !== 'jpeg' && meta.format !== 'webp') throw new Error(`unsupported image format ${meta.format ?? 'unknown'}`);
  const { data, info } = await sharp(bytes).flatten({ background: '#808080' }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels === 3) return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  const out = new Uint8Array(info.width * info.height * 3);
  for (let i = 0, j = 0; i < info.width * info.height; i++, j += info.channels) {
    out[3 * i] = data[j]!;
    out[3 * i + 1] = data[info.channels >= 3 ? j + 1 : j]!;
    out[3 * i + 2] = data[info.channels >= 3 ? j + 2 : j]!;
  }
  return { width: info.width, height: info.height, data: out };
}
