/**
 * The audit server over HTTP (issue 14): security headers; the Host check on loopback; the token on any
 * other address; JSON-only, same-origin writes; every bad decision refused with nothing written; images
 * only of the run (no traversal, bytes that match their hash); escaped payloads; shards never modified.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuditServer, type RunningServer } from '../../src/audit/server.js';
import { AuditSession } from '../../src/audit/session.js';
import { writeShards } from '../../src/store/writer.js';
import { EVIL_ID, makeAuditRun, PAYLOAD_IMG, PAYLOAD_SCRIPT, type AuditFixture } from './fixture.js';

let fx: AuditFixture;
let session: AuditSession;
let server: RunningServer;
const dirs: string[] = [];

beforeAll(async () => {
  fx = await makeAuditRun();
  session = await AuditSession.open(fx.root);
  server = await startAuditServer({ session, auditor: 'ana', token: null, runLabel: 'fixture', port: 0 });
});
afterAll(async () => {
  await server?.close();
  await session?.close();
  for (const d of [fx?.root, ...dirs]) if (d) rmSync(d, { recursive: true, force: true });
});

/** A raw HTTP request (the path is sent as written, headers as given). */
function raw(port: number, path: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: { host: `127.0.0.1:${port}`, ...o.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}
const get = (path: string, headers?: Record<string, string>) => raw(server.port, path, { headers });
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  raw(server.port, path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const json = (r: { body: Buffer }) => JSON.parse(r.body.toString()) as Record<string, unknown>;

describe('every response', () => {
  it('listens on loopback unless told otherwise, and a non-loopback address without a token is refused', async () => {
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/?$`));
    await expect(startAuditServer({ session, host: '0.0.0.0', auditor: 'ana', token: null, runLabel: 'fixture', port: 0 })).rejects.toThrow(/needs a token/);
  });

  it('forbids inline script and style, framing and outside requests', async () => {
    for (const path of ['/', '/api/list', '/assets/app.js', `/img/${fx.images[0]!.sha256}`, '/nope']) {
      const r = await get(path);
      expect(r.headers['content-security-policy'], path).toBe("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
      expect(r.headers['x-content-type-options'], path).toBe('nosniff');
      expect(r.headers['x-frame-options'], path).toBe('DENY');
    }
  });

  it('the page has no inline script and no inline style attribute', async () => {
    const page = (await get('/')).body.toString();
    const scripts = [...page.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    expect(scripts).toEqual(['<script src="/assets/app.js" defer>', '<script type="application/json" id="boot">']);
    expect(page).not.toMatch(/\sstyle=/);
    expect(page).not.toMatch(/\son[a-z]+=/i);
  });
});

describe('on a loopback address', () => {
  it('answers only to its own Host name (no DNS rebinding)', async () => {
    expect((await get('/', { host: `localhost:${server.port}` })).status).toBe(200);
    const r = await get('/api/list', { host: 'attacker.example' });
    expect(r.status).toBe(421);
    expect(r.body.toString()).toContain('refused');
    expect((await get('/api/list', { host: `127.0.0.1:${server.port + 1}` })).status).toBe(421);
  });

  it('takes decisions only as JSON from its own origin', async () => {
    const body = { sampleId: 's-00', candidateIndex: 0, decision: 'accept', reason: null, note: '', auditor: 'ana' };
    expect((await raw(server.port, '/api/labels', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(body) })).status).toBe(415);
    expect((await raw(server.port, '/api/labels', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'decision=accept' })).status).toBe(415);
    expect((await post('/api/labels', body, { origin: 'http://attacker.example' })).status).toBe(403);
    expect(await session.log.size()).toBe(0);
    const ok = await post('/api/labels', body, { origin: `http://127.0.0.1:${server.port}` });
    expect(ok.status).toBe(200);
    expect((json(ok).label as { decision: string }).decision).toBe('accept');
  });

  it.each([
    ['an unknown field', { sampleId: 's-00', candidateIndex: 0, decision: 'accept', auditor: 'ana', admin: true }, /admin/],
    ['a decision that is not one', { sampleId: 's-00', candidateIndex: 0, decision: 'approve', auditor: 'ana' }, /decision/],
    ['clear (undo has its own route)', { sampleId: 's-00', candidateIndex: 0, decision: 'clear', auditor: 'ana' }, /decision/],
    ['a bad auditor name', { sampleId: 's-00', candidateIndex: 0, decision: 'accept', auditor: '<b>x</b>' }, /auditor/],
    ['a note over 2000 characters', { sampleId: 's-00', candidateIndex: 0, decision: 'accept', auditor: 'ana', note: 'x'.repeat(2001) }, /note/],
    ['a negative candidate', { sampleId: 's-00', candidateIndex: -1, decision: 'accept', auditor: 'ana' }, /candidateIndex/],
    ['an unknown sample', { sampleId: 'ghost', candidateIndex: null, decision: 'accept', auditor: 'ana' }, /no such sample/],
    ['a candidate the sample lacks', { sampleId: 's-00', candidateIndex: 9, decision: 'accept', auditor: 'ana' }, /no candidate 9/],
    ['a reason the team did not configure', { sampleId: 's-00', candidateIndex: 0, decision: 'reject', reason: 'because', auditor: 'ana' }, /unknown reason/],
    ['not JSON at all', '{"sampleId": ', /JSON|body/i],
  ])('refuses %s, writing nothing', async (_what, body, message) => {
    const before = await session.log.size();
    const r = await post('/api/labels', body);
    expect(r.status).toBe(400);
    expect(String(json(r).error)).toMatch(message);
    expect(await session.log.size()).toBe(before);
  });

  it('answers an error, never a confirmation, when the label cannot be written', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'univg-audit-full-'));
    dirs.push(copy);
    cpSync(fx.root, copy, { recursive: true });
    rmSync(join(copy, 'audit'), { recursive: true, force: true });
    const s = await AuditSession.open(copy);
    const srv = await startAuditServer({ session: s, auditor: 'ana', token: null, runLabel: 'full', port: 0 });
    try {
      mkdirSync(join(copy, 'audit'), { recursive: true });
      symlinkSync('/dev/full', join(copy, 'audit', 'labels.log'));
      const r = await raw(srv.port, '/api/labels', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sampleId: 's-00', candidateIndex: 0, decision: 'accept', reason: null, note: '', auditor: 'ana' }) });
      expect(r.status).toBe(500);
      expect(String(json(r).error)).toMatch(/cannot write the label log \(the decision was not saved\): .*ENOSPC/);
    } finally {
      await srv.close();
      await s.close();
    }
  });

  it('refuses a bad undo and a bad list query with a message', async () => {
    expect(json(await post('/api/undo', { id: 'no-such-id' })).error).toMatch(/no such decision/);
    const r = await get('/api/list?verdict=maybe');
    expect(r.status).toBe(400);
    expect(String(json(r).error)).toMatch(/verdict/);
    expect((await get('/api/sample/ghost')).status).toBe(404);
  });
});

describe('images', () => {
  it('serves an image of the run, whole, as what it is; thumbnails on a fixed set of widths', async () => {
    const sha = fx.images[0]!.sha256;
    const r = await get(`/img/${sha}`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('image/png');
    expect(createHash('sha256').update(r.body).digest('hex')).toBe(sha);
    const t = await get(`/img/${sha}?w=160`);
    expect(t.headers['content-type']).toBe('image/jpeg');
    expect((await sharp(t.body).metadata()).width).toBe(160);
    expect((await get(`/img/${sha}?w=7`)).status).toBe(400);
  });

  it.each([
    ['/img/0000000000000000000000000000000000000000000000000000000000000000', 404],
    ['/img/../../../../etc/passwd', 404],
    ['/img/..%2F..%2F..%2F..%2Fetc%2Fpasswd', 404],
    ['/img/%2e%2e%2fsamples%2f_manifest.json', 404],
    ['/img/imgs%2F0.png', 404],
    ['/assets/..%2Fserver.ts', 404],
    ['/assets/../../package.json', 404],
    ['/samples/_manifest.json', 404],
  ])('refuses %s', async (path, status) => {
    const r = await get(path);
    expect(r.status).toBe(status);
    expect(r.body.toString()).not.toContain('root:');
    expect(r.body.toString()).not.toContain('univg-shards');
  });

  it('never follows a recorded path out of the image root, and never serves bytes that do not match their hash', async () => {
    const root = mkdtempSync(join(tmpdir(), 'univg-audit-traversal-'));
    dirs.push(root);
    const secret = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ff0000' } }).png().toBuffer();
    const secretSha = createHash('sha256').update(secret).digest('hex');
    // The secret sits beside the image root; a sample records it as ../secret.png with its true hash.
    writeFileSync(join(root, 'secret.png'), secret);
    mkdirSync(join(root, 'imgroot'));
    const liar = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#00ff00' } }).png().toBuffer();
    writeFileSync(join(root, 'imgroot', 'liar.png'), liar);
    const run = join(root, 'run');
    const sample = (id: string, image: { sha256: string; path: string }) => ({
      id, source: 's', task: 't', images: [{ ...image, width: 8, height: 8 }], question: 'q', context: [], targetImage: 0, targetBox: [1, 1, 4, 4] as [number, number, number, number], difficulty: null, split: null, meta: {},
    });
    await writeShards('GroundingSample', [sample('a', { sha256: secretSha, path: '../secret.png' }), sample('b', { sha256: 'ab'.repeat(32), path: 'liar.png' })], { dir: join(run, 'samples'), count: 1 });
    const s = await AuditSession.open(run, { imageRoot: join(root, 'imgroot') });
    const srv = await startAuditServer({ session: s, auditor: 'ana', token: null, runLabel: 't', port: 0 });
    try {
      const a = await raw(srv.port, `/img/${secretSha}`);
      expect(a.status).toBe(404);
      expect(a.body.includes(secret)).toBe(false);
      const b = await raw(srv.port, `/img/${'ab'.repeat(32)}`);
      expect(b.status).toBe(404);
      expect(String(json(b).error)).toMatch(/do not match/);
    } finally {
      await srv.close();
      await s.close();
    }
  });
});

describe('the sample markup', () => {
  it("draws an eval run's predictions on the target image beside the candidates' boxes", async () => {
    const page = String(json(await get('/api/sample/s-01')).html);
    expect(page).toMatch(/<rect class="pred" data-box="p1" x="60" y="70" width="80" height="80"/);
    expect(page).toContain('Model predictions (eval)');
  });
});

describe('untrusted text', () => {
  it('comes back escaped in the sample and list markup', async () => {
    const d = json(await get(`/api/sample/${EVIL_ID}`));
    const page = String(d.html);
    expect(page).toContain('&lt;script&gt;window.__pwned');
    expect(page).toContain('&lt;img src=x onerror=&quot;window.__pwned');
    expect(page).not.toContain(PAYLOAD_SCRIPT);
    expect(page).not.toContain(PAYLOAD_IMG);
    expect(page).not.toMatch(/<(script|img src=x|a href|svg onload)/i);
    const list = String(json(await get(`/api/list?q=${encodeURIComponent('what changed')}`)).list);
    expect(list).toContain(EVIL_ID);
    expect(list).not.toContain(PAYLOAD_IMG);
    const note = await post('/api/labels', { sampleId: EVIL_ID, candidateIndex: 0, decision: 'flag', reason: null, note: PAYLOAD_IMG, auditor: 'ana' });
    expect(String(json(note).decide)).not.toContain(PAYLOAD_IMG);
    expect(String(json(note).decide)).toContain('&lt;img src=x');
  });
});

describe('the shards', () => {
  it('are never written: the same bytes and times after reading, searching and labelling', async () => {
    const files = ['samples', 'candidates', 'verdicts', 'corpus/sft', 'corpus/rl'].flatMap((d) => readdirSync(join(fx.root, d)).map((f) => join(fx.root, d, f)));
    const snap = () => files.map((f) => ({ f, sha: createHash('sha256').update(readFileSync(f)).digest('hex'), mtime: statSync(f).mtimeMs, size: statSync(f).size }));
    const before = snap();
    await get('/api/list?q=lamp&sort=random');
    await get('/api/sample/s-01');
    await post('/api/labels', { sampleId: 's-02', candidateIndex: 0, decision: 'reject', reason: 'wrong_box', note: 'n', auditor: 'bo' });
    await get('/api/stats');
    expect(snap()).toEqual(before);
  });

  it('are all a session needs: a copy with read-only shard files and directories opens and labels', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'univg-audit-ro-'));
    dirs.push(copy);
    cpSync(fx.root, copy, { recursive: true });
    rmSync(join(copy, 'audit'), { recursive: true, force: true });
    const { chmodSync } = await import('node:fs');
    const stageDirs = ['samples', 'candidates', 'verdicts', 'corpus/sft', 'corpus/rl'].map((d) => join(copy, d));
    for (const d of stageDirs) {
      for (const f of readdirSync(d)) chmodSync(join(d, f), 0o444);
      chmodSync(d, 0o555);
    }
    try {
      const s = await AuditSession.open(copy);
      try {
        expect((await s.list((await import('../../src/audit/query.js')).parseListQuery(new URLSearchParams('q=lamp')))).total).toBe(11);
        await s.decide({ sampleId: 's-00', candidateIndex: 0, auditor: 'ana', decision: 'accept', reason: null, note: '', undoes: null });
      } finally {
        await s.close();
      }
    } finally {
      for (const d of stageDirs) chmodSync(d, 0o755);
    }
  });
});

describe('off loopback', () => {
  let s2: AuditSession;
  let srv: RunningServer;
  const TOKEN = 'tok_9f2c1d7e6b5a4c3d2e1f0a9b8c7d6e5f';
  beforeAll(async () => {
    s2 = await AuditSession.open(fx.root);
    srv = await startAuditServer({ session: s2, host: '0.0.0.0', auditor: 'ana', token: TOKEN, runLabel: 'fixture', port: 0 });
  });
  afterAll(async () => {
    await srv?.close();
    await s2?.close();
  });

  it('needs a token on every request', async () => {
    for (const path of ['/', '/api/list', '/api/stats', `/img/${fx.images[0]!.sha256}`, '/assets/app.js']) expect((await raw(srv.port, path)).status, path).toBe(401);
    expect((await raw(srv.port, '/api/labels', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(401);
    expect((await raw(srv.port, '/?token=wrong')).status).toBe(401);
    expect((await raw(srv.port, '/api/list', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await raw(srv.port, '/api/list', { headers: { cookie: 'univg_audit=wrong' } })).status).toBe(401);
  });

  it('turns ?token= into an HttpOnly, SameSite=Strict cookie and drops it from the address; a Bearer header works too', async () => {
    const r = await raw(srv.port, `/?token=${TOKEN}`);
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/');
    expect(r.headers['set-cookie']).toEqual([`univg_audit=${TOKEN}; HttpOnly; SameSite=Strict; Path=/`]);
    const page = await raw(srv.port, '/', { headers: { cookie: `univg_audit=${TOKEN}` } });
    expect(page.status).toBe(200);
    // The token never appears in what the page can read.
    expect(page.body.toString()).not.toContain(TOKEN);
    expect((await raw(srv.port, '/api/list', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect(srv.openUrl).toBe(`${srv.url}?token=${TOKEN}`);
    expect(srv.url).not.toContain(TOKEN);
  });

  it('will not start off loopback without a token', async () => {
    await expect(startAuditServer({ session: s2, host: '0.0.0.0', auditor: 'ana', token: null, runLabel: 'x', port: 0 })).rejects.toThrow(/needs a token/);
  });
});
