/**
 * "What each model drew" in the Evaluation section: per task, the first test samples by id with the
 * ground truth and each model's answer box over the target image. The models' boxes are known (the
 * centre box, the ground truth, a fixed box, none), so the test checks where each lands: in the page's
 * SVG (original-image pixels) and on screen in headless Chromium. A model without predictions, a run
 * without eval, an unreadable benchmark and an undecodable image each give a note, not a crash.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport } from '../../src/report/index.js';
import type { GroundingSample } from '../../src/schema/records.js';
import { openReport } from './chromium.js';
import { addEval, makeRun, RL_BOX, type EvalFixture } from './fixture.js';

let root: string;
let fx: EvalFixture;
let file: string;
let page: string;
const scratch: string[] = [];

beforeAll(async () => {
  root = (await makeRun()).root;
  fx = await addEval(root);
  file = (await buildReport(root)).file;
  page = readFileSync(file, 'utf8');
}, 120_000);

afterAll(() => {
  for (const d of [root, ...scratch]) if (d) rmSync(d, { recursive: true, force: true });
});

/** A copy of the run to break one thing in. */
function copyRun(): string {
  const d = mkdtempSync(join(tmpdir(), 'univg-report-eval-'));
  scratch.push(d);
  cpSync(root, d, { recursive: true });
  rmSync(join(d, 'report'), { recursive: true, force: true });
  return d;
}

interface Rect {
  cls: string;
  box: string | null;
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The cards of one page: sample id -> its markup. */
function cards(html: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of html.matchAll(/<article class="eval-sample" data-sample="([^"]+)">([\s\S]*?)<\/article>/g)) out.set(m[1]!, m[2]!);
  return out;
}

function rects(card: string): Rect[] {
  return [...card.matchAll(/<rect class="([^"]*)"((?: [a-z-]+="[^"]*")*) x="([^"]+)" y="([^"]+)" width="([^"]+)" height="([^"]+)"/g)].map((m) => ({
    cls: m[1]!,
    box: /data-box="([^"]*)"/.exec(m[2]!)?.[1] ?? null,
    x: Number(m[3]),
    y: Number(m[4]),
    w: Number(m[5]),
    h: Number(m[6]),
  }));
}

/** A drawn rect equals a box in pixels (the page writes two decimals). */
function expectAt(r: Rect | undefined, box: readonly number[], what: string): void {
  expect(r, what).toBeDefined();
  expect(r!.x, what).toBeCloseTo(box[0]!, 2);
  expect(r!.y, what).toBeCloseTo(box[1]!, 2);
  expect(r!.x + r!.w, what).toBeCloseTo(box[2]!, 1);
  expect(r!.y + r!.h, what).toBeCloseTo(box[3]!, 1);
}

/** The ids the section should show: per task, the first two by id. */
function expectedPicks(samples: readonly GroundingSample[]): Map<string, string[]> {
  const byTask = new Map<string, string[]>();
  for (const s of samples) byTask.set(s.task, [...(byTask.get(s.task) ?? []), s.id]);
  for (const [t, ids] of byTask) byTask.set(t, [...ids].sort().slice(0, 2));
  return byTask;
}

const modelRow = (card: string, model: string) => new RegExp(`<tr data-model="${model}" data-status="([^"]+)">([\\s\\S]*?)</tr>`).exec(card);

describe('What each model drew', () => {
  it('shows, per task, the first two test samples by id', () => {
    expect(page).toContain('<div id="eval-drawn"><h3>What each model drew</h3>');
    const want = expectedPicks(fx.bench.samples);
    expect(want.size).toBeGreaterThan(3);
    expect([...want.values()].some((ids) => ids.length === 2)).toBe(true);
    for (const [task, ids] of want) {
      const block = new RegExp(`<div class="eval-task" data-task="${task}">([\\s\\S]*?)</div></div>`).exec(page);
      expect(block, task).not.toBeNull();
      expect([...block![1]!.matchAll(/data-sample="([^"]+)"/g)].map((m) => m[1]), task).toEqual(ids);
    }
    expect(cards(page).size).toBe([...want.values()].flat().length);
    // The legend names every model, the one without predictions too.
    for (const m of fx.results.models) expect(page).toContain(`<span data-model="${m.name}">`);
  });

  it("draws the ground truth and each model's answer box at its pixels on the target image", () => {
    const all = cards(page);
    for (const [id, card] of all) {
      const s = fx.bench.samples.find((x) => x.id === id)!;
      const { width: W, height: H } = s.images[s.targetImage]!;
      // The overlay's coordinate system is the target image's pixel grid.
      expect(card, id).toContain(`<svg viewBox="0 0 ${W} ${H}"`);
      expect(card).toContain(`Image ${s.targetImage + 1}`);
      const r = rects(card);
      expectAt(r.find((x) => x.cls === 'gt'), s.targetBox, `${id} ground truth`);
      // centre: (250,250),(750,750) in 0-1000, i.e. the middle half of each side.
      expectAt(r.find((x) => x.box === 'centre'), [W / 4, H / 4, (3 * W) / 4, (3 * H) / 4], `${id} centre`);
      expect(r.find((x) => x.box === 'centre')!.cls).toBe('model baseline');
      expectAt(r.find((x) => x.box === 'sft'), s.targetBox.map(Math.round), `${id} sft`);
      expectAt(r.find((x) => x.box === 'rl'), RL_BOX, `${id} rl`);
      expect(r.map((x) => x.box).sort(), id).toEqual(['centre', 'ground-truth', 'rl', 'sft']);
      // Each model in its own colour.
      const strokes = new Set([...card.matchAll(/<rect class="model[^"]*" data-box="[^"]+" style="stroke: (#[0-9A-Fa-f]{6})"/g)].map((m) => m[1]));
      expect(strokes.size).toBe(3);
      // The IoU shown is the prediction's.
      const rl = fx.predictions.find((p) => p.id === id && p.model === 'rl')!;
      expect(modelRow(card, 'rl')![2]).toContain(`IoU <b>${rl.iou!.toFixed(3)}</b>`);
      expect(modelRow(card, 'sft')![2]).toMatch(/IoU <b>(0\.9\d\d|1\.000)<\/b>/);
    }
  });

  it('says "no answer" for a model without an answer box, with the start of what it wrote (escaped)', () => {
    for (const [id, card] of cards(page)) {
      const row = modelRow(card, 'untrained');
      expect(row?.[1], id).toBe('no-answer');
      expect(row![2]).toContain('<span class="none">no answer</span>');
      expect(row![2]).toContain('&lt;b&gt;unsure&lt;/b&gt;');
      expect(rects(card).some((r) => r.box === 'untrained')).toBe(false);
    }
  });

  it('a model with no predictions in eval/predictions/ is named in a note and shows "no prediction"', () => {
    expect(page).toContain('<li>random-box baseline: no predictions in eval/predictions/, so none of its boxes is drawn.</li>');
    for (const card of cards(page).values()) expect(modelRow(card, 'random')?.[1]).toBe('no-prediction');
  });

  it('is byte-identical when built again', async () => {
    const first = readFileSync(file);
    await buildReport(root);
    expect(readFileSync(file).equals(first)).toBe(true);
  });

  it('without eval/results.json, the Evaluation section says eval did not run and nothing is drawn', async () => {
    const d = copyRun();
    rmSync(join(d, 'eval', 'results.json'));
    // A run whose training started (so the training sections are on the page) and whose eval never wrote results.
    mkdirSync(join(d, 'train', 'sft'), { recursive: true });
    writeFileSync(join(d, 'train', 'sft', 'train-log.jsonl'), `${JSON.stringify({ type: 'step', step: 1, loss: 5, lr: 1e-3, tokensPerSec: 100, backend: 'cpu' })}\n`);
    const html = readFileSync((await buildReport(d)).file, 'utf8');
    expect(html).toContain('<section id="evaluation">');
    expect(html).toContain('eval did not run here: no eval/results.json.');
    expect(html).not.toContain('eval-drawn');
  });

  it('without eval/predictions/, a note says there is nothing to draw', async () => {
    const d = copyRun();
    rmSync(join(d, 'eval', 'predictions'), { recursive: true });
    const html = readFileSync((await buildReport(d)).file, 'utf8');
    expect(html).toContain('No eval/predictions/ in this run: there are no predicted boxes to draw.');
    expect(cards(html).size).toBe(0);
  });

  it('an unreadable benchmark file gives a note; the models\' answers are still listed', async () => {
    const d = copyRun();
    rmSync(join(d, 'source', 'test.json'));
    const html = readFileSync((await buildReport(d)).file, 'utf8');
    expect(html).toMatch(/The benchmark source\/test\.json could not be read \(input: input file not found \([^)]*test\.json\)\): ground truth and images cannot be shown\./);
    const all = cards(html);
    expect(all.size).toBe(cards(page).size);
    for (const card of all.values()) {
      expect(card).toContain('<div class="noimg">the benchmark could not be read</div>');
      expect(modelRow(card, 'rl')?.[1]).toBe('answered');
    }
  });

  it("an undecodable target image is named on its card; the other samples' images still show", async () => {
    const d = copyRun();
    const [id] = [...cards(page).keys()];
    const s = fx.bench.samples.find((x) => x.id === id)!;
    const img = join(d, 'source', s.images[s.targetImage]!.path);
    writeFileSync(img, readFileSync(img).subarray(0, 120));
    const all = cards(readFileSync((await buildReport(d)).file, 'utf8'));
    expect(all.get(id!)).toMatch(/<div class="noimg">ingest set the benchmark item aside: image_unreadable \([^<]+\)<\/div>/);
    for (const [other, card] of all) if (other !== id) expect(card, other).toContain('<img src="data:image/jpeg;base64,');
  });

  it('results written before bench.imageRoot was recorded: the image root comes from a metrics.json, else a note', async () => {
    const d = copyRun();
    const results = JSON.parse(readFileSync(join(d, 'eval', 'results.json'), 'utf8'));
    delete results.bench.imageRoot;
    writeFileSync(join(d, 'eval', 'results.json'), JSON.stringify(results));
    const noRoot = readFileSync((await buildReport(d)).file, 'utf8');
    expect(noRoot).toContain("its image root is not recorded (eval/results.json has no bench.imageRoot and no model&#39;s metrics.json names one)");
    for (const card of cards(noRoot).values()) expect(card).toContain('<div class="noimg">the benchmark could not be read</div>');
    mkdirSync(join(d, 'eval', 'sft'), { recursive: true });
    writeFileSync(join(d, 'eval', 'sft', 'metrics.json'), JSON.stringify({ format: 1, bench: { file: join(d, 'source/test.json'), imageRoot: join(d, 'source') } }));
    const withRoot = readFileSync((await buildReport(d)).file, 'utf8');
    expect(withRoot).not.toContain('image root is not recorded');
    expect(cards(withRoot)).toEqual(cards(page));
  });
});

describe('What each model drew, in a browser', () => {
  let browser: Browser;
  let p: Page;
  let requests: string[];
  let errors: string[];

  beforeAll(async () => {
    ({ browser, page: p, requests, consoleErrors: errors } = await openReport(file));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('puts each box where it belongs on the shown thumbnail', async () => {
    const ids = [...cards(page).keys()];
    expect(await p.locator('#eval-drawn article.eval-sample img').count()).toBe(ids.length);
    for (const id of ids) {
      const s = fx.bench.samples.find((x) => x.id === id)!;
      const { width: W, height: H } = s.images[s.targetImage]!;
      const card = p.locator(`#eval-drawn article[data-sample="${id}"]`);
      await card.scrollIntoViewIfNeeded();
      const img = (await card.locator('img').boundingBox())!;
      expect(img.width).toBeGreaterThan(50);
      // The box's screen extent includes its stroke (drawn at screen width, non-scaling), half on each side.
      const at = async (sel: string) => {
        const r = (await card.locator(sel).boundingBox())!;
        const sw = await card.locator(sel).evaluate((e) => Number.parseFloat((globalThis as unknown as { getComputedStyle(x: unknown): { strokeWidth: string } }).getComputedStyle(e).strokeWidth));
        return { x: r.x + sw / 2, y: r.y + sw / 2, width: r.width - sw, height: r.height - sw };
      };
      // Screen position scaled back to image pixels, within a screen pixel.
      const tol = (W / img.width) * 1.01;
      for (const [sel, box] of [
        ['rect[data-box="rl"]', RL_BOX],
        ['rect[data-box="ground-truth"]', s.targetBox],
        ['rect[data-box="centre"]', [W / 4, H / 4, (3 * W) / 4, (3 * H) / 4]],
      ] as const) {
        const r = await at(sel);
        const px = [((r.x - img.x) * W) / img.width, ((r.y - img.y) * H) / img.height, ((r.x + r.width - img.x) * W) / img.width, ((r.y + r.height - img.y) * H) / img.height];
        for (let k = 0; k < 4; k++) expect(Math.abs(px[k]! - box[k]!), `${id} ${sel} [${k}]`).toBeLessThanOrEqual(tol);
      }
    }
  });

  it('shows the legend and the "no answer" rows, loads every thumbnail, requests nothing and logs no error', async () => {
    expect(await p.locator('#eval-drawn .eval-legend').isVisible()).toBe(true);
    expect(await p.locator('#eval-drawn tr[data-status="no-answer"]').first().isVisible()).toBe(true);
    const ok = await p.$$eval('#eval-drawn img', (els) => els.map((e) => (e as unknown as { complete: boolean; naturalWidth: number }).naturalWidth > 0));
    expect(ok.length).toBeGreaterThan(0);
    expect(ok.every(Boolean)).toBe(true);
    for (const u of requests) expect(u.startsWith('file://') || u.startsWith('data:')).toBe(true);
    expect(errors).toEqual([]);
  });
});
