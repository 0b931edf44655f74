/**
 * What teacher clients in different processes share through a real Redis (started on a free port):
 * one rate budget, request claims, the circuit breaker. Each "worker" here is its own teacher client,
 * response cache and Redis connection, as a worker process has; the simulated teacher counts what it saw.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBreakerPeers, RedisRequestClaims, redisCoordination } from '../../src/queue/coordination.js';
import { TeacherConfig } from '../../src/schema/config.js';
import { ResponseCache } from '../../src/teacher/cache.js';
import { cachedCall } from '../../src/teacher/cached-call.js';
import { CircuitBreaker } from '../../src/teacher/breaker.js';
import { TeacherClient, type ChatBody } from '../../src/teacher/client.js';
import type { PeerBreakerState, TeacherCoordination } from '../../src/teacher/shared.js';
import { startSimTeacher, type SimTeacher } from '../../src/teacher/sim/index.js';
import { startRedis, type TestRedis } from './redis-server.js';

let redis: TestRedis;
const conns: Redis[] = [];
const dirs: string[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const c of conns) c.disconnect();
  await redis.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function connect(): Redis {
  const r = new Redis(redis.url, { maxRetriesPerRequest: null });
  r.on('error', () => {});
  conns.push(r);
  return r;
}

const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'univg-coord-'));
  dirs.push(d);
  return d;
};

const body = (text: string): ChatBody => ({ model: 'univg-sim', messages: [{ role: 'user', content: [{ type: 'text', text }] }], temperature: 0, max_tokens: 64 });

async function withSim<T>(opts: Parameters<typeof startSimTeacher>[0], fn: (sim: SimTeacher, okAt: number[]) => Promise<T>): Promise<T> {
  const okAt: number[] = [];
  const sim = await startSimTeacher({ port: 0, seed: 1, ...opts }, { onRequest: (e) => e.outcome === 'ok' && e.path.endsWith('/chat/completions') && okAt.push(Date.now()) });
  try {
    return await fn(sim, okAt);
  } finally {
    await sim.close();
  }
}

interface Worker {
  client: TeacherClient;
  cache: ResponseCache;
}

async function worker(sim: SimTeacher, config: TeacherConfig, cacheDir: string, coordination?: TeacherCoordination): Promise<Worker> {
  const client = new TeacherClient({ config, baseUrl: sim.url, env: { OPENAI_API_KEY: 'sk-test-key-0000' }, backoff: { baseMs: 10, capMs: 100 }, ...(coordination ? { coordination } : {}) });
  return { client, cache: await ResponseCache.open(cacheDir) };
}

function ask(w: Worker, text: string) {
  return cachedCall({ client: w.client, cache: w.cache, hash: createHash('sha256').update(text).digest('hex'), requestModel: 'univg-sim', promptVersion: 'v1', params: {}, body: () => body(text), rawPromptTokens: 10, choices: 1 });
}

/** Most requests the server answered in any window of `ms` (each window starting at a request). */
function maxInWindow(at: number[], ms: number): number {
  const t = [...at].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0; i < t.length; i++) {
    let j = i;
    while (j < t.length && t[j]! - t[i]! < ms) j++;
    most = Math.max(most, j - i);
  }
  return most;
}

describe('one rate budget for every worker', () => {
  // 600 requests/min: 9.8/s after the 0.98 safety margin; the shared budget holds at most 1 s of it.
  const RPM = 600;
  const rate = (RPM * 0.98) / 60;
  const WINDOW = 2000;
  // What the budget can let through in a window: the 1 s it holds, plus the window's refill, plus one for rounding.
  const bound = Math.floor(rate + (WINDOW / 1000) * rate) + 1;

  async function fleet(shared: boolean) {
    return withSim({ rpm: RPM }, async (sim, okAt) => {
      const config = TeacherConfig.parse({ model: 'univg-sim', rpm: RPM, concurrency: 16 });
      const scope = `rate-${shared}-${Date.now()}`;
      const workers = await Promise.all(
        [0, 1, 2].map(() => worker(sim, config, tmp(), shared ? redisCoordination(connect(), scope, { rpm: RPM }).coordination : undefined)),
      );
      await Promise.all(workers.flatMap((w, i) => Array.from({ length: 20 }, (_, k) => ask(w, `w${i}-q${k}`))));
      for (const w of workers) {
        w.client.close();
        await w.cache.close();
      }
      return { okAt, stats: sim.stats() };
    });
  }

  it('3 workers sharing the Redis budget together stay within one configured requests/min (counted by the server)', async () => {
    const { okAt, stats } = await fleet(true);
    expect(okAt).toHaveLength(60);
    expect(stats.byOutcome.rate_limited).toBe(0);
    expect(maxInWindow(okAt, WINDOW)).toBeLessThanOrEqual(bound);
  });

  it('(control) 3 workers each with its own budget send three times as much: the counts above would catch it', async () => {
    const { okAt } = await fleet(false);
    expect(okAt).toHaveLength(60);
    expect(maxInWindow(okAt, WINDOW)).toBeGreaterThan(bound);
  });
});

describe("what one worker learns holds back every worker", () => {
  const headers = { limitRequests: null, limitTokens: null, remainingRequests: null, remainingTokens: null, resetRequestsMs: null, resetTokensMs: null };

  /** A worker's budget, with its connection: a PING answered after a call means Redis ran that call. */
  function budget(scope: string) {
    const conn = connect();
    return { conn, rate: redisCoordination(conn, scope, { rpm: 600 }).coordination.rate! };
  }

  /** Whether acquire is still waiting after `ms` (it is given up then). */
  async function blocked(rate: NonNullable<TeacherCoordination['rate']>, ms: number): Promise<boolean> {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(new Error('gave up')), ms);
    try {
      await rate.acquire(1, ac.signal);
      return false;
    } catch {
      return true;
    } finally {
      clearTimeout(t);
    }
  }

  it("a 429's retry-after one worker got pauses the others; a budget of another endpoint is not touched", async () => {
    const scope = `pause-${Date.now()}`;
    const a = budget(scope);
    const b = budget(scope);
    const other = budget(`${scope}-other`);
    a.rate.pause(60_000);
    await a.conn.ping();
    expect(await blocked(b.rate, 400)).toBe(true);
    expect(await blocked(other.rate, 400)).toBe(false);
  });

  it('the limit and remaining count from one worker\'s response headers are every worker\'s', async () => {
    const scope = `headers-${Date.now()}`;
    const a = budget(scope);
    const b = budget(scope);
    const r = await a.rate.acquire(1);
    a.rate.observe({ ...headers, limitRequests: 60, remainingRequests: 0 }, r);
    await a.conn.ping();
    expect(await blocked(b.rate, 400)).toBe(true);
    expect(b.rate.learnedLimits().rpm).toBe(60);
    expect(b.rate.limits().rpm).toBeCloseTo(60 * 0.98, 6);
  });
});

describe('no request paid twice', () => {
  it('two workers asking for the same key at once send one request; the other gets the cached answer', async () => {
    await withSim({ latencyMs: 200 }, async (sim) => {
      const config = TeacherConfig.parse({ model: 'univg-sim' });
      const cacheDir = tmp();
      const scope = `claims-${Date.now()}`;
      const a = await worker(sim, config, cacheDir, redisCoordination(connect(), scope, {}).coordination);
      const b = await worker(sim, config, cacheDir, redisCoordination(connect(), scope, {}).coordination);
      const [ra, rb] = await Promise.all([ask(a, 'same question'), ask(b, 'same question')]);
      expect(sim.stats().byOutcome.ok).toBe(1);
      expect([ra.cached, rb.cached].sort()).toEqual([false, true]);
      expect(JSON.stringify(ra.value.response)).toBe(JSON.stringify(rb.value.response));
      for (const w of [a, b]) {
        w.client.close();
        await w.cache.close();
      }
    });
  });

  it('(control) without claims the same two workers pay twice', async () => {
    await withSim({ latencyMs: 200 }, async (sim) => {
      const config = TeacherConfig.parse({ model: 'univg-sim' });
      const cacheDir = tmp();
      const a = await worker(sim, config, cacheDir);
      const b = await worker(sim, config, cacheDir);
      await Promise.all([ask(a, 'same question'), ask(b, 'same question')]);
      expect(sim.stats().byOutcome.ok).toBe(2);
      for (const w of [a, b]) {
        w.client.close();
        await w.cache.close();
      }
    });
  });

  it("a dead holder's claim lapses, so a waiting worker is not stuck; a live holder's claim is renewed", async () => {
    const dying = connect();
    const key = `k-${Date.now()}`;
    const held = await new RedisRequestClaims(dying, 'claims-test:', 300).claim(key);
    expect(held).not.toBeNull();
    const other = new RedisRequestClaims(connect(), 'claims-test:', 300, 20);
    expect(await other.claim(key)).toBeNull();
    // Renewed every 100 ms while its process lives: still held after twice its expiry.
    await new Promise((r) => setTimeout(r, 600));
    expect(await other.claim(key)).toBeNull();
    dying.disconnect();
    await other.waitReleased(key);
    const mine = await other.claim(key);
    expect(mine).not.toBeNull();
    await mine!.release();
    expect(await connect().exists(`claims-test:${key}`)).toBe(0);
  });
});

describe('one circuit breaker', () => {
  it('a breaker that opens in one worker opens in the others', async () => {
    const peers: RedisBreakerPeers[] = [];
    const make = () => {
      const p = new RedisBreakerPeers(connect(), 'breaker-int:');
      peers.push(p);
      return new CircuitBreaker({ window: 10, failureRate: 0.5, cooldownMs: 60_000, maxOpens: 3, minCalls: 4, peers: p });
    };
    const a = make();
    const b = make();
    await new Promise((r) => setTimeout(r, 100)); // subscriptions reach Redis
    for (let i = 0; i < 4; i++) a.record(false, false, { reached: true, why: 'server_error (HTTP 500)' });
    expect(a.state).toBe('open');
    for (let i = 0; i < 100 && b.state !== 'open'; i++) await new Promise((r) => setTimeout(r, 20));
    expect(b.state).toBe('open');
    expect(b.lastFailure).toContain('HTTP 500');
    a.close();
    b.close();
    for (const p of peers) p.close();
  });

  it("tells the other workers (not itself) when it opens, and lets one probe at a time through", async () => {
    const a = new RedisBreakerPeers(connect(), 'breaker-test:');
    const b = new RedisBreakerPeers(connect(), 'breaker-test:');
    const seenByB: PeerBreakerState[] = [];
    const seenByA: PeerBreakerState[] = [];
    b.subscribe((s) => seenByB.push(s));
    a.subscribe((s) => seenByA.push(s));
    await new Promise((r) => setTimeout(r, 100)); // subscriptions reach Redis
    a.publish({ state: 'open', cooldownMs: 5000, opens: 1, reason: '503 from the endpoint' });
    for (let i = 0; i < 100 && seenByB.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(seenByB).toEqual([{ state: 'open', cooldownMs: 5000, opens: 1, reason: '503 from the endpoint' }]);
    expect(seenByA).toEqual([]);
    const probes = await Promise.all([a.claimProbe(5000), b.claimProbe(5000)]);
    expect(probes.filter(Boolean)).toHaveLength(1);
    a.close();
    b.close();
  });
});
