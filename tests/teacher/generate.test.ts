/**
 * The generate stage through the real openai client, over real HTTP, against the simulated teacher
 * with its faults on.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { InterruptedError } from '../../src/errors.js';
import { TeacherConfig } from '../../src/schema/config.js';
import { TeacherCandidate, type GroundingSample } from '../../src/schema/records.js';
import { generateCandidates, type GenerateOptions, type SampleFailure } from '../../src/stages/generate.js';
import { ResponseCache } from '../../src/teacher/cache.js';
import { TeacherClient, type TeacherEvent } from '../../src/teacher/client.js';
import { CostCapError, TeacherFatalError, TeacherUnavailableError } from '../../src/teacher/errors.js';
import { totalAttempts } from '../../src/teacher/metrics.js';
import { startSimTeacher, type SimTeacher } from '../../src/teacher/sim/index.js';
import { makeFixture, type Fixture } from './fixtures/samples.js';
import { startProxy } from './fixtures/proxy.js';

const dirs: string[] = [];
const sims: SimTeacher[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'univg-gen-'));
  dirs.push(d);
  return d;
};
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const FAULTS = { rate_limit: 0.1, server_error: 0.05, hang: 0.02, malformed: 0.05, reset: 0, truncate: 0, refusal: 0, slow: 0 };

async function sim(opts: Parameters<typeof startSimTeacher>[0] = {}): Promise<SimTeacher> {
  const s = await startSimTeacher({ port: 0, seed: 3, convention: 'qwen2vl', hangMs: 4000, retryAfterSeconds: 0.1, latency: { distribution: 'lognormal', medianMs: 15, sigma: 1 }, ...opts });
  sims.push(s);
  return s;
}

function client(config: TeacherConfig, url: string, log?: (e: TeacherEvent) => void, env: Record<string, string> = {}) {
  return new TeacherClient({ config, baseUrl: url, env, backoff: { baseMs: 10, capMs: 100 }, ...(log ? { log } : {}) });
}

async function collect(samples: GroundingSample[], o: GenerateOptions): Promise<{ rows: TeacherCandidate[]; error: unknown }> {
  const rows: TeacherCandidate[] = [];
  try {
    for await (const r of generateCandidates(samples, o)) rows.push(r);
    return { rows, error: null };
  } catch (error) {
    return { rows, error };
  }
}

const content = (r: TeacherCandidate) => ({ id: r.sampleId, i: r.candidateIndex, h: r.requestHash, c: r.completion, f: r.finishReason, e: r.error });

function checkRows(rows: TeacherCandidate[], samples: GroundingSample[], k: number) {
  expect(rows).toHaveLength(samples.length * k);
  // Input order, then candidate index; every (sample, candidate) exactly once.
  expect(rows.map((r) => `${r.sampleId}/${r.candidateIndex}`)).toEqual(samples.flatMap((s) => Array.from({ length: k }, (_, i) => `${s.id}/${i}`)));
  for (const r of rows) {
    expect(TeacherCandidate.safeParse(r).success).toBe(true);
    // Answered, or failed with its error: never both, never neither.
    expect(r.error === null ? typeof r.completion === 'string' : r.completion === null && r.error.length > 0).toBe(true);
  }
}

describe('generateCandidates against the simulated teacher with faults', () => {
  let fx: Fixture;
  const N = 30;

  it('answers or records every candidate, with no silent extra calls; a rerun asks only for what failed; a third asks nothing', async () => {
    fx = await makeFixture(N, 11);
    const s = await sim({ faults: FAULTS });
    const dir = tmp();
    const base = TeacherConfig.parse({ model: 'sim', nMode: 'seeds', concurrency: 6, timeoutMs: 1000, maxRetries: 0, cacheDir: dir });

    // Run 1: no retries except on 429, so 5xx and hangs become failed rows.
    const cache1 = await ResponseCache.open(dir);
    const c1 = client(base, s.url);
    const r1 = await collect(fx.samples, { config: base, client: c1, cache: cache1, imageLoader: fx.loader });
    expect(r1.error).toBeNull();
    checkRows(r1.rows, fx.samples, 3);
    const k1 = c1.counters();
    const st1 = s.stats();
    expect(st1.requests).toBe(totalAttempts(k1.attempts));
    expect(k1.requests).toBe(N * 3);
    expect(k1.answered + k1.failed).toBe(k1.requests);
    expect(k1.attempts.rate_limited).toBe(st1.byOutcome.rate_limited);
    expect(k1.attempts.server_error).toBe(st1.byOutcome.server_error);
    // A timeout is a hang, or (on a slow machine) an answer that came too late: the server saw the client
    // close, or had already sent the answer (then the server counted an answer the client did not take).
    expect(k1.attempts.timeout).toBeGreaterThanOrEqual(st1.byOutcome.hang);
    const late = k1.attempts.timeout - st1.byOutcome.hang - st1.byOutcome.client_closed;
    expect(late).toBeGreaterThanOrEqual(0);
    expect(k1.attempts.ok + k1.attempts.malformed + late).toBe(st1.byOutcome.ok + st1.byOutcome.slow + st1.byOutcome.malformed);
    // The faults really happened, and failures are rows with their reason.
    expect(k1.attempts.rate_limited).toBeGreaterThan(0);
    expect(k1.attempts.server_error).toBeGreaterThan(0);
    expect(k1.attempts.timeout).toBeGreaterThan(0);
    expect(st1.byOutcome.malformed).toBeGreaterThan(0);
    const failed1 = r1.rows.filter((r) => r.error !== null);
    expect(failed1.length).toBe(k1.failed);
    expect(failed1.some((r) => /server_error \(HTTP 500\) after 1 attempt/.test(r.error!))).toBe(true);
    expect(failed1.some((r) => /^timeout after 1 attempt/.test(r.error!))).toBe(true);
    expect(cache1.size).toBe(k1.answered);
    await cache1.close();

    // Run 2, same cache, retries allowed: only the failed requests go out again.
    s.resetStats();
    const cfg2 = { ...base, maxRetries: 8 };
    const cache2 = await ResponseCache.open(dir);
    const c2 = client(cfg2, s.url);
    const r2 = await collect(fx.samples, { config: cfg2, client: c2, cache: cache2, imageLoader: fx.loader });
    expect(r2.error).toBeNull();
    checkRows(r2.rows, fx.samples, 3);
    const k2 = c2.counters();
    expect(k2.requests).toBe(k1.failed);
    expect(k2.answered).toBe(k1.failed);
    expect(s.stats().requests).toBe(totalAttempts(k2.attempts));
    expect(r2.rows.every((r) => r.error === null)).toBe(true);
    expect(r2.rows.filter((r) => !r.cached).length).toBe(k1.failed);
    // Answers from run 1 come back unchanged from the cache.
    const byKey = new Map(r1.rows.map((r) => [`${r.sampleId}/${r.candidateIndex}`, r]));
    for (const r of r2.rows.filter((x) => x.cached)) expect(content(r)).toEqual(content(byKey.get(`${r.sampleId}/${r.candidateIndex}`)!));
    await cache2.close();

    // Run 3: everything is paid for; the server sees nothing.
    s.resetStats();
    const cache3 = await ResponseCache.open(dir);
    const c3 = client(cfg2, s.url);
    const r3 = await collect(fx.samples, { config: cfg2, client: c3, cache: cache3, imageLoader: fx.loader });
    expect(s.stats().requests).toBe(0);
    expect(c3.counters().requests).toBe(0);
    expect(r3.rows.every((r) => r.cached && r.attempts === 0)).toBe(true);
    expect(r3.rows.map(content)).toEqual(r2.rows.map(content));
    await cache3.close();
  });

  it('n mode: one request per sample; its choices become candidates 0..k-1 whose tokens and cost add up to the request', async () => {
    fx = await makeFixture(8, 5);
    const s = await sim();
    const config = TeacherConfig.parse({ model: 'sim', price: { inputPerMTok: 1, outputPerMTok: 4 } });
    const cache = await ResponseCache.open(tmp());
    const c = client(config, s.url);
    const { rows, error } = await collect(fx.samples, { config, client: c, cache, imageLoader: fx.loader });
    expect(error).toBeNull();
    checkRows(rows, fx.samples, 3);
    expect(s.stats().requests).toBe(8);
    const k = c.counters();
    for (let i = 0; i < rows.length; i += 3) expect(new Set(rows.slice(i, i + 3).map((r) => r.requestHash)).size).toBe(1);
    expect(rows.reduce((a, r) => a + r.promptTokens!, 0)).toBe(k.promptTokens);
    expect(rows.reduce((a, r) => a + r.completionTokens!, 0)).toBe(k.completionTokens);
    expect(rows.reduce((a, r) => a + r.costUsd, 0)).toBeCloseTo(k.costUsd, 12);
    expect(k.costUsd).toBeCloseTo((k.promptTokens * 1 + k.completionTokens * 4) / 1e6, 12);
    expect(s.stats().tokens.prompt).toBe(k.promptTokens);
    // The hinted answer the sim read back is the ground truth we sent.
    expect(rows[0]!.completion).toContain('<answer>');
    expect(rows[0]!.seenSizes).toHaveLength(fx.samples[0]!.images.length);
    await cache.close();
  });
});

describe('bad inputs', () => {
  it('a sample that cannot be asked (bad target, missing or wrong image) gives error rows; the others are answered', async () => {
    const fx = await makeFixture(4, 8);
    const s = await sim();
    const config = TeacherConfig.parse({ model: 'sim' });
    const cache = await ResponseCache.open(tmp());
    const c = client(config, s.url);
    const bad = [
      { ...fx.samples[0]!, targetImage: 9 },
      { ...fx.samples[1]!, images: fx.samples[1]!.images.map((im) => ({ ...im, sha256: 'd'.repeat(64) })) },
      { ...fx.samples[2]!, images: fx.samples[2]!.images.map((im) => ({ ...im, width: im.width + 1 })) },
      fx.samples[3]!,
    ];
    const { rows, error } = await collect(bad, { config, client: c, cache, imageLoader: fx.loader });
    expect(error).toBeNull();
    checkRows(rows, bad, 3);
    expect(rows.slice(0, 3).every((r) => r.requestHash === '-' && /targetImage 9 is out of range/.test(r.error!))).toBe(true);
    expect(rows.slice(3, 6).every((r) => /cannot load image/.test(r.error!))).toBe(true);
    expect(rows.slice(6, 9).every((r) => /but the record says/.test(r.error!))).toBe(true);
    expect(rows.slice(9).every((r) => r.error === null)).toBe(true);
    expect(s.stats().requests).toBe(1);
    await cache.close();
  });
});

describe('per-sample failures', () => {
  it('an image whose header reads but whose pixels do not (cut in half) fails that sample as image_unreadable, with its id; the others are answered', async () => {
    const fx = await makeFixture(4, 12);
    const s = await sim();
    const config = TeacherConfig.parse({ model: 'sim' });
    const cache = await ResponseCache.open(tmp());
    const c = client(config, s.url);
    // Sample 1's first image cut in half: same header (size), same bookkeeping (its own hash).
    const ref = fx.samples[1]!.images[0]!;
    const half = fx.images.get(ref.sha256)!.subarray(0, Math.floor(fx.images.get(ref.sha256)!.length / 2));
    const halfSha = createHash('sha256').update(half).digest('hex');
    fx.images.set(halfSha, Buffer.from(half));
    const samples = fx.samples.map((x, i) => (i === 1 ? { ...x, images: [{ ...ref, sha256: halfSha }, ...x.images.slice(1)] } : x));
    const failures: SampleFailure[] = [];
    const { rows, error } = await collect(samples, { config, client: c, cache, imageLoader: fx.loader, onFailure: (f) => failures.push(f) });
    expect(error).toBeNull();
    checkRows(rows, samples, 3);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ sampleId: samples[1]!.id, transient: false, reason: 'image_unreadable', candidates: 3 });
    expect(failures[0]!.message).toMatch(/cannot decode image/);
    expect(rows.filter((r) => r.sampleId === samples[1]!.id).every((r) => r.error !== null)).toBe(true);
    expect(rows.filter((r) => r.sampleId !== samples[1]!.id).every((r) => r.error === null)).toBe(true);
    // failedRows: false leaves the failed sample out instead.
    const again = await collect(samples, { config, client: c, cache, imageLoader: fx.loader, failedRows: false });
    expect(again.rows.map((r) => r.sampleId)).not.toContain(samples[1]!.id);
    expect(again.rows).toHaveLength(9);
    await cache.close();
  });

  it('a request that fails after its retries (5xx, timeout) is a transient failure: reported, never silently done', async () => {
    const fx = await makeFixture(12, 21);
    const s = await sim({ faults: { server_error: 0.4 } });
    const config = TeacherConfig.parse({ model: 'sim', maxRetries: 0, concurrency: 2, breakerConsecutiveFailures: 1000, breakerFailureRate: 1 });
    const cache = await ResponseCache.open(tmp());
    const c = client(config, s.url);
    const failures: SampleFailure[] = [];
    const { rows, error } = await collect(fx.samples, { config, client: c, cache, imageLoader: fx.loader, onFailure: (f) => failures.push(f), failedRows: false });
    expect(error).toBeNull();
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((f) => f.transient && f.reason === 'server_error' && /HTTP 500/.test(f.message))).toBe(true);
    expect(new Set(rows.map((r) => r.sampleId)).size + failures.length).toBe(fx.samples.length);
    expect(rows.every((r) => r.error === null)).toBe(true);
    await cache.close();
  });
});

describe('stopping', () => {
  it('abort: in-flight answers are cached, only whole samples are emitted, then InterruptedError', async () => {
    const fx = await makeFixture(40, 9);
    const s = await sim({ latency: { distribution: 'lognormal', medianMs: 40, sigma: 0.5 } });
    const dir = tmp();
    const config = TeacherConfig.parse({ model: 'sim', nMode: 'seeds', concurrency: 4 });
    const cache = await ResponseCache.open(dir);
    const c = client(config, s.url);
    const ac = new AbortController();
    const rows: TeacherCandidate[] = [];
    let error: unknown = null;
    try {
      for await (const r of generateCandidates(fx.samples, { config, client: c, cache, imageLoader: fx.loader, signal: ac.signal })) {
        rows.push(r);
        if (rows.length === 7) ac.abort();
      }
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InterruptedError);
    expect(rows.length % 3).toBe(0);
    expect(rows.length).toBeLessThan(fx.samples.length * 3);
    checkRows(rows, fx.samples.slice(0, rows.length / 3), 3);
    const k = c.counters();
    expect(cache.size).toBe(k.answered);
    expect(s.stats().requests).toBe(totalAttempts(k.attempts));
    await cache.close();
    // The rerun pays only for what was never answered.
    s.resetStats();
    const cache2 = await ResponseCache.open(dir);
    const c2 = client(config, s.url);
    const r2 = await collect(fx.samples, { config, client: c2, cache: cache2, imageLoader: fx.loader });
    expect(r2.error).toBeNull();
    expect(c2.counters().requests).toBe(fx.samples.length * 3 - k.answered);
    expect(r2.rows.filter((r) => r.cached)).toHaveLength(k.answered);
    await cache2.close();
  });

  it('cost cap: stops new requests, emits whole samples, throws CostCapError; a higher cap continues', async () => {
    const fx = await makeFixture(30, 4);
    const s = await sim();
    const dir = tmp();
    const price = { inputPerMTok: 1000, outputPerMTok: 1000 };
    const cap = 8;
    const config = TeacherConfig.parse({ model: 'sim', concurrency: 2, price, maxCostUsd: cap });
    const cache = await ResponseCache.open(dir);
    const events: TeacherEvent[] = [];
    const c = client(config, s.url, (e) => events.push(e));
    const r = await collect(fx.samples, { config, client: c, cache, imageLoader: fx.loader });
    expect(r.error).toBeInstanceOf(CostCapError);
    expect(events.filter((e) => e.type === 'cost_cap')).toHaveLength(1);
    const k = c.counters();
    expect(k.costCapReached).toBe(true);
    expect(k.answered).toBeGreaterThan(1);
    expect(k.answered).toBeLessThan(30);
    // The cap holds (estimates are conservative; calibrated ones may miss by a little).
    expect(k.costUsd).toBeLessThanOrEqual(cap * 1.05);
    expect(k.costUsd).toBeGreaterThan(cap / 2);
    // Whole samples only, in order; every answer paid for is cached.
    checkRows(r.rows, fx.samples.slice(0, r.rows.length / 3), 3);
    expect(cache.size).toBe(k.answered);
    expect(s.stats().requests).toBe(totalAttempts(k.attempts));
    const answered = cache.size;
    await cache.close();
    const more = { ...config, maxCostUsd: 1000 };
    const cache2 = await ResponseCache.open(dir);
    const c2 = client(more, s.url);
    const r2 = await collect(fx.samples, { config: more, client: c2, cache: cache2, imageLoader: fx.loader });
    expect(r2.error).toBeNull();
    expect(c2.counters().requests).toBe(30 - answered);
    await cache2.close();
  });

  it('circuit breaker: a failing endpoint pauses the stage and ends it with TeacherUnavailableError, without burning the queue', async () => {
    const fx = await makeFixture(60, 2);
    const s = await sim({ faults: { server_error: 1 } });
    const config = TeacherConfig.parse({ model: 'sim', concurrency: 2, maxRetries: 1, breakerWindow: 10, breakerCooldownMs: 50, breakerMaxOpens: 2 });
    const cache = await ResponseCache.open(tmp());
    const events: TeacherEvent[] = [];
    const c = client(config, s.url, (e) => events.push(e));
    const r = await collect(fx.samples, { config, client: c, cache, imageLoader: fx.loader });
    expect(r.error).toBeInstanceOf(TeacherUnavailableError);
    const states = events.filter((e) => e.type === 'breaker').map((e) => (e as { state: string }).state);
    expect(states).toEqual(['open', 'half-open', 'open', 'half-open', 'failed']);
    // 10 to open it, 2 probes, and what was in flight: far from 60 requests x 2 attempts.
    expect(c.counters().requests).toBeLessThanOrEqual(16);
    expect(s.stats().requests).toBe(totalAttempts(c.counters().attempts));
    await cache.close();
  });
});

describe('an endpoint that cannot work', () => {
  it('a 400 on every call (n out of range) stops at the first answer with the provider\'s message, not after a retry storm', async () => {
    const fx = await makeFixture(20, 6);
    const s = await sim();
    const config = TeacherConfig.parse({ model: 'sim', candidates: 200, concurrency: 4 });
    const cache = await ResponseCache.open(tmp());
    const c = client(config, s.url, undefined, { OPENAI_API_KEY: 'sk-test-0123456789abcdef' });
    const r = await collect(fx.samples, { config, client: c, cache, imageLoader: fx.loader });
    expect(r.error).toBeInstanceOf(TeacherFatalError);
    expect((r.error as Error).message).toMatch(/HTTP 400/);
    expect((r.error as Error).message).toContain("Invalid 'n'");
    expect((r.error as Error).message).toContain(s.url);
    expect((r.error as Error).message).not.toContain('sk-test-0123456789abcdef');
    expect(r.rows).toHaveLength(0);
    // Only what was already in flight when the first 400 came back (slow start: one).
    expect(s.stats().requests).toBeLessThanOrEqual(4);
    await cache.close();
  });

  it('a closed port: the breaker opens after 3 refused attempts, gives up after 2 probes, and says ECONNREFUSED and where', async () => {
    const fx = await makeFixture(30, 3);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const url = `http://127.0.0.1:${port}/v1`;
    const config = TeacherConfig.parse({ model: 'sim', concurrency: 4, breakerCooldownMs: 20 });
    const cache = await ResponseCache.open(tmp());
    const events: TeacherEvent[] = [];
    const c = client(config, url, (e) => events.push(e));
    const r = await collect(fx.samples, { config, client: c, cache, imageLoader: fx.loader, failedRows: false });
    expect(r.error).toBeInstanceOf(TeacherUnavailableError);
    expect((r.error as Error).message).toMatch(/ECONNREFUSED/);
    expect((r.error as Error).message).toContain(url);
    const breaker = events.filter((e): e is Extract<TeacherEvent, { type: 'breaker' }> => e.type === 'breaker');
    expect(breaker.map((e) => e.state)).toEqual(['open', 'half-open', 'open', 'half-open', 'failed']);
    expect(breaker[0]!.reason).toMatch(/connection refused/);
    // 3 refused attempts open it, then 2 probes: the queue of 30 samples is never worked through.
    const k = c.counters();
    expect(k.attempts.connection).toBeLessThanOrEqual(3 + 2 + 4);
    expect(r.rows).toHaveLength(0);
    await cache.close();
  });
});

describe('crash: SIGKILL mid-run, then rerun', () => {
  it('never re-requests a completion that was received, and ends with the rows of an uninterrupted run', async () => {
    const SAMPLES = 16;
    const faults = { rate_limit: 0.1, server_error: 0.05 };
    const s = await sim({ faults });
    const proxy = await startProxy(s.url);
    const dir = tmp();
    const runChild = (env: Record<string, string>) =>
      new Promise<{ code: number | null; signal: string | null }>((res) => {
        const p = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'generate-child.ts')], {
          env: { ...process.env, SAMPLES: String(SAMPLES), ...env },
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        p.on('exit', (code, signal) => res({ code, signal }));
      });
    const readRows = (f: string) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as TeacherCandidate);

    const outA = join(dir, 'a.jsonl');
    const a = await runChild({ SIM_URL: proxy.url, CACHE_DIR: join(dir, 'cache'), OUT: outA, KILL_AFTER: '12' });
    expect(a.signal).toBe('SIGKILL');
    const rowsA = readRows(outA);
    expect(rowsA).toHaveLength(12);
    const cacheA = await ResponseCache.open(join(dir, 'cache'));
    const paid = new Set(cacheA.keys());
    await cacheA.close();
    for (const r of rowsA) expect(paid.has(r.requestHash)).toBe(true);
    const logA = proxy.log.splice(0);
    expect(paid.size).toBeLessThan(SAMPLES * 3);

    const outB = join(dir, 'b.jsonl');
    const b = await runChild({ SIM_URL: proxy.url, CACHE_DIR: join(dir, 'cache'), OUT: outB });
    expect(b.code).toBe(0);
    const logB = proxy.log.splice(0);
    expect(logB.length).toBeGreaterThan(0);
    expect(logB.every((e) => e.hash !== null)).toBe(true);
    // Nothing the first run had received is asked again.
    expect(logB.filter((e) => paid.has(e.hash!))).toEqual([]);
    // Every completion is bought once, except those in flight when the process died (sent, never received).
    const ok = [...logA, ...logB].filter((e) => e.status === 200).map((e) => e.hash!);
    const dup = ok.filter((h, i) => ok.indexOf(h) !== i);
    expect(dup.every((h) => !paid.has(h))).toBe(true);
    expect(dup.length).toBeLessThanOrEqual(4 * 1); // at most the concurrency in flight at the kill

    // Reference: an uninterrupted run on a fresh simulated teacher and a fresh cache.
    const ref = await sim({ faults });
    const outC = join(dir, 'c.jsonl');
    const c = await runChild({ SIM_URL: ref.url, CACHE_DIR: join(dir, 'cache-ref'), OUT: outC });
    expect(c.code).toBe(0);
    const rowsB = readRows(outB);
    const rowsC = readRows(outC);
    expect(rowsC).toHaveLength(SAMPLES * 3);
    expect(rowsB.map(content)).toEqual(rowsC.map(content));
    expect(rowsA.map(content)).toEqual(rowsC.slice(0, 12).map(content));
    await proxy.close();
  });
});
