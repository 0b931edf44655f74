/**
 * The audit app end to end in headless Chromium (issue 14): a demo run (synthetic suite, simulated teacher
 * over HTTP, real shards) opens, filters, and shows a sample with its boxes where the data says (SVG
 * geometry against DuckDB, and stroke colours found on a screenshot); box mentions and drawn boxes light
 * each other up; decisions are made with the keyboard, undone, still there after a reload, and come out
 * of `univg audit export` as DuckDB reads them. A candidate carrying script, onerror and javascript:
 * payloads runs nothing.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { DuckDBInstance } from '@duckdb/node-api';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportLabels } from '../../src/audit/export.js';
import { startAuditServer, type RunningServer } from '../../src/audit/server.js';
import { AuditSession } from '../../src/audit/session.js';
import { parsePipelineConfig } from '../../src/pipeline/load-config.js';
import { createReporter } from '../../src/pipeline/progress.js';
import { runPipeline } from '../../src/pipeline/runner.js';
import { STANDARD_STAGES } from '../../src/stages/index.js';
import { EVIL_ID, makeAuditRun, PAYLOAD_CLOSE, PAYLOAD_IMG, PAYLOAD_JS, PAYLOAD_SCRIPT, type AuditFixture } from './fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const work = mkdtempSync(join(tmpdir(), 'univg-audit-browser-'));
const demo = join(work, 'demo');
let fx: AuditFixture;
let browser: Browser;
const open: Array<{ server: RunningServer; session: AuditSession }> = [];

async function startOn(root: string, auditor: string): Promise<RunningServer> {
  const session = await AuditSession.open(root, { sample: 8, seed: 3 });
  const server = await startAuditServer({ session, auditor, token: null, runLabel: 'demo', port: 0 });
  open.push({ server, session });
  return server;
}

async function query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    return (await con.runAndReadAll(sql)).getRowObjectsJS() as T[];
  } finally {
    con.closeSync();
  }
}

/** A page that records what it requests, logs and pops up. */
async function newPage(): Promise<{ page: Page; errors: string[]; dialogs: string[]; requests: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1500, height: 1000 } });
  const page = await context.newPage();
  const errors: string[] = [];
  const dialogs: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  page.on('request', (r) => requests.push(r.url()));
  return { page, errors, dialogs, requests };
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (the test script installs it in CI)`);
  const text = `name: demo
runDir: ${JSON.stringify(demo)}
seed: 7
source: { format: synthetic, samples: 20, seed: 7, testFraction: 0 }
teacher:
  model: univg-sim-teacher
  simulated: { seed: 7, faults: { malformed: 0.1 } }
  candidates: 3
  convention: qwen2vl
  cacheDir: ${JSON.stringify(join(work, 'cache'))}
select: { rlFraction: 0.2 }
shards: { tasks: 2 }
`;
  const { config } = parsePipelineConfig(text, 'demo.yaml');
  const reporter = createReporter('plain', new PassThrough(), 60_000);
  await runPipeline({ config, configText: text, configFile: 'demo.yaml', stages: STANDARD_STAGES, only: ['ingest', 'generate', 'verify', 'select'], reporter });
  reporter.close();
  fx = await makeAuditRun();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  for (const o of open) {
    await o.server.close();
    await o.session.close();
  }
  rmSync(work, { recursive: true, force: true });
  if (fx) rmSync(fx.root, { recursive: true, force: true });
});

/** The `[x, y, width, height]` SVG attributes of a box, as the page writes them. */
const rectOf = (box: readonly number[]) => [box[0]!, box[1]!, box[2]! - box[0]!, box[3]! - box[1]!].map((v) => Math.round(v * 100) / 100);

describe('a demo run in the browser', () => {
  let server: RunningServer;
  let page: Page;
  let errors: string[];
  beforeAll(async () => {
    server = await startOn(demo, 'ana');
    ({ page, errors } = await newPage());
    await page.goto(server.url);
    await page.waitForSelector('li.row');
    await page.waitForSelector('article.sample');
  });

  it('lists the run\'s samples with counts that DuckDB agrees with', async () => {
    const [n] = await query<{ n: number }>(`SELECT count(*)::INT AS n FROM read_parquet('${demo}/samples/*.parquet')`);
    expect(await page.locator('.pager span').first().textContent()).toBe(`1–${Math.min(50, n!.n)} of ${n!.n}`);
    expect(await page.locator('li.row').count()).toBe(Math.min(50, n!.n));
    expect(errors).toEqual([]);
  });

  it('filters by a facet, and the other facets recount', async () => {
    const tasks = await query<{ task: string; n: number }>(`SELECT task, count(*)::INT AS n FROM read_parquet('${demo}/samples/*.parquet') GROUP BY task ORDER BY n DESC, task LIMIT 1`);
    const { task, n } = tasks[0]!;
    await page.locator(`fieldset[data-facet="task"] input[value="${task}"]`).check();
    await expect.poll(() => page.locator('.pager span').first().textContent()).toBe(`1–${n} of ${n}`);
    const shown = await page.$$eval('li.row .task', (els) => els.map((e) => e.textContent));
    expect(new Set(shown)).toEqual(new Set([task.replace(/_/g, ' ')]));
    const [kept] = await query<{ n: number }>(`SELECT count(*)::INT AS n FROM (SELECT sampleId FROM read_parquet('${demo}/verdicts/*.parquet') WHERE task = '${task}' GROUP BY sampleId HAVING bool_or(pass))`);
    expect(Number(await page.locator('fieldset[data-facet="verdict"] input[value="kept"] ~ .n').textContent())).toBe(kept!.n);
    const [all] = await query<{ n: number }>(`SELECT count(*)::INT AS n FROM read_parquet('${demo}/samples/*.parquet')`);
    await page.locator(`fieldset[data-facet="task"] input[value="${task}"]`).uncheck();
    await expect.poll(() => page.locator('.pager span').first().textContent()).toBe(`1–${Math.min(50, all!.n)} of ${all!.n}`);
  });

  it("draws the ground truth, each candidate's answer and the reasoning's boxes where the data says", async () => {
    const [row] = await query<{ id: string }>(`SELECT id FROM read_parquet('${demo}/samples/*.parquet') WHERE len(images) > 1 ORDER BY id LIMIT 1`);
    await page.locator(`li.row[data-id="${row!.id}"]`).click();
    await page.waitForSelector(`article.sample[data-id="${row!.id}"]`);
    const [s] = await query<{ targetImage: number; targetBox: number[] }>(`SELECT targetImage::INT AS targetImage, targetBox FROM read_parquet('${demo}/samples/*.parquet') WHERE id = '${row!.id}'`);
    const verdicts = await query<{ k: number; answerBox: number[] | null }>(`SELECT candidateIndex::INT AS k, answerBox FROM read_parquet('${demo}/verdicts/*.parquet') WHERE sampleId = '${row!.id}'`);
    const target = page.locator(`figure.img[data-img="${s!.targetImage}"]`);
    const attrs = (sel: string) => target.locator(sel).evaluateAll((els) => els.map((e) => ['x', 'y', 'width', 'height'].map((a) => Number(e.getAttribute(a)))));
    expect(await attrs('rect.gt')).toEqual([rectOf(s!.targetBox)]);
    for (const v of verdicts) {
      if (v.answerBox) expect(await attrs(`rect.ans[data-cand="${v.k}"]`)).toEqual([rectOf(v.answerBox)]);
      else expect(await target.locator(`rect.ans[data-cand="${v.k}"]`).count()).toBe(0);
    }
    // Every reasoning box sits on some image, inside the pixel grid the verifier used.
    const think = await page.$$eval('figure.img', (figs) =>
      figs.flatMap((f) => {
        const vb = f.querySelector('svg')!.getAttribute('viewBox')!.split(' ').map(Number);
        return [...f.querySelectorAll('rect.think')].map((r) => ({ x: Number(r.getAttribute('x')), w: Number(r.getAttribute('width')), W: vb[2]!, img: f.getAttribute('data-img') }));
      }),
    );
    expect(think.length).toBeGreaterThan(0);
    for (const t of think) expect(t.x + t.w).toBeLessThanOrEqual(t.W * 1.05);
  });

  it('lights up a box when its mention in the text is hovered, and the mention when the box is', async () => {
    const art = page.locator('article.sample');
    const focus = await art.getAttribute('data-focus');
    const mention = page.locator(`section.cand.on .bx[data-box="c${focus}-a"]`);
    const key = `c${focus}-a`;
    await mention.hover();
    expect(await page.locator(`rect[data-box="${key}"]`).getAttribute('class')).toMatch(/\bhl\b/);
    await page.mouse.move(5, 5);
    expect(await page.locator(`rect[data-box="${key}"]`).getAttribute('class')).not.toMatch(/\bhl\b/);
    // Now the other way: onto the drawn box's left edge.
    const box = (await page.locator(`rect[data-box="${key}"]`).boundingBox())!;
    await page.mouse.move(box.x + 1, box.y + box.height / 2);
    expect(await mention.getAttribute('class')).toMatch(/\bhl\b/);
    await page.mouse.move(5, 5);
  });

  it('takes decisions from the keyboard, undoes one, keeps them across a reload, and exports them', async () => {
    await page.keyboard.press('Escape');
    await page.keyboard.press('?');
    expect(await page.locator('dialog#help[open]').count()).toBe(1);
    expect(await page.locator('dialog#help').textContent()).toContain('undo your last decision');
    await page.keyboard.press('Escape');
    const first = (await page.locator('article.sample').getAttribute('data-id'))!;
    await page.keyboard.press('2');
    expect(await page.locator('button.reason.on').getAttribute('data-reason')).toBe('wrong_image');
    await page.keyboard.press('r');
    await expect.poll(() => page.locator('article.sample').getAttribute('data-id')).not.toBe(first);
    const second = (await page.locator('article.sample').getAttribute('data-id'))!;
    await page.keyboard.press('n');
    await page.keyboard.type('looks right');
    await page.keyboard.press('Escape');
    await page.keyboard.press('a');
    await expect.poll(() => page.locator('article.sample').getAttribute('data-id')).not.toBe(second);
    await page.keyboard.press('u');
    await expect.poll(() => page.locator('article.sample').getAttribute('data-id')).toBe(second);
    await page.locator('#decide .you', { hasText: 'you have not decided' }).waitFor();

    await page.reload();
    await page.waitForSelector(`li.row[data-id="${first}"] .dec.reject`);
    expect(await page.locator(`li.row[data-id="${second}"] .dec`).count()).toBe(0);
    await page.locator(`li.row[data-id="${first}"]`).click();
    await page.waitForSelector(`article.sample[data-id="${first}"]`);
    expect(await page.locator('#decide .you').textContent()).toBe('your decision: reject · wrong image');
    expect(await page.locator('ol.history li').count()).toBe(1);

    const out = join(work, 'labels.parquet');
    await exportLabels(demo, out);
    const rows = await query<{ sampleId: string; decision: string; reason: string | null; note: string; auditor: string }>(`SELECT sampleId, decision, reason, note, auditor FROM read_parquet('${out}') ORDER BY seq`);
    expect(rows).toEqual([
      { sampleId: first, decision: 'reject', reason: 'wrong_image', note: '', auditor: 'ana' },
      { sampleId: second, decision: 'accept', reason: null, note: 'looks right', auditor: 'ana' },
      { sampleId: second, decision: 'clear', reason: null, note: '', auditor: 'ana' },
    ]);
    expect(errors).toEqual([]);
  });

  it('moves through the queue with j and k, shows the next candidate with c, and focuses the search with /', async () => {
    const here = (await page.locator('article.sample').getAttribute('data-id'))!;
    await page.keyboard.press('j');
    await expect.poll(() => page.locator('article.sample').getAttribute('data-id')).not.toBe(here);
    await page.keyboard.press('k');
    await expect.poll(() => page.locator('article.sample').getAttribute('data-id')).toBe(here);
    const art = page.locator('article.sample');
    const focus = await art.getAttribute('data-focus');
    const tabs = await page.locator('.tab[data-cand]').count();
    await page.keyboard.press('c');
    if (tabs > 1) await expect.poll(() => art.getAttribute('data-focus')).not.toBe(focus);
    else expect(await art.getAttribute('data-focus')).toBe(focus);
    await page.keyboard.press('/');
    expect(await page.locator('#q:focus').count()).toBe(1);
    await page.keyboard.press('Escape');
    expect(errors).toEqual([]);
  });

  it('shows the verifier against the auditors', async () => {
    await page.keyboard.press('s');
    await page.waitForSelector('dialog#stats[open] table.quality');
    expect(await page.locator('dialog#stats').textContent()).toContain('3 decisions by 1 auditor on 1 samples');
    // The chart module's interval chart, inline SVG under the page's policy (no inline style, no script).
    expect(await page.locator('dialog#stats svg.chart.interval-chart').count()).toBe(1);
    await page.keyboard.press('Escape');
  });
});

describe('untrusted text in the browser', () => {
  it('runs nothing: script, onerror and javascript: payloads in a candidate, a question, an error and a note read as text', async () => {
    const server = await startOn(fx.root, 'ana');
    const { page, errors, dialogs, requests } = await newPage();
    await page.goto(`${server.url}?open=${EVIL_ID}`);
    await page.waitForSelector(`article.sample[data-id="${EVIL_ID}"]`);
    await page.locator('.tab[data-cand="1"]').click();
    await page.locator('.tab[data-cand="0"]').click();
    await page.keyboard.press('n');
    await page.keyboard.type(PAYLOAD_IMG);
    await page.keyboard.press('Escape');
    await page.keyboard.press('f');
    await page.waitForTimeout(300);
    await page.locator(`li.row[data-id="${EVIL_ID}"]`).click();
    await page.waitForSelector('ol.history li .note');
    await page.locator('p.question').click();
    await page.waitForTimeout(200);

    expect(await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(await page.locator('script').count()).toBe(2);
    expect(await page.locator('[onerror], [onload], img[src="x"], a[href^="javascript:"], svg[onload]').count()).toBe(0);
    const completion = await page.locator('section.cand[data-cand="0"] pre.completion').textContent();
    for (const p of [PAYLOAD_SCRIPT, PAYLOAD_IMG, PAYLOAD_JS, PAYLOAD_CLOSE]) expect(completion).toContain(p);
    expect(await page.locator('p.question').textContent()).toContain(PAYLOAD_JS);
    expect(await page.locator('section.cand[data-cand="1"] .error').textContent()).toContain(PAYLOAD_CLOSE);
    expect(await page.locator('ol.history li .note').first().textContent()).toBe(PAYLOAD_IMG);
    // Nothing was fetched from anywhere but the app itself.
    expect(requests.filter((u) => !u.startsWith(server.url))).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('draws the boxes in their colours at the right pixels (screenshot)', async () => {
    const server = open.find((o) => o.session.root === fx.root)!.server;
    const { page } = await newPage();
    await page.goto(`${server.url}?open=s-03`);
    await page.waitForSelector('article.sample[data-id="s-03"]');
    // s-03: target is image 2 (200x200), ground truth [50, 60, 150, 140]; candidate 1 (focused) answers [60, 60, 160, 140].
    expect(await page.locator('article.sample').getAttribute('data-focus')).toBe('1');
    const frame = page.locator('figure.img[data-img="1"] .frame img');
    await expect.poll(() => frame.evaluate((e) => (e as unknown as { complete: boolean; naturalWidth: number }).complete && (e as unknown as { naturalWidth: number }).naturalWidth)).toBe(200);
    const bb = (await frame.boundingBox())!;
    const shot = await page.screenshot({ clip: bb });
    const { data, info } = await sharp(shot).raw().toBuffer({ resolveWithObject: true });
    const sx = info.width / 200;
    const sy = info.height / 200;
    const px = (x: number, y: number) => {
      const i = (Math.round(y) * info.width + Math.round(x)) * info.channels;
      return [data[i]!, data[i + 1]!, data[i + 2]!] as const;
    };
    /** Along a vertical segment at image x, how many pixels within 2 px are close to `rgb`. */
    const hits = (x: number, y0: number, y1: number, rgb: readonly [number, number, number]) => {
      let n = 0;
      for (let y = y0 * sy; y <= y1 * sy; y++) {
        let found = false;
        for (let dx = -2; dx <= 2 && !found; dx++) {
          const p = px(x * sx + dx, y);
          found = Math.abs(p[0] - rgb[0]) + Math.abs(p[1] - rgb[1]) + Math.abs(p[2] - rgb[2]) < 90;
        }
        if (found) n++;
      }
      return n / ((y1 - y0) * sy + 1);
    };
    const GREEN = [22, 163, 74] as const;
    const BLUE = [37, 99, 235] as const;
    // The ground truth's left edge is solid green; the answer's left edge (dashed, candidate 1 blue) is 10 px to the right.
    expect(hits(50, 62, 138, GREEN)).toBeGreaterThan(0.9);
    expect(hits(60, 62, 138, BLUE)).toBeGreaterThan(0.4);
    // Where there is no box there is only the image's own colour.
    expect(hits(30, 62, 138, GREEN)).toBe(0);
    expect(hits(30, 62, 138, BLUE)).toBe(0);
    expect(hits(180, 62, 138, BLUE)).toBe(0);
  });
});
