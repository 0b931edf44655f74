/**
 * A fetch for the OpenAI SDK over node:http(s) with keep-alive agents.
 *
 * Why: on Node 20 the global fetch (undici) costs ~1 ms of CPU per request before any server work,
 * node:http ~0.3 ms (bench/teacher-client.ts); at thousands of requests a minute that is the client's
 * whole budget. It also reads the complete body before resolving, so the SDK's timeout (which stops at
 * the response headers with fetch) covers a body that never ends.
 *
 * The SDK reads `status`, `ok`, `url`, `headers.get/entries`, `json()`, `text()` and `body` (to cancel it)
 * from a response; this returns a small object with exactly those, not a WHATWG Response.
 */
import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const inflate = {
  gzip: promisify(zlib.gunzip),
  deflate: promisify(zlib.inflate),
  br: promisify(zlib.brotliDecompress),
} as const;

class LeanHeaders {
  constructor(private readonly h: http.IncomingHttpHeaders) {}
  get(name: string): string | null {
    const v = this.h[name.toLowerCase()];
    return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
  }
  has(name: string): boolean {
    return this.h[name.toLowerCase()] !== undefined;
  }
  *entries(): IterableIterator<[string, string]> {
    for (const k of Object.keys(this.h)) yield [k, this.get(k)!];
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
  forEach(fn: (value: string, key: string) => void): void {
    for (const [k, v] of this.entries()) fn(v, k);
  }
}

class LeanResponse {
  readonly ok: boolean;
  readonly body = null;
  readonly bodyUsed = false;
  readonly redirected = false;
  readonly type = 'basic';
  constructor(
    readonly status: number,
    readonly statusText: string,
    readonly headers: LeanHeaders,
    readonly url: string,
    private readonly buf: Buffer,
  ) {
    this.ok = status >= 200 && status < 300;
  }
  async text(): Promise<string> {
    return this.buf.toString('utf8');
  }
  async json(): Promise<unknown> {
    return JSON.parse(this.buf.toString('utf8'));
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    return this.buf.buffer.slice(this.buf.byteOffset, this.buf.byteOffset + this.buf.byteLength) as ArrayBuffer;
  }
}

function abortError(signal: AbortSignal): Error {
  const e = new Error(signal.reason instanceof Error ? signal.reason.message : 'This operation was aborted');
  e.name = 'AbortError';
  return e;
}

function headerRecord(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  if (typeof (h as Headers).forEach === 'function' && !Array.isArray(h)) {
    (h as Headers).forEach((v, k) => (out[k] = v));
    return out;
  }
  for (const [k, v] of Array.isArray(h) ? (h as [string, string][]) : Object.entries(h as Record<string, string>)) out[k.toLowerCase()] = v;
  return out;
}

export interface NodeFetchOptions {
  /** Sockets kept open per host (the client's concurrency is the real bound). */
  maxSockets?: number;
}

/** A fetch-compatible function for `new OpenAI({ fetch })`. */
export function createNodeFetch(opts: NodeFetchOptions = {}): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 256, scheduling: 'lifo' as const };
  const agents = { 'http:': new http.Agent(agentOpts), 'https:': new https.Agent(agentOpts) };
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      const mod = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : null;
      if (!mod) return reject(new TypeError(`unsupported protocol ${url.protocol}`));
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return reject(abortError(signal));
      const headers = headerRecord(init.headers);
      const body = init.body;
      if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
        return reject(new TypeError('node transport sends string or byte bodies only'));
      }
      if (body !== undefined && body !== null) headers['content-length'] = String(Buffer.byteLength(body as string | Uint8Array));
      const req = mod.request(url, { method: init.method ?? 'GET', headers, agent: agents[url.protocol as 'http:' | 'https:'] }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          const enc = (res.headers['content-encoding'] ?? '').toLowerCase() as keyof typeof inflate;
          const decode = inflate[enc] ? inflate[enc](raw) : Promise.resolve(raw);
          decode.then((buf) => {
            cleanup();
            resolve(new LeanResponse(res.statusCode ?? 0, res.statusMessage ?? '', new LeanHeaders(res.headers), url.href, buf) as unknown as Response);
          }, fail);
        });
      });
      function cleanup() {
        signal?.removeEventListener('abort', onAbort);
      }
      function fail(err: Error) {
        cleanup();
        reject(err);
      }
      function onAbort() {
        req.destroy(abortError(signal!));
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', fail);
      req.end(body ?? undefined);
    });
}
