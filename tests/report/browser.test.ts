/**
 * The report opened from disk in headless Chromium: nothing from the data runs, the injected markup
 * reads as text, plots and images render, no request leaves file:// and data:, the console stays
 * clean, the numbers shown are the figures, and the page reads the same with JavaScript off.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport, type ReportFigures } from '../../src/report/index.js';
import { fmtInt } from '../../src/charts/html.js';
import { openReport } from './chromium.js';
import { EVIL_TASK, INJECT_IMG, INJECT_SCRIPT, makeRun } from './fixture.js';

let root: string;
let file: string;
let figures: ReportFigures;
let shots: string;
let browser: Browser;
let requests: string[];
let consoleErrors: string[];
let dialogs: string[];
let page: Page;

beforeAll(async () => {
  root = (await makeRun()).root;
  const res = await buildReport(root);
  file = res.file;
  figures = res.figures;
  shots = mkdtempSync(join(tmpdir(), 'univg-report-shots-'));
  ({ browser, page, requests, consoleErrors, dialogs } = await openReport(file));
});

afterAll(async () => {
  await browser?.close();
  for (const d of [root, shots]) if (d) rmSync(d, { recursive: true, force: true });
});

/** The parts of an HTMLImageElement the test reads (the project's TS lib has no DOM types). */
interface ImgLike {
  complete: boolean;
  naturalWidth: number;
  src: string;
}

/** Value at a path like `quality.byTask[0].passRate`. */
function at(obj: unknown, path: string): unknown {
  return path
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .reduce<unknown>((o, k) => (o as Record<string, unknown> | null)?.[k], obj);
}

/** A displayed number and how far from the figure it may be (the display rounds). */
function shown(text: string): { value: number; tol: number } | null {
  const t = text.trim();
  let m: RegExpExecArray | null;
  if (t === '–') return null;
  if ((m = /^(-?[\d.]+)%$/.exec(t))) return { value: Number(m[1]) / 100, tol: 0.0005 + 1e-9 };
  if ((m = /^\$([\d,.]+)$/.exec(t))) {
    const digits = m[1]!.split('.')[1]?.length ?? 0;
    return { value: Number(m[1]!.replace(/,/g, '')), tol: 0.5 * 10 ** -digits + 1e-12 };
  }
  if ((m = /^([\d.]+) ms$/.exec(t))) return { value: Number(m[1]), tol: 0.5 + 1e-9 };
  if ((m = /^([\d.]+) s$/.exec(t))) {
    const digits = m[1]!.split('.')[1]?.length ?? 0;
    return { value: Number(m[1]) * 1000, tol: 500 * 10 ** -digits + 1e-9 };
  }
  if ((m = /^-?[\d,]+$/.exec(t))) return { value: Number(t.replace(/,/g, '')), tol: 0 };
  if ((m = /^-?\d+\.(\d+)$/.exec(t))) return { value: Number(t), tol: 0.5 * 10 ** -m[1]!.length + 1e-12 };
  throw new Error(`unrecognised number format: ${JSON.stringify(text)}`);
}

describe('the report in a browser', () => {
  it('runs nothing from the data', async () => {
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: unknown }).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    // The injected markup did not become elements.
    expect(await page.locator('img[src="x"], svg[onload], [onerror], [onload]').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(2);
  });

  it('shows the injected markup as text', async () => {
    await expect(page.locator('pre.completion', { hasText: INJECT_SCRIPT }).first().isVisible()).resolves.toBe(true);
    await expect(page.locator('p.question', { hasText: INJECT_IMG }).first().isVisible()).resolves.toBe(true);
    await expect(page.locator('td code', { hasText: EVIL_TASK }).first().isVisible()).resolves.toBe(true);
    await expect(page.locator('.error', { hasText: '</script><script>window.__pwned = "json"</script>' }).first().isVisible()).resolves.toBe(true);
  });

  it('renders plots and images', async () => {
    expect(await page.locator('svg.chart').count()).toBeGreaterThanOrEqual(8);
    // Vega draws bars as paths, each described for screen readers (and hover) as a bar.
    expect(await page.locator('svg.chart path[aria-roledescription="bar"]').count()).toBeGreaterThan(20);
    const imgs = await page.$$eval('img', (els) => els.map((e) => e as unknown as ImgLike).map((e) => ({ ok: e.complete && e.naturalWidth > 0, src: e.src.slice(0, 23) })));
    expect(imgs.length).toBeGreaterThanOrEqual(10);
    for (const i of imgs) expect(i).toEqual({ ok: true, src: 'data:image/jpeg;base64,' });
    // Box overlays sit on the images, ground truth and answer.
    expect(await page.locator('.imgbox svg rect.gt').count()).toBeGreaterThan(0);
    expect(await page.locator('.imgbox svg rect.pred').count()).toBeGreaterThan(0);
  });

  it("draws the reasoning's boxes on the image, dashed in the answer's colour and inside the image frame (issue 11)", async () => {
    const style = (sel: string) =>
      page.$eval(sel, (e) => {
        const g = globalThis as unknown as { getComputedStyle(x: unknown): { stroke: string; strokeDasharray: string } };
        const cs = g.getComputedStyle(e);
        const r = (e as unknown as { getBoundingClientRect(): { width: number; height: number } }).getBoundingClientRect();
        return { stroke: cs.stroke, dash: cs.strokeDasharray, w: r.width, h: r.height };
      });
    const think = await style('#reason-think_answer_disagree .imgbox svg rect.think');
    const pred = await style('#reason-think_answer_disagree .imgbox svg rect.pred');
    expect(think.stroke).toBe(pred.stroke);
    expect(think.dash).not.toBe('none');
    expect(think.dash).not.toBe(pred.dash);
    // (5,5)-(30,30) on the 200x130 target image: a visible box, smaller than the answer's.
    expect(think.w).toBeGreaterThan(5);
    expect(think.w).toBeLessThan(pred.w);
  });

  it('makes no request other than the file itself and data: URLs, and logs no error', () => {
    expect(requests.length).toBeGreaterThan(0);
    for (const u of requests) expect(u.startsWith('file://') || u.startsWith('data:')).toBe(true);
    expect(requests.filter((u) => u.startsWith('file://'))).toEqual([pathToFileURL(file).href]);
    expect(consoleErrors).toEqual([]);
  });

  it('shows the figures: every number marked with data-figure equals figures.json within display rounding', async () => {
    const marked = await page.$$eval('[data-figure]', (els) => els.map((e) => ({ path: e.getAttribute('data-figure')!, text: e.textContent ?? '' })));
    expect(marked.length).toBeGreaterThan(40);
    for (const { path, text } of marked) {
      const v = at(figures, path);
      const s = shown(text);
      if (s === null) {
        expect(v, path).toBeNull();
        continue;
      }
      expect(typeof v, path).toBe('number');
      expect(Math.abs((v as number) - s.value), `${path}: shown ${text}, figure ${v}`).toBeLessThanOrEqual(s.tol);
    }
    // A few by name, so a renamed path cannot silently drop them from the check above.
    const byPath = new Map(marked.map((m) => [m.path, m.text]));
    const answered = figures.funnel.findIndex((s) => s.key === 'answered');
    expect(byPath.get(`funnel[${answered}].count`)).toBe(fmtInt(figures.funnel[answered]!.count));
    expect(byPath.get('teacher.promptTokens')).toBe(fmtInt(figures.teacher!.promptTokens));
    expect(byPath.has('quality.byTask[0].passRate')).toBe(true);
    expect(byPath.has('teacher.latencyMs.p99')).toBe(true);
    expect(byPath.has('quarantine.byReason[0].count')).toBe(true);
  });

  it('filters the examples with its one script (allowed by the page policy)', async () => {
    const cards = page.locator('#examples article.example');
    const total = await cards.count();
    await page.fill('input[data-filter-for="examples"]', 's-006');
    const visible = await cards.evaluateAll((els) => els.filter((e) => !(e as unknown as { hidden: boolean }).hidden).map((e) => e.textContent ?? ''));
    expect(visible.length).toBeGreaterThan(0);
    expect(visible.length).toBeLessThan(total);
    for (const t of visible) expect(t).toContain('s-006');
    await page.fill('input[data-filter-for="examples"]', '');
    expect(await cards.evaluateAll((els) => els.filter((e) => !(e as unknown as { hidden: boolean }).hidden).length)).toBe(total);
  });

  it('takes a full-page screenshot', async () => {
    const shot = join(shots, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(50_000);
  });

  it('reads the same without JavaScript (filters hidden, every section and example present)', async () => {
    const c = await browser.newContext({ javaScriptEnabled: false });
    try {
      const q = await c.newPage();
      await q.goto(pathToFileURL(file).href);
      for (const id of ['overview', 'funnel', 'quality', 'teacher', 'rejections', 'quarantine', 'corpus']) expect(await q.locator(`section#${id}`).isVisible()).toBe(true);
      expect(await q.locator('#examples article.example:visible').count()).toBe(await page.locator('#examples article.example').count());
      expect(await q.locator('.filter').first().isVisible()).toBe(false);
      expect(await q.locator('svg.chart').first().isVisible()).toBe(true);
      expect(await q.locator('[data-step="answered"]').textContent()).toBe(fmtInt(figures.funnel.find((x) => x.key === 'answered')!.count));
    } finally {
      await c.close();
    }
  });
});
