/**
 * scoreCorpus against an OpenAI-compatible endpoint: the simulated teacher over real HTTP, behind a
 * recording pass-through proxy so the test sees exactly what was asked and answered. Shows: difficulty =
 * mean of the paper's reward over the G answers received, one request per rollout with its own seed at
 * temperature 1, the cache answering a second run with zero requests, an abort mid-run followed by a
 * rerun that requests nothing twice and equals an uninterrupted run, and bad rows quarantined.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accuracyReward } from '../../../src/completion/index.js';
import { InterruptedError } from '../../../src/errors.js';
import { convertBox } from '../../../src/geometry/index.js';
import type { RecordOf } from '../../../src/schema/arrow.js';
import { readRows } from '../../../src/store/index.js';
import { startSimTeacher, type SimTeacher } from '../../../src/teacher/sim/index.js';
import { bucketOf } from '../../../src/train/rl/difficulty.js';
import { scoreCorpus, scorePrompt, type ScoreOptions } from '../../../src/train/score/index.js';
import { tempDir } from '../helpers.js';
import { suiteRlRows, writeRl } from './fixtures.js';

interface Exchange {
  text: string;
  images: number;
  seed: number;
  temperature: number;
  maxTokens: number;
  answer: string;
}

/** Forwards every request to `target` unchanged and records the question and the answer. */
async function recordingProxy(target: string): Promise<{ url: string; log: Exchange[]; close: () => Promise<void> }> {
  const log: Exchange[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      void fetch(`${target}${req.url!.replace(/^\/v1/, '')}`, { method: req.method, headers: { 'content-type': 'application/json', authorization: req.headers.authorization ?? '' }, body: raw.length ? raw : undefined }).then(async (r) => {
        const text = await r.text();
        if (r.ok && req.url!.endsWith('/chat/completions')) {
          const body = JSON.parse(raw.toString('utf8'));
          const content = body.messages[0].content as Array<{ type: string; text?: string }>;
          log.push({ text: content.find((p) => p.type === 'text')!.text!, images: content.filter((p) => p.type === 'image_url').length, seed: body.seed, temperature: body.temperature, maxTokens: body.max_tokens, answer: JSON.parse(text).choices[0].message.content });
        }
        res.writeHead(r.status, { 'content-type': 'application/json' });
        res.end(text);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, log, close: () => new Promise((r) => server.close(() => r())) };
}

const tmp = tempDir('score-endpoint');
const G = 4;
let sim: SimTeacher;
let proxy: Awaited<ReturnType<typeof recordingProxy>>;
let rows: RecordOf<'RlRow'>[];
let data: string;
let root: string;

function partHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir).filter((f) => f.endsWith('.parquet')).sort()) out[n] = createHash('sha256').update(readFileSync(join(dir, n))).digest('hex');
  return out;
}

const opts = (out: string, cacheDir: string, extra: Partial<ScoreOptions> = {}): ScoreOptions => ({
  data: [data],
  dataRoot: root,
  out,
  // 1024 tokens: the simulated teacher describes every object, and at 256 most answers are cut before <answer>.
  model: { endpoint: { baseUrl: proxy.url, model: 'univg-sim', cacheDir, maxTokens: 1024, concurrency: 4 } },
  G,
  seed: 0,
  ...extra,
});

beforeAll(async () => {
  const suite = await suiteRlRows(join(tmp.dir, 'suite'), 6, 5);
  root = suite.root;
  rows = suite.rows;
  // One row whose image file is not there (a hash of its own: images are content-addressed, and one
  // already prepared under the same hash would be sent without reading the path again).
  const bad = { ...rows[0]!, id: 'bad-missing-image', images: rows[0]!.images.map((im, k) => (k === 0 ? { bytes: null, path: 'images/not-there.png' } : im)), imageSha256: rows[0]!.imageSha256.map((h, k) => (k === 0 ? 'f'.repeat(64) : h)) };
  data = await writeRl(join(tmp.dir, 'rl'), [...rows, bad]);
  sim = await startSimTeacher({ seed: 0, convention: 'qwen2vl' });
  proxy = await recordingProxy(sim.url);
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await sim?.close();
  tmp.cleanup();
});

describe('scoreCorpus from an endpoint (the simulated teacher over HTTP)', () => {
  let first: Awaited<ReturnType<typeof scoreCorpus>>;

  it('asks G questions per row and stores the mean of the paper reward over the answers', async () => {
    // Each row's text is its own, so the recorded exchanges can be matched to rows.
    expect(new Set(rows.map((r) => scorePrompt(r))).size).toBe(rows.length);
    first = await scoreCorpus(opts(join(tmp.dir, 'a'), join(tmp.dir, 'cache')));
    expect(first).toMatchObject({ source: 'endpoint:univg-sim', rows: rows.length, scored: rows.length, quarantined: 1 });
    expect(first.counters).toMatchObject({ requests: rows.length * G, cached: 0, failed: 0 });
    expect(sim.stats().requests).toBe(rows.length * G);
    expect(proxy.log).toHaveLength(rows.length * G);

    const out: RecordOf<'RlRow'>[] = [];
    for await (const r of readRows('RlRow', first.out)) out.push(r);
    expect(out).toHaveLength(rows.length);
    for (const r of out) {
      const asked = proxy.log.filter((e) => e.text === scorePrompt(r));
      expect(asked, r.id).toHaveLength(G);
      expect(new Set(asked.map((e) => e.seed)).size).toBe(G);
      for (const e of asked) {
        expect(e).toMatchObject({ temperature: 1, maxTokens: 1024, images: r.images.length });
        expect(e.text).not.toMatch(/<image>/);
      }
      const gt = convertBox(r.targetBox, 'pixels', 'qwen2vl', { width: r.imageWidth[r.targetImage]!, height: r.imageHeight[r.targetImage]! });
      const miou = asked.reduce((a, e) => a + accuracyReward(e.answer, gt), 0) / G;
      expect(r.difficulty, r.id).toBeCloseTo(miou, 12);
      expect(r.weight).toBeCloseTo(Math.exp(1 - miou), 12);
      expect(r.bucket).toBe(bucketOf(miou));
    }
    // The teacher looks at the pixels it is sent: on easy samples it is mostly right, so the right images went out.
    expect(first.meanDifficulty).toBeGreaterThan(0.5);
    // At temperature 1 the answers vary between rollouts.
    expect(new Set(proxy.log.map((e) => e.answer)).size).toBeGreaterThan(rows.length);

    const q = readFileSync(join(first.out, 'quarantine.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(q).toEqual([expect.objectContaining({ recordId: 'bad-missing-image', field: 'images[0]', reason: 'image_missing' })]);
  });

  it('a second run is answered by the cache: zero requests, the same bytes', async () => {
    const before = sim.stats().requests;
    const again = await scoreCorpus(opts(join(tmp.dir, 'b'), join(tmp.dir, 'cache')));
    expect(sim.stats().requests).toBe(before);
    expect(again.counters).toMatchObject({ requests: 0, cached: rows.length * G });
    expect(partHashes(again.out)).toEqual(partHashes(first.out));
  });

  it('an abort mid-run, then a rerun: nothing is requested twice and the result equals an uninterrupted run', async () => {
    const cache = join(tmp.dir, 'cache-resume');
    const out = join(tmp.dir, 'resume');
    const start = sim.stats().requests;
    const ac = new AbortController();
    let seen = 0;
    await expect(scoreCorpus({ ...opts(out, cache), signal: ac.signal, progress: () => void (++seen === 3 && ac.abort()) })).rejects.toBeInstanceOf(InterruptedError);
    const asked = sim.stats().requests - start;
    expect(asked).toBeGreaterThan(0);
    expect(asked).toBeLessThan(rows.length * G);
    const r = await scoreCorpus(opts(out, cache));
    // Every rollout was requested exactly once over the two runs.
    expect(sim.stats().requests - start).toBe(rows.length * G);
    expect(r.counters.requests).toBe(rows.length * G - asked);
    expect(partHashes(out)).toEqual(partHashes(first.out));
    expect(readFileSync(join(out, 'quarantine.jsonl'), 'utf8')).toBe(readFileSync(join(first.out, 'quarantine.jsonl'), 'utf8'));
  });

  it('a request that fails after its retries quarantines its row (request_failed); the run goes on', async () => {
    const failing = await startSimTeacher({ seed: 0, convention: 'qwen2vl', faults: { server_error: 1 } });
    try {
      const r = await scoreCorpus({
        ...opts(join(tmp.dir, 'failing'), join(tmp.dir, 'cache-failing'), { limit: 2, G: 2 }),
        model: { endpoint: { baseUrl: failing.url, model: 'univg-sim', cacheDir: join(tmp.dir, 'cache-failing'), maxTokens: 1024, maxRetries: 0, concurrency: 1 } },
      });
      expect(r.scored).toBe(0);
      expect(r.quarantined).toBe(2);
      expect(r.reasons).toEqual({ request_failed: 2 });
      const q = readFileSync(join(r.out, 'quarantine.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(q.map((x) => x.field)).toEqual(['rollouts', 'rollouts']);
      expect(q[0].detail).toMatch(/2 of 2 rollouts failed/);
    } finally {
      await failing.close();
    }
  });
});

