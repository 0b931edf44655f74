import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffMs, classifyStatus, isRetryable, outcomeOfStatus } from '../../src/teacher/backoff.js';
import { CircuitBreaker, type BreakerState } from '../../src/teacher/breaker.js';
import { AdaptiveLimiter } from '../../src/teacher/concurrency.js';
import { TeacherUnavailableError } from '../../src/teacher/errors.js';

afterEach(() => vi.useRealTimers());

describe('retry classification and backoff', () => {
  it('retries 429, 5xx, 408, 409; fails one request on 413/422 or a 400 about its content; stops on 400/401/403/404', () => {
    expect([429, 500, 502, 503, 408, 409].map(outcomeOfStatus).every(isRetryable)).toBe(true);
    expect(outcomeOfStatus(413)).toBe('client_error');
    expect(outcomeOfStatus(422)).toBe('client_error');
    expect([400, 401, 403, 404].map(outcomeOfStatus)).toEqual(['fatal', 'fatal', 'fatal', 'fatal']);
    expect(classifyStatus(400, null, { code: 'invalid_value', param: 'n' })).toBe('fatal');
    expect(classifyStatus(400, null, { code: 'invalid_image_format' })).toBe('client_error');
    expect(classifyStatus(400, null, { code: 'context_length_exceeded' })).toBe('client_error');
    expect(classifyStatus(401, null, { code: 'invalid_image_format' })).toBe('fatal');
    expect(classifyStatus(429, 'false')).toBe('client_error');
    expect(classifyStatus(400, 'true')).toBe('server_error');
    expect(classifyStatus(401, 'true')).toBe('fatal');
  });

  it('grows exponentially with jitter inside [exp/2, exp], capped; retry-after is a floor', () => {
    const lo = () => 0;
    const hi = () => 0.999999;
    for (let r = 0; r < 8; r++) {
      const exp = Math.min(30_000, 500 * 2 ** r);
      expect(backoffMs(r, null, { random: lo })).toBe(exp / 2);
      expect(backoffMs(r, null, { random: hi })).toBeLessThanOrEqual(exp);
    }
    expect(backoffMs(20, null, { random: hi })).toBeLessThanOrEqual(30_000);
    expect(backoffMs(0, 4000, { random: lo })).toBe(4000);
    expect(backoffMs(0, 4000, { random: hi })).toBeLessThanOrEqual(4400);
  });
});

describe('AdaptiveLimiter (AIMD)', () => {
  it('halves on a 429 (once per cooldown), adds one per `limit` successes, stays within [1, max]', () => {
    let t = 0;
    const l = new AdaptiveLimiter(16, 1000, () => t);
    expect(l.onRateLimited()).toBe(true);
    expect(l.limit).toBe(8);
    expect(l.onRateLimited()).toBe(false); // same storm
    t = 2000;
    l.onRateLimited();
    l.onRateLimited();
    expect(l.limit).toBe(4);
    for (let i = 0; i < 4; i++) l.onSuccess();
    expect(l.limit).toBe(5);
    for (let i = 0; i < 200; i++) l.onSuccess();
    expect(l.limit).toBe(16);
    for (let i = 0; i < 10; i++) {
      t += 5000;
      l.onRateLimited();
    }
    expect(l.limit).toBe(1);
  });

  it('slow start: from 1, +1 per success (doubling per round trip) until the max or the first 429', () => {
    let t = 0;
    const l = new AdaptiveLimiter(32, 1000, () => t, 1);
    expect(l.limit).toBe(1);
    l.onSuccess();
    expect(l.limit).toBe(2);
    for (let i = 0; i < 2; i++) l.onSuccess();
    expect(l.limit).toBe(4);
    for (let i = 0; i < 4; i++) l.onSuccess();
    expect(l.limit).toBe(8);
    l.onRateLimited();
    expect(l.limit).toBe(4);
    for (let i = 0; i < 4; i++) l.onSuccess(); // congestion avoidance now: +1 per `limit` successes
    expect(l.limit).toBe(5);
    const fast = new AdaptiveLimiter(4, 1000, () => t, 1);
    for (let i = 0; i < 10; i++) fast.onSuccess();
    expect(fast.limit).toBe(4);
  });

  it('admits waiters up to the limit and more as the limit grows', async () => {
    const l = new AdaptiveLimiter(2, 0);
    l.onRateLimited(); // 1
    let admitted = 0;
    const ps = [0, 1, 2].map(() => l.acquire().then(() => admitted++));
    await Promise.resolve();
    expect(admitted).toBe(1);
    l.onSuccess(); // limit 2
    await Promise.resolve();
    expect(admitted).toBe(2);
    l.release();
    await Promise.all(ps);
    expect(admitted).toBe(3);
    expect(l.inFlight).toBe(2);
  });
});

describe('CircuitBreaker', () => {
  it('opens on a sustained failure rate, lets one probe through after the cooldown, closes on success', async () => {
    vi.useFakeTimers({ now: 0 });
    const states: BreakerState[] = [];
    const b = new CircuitBreaker({ window: 10, failureRate: 0.5, cooldownMs: 1000, maxOpens: 3, consecutiveFailures: 100, onChange: (s) => states.push(s) });
    for (let i = 0; i < 5; i++) b.record(true);
    for (let i = 0; i < 5; i++) b.record(false);
    expect(b.state).toBe('closed'); // 50% is not above 50%
    b.record(false);
    expect(b.state).toBe('open');
    let passed = 0;
    const probes: boolean[] = [];
    const gates = [0, 1, 2].map(() => b.gate().then((p) => (passed++, probes.push(p))));
    await vi.advanceTimersByTimeAsync(900);
    expect(passed).toBe(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(passed).toBe(1);
    expect(probes).toEqual([true]);
    b.record(true, true);
    await Promise.all(gates);
    expect(passed).toBe(3);
    expect(states).toEqual(['open', 'half-open', 'closed']);
  });

  it('gives up with TeacherUnavailableError after maxOpens failed probes, doubling the cooldown', async () => {
    vi.useFakeTimers({ now: 0 });
    const b = new CircuitBreaker({ window: 10, failureRate: 0.5, cooldownMs: 1000, maxOpens: 2, minCalls: 4 });
    for (let i = 0; i < 4; i++) b.record(false);
    expect(b.state).toBe('open');
    const p1 = b.gate();
    await vi.advanceTimersByTimeAsync(1000);
    expect(await p1).toBe(true);
    b.record(false, true); // reopen, cooldown 2000
    const p2 = b.gate();
    let got = false;
    void p2.then(() => (got = true));
    await vi.advanceTimersByTimeAsync(1500);
    expect(got).toBe(false);
    await vi.advanceTimersByTimeAsync(600);
    expect(await p2).toBe(true);
    const waiter = b.gate();
    b.record(false, true); // third open > maxOpens
    await expect(waiter).rejects.toBeInstanceOf(TeacherUnavailableError);
    await expect(b.gate()).rejects.toBeInstanceOf(TeacherUnavailableError);
    expect(b.state).toBe('failed');
  });

  it('opens at once on failed attempts in a row: 3 while the endpoint never answered, consecutiveFailures once it has', () => {
    const dead = new CircuitBreaker({ window: 50, failureRate: 0.5, cooldownMs: 1000, maxOpens: 8, consecutiveFailures: 5 });
    for (let i = 0; i < 2; i++) dead.record(false, false, { why: 'connection refused (connect ECONNREFUSED 127.0.0.1:9)' });
    expect(dead.state).toBe('closed');
    dead.record(false, false, { why: 'connection refused (connect ECONNREFUSED 127.0.0.1:9)' });
    expect(dead.state).toBe('open');
    dead.close();
    const live = new CircuitBreaker({ window: 50, failureRate: 0.5, cooldownMs: 1000, maxOpens: 8, consecutiveFailures: 5 });
    for (let i = 0; i < 20; i++) live.record(true);
    for (let i = 0; i < 4; i++) live.record(false, false, { why: 'HTTP 503', reached: true });
    expect(live.state).toBe('closed');
    live.record(false, false, { why: 'HTTP 503', reached: true });
    expect(live.state).toBe('open');
    live.close();
  });

  it('gives up on an endpoint that never answered after 2 probes, naming the last failure and the endpoint', async () => {
    vi.useFakeTimers({ now: 0 });
    const why = 'connection refused (connect ECONNREFUSED 127.0.0.1:9)';
    const b = new CircuitBreaker({ window: 50, failureRate: 0.5, cooldownMs: 1000, maxOpens: 8, endpoint: 'http://127.0.0.1:9/v1' });
    for (let i = 0; i < 3; i++) b.record(false, false, { why });
    for (let probe = 0; probe < 2; probe++) {
      const p = b.gate();
      await vi.advanceTimersByTimeAsync(1000 * 2 ** probe);
      expect(await p).toBe(true);
      b.record(false, true, { why });
    }
    expect(b.state).toBe('failed');
    const err = await b.gate().catch((e) => e);
    expect(err).toBeInstanceOf(TeacherUnavailableError);
    expect((err as Error).message).toContain('ECONNREFUSED');
    expect((err as Error).message).toContain('http://127.0.0.1:9/v1');
    expect((err as Error).message).toContain('never answered');
  });

  it('a retry sleeping through its backoff wakes when the breaker opens, to wait for the probe instead', async () => {
    vi.useFakeTimers({ now: 0 });
    const b = new CircuitBreaker({ window: 50, failureRate: 0.5, cooldownMs: 1000, maxOpens: 8 });
    let woke = false;
    const sleeping = b.backoff(30_000).then(() => (woke = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(woke).toBe(false);
    for (let i = 0; i < 3; i++) b.record(false);
    await sleeping;
    expect(woke).toBe(true);
    expect(b.state).toBe('open');
    b.close();
  });
});
