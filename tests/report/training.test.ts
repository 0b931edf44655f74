/**
 * The report's training sections from real training files: a 1,000-update SFT log, a GRPO log, a scored
 * RL pool (Parquet) and evaluation results computed by `univg eval`'s code (baselines on a rendered
 * synthetic test split). Figures equal what the files hold; the page shows every curve and the paper's
 * table per model, opened in headless Chromium (no request leaves the page, nothing from the data runs);
 * a training-only run and a killed SFT log are reported as what they are.
 */
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport, type ReportFigures } from '../../src/report/index.js';
import { MAX_POINTS, thin, type EvalResults } from '../../src/report/training.js';
import type { RlRow } from '../../src/schema/records.js';
import { generateSuite } from '../../src/sources/synthetic/index.js';
import { readRows } from '../../src/store/reader.js';
import { writeShards } from '../../src/store/writer.js';
import { loadBench, runEval } from '../../src/train/eval/evaluate.js';
import { baselinePredictor } from '../../src/train/eval/predictor.js';
import { openReport } from './chromium.js';
import { EVIL_TASK, makeRun } from './fixture.js';

const jsonl = (rows: unknown[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join('');

/** A 1,000-update SFT log (held-out loss every 100), a 30-step GRPO log, a scored pool and eval results. */
async function addTraining(root: string, o: { sftDone?: boolean } = {}): Promise<EvalResults> {
  const sft = join(root, 'train/sft');
  mkdirSync(sft, { recursive: true });
  const log: unknown[] = [];
  for (let s = 1; s <= 1000; s++) {
    log.push({ type: 'step', step: s, loss: 8 / Math.sqrt(s), lr: 1e-3 * (1 - s / 1100), gradNorm: 1, rows: 4, tokens: 900, targetTokens: 600, tokensPerSec: s === 1 ? 10 : 1000 + (s % 7), seconds: 0.9, epoch: 0, backend: 'wasm' });
    if (s % 100 === 0) log.push({ type: 'eval', step: s, evalLoss: 9 / Math.sqrt(s), evalRows: 8, evalTokens: 500, backend: 'wasm' });
  }
  writeFileSync(join(sft, 'train-log.jsonl'), jsonl(log));
  if (o.sftDone !== false) {
    writeFileSync(join(sft, 'result.json'), JSON.stringify({ steps: 1000, step: 1000, params: 12345, seconds: 900.5, backend: { name: 'wasm' } }));
    writeFileSync(join(sft, 'done.json'), JSON.stringify({ format: 1, checkpoint: 'train/sft/checkpoints/step-001000', step: 1000, weightsSha256: 'x' }));
  }
  const rl = join(root, 'train/rl');
  mkdirSync(rl, { recursive: true });
  writeFileSync(
    join(rl, 'rl-log.jsonl'),
    jsonl(
      Array.from({ length: 30 }, (_, i) => ({
        type: 'rl-step', step: i + 1, prompts: 4, rollouts: 16, rewardMean: 0.5 + i / 100, rewardStd: 0.2, accuracyMean: 0.3 + i / 200, formatRate: 0.9,
        buckets: { 'lt0.3': 0.5 - i / 100, '0.3-0.7': 0.3, 'gt0.7': 0.2 + i / 100 }, weightMean: 2 - i / 60, kl: i * 1e-4, clipFraction: 0.05, completionLength: 80 - i,
        loss: 0.01, lr: 1e-5, gradNorm: 0.5, seconds: 2, backend: 'wasm',
      })),
    ),
  );
  // The scored pool: the corpus RL rows with a difficulty each (one left unscored).
  const rows: RlRow[] = [];
  for await (const r of readRows('RlRow', join(root, 'corpus/rl'))) rows.push(r);
  const scored = rows.map((r, i) => (i === 0 ? { ...r, difficulty: null, weight: null, bucket: null } : { ...r, difficulty: (i * 0.37) % 1, weight: Math.exp(1 - ((i * 0.37) % 1)), bucket: (i * 0.37) % 1 < 0.3 ? 'lt0.3' : (i * 0.37) % 1 > 0.7 ? 'gt0.7' : '0.3-0.7' }));
  await writeShards('RlRow', scored, { dir: join(root, 'train/scored'), count: 2 });
  // Real metrics: two baselines on a small rendered test split.
  const suite = await generateSuite({ out: join(root, 'bench'), samples: 16, seed: 4, testFraction: 0.5 });
  const bench = await loadBench(suite.files.test, join(root, 'bench'));
  const models = [];
  for (const kind of ['centre', 'random'] as const) {
    const r = await runEval({ bench, source: { kind: 'predictor', predictor: baselinePredictor(kind, { seed: 1 }) } });
    models.push({ name: kind, label: `${kind} baseline`, kind: 'baseline' as const, checkpoint: null, step: null, seconds: r.seconds, metrics: r.metrics });
  }
  // A task name with markup (text that came from a file) must come out as text.
  models[1]!.metrics.tasks[0]!.task = EVIL_TASK;
  const results: EvalResults = { format: 1, bench: { file: 'bench/test.json', samples: bench.samples.length, quarantined: 0, limit: null }, models };
  mkdirSync(join(root, 'eval'), { recursive: true });
  writeFileSync(join(root, 'eval/results.json'), JSON.stringify(results));
  return results;
}

let root: string;
let results: EvalResults;
let figures: ReportFigures;
let file: string;
let browser: Browser;
let page: Page;
let requests: string[];
let consoleErrors: string[];

beforeAll(async () => {
  root = (await makeRun()).root;
  results = await addTraining(root);
  ({ figures, file } = await buildReport(root));
  ({ browser, page, requests, consoleErrors } = await openReport(file));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('training figures', () => {
  it('thin keeps at most MAX_POINTS points by a fixed stride, and always the last', () => {
    const pts = Array.from({ length: 1001 }, (_, i) => [i + 1, i * 2] as [number, number]);
    const t = thin(pts);
    expect(t.length).toBeLessThanOrEqual(MAX_POINTS + 1);
    expect(t[0]).toEqual([1, 0]);
    expect(t.at(-1)).toEqual([1001, 2000]);
    expect(thin(pts.slice(0, 10))).toEqual(pts.slice(0, 10));
  });

  it('come from the logs, the scored pool and the eval results', () => {
    const t = figures.training!;
    expect(t.sft).toMatchObject({ steps: 1000, stepsPlanned: 1000, finished: true, params: 12345, finalLoss: 8 / Math.sqrt(1000), finalEvalLoss: 9 / Math.sqrt(1000), backend: 'wasm' });
    // Median tokens/s without the first update (setup): values 1000..1006.
    expect(t.sft!.tokensPerSec).toBe(1003);
    expect(t.sft!.curves.loss.length).toBeLessThanOrEqual(MAX_POINTS + 1);
    expect(t.sft!.curves.loss.at(-1)).toEqual([1000, 8 / Math.sqrt(1000)]);
    expect(t.sft!.curves.evalLoss.map((p) => p[0])).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(t.rl!.steps).toBe(30);
    expect(t.rl!.curves.kl).toHaveLength(30);
    expect(t.rl!.buckets['gt0.7'].at(-1)).toEqual([30, 0.2 + 29 / 100]);
    expect(t.rl!.last.completionLength).toBe(51);
    expect(t.scored!.rows).toBe(figures.corpus.rl!.rows);
    expect(t.scored!.scored).toBe(t.scored!.rows - 1);
    expect(t.scored!.histogram.reduce((a, b) => a + b.count, 0)).toBe(t.scored!.scored);
    expect(t.scored!.byBucket.reduce((a, b) => a + b.count, 0)).toBe(t.scored!.rows);
    expect(t.eval).toEqual(results);
  });

  it('a killed SFT (last line cut, no result) is shown as not finished', async () => {
    const other = (await makeRun()).root;
    try {
      await addTraining(other, { sftDone: false });
      appendFileSync(join(other, 'train/sft/train-log.jsonl'), '{"type":"step","step":1001,"lo');
      const r = await buildReport(other);
      expect(r.figures.training!.sft).toMatchObject({ steps: 1000, stepsPlanned: null, finished: false });
      expect(readFileSync(r.file, 'utf8')).toContain('not finished (stopped or still running)');
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  }, 60_000);

  it("the Corpus section's RL buckets agree with the Scoring section when scoring reached part of the pool (issue 11)", async () => {
    // As in the demo: select writes the RL pool unscored, and the score stage (limit) scored some of it.
    const other = (await makeRun()).root;
    try {
      const rows: RlRow[] = [];
      for await (const r of readRows('RlRow', join(other, 'corpus/rl'))) rows.push(r);
      expect(rows.length).toBe(2);
      const [unscored, scored] = rows as [RlRow, RlRow];
      await writeShards('RlRow', [{ ...scored, difficulty: 0.8, weight: Math.exp(0.2), bucket: 'gt0.7' }], { dir: join(other, 'train/scored'), count: 1 });
      const f = (await buildReport(other)).figures;
      expect(f.training!.scored).toMatchObject({ rows: 1, scored: 1, byBucket: [{ key: 'gt0.7', count: 1 }] });
      // The row scoring reached has its scored bucket; the row it did not reach is the only one not scored,
      // whatever the pool's own bucket column says.
      expect(unscored.id).not.toBe(scored.id);
      expect(f.corpus.rl!.byBucket).toEqual([
        { key: 'gt0.7', count: 1 },
        { key: '(not scored)', count: rows.length - f.training!.scored!.scored },
      ]);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  }, 60_000);

  it('a training-only run (train.from) shows the training, not empty corpus sections', async () => {
    const other = (await makeRun({ samplesOnly: true })).root;
    try {
      for (const d of ['samples', 'images']) rmSync(join(other, d), { recursive: true, force: true });
      writeFileSync(join(other, 'run.json'), JSON.stringify({ name: 'trainonly', config: { train: { from: 'runs/corpus' } } }));
      mkdirSync(join(other, 'train/sft'), { recursive: true });
      writeFileSync(join(other, 'train/sft/train-log.jsonl'), jsonl([{ type: 'step', step: 1, loss: 5, lr: 1e-3, tokensPerSec: 100, backend: 'cpu' }]));
      const r = await buildReport(other);
      const html = readFileSync(r.file, 'utf8');
      expect(r.figures.training!.from).toBe('runs/corpus');
      expect(html).toContain('<section id="sft">');
      expect(html).not.toContain('<section id="funnel">');
      expect(html).not.toContain('ingest was not run');
      expect(html).toContain('Trained on the corpus of <code>runs/corpus</code>');
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('the training sections in a browser', () => {
  it('render every curve: the SFT loss with the held-out loss, learning rate, tokens/s, and one chart per GRPO metric', async () => {
    for (const id of ['sft', 'scoring', 'grpo', 'evaluation']) expect(await page.locator(`section#${id}`).isVisible(), id).toBe(true);
    expect(await page.locator('#sft svg.line-chart').count()).toBe(3);
    expect(await page.locator('#grpo svg.line-chart').count()).toBe(10);
    expect(await page.locator('#scoring svg.chart').count()).toBe(2);
    // Every line has a drawn extent (a path that went to NaN or off-canvas would not).
    const lines = '#sft path[aria-roledescription="line mark"], #grpo path[aria-roledescription="line mark"]';
    const boxes = await page.$$eval(lines, (els) =>
      els.map((e) => (e as unknown as { getBBox(): { width: number; height: number } }).getBBox()).map((b) => b.width),
    );
    // SFT: train and held-out loss, learning rate, tokens/s; GRPO: one line per metric.
    expect(boxes.length).toBe(4 + 9);
    for (const w of boxes) expect(w).toBeGreaterThan(10);
    const legend = await page.locator('#sft svg.line-chart').first().textContent();
    expect(legend).toContain('train loss');
    expect(legend).toContain('held-out loss');
  });

  it("shows the paper's table per model and the models side by side, equal to the results", async () => {
    expect(await page.locator('#evaluation table.univg-eval').count()).toBe(2);
    for (const m of results.models) {
      const row = page.locator(`#eval-comparison tr[data-model="${m.name}"]`);
      expect(await row.locator('[data-metric="acc50"]').textContent()).toBe((100 * m.metrics.average.answer['acc@0.5']).toFixed(2));
      expect(await row.locator('[data-metric="miou"]').textContent()).toBe((100 * m.metrics.average.answer.meanIou).toFixed(2));
    }
    // The injected task name is text in the header of the random model's table.
    expect(await page.locator('#evaluation th', { hasText: EVIL_TASK }).count()).toBeGreaterThan(0);
    expect(await page.locator('#evaluation svg[onload]').count()).toBe(0);
  });

  it('explains every column of the comparison and every row of the per-model tables (issue 11)', async () => {
    const terms = (await page.$$eval('#eval-columns dt', (els) => els.map((e) => e.textContent ?? ''))).flatMap((t) => t.split(/,\s*/));
    const heads = await page.$$eval('#eval-comparison thead th', (els) => els.map((e) => ({ text: e.textContent ?? '', task: e.getAttribute('title') })));
    expect(heads.length).toBeGreaterThan(4);
    for (const h of heads.slice(1)) {
      if (h.task !== null) expect(terms.some((t) => t.startsWith('Task columns'))).toBe(true);
      else expect(terms, h.text).toContain(h.text);
    }
    const rowLabels = await page.$$eval('#evaluation table.univg-eval tbody th', (els) => [...new Set(els.map((e) => e.textContent ?? ''))]);
    expect(rowLabels.length).toBeGreaterThan(4);
    for (const r of rowLabels) expect(terms, r).toContain(r);
  });

  it('marks its numbers with data-figure and they equal the figures', async () => {
    const marked = await page.$$eval('#sft [data-figure], #scoring [data-figure], #grpo [data-figure]', (els) => els.map((e) => ({ path: e.getAttribute('data-figure')!, text: e.textContent ?? '' })));
    const t = figures.training!;
    const expected: Record<string, string> = {
      'training.sft.steps': '1,000',
      'training.sft.finalLoss': t.sft!.finalLoss!.toFixed(3),
      'training.sft.finalEvalLoss': t.sft!.finalEvalLoss!.toFixed(3),
      'training.sft.params': '12,345',
      'training.scored.rows': String(t.scored!.rows),
      'training.scored.meanDifficulty': t.scored!.meanDifficulty!.toFixed(3),
      'training.rl.steps': '30',
      'training.rl.last.rewardMean': t.rl!.last.rewardMean!.toFixed(3),
      'training.rl.last.formatRate': `${(t.rl!.last.formatRate! * 100).toFixed(1)}%`,
    };
    for (const [path, text] of Object.entries(expected)) expect(marked.find((m) => m.path === path)?.text, path).toBe(text);
  });

  it('makes no request other than the file itself and data: URLs, and logs no error', () => {
    for (const u of requests) expect(u.startsWith('file://') || u.startsWith('data:')).toBe(true);
    expect(consoleErrors).toEqual([]);
  });

  it('is byte-identical when built again', async () => {
    const first = readFileSync(file);
    await buildReport(root);
    expect(readFileSync(file).equals(first)).toBe(true);
  });
});
