import { afterEach, describe, expect, it, vi } from 'vitest';
import { RateLimiter, TokenBucket, parseDurationMs, readRateHeaders, retryAfterMs } from '../../src/teacher/rate-limit.js';

afterEach(() => vi.useRealTimers());

describe('TokenBucket', () => {
  it('refills at rate/60 per second up to its burst capacity', () => {
    let t = 0;
    const b = new TokenBucket(600, 2, () => t, 0); // 10/s, holds 20
    expect(b.available()).toBe(1); // never starts below one token
    t = 1000;
    expect(b.available()).toBeCloseTo(11);
    t = 60_000;
    expect(b.available()).toBe(20);
    b.take(25);
    expect(b.available()).toBe(-5);
    expect(b.waitMs(1)).toBe(600); // 6 tokens at 10/s
  });

  it('admits a request larger than the bucket once it is full, leaving a debt', () => {
    let t = 0;
    const b = new TokenBucket(60_000, 1, () => t, 1); // 1000/s, holds 1000
    expect(b.waitMs(5000)).toBe(0);
    b.take(5000);
    expect(b.waitMs(5000)).toBe(5000); // -4000 -> 1000 (full) takes 5 s
  });

  it('reconciles: refunds and extra charges, never above capacity', () => {
    let t = 0;
    const b = new TokenBucket(600, 1, () => t, 1); // holds 10
    b.take(8);
    b.adjust(5);
    expect(b.available()).toBe(7);
    b.adjust(100);
    expect(b.available()).toBe(10);
    b.adjust(-30);
    expect(b.available()).toBe(-20);
  });
});

describe('headers', () => {
  it('parses OpenAI reset durations and retry-after forms', () => {
    expect(parseDurationMs('1s')).toBe(1000);
    expect(parseDurationMs('6m0s')).toBe(360_000);
    expect(parseDurationMs('20ms')).toBe(20);
    expect(parseDurationMs('1m30.5s')).toBe(90_500);
    expect(parseDurationMs('2')).toBe(2000);
    expect(parseDurationMs('soon')).toBeNull();
    const h = (m: Record<string, string>) => (n: string) => m[n] ?? null;
    expect(retryAfterMs(h({ 'retry-after': '3' }))).toBe(3000);
    expect(retryAfterMs(h({ 'retry-after-ms': '250', 'retry-after': '3' }))).toBe(250);
    expect(retryAfterMs(h({ 'retry-after': new Date(10_000).toUTCString() }), 4000)).toBe(6000);
    expect(retryAfterMs(h({}))).toBeNull();
    const r = readRateHeaders(h({ 'x-ratelimit-limit-requests': '600', 'x-ratelimit-remaining-tokens': '123', 'x-ratelimit-reset-requests': '100ms' }));
    expect(r).toEqual({ limitRequests: 600, limitTokens: null, remainingRequests: null, remainingTokens: 123, resetRequestsMs: 100, resetTokensMs: null });
  });
});

describe('RateLimiter', () => {
  const admitTimes = async (rl: RateLimiter, n: number, tokens: number, step: number, until: number) => {
    const times: number[] = [];
    for (let i = 0; i < n; i++) void rl.acquire(tokens).then(() => times.push(Date.now()));
    for (let t = 0; t < until; t += step) await vi.advanceTimersByTimeAsync(step);
    return times;
  };

  it('paces requests at the configured rpm (with its safety margin)', async () => {
    vi.useFakeTimers({ now: 0 });
    const rl = new RateLimiter({ rpm: 60, safety: 1, burstSeconds: 1 });
    const times = await admitTimes(rl, 5, 1, 50, 6000);
    expect(times).toEqual([0, 1000, 2000, 3000, 4000]);
  });

  it('paces by tokens per minute and serves waiters in order (a big request is not starved)', async () => {
    vi.useFakeTimers({ now: 0 });
    const rl = new RateLimiter({ tpm: 6000, safety: 1, burstSeconds: 10 }); // 100 tokens/s, holds 1000
    const order: string[] = [];
    void rl.acquire(100).then(() => order.push('a'));
    void rl.acquire(900).then(() => order.push('big'));
    void rl.acquire(10).then(() => order.push('c'));
    await vi.advanceTimersByTimeAsync(20_000);
    expect(order).toEqual(['a', 'big', 'c']);
  });

  it('learns a lower limit from x-ratelimit-limit-requests and never raises the configured one', async () => {
    vi.useFakeTimers({ now: 0 });
    const rl = new RateLimiter({ rpm: 600, safety: 1 });
    rl.observe(readRateHeaders((n) => (n === 'x-ratelimit-limit-requests' ? '120' : null)));
    expect(rl.limits().rpm).toBe(120);
    rl.observe(readRateHeaders((n) => (n === 'x-ratelimit-limit-requests' ? '6000' : null)));
    expect(rl.limits().rpm).toBe(600);
    const free = new RateLimiter({});
    expect(free.limits().rpm).toBeNull();
    free.observe(readRateHeaders((n) => (n === 'x-ratelimit-limit-tokens' ? '1000' : null)));
    expect(free.limits().tpm).toBeCloseTo(980, 6); // default safety 0.98
  });

  it('empties its bucket when the server says nothing remains, and waits out retry-after on a 429', async () => {
    vi.useFakeTimers({ now: 0 });
    const rl = new RateLimiter({ rpm: 600, safety: 1, burstSeconds: 10 }); // 10/s
    await vi.advanceTimersByTimeAsync(10_000); // bucket full: 100 tokens
    const first = await rl.acquire(1);
    await rl.acquire(1); // sent after `first`, before its headers arrived
    rl.observe(readRateHeaders((n) => ({ 'x-ratelimit-remaining-requests': '1', 'x-ratelimit-reset-requests': '59s' })[n] ?? null), first);
    // The server has one left and had not yet counted our second request: next one waits ~100 ms, not 59 s.
    const t1 = await admitTimes(rl, 1, 1, 10, 1000);
    expect(t1[0]! - 10_000).toBeGreaterThanOrEqual(90);
    expect(t1[0]! - 10_000).toBeLessThanOrEqual(120);
    const start = Date.now();
    rl.pause(2000);
    expect(rl.pausedForMs()).toBe(2000);
    const t2 = await admitTimes(rl, 1, 1, 10, 3000);
    expect(t2[0]! - start).toBeGreaterThanOrEqual(2000);
  });

  it('an aborted waiter leaves the queue and rejects with the abort reason', async () => {
    vi.useFakeTimers({ now: 0 });
    const rl = new RateLimiter({ rpm: 60, safety: 1 });
    await rl.acquire(1);
    const ac = new AbortController();
    const p = rl.acquire(1, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });
});
