import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { parseHint, toConvention, fromConvention } from '../../../src/teacher/sim/boxes.js';
import { contentFault, transportFault } from '../../../src/teacher/sim/faults.js';
import { parseFaultSpec, resolveOptions } from '../../../src/teacher/sim/options.js';
import { RateLimiter, TokenBucket, formatResetDuration } from '../../../src/teacher/sim/rate-limit.js';
import { ApiError, parseChatRequest } from '../../../src/teacher/sim/request.js';
import { countTokens, firstTokens, imageTokens } from '../../../src/teacher/sim/tokens.js';

describe('rate-limit buckets', () => {
  it('formats reset durations as OpenAI does', () => {
    expect(formatResetDuration(20)).toBe('20ms');
    expect(formatResetDuration(1000)).toBe('1s');
    expect(formatResetDuration(8640)).toBe('8.64s');
    expect(formatResetDuration(360_000)).toBe('6m0s');
    expect(formatResetDuration(3_723_000)).toBe('1h2m3s');
    expect(formatResetDuration(0)).toBe('0s');
  });

  it('refills continuously at limit/60 per second', () => {
    const b = new TokenBucket(60, 0);
    for (let i = 0; i < 60; i++) b.take(1, 0);
    expect(b.remaining(0)).toBe(0);
    expect(b.waitMs(1, 0)).toBe(1000);
    expect(b.remaining(2500)).toBe(2);
    expect(b.resetMs(2500)).toBeCloseTo(57_500);
    expect(b.waitMs(61, 2500)).toBe(Infinity);
  });

  it('admits only when both buckets hold enough, and charges nothing on refusal', () => {
    const r = new RateLimiter(10, 1000, 0);
    expect(r.admit(600, 0).ok).toBe(true);
    const no = r.admit(600, 0);
    expect(no).toMatchObject({ ok: false, kind: 'tokens' });
    expect(no.retryAfterMs).toBeCloseTo(12_000);
    expect(no.headers['x-ratelimit-remaining-requests']).toBe('9');
    expect(r.admit(400, 0).ok).toBe(true);
  });
});

describe('hint and box conventions', () => {
  it('reads the UniVG-R1 hint sentence in its forms', () => {
    expect(parseHint('The ground truth coordinates answer are (12,340),(560,999). Now')).toEqual({ text: '(12,340),(560,999)', values: [12, 340, 560, 999] });
    expect(parseHint('The ground truth coordinates answer are <|box_start|>(1, 2), (3, 4)<|box_end|>')!.text).toBe('(1,2),(3,4)');
    expect(parseHint('ground truth coordinates answer are [0.1, 0.2, 0.5, 0.6]')!.values).toEqual([0.1, 0.2, 0.5, 0.6]);
    expect(parseHint('For the object marked with red bounding box(<|box_start|>(139,305),(495,743)<|box_end|>)')).toBeNull();
  });

  it('round-trips boxes through each convention against the received image size', () => {
    const ctx = (convention: 'qwen2vl' | 'qwen25vl' | 'norm') => ({ convention, minPixels: 3136, maxPixels: 401408 });
    const box: [number, number, number, number] = [50, 30, 250, 130];
    expect(toConvention(box, 500, 300, ctx('qwen2vl'))).toEqual([100, 100, 500, 433]);
    expect(toConvention(box, 500, 300, ctx('norm'))).toEqual([0.1, 0.1, 0.5, 130 / 300]);
    // 500x300 smart-resizes to 504x308.
    expect(toConvention(box, 500, 300, ctx('qwen25vl'))).toEqual([50, 31, 252, 133]);
    expect(fromConvention([0.1, 0.1, 0.5, 0.5], 500, 300, ctx('norm'))).toEqual([50, 30, 250, 150]);
  });
});

describe('tokens', () => {
  it('counts words, digits and punctuation, and cuts at a token boundary', () => {
    expect(countTokens('(12,340)')).toBe(8);
    expect(countTokens('The target is')).toBe(3);
    expect(countTokens('extraordinarily')).toBe(3);
    const t = '<think>In the first image, I see a red circle.</think>';
    expect(countTokens(firstTokens(t, 5))).toBe(5);
    expect(t.startsWith(firstTokens(t, 5))).toBe(true);
    expect(firstTokens(t, 1000)).toBe(t);
  });

  it('counts image tokens per 28x28 patch of the smart-resized image', () => {
    const budget = { minPixels: 3136, maxPixels: 401408 };
    expect(imageTokens(448, 448, budget)).toBe(258);
    expect(imageTokens(500, 300, budget)).toBe(18 * 11 + 2);
    // Larger than the budget: resized down first.
    expect(imageTokens(2000, 2000, budget)).toBeLessThanOrEqual(401408 / 784 + 2);
  });
});

describe('faults and options', () => {
  it('decides faults from (seed, body, attempt) alone', () => {
    const rates = { server_error: 0.3, reset: 0.3 };
    const seq = (seed: number) => Array.from({ length: 40 }, (_, a) => transportFault(seed, 'abc', a + 1, rates));
    expect(seq(1)).toEqual(seq(1));
    expect(seq(1)).not.toEqual(seq(2));
    const counts = seq(1).reduce<Record<string, number>>((m, f) => ((m[f ?? 'none'] = (m[f ?? 'none'] ?? 0) + 1), m), {});
    expect(Object.keys(counts).sort()).toEqual(['none', 'reset', 'server_error']);
    expect(contentFault(1, 'abc', 1, 0, { refusal: 1 })).toBe('refusal');
    expect(contentFault(1, 'abc', 1, 0, {})).toBeNull();
  });

  it('validates options with errors that name the field', () => {
    expect(() => resolveOptions({ faults: { hang: 2 } })).toThrow(ConfigError);
    expect(() => resolveOptions({ faults: { hang: 2 } })).toThrow(/faults\.hang/);
    expect(() => resolveOptions({ faults: { meteor: 0.1 } as never })).toThrow(/faults/);
    expect(() => resolveOptions({ minPixels: 1000, maxPixels: 10 })).toThrow(/minPixels/);
    expect(resolveOptions({}).convention).toBe('qwen2vl');
    expect(parseFaultSpec('rate_limit=0.25')).toEqual(['rate_limit', 0.25]);
    expect(() => parseFaultSpec('rate_limit')).toThrow(/name=rate/);
  });

  it('parses requests and names the offending part', () => {
    const ok = parseChatRequest({ model: 'm', messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: [{ type: 'text', text: 'q' }] }], n: 2, max_completion_tokens: 50, seed: 4 });
    expect(ok).toMatchObject({ n: 2, maxTokens: 50, seed: 4, texts: ['sys', 'q'], temperature: 1 });
    const err = (body: unknown) => {
      try {
        parseChatRequest(body);
      } catch (e) {
        return e as ApiError;
      }
      throw new Error('expected an ApiError');
    };
    expect(err({ messages: [] }).message).toMatch(/model/);
    expect(err({ model: 'm', messages: [] }).param).toBe('messages');
    expect(err({ model: 'm', messages: [{ role: 'robot', content: 'x' }] }).param).toBe('messages[0].role');
    expect(err({ model: 'm', messages: [{ role: 'user', content: [{ type: 'audio' }] }] }).param).toBe('messages[0].content[0].type');
    expect(err({ model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: 3 }).param).toBe('temperature');
    expect(err({ model: 'm', messages: [{ role: 'user', content: 'x' }], stream: true }).message).toMatch(/stream/);
  });
});

describe('latency', () => {
  it('is fixed, or lognormal around its median with a right tail', async () => {
    const { sampleLatencyMs } = await import('../../../src/teacher/sim/server.js');
    const { Rng } = await import('../../../src/teacher/sim/rng.js');
    expect(sampleLatencyMs({ distribution: 'fixed', medianMs: 120, sigma: 0 }, new Rng(1))).toBe(120);
    const xs = Array.from({ length: 2000 }, (_, i) => sampleLatencyMs({ distribution: 'lognormal', medianMs: 200, sigma: 0.5 }, new Rng('l', i))).sort((a, b) => a - b);
    const median = xs[1000]!;
    expect(median).toBeGreaterThan(180);
    expect(median).toBeLessThan(220);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean).toBeGreaterThan(median);
    expect(xs.every((x) => x > 0)).toBe(true);
  });
});

describe('pipeline config and the simulated teacher agree on fault names', () => {
  it('every configurable fault is one the server injects, and vice versa', async () => {
    const { SIM_FAULTS } = await import('../../../src/schema/config.js');
    const { SIM_FAULT_NAMES } = await import('../../../src/teacher/sim/index.js');
    expect([...SIM_FAULTS].sort()).toEqual([...SIM_FAULT_NAMES].sort());
  });
});
