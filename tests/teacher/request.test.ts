import { describe, expect, it } from 'vitest';
import { TeacherConfig } from '../../src/schema/config.js';
import { canonicalJson } from '../../src/schema/canonical.js';
import { chatBody, planRequests, requestHash } from '../../src/teacher/request.js';
import { makeFixture } from './fixtures/samples.js';

const base = TeacherConfig.parse({ model: 'teacher-x' });

describe('canonical request and its hash', () => {
  it('sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[1,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson({ x: 1, y: 2 })).toBe(canonicalJson({ y: 2, x: 1 }));
  });

  it('n mode: one request asking n=k; seeds mode: k requests with seeds base..base+k-1', async () => {
    const { samples } = await makeFixture(1);
    const s = samples[0]!;
    const n = planRequests(s, base);
    expect(n).toHaveLength(1);
    expect(n[0]!.n).toBe(3);
    expect(n[0]!.canonical.params.n).toBe(3);
    const seeds = planRequests(s, { ...base, nMode: 'seeds', seed: 40 });
    expect(seeds.map((p) => p.canonical.params.seed)).toEqual([40, 41, 42]);
    expect(seeds.map((p) => p.firstCandidate)).toEqual([0, 1, 2]);
    expect(seeds.every((p) => p.n === 1 && p.canonical.params.n === undefined)).toBe(true);
    expect(new Set(seeds.map((p) => p.hash)).size).toBe(3);
  });

  it('does not change with settings that do not change the request, and changes with those that do', async () => {
    const { samples } = await makeFixture(2);
    const s = samples[1]!;
    const h = planRequests(s, base)[0]!.hash;
    const same = { ...base, concurrency: 3, rpm: 10, tpm: 1000, timeoutMs: 5, maxRetries: 0, baseUrl: 'http://x', cacheDir: '/tmp/x', maxCostUsd: 1, apiKeyEnv: 'K' };
    expect(planRequests(s, same)[0]!.hash).toBe(h);
    for (const diff of [{ temperature: 0.1 }, { maxTokens: 99 }, { model: 'other' }, { mode: 'blind' as const }, { candidates: 2 }, { seed: 1 }, { maxPixels: 3136 * 4 }, { convention: 'norm' as const }]) {
      expect(planRequests(s, { ...base, ...diff })[0]!.hash, JSON.stringify(diff)).not.toBe(h);
    }
    const otherImage = { ...s, images: s.images.map((im, i) => (i === 0 ? { ...im, sha256: 'f'.repeat(64) } : im)) };
    expect(planRequests(otherImage, base)[0]!.hash).not.toBe(h);
    expect(requestHash(planRequests(s, base)[0]!.canonical)).toBe(h);
  });

  it('puts image hashes and seen sizes in the key, never image bytes', async () => {
    const { samples } = await makeFixture(3);
    const plan = planRequests(samples[2]!, base)[0]!;
    const text = canonicalJson(plan.canonical);
    expect(text).not.toContain('base64');
    for (const im of samples[2]!.images) expect(text).toContain(im.sha256);
  });

  it('chat body: one user message, images first in order as data URLs, then the text', async () => {
    const { samples } = await makeFixture(3);
    const plan = planRequests(samples[2]!, base)[0]!;
    const urls = samples[2]!.images.map((_, i) => ({ dataUrl: `data:image/png;base64,AAA${i}` }));
    const body = chatBody(plan, urls);
    expect(body.messages).toHaveLength(1);
    const content = body.messages[0]!.content;
    expect(content.map((c) => c.type)).toEqual([...urls.map(() => 'image_url'), 'text']);
    expect(content.slice(0, -1).map((c) => (c as { image_url: { url: string } }).image_url.url)).toEqual(urls.map((u) => u.dataUrl));
    expect(body).toMatchObject({ model: 'teacher-x', n: 3, temperature: base.temperature, max_tokens: base.maxTokens });
    const seeds = chatBody(planRequests(samples[2]!, { ...base, nMode: 'seeds' })[1]!, urls);
    expect(seeds.n).toBeUndefined();
    expect(seeds.seed).toBe(1);
  });
});
