import { describe, expect, it } from 'vitest';
import { smartResize } from '../../src/geometry/index.js';
import { TeacherConfig } from '../../src/schema/config.js';
import { CostTracker, costOf, estimateRun } from '../../src/teacher/cost.js';
import { planRequests } from '../../src/teacher/request.js';
import { TokenEstimator, openaiImageTokens, qwenImageTokens, textTokens } from '../../src/teacher/tokens.js';
import { makeFixture } from './fixtures/samples.js';

describe('token estimates', () => {
  it('counts Qwen image tokens from the resized size and OpenAI tiles from the detail rules', () => {
    expect(qwenImageTokens(644, 476)).toBe(23 * 17 + 2);
    expect(openaiImageTokens(1024, 1024)).toBe(765); // OpenAI's documented example
    expect(openaiImageTokens(2048, 4096)).toBe(1105); // 768x1536 -> 2x3 tiles
    expect(textTokens('abcdefgh')).toBe(2);
    expect(textTokens('图像')).toBe(2);
  });

  it('calibrates the prompt ratio and completion length from usage', () => {
    const e = new TokenEstimator('qwen', 500, 1024);
    expect(e.completion(3)).toBe(1500);
    for (let i = 0; i < 30; i++) e.observe(1000, { promptTokens: 1200, completionTokens: 600 }, 3);
    expect(e.prompt(1000)).toBeGreaterThan(1190);
    expect(e.prompt(1000)).toBeLessThan(1210);
    expect(e.completion(3)).toBeGreaterThan(590);
    expect(e.completion(3)).toBeLessThan(620);
  });
});

describe('cost', () => {
  const price = { inputPerMTok: 2, outputPerMTok: 8 };

  it('prices usage per million tokens', () => {
    expect(costOf({ promptTokens: 1_000_000, completionTokens: 500_000 }, price)).toBe(6);
    expect(costOf({ promptTokens: 10, completionTokens: 10 }, undefined)).toBe(0);
  });

  it('admits under the cap, makes a request wait while requests in flight may free room, refuses once reached', async () => {
    const t = new CostTracker(price, 1);
    expect(await t.admit(0.4)).toBe(true);
    expect(await t.admit(0.4)).toBe(true);
    let third: boolean | null = null;
    const p = t.admit(0.4).then((v) => (third = v));
    await Promise.resolve();
    expect(third).toBeNull(); // 0.8 reserved + 0.4 > 1: waits
    t.settle(0.4, 0.1); // real cost below the estimate: room again
    await p;
    expect(third).toBe(true);
    t.settle(0.4, 0.3);
    t.settle(0.4, 0.35);
    expect(t.spentUsd).toBeCloseTo(0.75);
    expect(await t.admit(0.3)).toBe(false); // nothing in flight, 0.75 + 0.3 > 1
    expect(t.capReached).toBe(true);
    expect(await t.admit(0.01)).toBe(false); // stays reached for the run
    expect(await new CostTracker(price, undefined).admit(1e9)).toBe(true);
  });

  it('a waiting admission rejects when its signal aborts', async () => {
    const t = new CostTracker(price, 1);
    await t.admit(0.9);
    const ac = new AbortController();
    const p = t.admit(0.5, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });

  it('projects the total from progress', () => {
    const t = new CostTracker(price, undefined);
    t.settle(0, 2);
    expect(t.project(10, 100)).toBe(20);
    expect(t.project(0, 100)).toBeNull();
    expect(t.project(10, undefined)).toBeNull();
  });

  it('estimates a run from a sample without images or calls, and counts cached requests as free', async () => {
    const { samples } = await makeFixture(6);
    const config = TeacherConfig.parse({ model: 'm', price, rpm: 60, expectedCompletionTokens: 300, concurrency: 4 });
    const est = estimateRun(samples, config, { totalSamples: 60, latencyMs: 8000 });
    let prompt = 0;
    for (const s of samples) {
      const plan = planRequests(s, config)[0]!;
      prompt += textTokens(plan.promptText) + 8;
      for (const im of s.images) {
        const r = smartResize(im.width, im.height, config);
        prompt += Math.ceil(r.width / 28) * Math.ceil(r.height / 28) + 2;
      }
    }
    expect(est.requests).toBe(60);
    expect(est.promptTokens).toBe(prompt * 10);
    expect(est.completionTokens).toBe(60 * 3 * 300);
    expect(est.costUsd).toBeCloseTo((prompt * 10 * 2 + 60 * 900 * 8) / 1e6, 9);
    // The Batch API: half the price by default, or its own price table when given.
    expect(est.batchCostUsd).toBeCloseTo(est.costUsd! / 2, 12);
    const own = TeacherConfig.parse({ model: 'm', price, batch: { price: { inputPerMTok: 1, outputPerMTok: 1 } }, expectedCompletionTokens: 300 });
    expect(estimateRun(samples, own, { totalSamples: 60 }).batchCostUsd).toBeCloseTo((prompt * 10 + 60 * 900) / 1e6, 9);
    expect(estimateRun(samples, TeacherConfig.parse({ model: 'm' })).batchCostUsd).toBeNull();
    // 60 requests at 60 rpm = 1 minute; 60 x 8 s / 4 concurrent = 2 minutes: concurrency is the bottleneck.
    expect(est.minutes).toBeCloseTo(2);
    expect(est.bottleneck).toBe('concurrency');
    const firstHash = planRequests(samples[0]!, config)[0]!.hash;
    const withCache = estimateRun(samples, config, { totalSamples: 60, has: (h) => h === firstHash });
    expect(withCache.cachedRequests).toBe(10);
    expect(withCache.completionTokens).toBe(50 * 900);
    const seeds = estimateRun(samples, { ...config, nMode: 'seeds' });
    expect(seeds.requests).toBe(18);
    expect(seeds.promptTokens).toBe(prompt * 3);
  });
});
