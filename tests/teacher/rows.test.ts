import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TeacherConfig } from '../../src/schema/config.js';
import { TeacherCandidate } from '../../src/schema/records.js';
import { rowsFromResponse, splitInteger } from '../../src/stages/generate.js';
import type { CachedResponse } from '../../src/teacher/cache.js';
import { planRequests } from '../../src/teacher/request.js';
import { makeFixture } from './fixtures/samples.js';

describe('splitInteger', () => {
  it('splits into non-negative integers that sum to the total, proportional within one unit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 8 }), (total, w) => {
        const parts = splitInteger(total, w);
        expect(parts.reduce((a, b) => a + b, 0)).toBe(total);
        const sum = w.reduce((a, b) => a + b, 0);
        parts.forEach((p, i) => {
          expect(Number.isInteger(p) && p >= 0).toBe(true);
          const exact = sum > 0 ? (total * w[i]!) / sum : total / w.length;
          expect(Math.abs(p - exact)).toBeLessThan(1);
        });
      }),
    );
  });
});

describe('rowsFromResponse', () => {
  it('turns n choices into candidates, shares usage and cost, records missing choices as failed rows', async () => {
    const { samples } = await makeFixture(1);
    const config = TeacherConfig.parse({ model: 'm', candidates: 4 });
    const plan = planRequests(samples[0]!, config)[0]!;
    const value: CachedResponse = {
      format: 1,
      requestModel: 'm',
      promptVersion: plan.promptVersion,
      params: plan.canonical.params,
      response: {
        choices: [
          { index: 2, message: { content: null }, finish_reason: 'content_filter' },
          { index: 0, message: { content: 'aaaa' }, finish_reason: 'stop' },
          { index: 1, message: { content: [{ type: 'text', text: 'bb' }, { type: 'text', text: 'bbbbbb' }] }, finish_reason: 'length' },
        ],
      },
      usage: { promptTokens: 1001, completionTokens: 12 },
      costUsd: 0.3,
      latencyMs: 50,
      attempts: 2,
      createdAt: 'x',
    };
    const rows = rowsFromResponse({ sample: samples[0]!, plan, config }, value, { cached: true, attempts: 0 });
    expect(rows.map((r) => r.candidateIndex)).toEqual([0, 1, 2, 3]);
    expect(rows.map((r) => r.completion)).toEqual(['aaaa', 'bbbbbbbb', '', null]);
    expect(rows.map((r) => r.finishReason)).toEqual(['stop', 'length', 'content_filter', null]);
    expect(rows[3]!.error).toMatch(/missing_choice: the server returned 3 of 4 choices/);
    expect(rows.slice(0, 3).reduce((a, r) => a + r.promptTokens!, 0)).toBe(1001);
    expect(rows.slice(0, 3).map((r) => r.completionTokens)).toEqual([4, 8, 0]);
    expect(rows.reduce((a, r) => a + r.costUsd, 0)).toBeCloseTo(0.3, 12);
    expect(rows.every((r) => r.cached && r.attempts === 0 && r.requestHash === plan.hash)).toBe(true);
    for (const r of rows) expect(TeacherCandidate.safeParse(r).success).toBe(true);
  });
});
