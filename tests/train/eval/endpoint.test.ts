/**
 * The endpoint predictor over real HTTP: against the simulated teacher in blind mode (its accuracy must
 * follow the difficulty of the samples, as bench/sim-perception.ts measures), against a recording server
 * (what exactly is sent: the paper's eval prompt and pixel budget), and with failing requests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smartResize } from '../../../src/geometry/index.js';
import { generateSuite } from '../../../src/sources/synthetic/index.js';
import { startSimTeacher } from '../../../src/teacher/sim/index.js';
import { loadBench, openaiPredictor, runEval, UNIVG_EVAL_SUFFIX, type Bench, type EvalReport } from '../../../src/train/eval/index.js';

const PAPER_BUDGET = { minPixels: 3136, maxPixels: 401408 };
const dir = mkdtempSync(join(tmpdir(), 'univg-eval-endpoint-'));
const benches: Record<'easy' | 'hard', Bench> = {} as Record<'easy' | 'hard', Bench>;

beforeAll(async () => {
  for (const level of ['easy', 'hard'] as const) {
    const out = join(dir, level);
    await generateSuite({ out, samples: 18, seed: 5, difficulty: level, concurrency: 2 });
    benches[level] = await loadBench(join(out, 'all.json'), out);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openaiPredictor against the simulated teacher (blind)', () => {
  it('scores high on easy samples and low on hard ones, and a second run is served from the cache', async () => {
    const sim = await startSimTeacher({ seed: 0, convention: 'qwen2vl' });
    try {
      const cacheDir = join(dir, 'cache');
      // 1024 tokens, not the paper's 256: the simulated teacher describes every object of every image,
      // and at 256 tokens most of its answers are cut off before <answer>.
      const open = () => openaiPredictor({ model: 'univg-sim', baseUrl: sim.url, maxTokens: 1024, concurrency: 4, cacheDir });
      const acc: Record<string, EvalReport> = {};
      for (const level of ['easy', 'hard'] as const) {
        const p = await open();
        try {
          acc[level] = await runEval({ bench: benches[level], source: { kind: 'predictor', predictor: p }, out: join(dir, `out-${level}`) });
        } finally {
          await p.close!();
        }
      }
      const easy = acc.easy!.metrics.pooled.answer['acc@0.5'];
      const hard = acc.hard!.metrics.pooled.answer['acc@0.5'];
      expect(easy).toBeGreaterThanOrEqual(0.9);
      expect(hard).toBeLessThanOrEqual(0.6);
      expect(easy - hard).toBeGreaterThanOrEqual(0.3);
      expect(acc.easy!.metrics.counts.missing).toBe(0);
      expect(acc.easy!.predictor).toMatchObject({ model: 'univg-sim', source: 'predictor', convention: 'qwen2vl', info: { kind: 'endpoint', maxTokens: 1024, maxPixels: 401408, temperature: 0 } });

      const before = sim.stats().requests;
      expect(before).toBe(36);
      const p = await open();
      try {
        const again = await runEval({ bench: benches.easy, source: { kind: 'predictor', predictor: p } });
        expect(sim.stats().requests).toBe(before);
        expect(again.metrics).toEqual(acc.easy!.metrics);
      } finally {
        await p.close!();
      }
    } finally {
      await sim.close();
    }
  });
});

interface Recorded {
  body: { model: string; temperature: number; max_tokens: number; messages: Array<{ role: string; content: Array<{ type: string; text?: string; image_url?: { url: string } }> }> };
}

/** An OpenAI-compatible server that records every body and answers with `answer(body)` (or an error). */
async function recordingServer(answer: (b: Recorded['body']) => { status: number; text: string }): Promise<{ url: string; bodies: Recorded['body'][]; server: Server }> {
  const bodies: Recorded['body'][] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Recorded['body'];
      bodies.push(body);
      const a = answer(body);
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          a.status === 200
            ? { id: 'x', object: 'chat.completion', model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: a.text }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }
            : { error: { message: a.text, type: 'invalid_request_error', param: null, code: null } },
        ),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, bodies, server };
}

describe('openaiPredictor requests', () => {
  it("sends the images first, then the question plus the paper's instruction, at max_pixels 401408, 256 tokens, greedy", async () => {
    const bench = benches.easy;
    // Every answer quotes the whole image in the think and then gives a tiny box: the two scorers differ.
    const rec = await recordingServer(() => ({ status: 200, text: '<think>The image spans (0,0),(1000,1000).</think><answer>(0,0),(1,1)</answer>' }));
    try {
      const p = await openaiPredictor({ model: 'qwen2-vl-7b', baseUrl: rec.url, concurrency: 2, cacheDir: join(dir, 'cache-rec') });
      let report: EvalReport;
      try {
        report = await runEval({ bench, source: { kind: 'predictor', predictor: p } });
      } finally {
        await p.close!();
      }
      expect(rec.bodies).toHaveLength(bench.samples.length);
      for (const b of rec.bodies) {
        expect(b).toMatchObject({ model: 'qwen2-vl-7b', temperature: 0, max_tokens: 256 });
        const content = b.messages[0]!.content;
        const text = content.at(-1)!;
        expect(text.type).toBe('text');
        expect(content.slice(0, -1).every((c) => c.type === 'image_url')).toBe(true);
        const sizes: string[] = [];
        for (const c of content.slice(0, -1)) {
          const m = await sharp(Buffer.from(c.image_url!.url.split(',')[1]!, 'base64')).metadata();
          sizes.push(`${m.width}x${m.height}`);
        }
        // Synthetic questions repeat; the sample is the one with this text and images of these sizes.
        const sample = bench.samples.find(
          (s) => `${s.question}${UNIVG_EVAL_SUFFIX}` === text.text && s.images.map((im) => smartResize(im.width, im.height, PAPER_BUDGET)).map((r) => `${r.width}x${r.height}`).join() === sizes.join(),
        );
        expect(sample, text.text).toBeDefined();
        for (const im of sample!.images) {
          const r = smartResize(im.width, im.height, PAPER_BUDGET);
          expect(r.width * r.height).toBeLessThanOrEqual(401408);
        }
      }
      expect(text(rec.bodies[0]!)).toMatch(/ First output the thinking process in <think> <\/think> tags and then output the bounding box in <answer> <\/answer> tags\.$/);
      // Ours reads the tiny <answer> box; the paper's scorer reads the whole-image box from the think.
      expect(report!.metrics.pooled.answer.meanIou).toBeLessThan(0.01);
      expect(report!.metrics.pooled.paper.meanIou).toBeGreaterThan(0.01);
      expect(report!.metrics.counts.boxesDiffer).toBe(bench.samples.length);
    } finally {
      rec.server.close();
    }
  });

  it('a request that fails scores 0 as prediction_failed and the evaluation goes on; nothing failed is cached', async () => {
    const bench = benches.easy;
    const bad = bench.samples[3]!.question;
    const rec = await recordingServer((b) => (text(b).startsWith(bad) ? { status: 413, text: 'image too large' } : { status: 200, text: '<think>x</think><answer>(0,0),(1000,1000)</answer>' }));
    try {
      const cacheDir = join(dir, 'cache-fail');
      const run = async () => {
        const p = await openaiPredictor({ model: 'm', baseUrl: rec.url, cacheDir, maxRetries: 0 });
        try {
          return await runEval({ bench, source: { kind: 'predictor', predictor: p } });
        } finally {
          await p.close!();
        }
      };
      const first = await run();
      const failing = bench.samples.filter((s) => s.question === bad).length;
      expect(first.metrics.counts).toMatchObject({ samples: bench.samples.length, predicted: bench.samples.length, missing: 0, unscored: { prediction_failed: failing } });
      const sent = rec.bodies.length;
      await run();
      // Answers were cached; only the failed ones are asked again.
      expect(rec.bodies.length - sent).toBe(failing);
    } finally {
      rec.server.close();
    }
  });
});

function text(b: Recorded['body']): string {
  return b.messages[0]!.content.at(-1)!.text!;
}
