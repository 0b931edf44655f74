/**
 * The audit app's HTTP server, on Fastify: routes for the page, its two static files, JSON endpoints
 * the page calls (list, sample, decide, undo, stats) and the run's images.
 *
 * Security:
 *   - on a loopback address only this machine can connect; the Host header must name that address
 *     (a web page elsewhere cannot reach the app through DNS rebinding);
 *   - on any other address every request needs the token: `?token=` once (it becomes an HttpOnly,
 *     SameSite=Strict cookie and the URL loses it), or `Authorization: Bearer`; nothing logs requests;
 *   - POSTs must be JSON from the page's own origin (a form on another site cannot post here);
 *   - every response forbids inline script and style, framing and outside requests (CSP);
 *   - /img/<sha256> serves only images that samples of this run refer to, with bytes that hash to that
 *     sha256, as an image type it recognises (never SVG or HTML).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import sharp from 'sharp';
import { z } from 'zod';
import { fmtInt, html } from '../charts/html.js';
import { render } from '../charts/index.js';
import { InputError, RecordError, UnivgError } from '../errors.js';
import { AuditorName } from '../schema/records.js';
import { UNIVG_VERSION } from '../store/version.js';
import { latestDecisions } from './labels.js';
import { parseListQuery } from './query.js';
import { decisionsHtml, facetsHtml, listHtml, sampleHtml, shellPage, statsHtml, verifierChart } from './render.js';
import type { AuditSession } from './session.js';

export interface ServerOptions {
  session: AuditSession;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (0: any free one). */
  port?: number;
  /** The auditor name the page starts with. */
  auditor: string;
  /** Needed on every request when set; must be set for a non-loopback host. */
  token: string | null;
  /** Shown in the page title. */
  runLabel: string;
}

export interface RunningServer {
  /** Where the app is (never with the token). */
  url: string;
  /** The URL to open: `url` with the token when one is needed. Print it once; log it nowhere. */
  openUrl: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

const COOKIE = 'univg_audit';
/** Thumbnail widths the page asks for; anything else is refused, so the cache stays small. */
const WIDTHS = new Set([160, 320, 640, 1024]);
const CACHE_BYTES = 32 * 1024 * 1024;

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const ASSETS = {
  'app.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('./assets/app.js', import.meta.url)) },
  'app.css': { type: 'text/css; charset=utf-8', body: readFileSync(new URL('./assets/app.css', import.meta.url)) },
} as const;

/** The image types served, by their first bytes; anything else is re-encoded as PNG or refused. */
function imageType(b: Buffer): string | null {
  if (b.length >= 8 && b[0] === 0x89 && b.toString('latin1', 1, 4) === 'PNG') return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 6 && (b.toString('latin1', 0, 6) === 'GIF87a' || b.toString('latin1', 0, 6) === 'GIF89a')) return 'image/gif';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  return null;
}

const sameToken = (a: string, b: string) => timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

function cookieToken(req: FastifyRequest): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === COOKIE) return v.join('=');
  }
  return null;
}

const DecideBody = z.strictObject({
  sampleId: z.string().min(1).max(1000),
  candidateIndex: z.number().int().nonnegative().nullable(),
  decision: z.enum(['accept', 'reject', 'flag']),
  reason: z.string().max(100).nullable().default(null),
  note: z.string().max(2000).default(''),
  auditor: AuditorName,
});
const UndoBody = z.strictObject({ id: z.string().min(1).max(100) });

function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new InputError(`bad request: ${issue.path.join('.') || (issue as { keys?: string[] }).keys?.join(', ') || 'body'}: ${issue.message}`, { field: issue.path.join('.') });
  }
  return r.data;
}

export async function startAuditServer(o: ServerOptions): Promise<RunningServer> {
  const host = o.host ?? '127.0.0.1';
  const loopback = isLoopback(host);
  if (!loopback && !o.token) throw new InputError(`listening on ${host} needs a token (anyone who can reach the address could read and label the run)`);
  const s = o.session;
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, routerOptions: { maxParamLength: 1000 }, return503OnClosing: true });
  let port = o.port ?? 0;
  const thumbs = new Map<string, Buffer>();
  let thumbBytes = 0;

  app.addHook('onRequest', async (req, reply) => {
    reply.header('content-security-policy', CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cache-control', 'no-store');
    if (loopback) {
      const h = (req.headers.host ?? '').toLowerCase();
      const ok = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${host}:${port}`].includes(h);
      if (!ok) return reply.code(421).type('text/plain; charset=utf-8').send(`univg audit answers only to the address it listens on (Host ${JSON.stringify(req.headers.host ?? '')} refused)\n`);
    }
    if (o.token) {
      const url = new URL(req.url, 'http://audit.invalid');
      const given = url.searchParams.get('token');
      if (req.method === 'GET' && url.pathname === '/' && given !== null) {
        if (!sameToken(given, o.token)) return reply.code(401).type('text/plain; charset=utf-8').send('wrong token\n');
        // The token moves into a cookie the page's script cannot read, and out of the address bar and history.
        return reply.header('set-cookie', `${COOKIE}=${o.token}; HttpOnly; SameSite=Strict; Path=/`).redirect('/', 303);
      }
      const auth = req.headers.authorization;
      const presented = cookieToken(req) ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : null);
      if (presented === null || !sameToken(presented, o.token)) {
        return reply
          .code(401)
          .type('text/plain; charset=utf-8')
          .send('this audit server needs its token: open the URL it printed when it started (or send Authorization: Bearer <token>)\n');
      }
    }
    if (req.method === 'POST') {
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== `http://${req.headers.host}`) return reply.code(403).send({ error: `requests from ${origin} are refused` });
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return reply.code(415).send({ error: 'send JSON (content-type: application/json)' });
    }
  });

  app.setErrorHandler(async (err: Error & { statusCode?: number }, _req, reply) => {
    if (err instanceof InputError || err instanceof RecordError) return reply.code(400).send({ error: err.describe() });
    if (err instanceof UnivgError) return reply.code(500).send({ error: err.describe() });
    if (typeof err.statusCode === 'number' && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
    process.stderr.write(`univg audit: internal error (a bug; please report it)\n${err.stack ?? err.message}\n`);
    return reply.code(500).send({ error: 'internal error (a bug): see the server console' });
  });
  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send({ error: 'not found' }));

  app.get('/', async (_req, reply) => {
    const page = shellPage({
      runLabel: o.runLabel,
      auditor: o.auditor,
      reasons: s.reasons,
      problems: s.problems,
      plan: s.plan,
      samples: await s.sampleCount(),
      auditors: await s.auditors(),
      generator: `univg ${UNIVG_VERSION}`,
    });
    return reply.type('text/html; charset=utf-8').send(page);
  });

  // Browsers ask for it on their own; there is none.
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());

  app.get('/assets/:name', async (req, reply) => {
    const a = ASSETS[(req.params as { name: string }).name as keyof typeof ASSETS];
    if (!a) return reply.code(404).send({ error: 'not found' });
    return reply.type(a.type).send(a.body);
  });

  app.get('/api/list', async (req, reply) => {
    const q = parseListQuery(new URL(req.url, 'http://audit.invalid').searchParams);
    const r = await s.list(q);
    return reply.send({
      list: listHtml(r, q).value,
      facets: facetsHtml(r, q).value,
      ids: r.rows.map((x) => x.id),
      total: r.total,
      page: q.page,
      pages: Math.max(1, Math.ceil(r.total / q.size)),
    });
  });

  app.get('/api/sample/:id', async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const d = await s.sample(id);
    if (!d) return reply.code(404).send({ error: `no sample ${JSON.stringify(id)} in this run` });
    const asked = AuditorName.safeParse(new URL(req.url, 'http://audit.invalid').searchParams.get('auditor'));
    const auditor = asked.success ? asked.data : o.auditor;
    return reply.send({ id: d.id, focus: d.focus, candidates: d.candidates.map((c) => c.index), html: sampleHtml(d, s.reasons, auditor).value });
  });

  /** What the page redraws after a decision: the decision panel and the row's badges. */
  const afterDecision = async (sampleId: string, auditor: string) => {
    const history = await s.history(sampleId);
    const latest = [...latestDecisions(history).values()].sort((a, b) => (a.auditor < b.auditor ? -1 : 1));
    return {
      decide: decisionsHtml({ history }, s.reasons, auditor).value,
      badges: html`${latest.map((l) => html`<span class="dec ${l.decision}" title="${`${l.auditor}: ${l.decision}`}">${l.decision[0]!.toUpperCase()}<small>${l.auditor}</small></span>`)}`.value,
    };
  };

  app.post('/api/labels', async (req, reply) => {
    const b = parseBody(DecideBody, req.body);
    // The reply is sent only after the label is on disk (LabelLog.append syncs it).
    const label = await s.decide({ sampleId: b.sampleId, candidateIndex: b.candidateIndex, auditor: b.auditor, decision: b.decision, reason: b.reason, note: b.note, undoes: null });
    return reply.send({ label, ...(await afterDecision(label.sampleId, label.auditor)) });
  });

  app.post('/api/undo', async (req, reply) => {
    const b = parseBody(UndoBody, req.body);
    const label = await s.undo(b.id);
    return reply.send({ label, ...(await afterDecision(label.sampleId, label.auditor)) });
  });

  app.get('/api/stats', async (_req, reply) => {
    const stats = await s.stats();
    return reply.send({ stats, html: statsHtml(stats, await render(verifierChart(stats))).value });
  });

  app.get('/img/:sha', async (req, reply) => {
    const sha = (req.params as { sha: string }).sha;
    if (!/^[0-9a-f]{64}$/.test(sha)) return reply.code(404).send({ error: 'not an image of this run' });
    const wRaw = new URL(req.url, 'http://audit.invalid').searchParams.get('w');
    const w = wRaw === null ? null : Number(wRaw);
    if (w !== null && !WIDTHS.has(w)) return reply.code(400).send({ error: `w must be one of ${[...WIDTHS].join(', ')}` });
    const path = await s.imagePath(sha);
    if (path === null) return reply.code(404).send({ error: 'not an image of this run' });
    const key = `${sha}:${w ?? 'full'}`;
    const hit = thumbs.get(key);
    if (hit) return sendImage(reply, hit);
    const img = await s.images.read(sha, path);
    if (!img.bytes) return reply.code(404).send({ error: img.problem });
    let out = img.bytes;
    if (w !== null || imageType(out) === null) {
      try {
        // No EXIF rotation: boxes are in the stored pixel grid, which is what the verifier used.
        const p = sharp(out, { limitInputPixels: 1e9 });
        out = await (w !== null ? p.resize(w, w, { fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 82 }) : p.png()).toBuffer();
      } catch (err) {
        return reply.code(415).send({ error: `image could not be decoded: ${err instanceof Error ? err.message : String(err)}` });
      }
    }
    if (w !== null) {
      thumbs.set(key, out);
      thumbBytes += out.length;
      for (const [k, v] of thumbs) {
        if (thumbBytes <= CACHE_BYTES) break;
        thumbs.delete(k);
        thumbBytes -= v.length;
      }
    }
    return sendImage(reply, out);
  });

  const sendImage = (reply: FastifyReply, bytes: Buffer) =>
    reply
      .type(imageType(bytes)!)
      .header('cache-control', 'private, max-age=3600')
      .header('content-disposition', 'inline')
      .send(bytes);

  await app.listen({ host, port: o.port ?? 0 });
  port = (app.server.address() as AddressInfo).port;
  const shown = host === '0.0.0.0' || host === '::' ? hostname() : host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const base = `http://${shown}:${port}/`;
  return {
    url: base,
    openUrl: o.token ? `${base}?token=${encodeURIComponent(o.token)}` : base,
    host,
    port,
    close: () => app.close(),
  };
}

/** One line for the console: where the app is and who can reach it (never the token). */
export function listeningLine(r: RunningServer, samples: number): string {
  const who = isLoopback(r.host)
    ? 'only this machine can connect'
    : `listening on ${r.host}: every request needs the token, which is in the URL printed on stdout once (or was given in UNIVG_AUDIT_TOKEN)`;
  return `univg audit: ${fmtInt(samples)} samples at ${r.url} (${who}; Ctrl+C stops it)`;
}

