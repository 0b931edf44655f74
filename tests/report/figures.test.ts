/**
 * The report's figures against independent DuckDB queries over the same real shards, plus the
 * guarantees of the written files: deterministic bytes, atomic writes, escaping of everything the
 * teacher wrote, and the embedded JSON giving the figures back exactly.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReport, type ReportFigures } from '../../src/report/index.js';
import { fmtUsd } from '../../src/charts/html.js';
import { EVIL_TASK, INJECT_CLOSE, INJECT_IMG, INJECT_SCRIPT, makeRun, type Fixture } from './fixture.js';

let fx: Fixture;
let figures: ReportFigures;
let page: string;
let db: DuckDBInstance;
let conn: DuckDBConnection;
const cleanup: string[] = [];

/** Run SQL on the test's own DuckDB, with the run's stage dirs as globs (not the report's file lists). */
async function q(sql: string): Promise<Record<string, unknown>[]> {
  const src = (dir: string) => `read_parquet('${join(fx.root, dir).replace(/'/g, "''")}/*.parquet')`;
  const text = sql
    .replace(/\bSAMPLES\b/g, src('samples'))
    .replace(/\bCANDIDATES\b/g, src('candidates'))
    .replace(/\bVERDICTS\b/g, src('verdicts'))
    .replace(/\bSFT\b/g, src('corpus/sft'))
    .replace(/\bRL\b/g, src('corpus/rl'));
  const rows = (await conn.runAndReadAll(text)).getRowObjectsJS();
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
}
const one = async (sql: string) => (await q(sql))[0]!;

beforeAll(async () => {
  fx = await makeRun();
  cleanup.push(fx.root);
  const res = await buildReport(fx.root);
  figures = res.figures;
  page = readFileSync(res.file, 'utf8');
  db = await DuckDBInstance.create(':memory:');
  conn = await db.connect();
});

afterAll(() => {
  conn?.closeSync();
  db?.closeSync();
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

describe('figures match an independent DuckDB query over the shards', () => {
  it('funnel counts', async () => {
    const step = (key: string) => figures.funnel.find((s) => s.key === key)?.count;
    expect(step('samples')).toBe((await one('SELECT count(*) AS n FROM SAMPLES')).n);
    expect(step('candidates')).toBe((await one('SELECT count(*) AS n FROM CANDIDATES')).n);
    expect(step('answered')).toBe((await one('SELECT count(*) AS n FROM CANDIDATES WHERE error IS NULL AND completion IS NOT NULL')).n);
    expect(step('passed')).toBe((await one('SELECT count(*) AS n FROM VERDICTS WHERE pass')).n);
    expect(step('kept')).toBe((await one('SELECT count(DISTINCT sampleId) AS n FROM VERDICTS WHERE pass')).n);
    expect(step('sft')).toBe((await one('SELECT count(*) AS n FROM SFT')).n);
    expect(step('rl')).toBe((await one('SELECT count(*) AS n FROM RL')).n);
    // Parsed = no request failure, refusal, format or unparsable answer, by a query written another way.
    const parsed = await one(`SELECT count(*) AS n FROM VERDICTS WHERE NOT (
      array_contains(reasons, 'request_failed') OR array_contains(reasons, 'refusal') OR array_contains(reasons, 'format') OR array_contains(reasons, 'answer_unparsable'))`);
    expect(step('parsed')).toBe(parsed.n);
    // The funnel never grows along the candidate steps.
    const cand = figures.funnel.filter((s) => s.unit === 'candidates').map((s) => s.count);
    expect(cand).toEqual([...cand].sort((a, b) => b - a));
  });

  it('pass rate, IoU and Acc@0.5 per task and per difficulty', async () => {
    const byTask = await q(`SELECT task, count(*) AS n, sum(CASE WHEN pass THEN 1 ELSE 0 END) AS p, avg(iou) AS m,
        median(iou) AS med, sum(CASE WHEN iou >= 0.5 THEN 1 ELSE 0 END) AS a FROM VERDICTS GROUP BY task ORDER BY task`);
    expect(figures.quality!.byTask.map((r) => r.key)).toEqual(byTask.map((r) => r.task));
    byTask.forEach((r, i) => {
      const f = figures.quality!.byTask[i]!;
      expect(f.candidates).toBe(r.n);
      expect(f.passed).toBe(r.p);
      expect(f.passRate).toBeCloseTo((r.p as number) / (r.n as number), 12);
      expect(f.meanIou).toBeCloseTo(r.m as number, 12);
      expect(f.medianIou).toBeCloseTo(r.med as number, 12);
      expect(f.acc50).toBeCloseTo((r.a as number) / (r.n as number), 12);
    });
    const byDiff = await q(`SELECT coalesce(difficulty, '(none)') AS d, count(*) AS n, sum(CASE WHEN pass THEN 1 ELSE 0 END) AS p FROM VERDICTS GROUP BY d`);
    expect(figures.quality!.byDifficulty.map((r) => r.key)).toEqual(['easy', 'medium', 'hard', '(none)']);
    for (const r of byDiff) {
      const f = figures.quality!.byDifficulty.find((x) => x.key === r.d)!;
      expect([f.candidates, f.passed]).toEqual([r.n, r.p]);
    }
    // Histograms hold every candidate with a box, and the no-box count the rest.
    const h = figures.quality!.iou.overall;
    const withBox = (await one('SELECT count(iou) AS n, count(*) - count(iou) AS nb FROM VERDICTS')) as { n: number; nb: number };
    expect(h.bins.reduce((s, b) => s + b.count, 0)).toBe(withBox.n);
    expect(h.noBox).toBe(withBox.nb);
    const top = await one('SELECT count(*) AS n FROM VERDICTS WHERE iou >= 0.9');
    expect(h.bins[9]!.count).toBe(top.n);
  });

  it('teacher cost, tokens, latency quantiles, attempts and cache hits', async () => {
    const t = figures.teacher!;
    const r = await one(`SELECT sum(costUsd) AS cost, sum(promptTokens) AS pt, sum(completionTokens) AS ct,
      sum(CASE WHEN cached THEN 1 ELSE 0 END) AS cached, sum(attempts) AS att, sum(CASE WHEN attempts > 1 THEN 1 ELSE 0 END) AS retried FROM CANDIDATES`);
    expect(t.costUsd).toBeCloseTo(r.cost as number, 12);
    expect(t.promptTokens).toBe(r.pt);
    expect(t.completionTokens).toBe(r.ct);
    expect(t.cached).toBe(r.cached);
    expect(t.attempts.total).toBe(r.att);
    expect(t.attempts.retried).toBe(r.retried);
    const lat = await one(`SELECT quantile_cont(latencyMs, [0.5, 0.9, 0.99]) AS qs FROM CANDIDATES WHERE cached = false`);
    const [p50, p90, p99] = lat.qs as number[];
    expect(t.latencyMs.p50).toBeCloseTo(p50!, 9);
    expect(t.latencyMs.p90).toBeCloseTo(p90!, 9);
    expect(t.latencyMs.p99).toBeCloseTo(p99!, 9);
    expect(t.latencyHistogram.reduce((s, b) => s + b.count, 0)).toBe(t.requested);
    expect(t.errors[0]!.key).toContain('</script>');
  });

  it('teacher cost split: spent by this run (requested) and replayed from the cache (issue 11)', async () => {
    const t = figures.teacher!;
    const r = await one(`SELECT sum(costUsd) FILTER (WHERE NOT cached) AS spent, sum(costUsd) FILTER (WHERE cached) AS replayed FROM CANDIDATES`);
    expect(r.replayed as number).toBeGreaterThan(0);
    expect(t.spentUsd).toBeCloseTo(r.spent as number, 12);
    expect(t.replayedUsd).toBeCloseTo(r.replayed as number, 12);
    expect(t.spentUsd + t.replayedUsd).toBeCloseTo(t.costUsd, 12);
  });

  it('rejection reasons and quarantine counts', async () => {
    const rows = await q(`SELECT r, count(*) AS n FROM (SELECT unnest(reasons) AS r FROM VERDICTS) GROUP BY r`);
    expect(figures.rejections!.byReason.length).toBe(rows.length);
    for (const r of rows) expect(figures.rejections!.byReason.find((x) => x.reason === r.r)?.count).toBe(r.n);
    // Check order, as the verifier runs its checks.
    expect(figures.rejections!.byReason.map((r) => r.reason).slice(0, 3)).toEqual(['request_failed', 'truncated', 'format']);
    const qr = await q(`SELECT reason, count(*) AS n FROM read_json('${join(fx.root, 'quarantine')}/*.jsonl') GROUP BY reason ORDER BY reason`);
    expect(figures.quarantine!.byReason.map((r) => [r.reason, r.count]).sort()).toEqual(qr.map((r) => [r.reason, r.n]));
    expect(figures.quarantine!.total).toBe(3);
  });
});

describe('the written page', () => {
  it('escapes everything the teacher wrote and keeps exactly the two script elements of the page', () => {
    for (const evil of [INJECT_SCRIPT, INJECT_IMG, INJECT_CLOSE, EVIL_TASK]) expect(page).not.toContain(evil);
    expect(page).toContain('&lt;script&gt;window.__pwned = &quot;completion&quot;; alert(1)&lt;/script&gt;');
    expect(page).toContain('diff&lt;svg onload=alert(2)&gt;');
    expect(page.match(/<script\b/gi)).toHaveLength(2);
    expect(page.match(/<\/script>/gi)).toHaveLength(2);
    // No element of the page carries an event handler attribute (escaped text and attribute values may
    // still read "onerror=", so quoted values are blanked before looking at attribute names).
    const handlers = [...page.matchAll(/<[a-z][^>]*>/gi)].map((m) => m[0].replace(/"[^"]*"/g, '""')).filter((tag) => /\son[a-z]+\s*=/i.test(tag));
    expect(handlers).toEqual([]);
  });

  it('embeds the figures as JSON that parses back to exactly the figures', () => {
    const m = /<script type="application\/json" id="univg-figures">([\s\S]*?)<\/script>/.exec(page);
    expect(m).not.toBeNull();
    expect(m![1]).not.toContain('<');
    expect(JSON.parse(m![1]!)).toEqual(figures);
    expect(JSON.parse(readFileSync(join(fx.root, 'report', 'figures.json'), 'utf8'))).toEqual(figures);
  });

  it('is self-contained: no external URL, no src or href other than data: and in-page anchors', () => {
    const refs = [...page.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const r of refs) expect(r.startsWith('data:') || r.startsWith('#')).toBe(true);
    expect(page).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(page).toContain("Content-Security-Policy");
  });

  it('is byte-identical when built again from the same run, and leaves no temp file behind', async () => {
    const out = mkdtempSync(join(tmpdir(), 'univg-report-again-'));
    cleanup.push(out);
    const again = await buildReport(fx.root, { outDir: out });
    expect(readFileSync(again.file, 'utf8')).toBe(page);
    expect(readFileSync(join(out, 'figures.json'))).toEqual(readFileSync(join(fx.root, 'report', 'figures.json')));
    expect(readdirSync(join(fx.root, 'report')).sort()).toEqual(['figures.json', 'index.html']);
  });

  it('a fully cached run shows $0 spent beside 0 requested, and what the cache replayed (issue 11)', async () => {
    const cached = await makeRun({ allCached: true });
    cleanup.push(cached.root);
    const r = await buildReport(cached.root);
    const html = readFileSync(r.file, 'utf8');
    const t = r.figures.teacher!;
    expect(t.requested).toBe(0);
    expect(t.spentUsd).toBe(0);
    expect(t.replayedUsd).toBeCloseTo(cached.candidates.reduce((a, c) => a + c.costUsd, 0), 12);
    const kpi = (label: string) => new RegExp(`<div class="label">${label}</div><div class="value" data-figure="([^"]+)">([^<]*)</div>`).exec(html);
    expect(kpi('Spent by this run')?.slice(1)).toEqual(['teacher.spentUsd', '$0']);
    expect(kpi('Requested')?.[2]).toBe('0');
    expect(kpi('Replayed from cache')?.slice(1)).toEqual(['teacher.replayedUsd', fmtUsd(t.replayedUsd)]);
    expect(kpi('Teacher spend')?.slice(1)).toEqual(['teacher.spentUsd', '$0']);
  });

  it('never shows a sample twice among the examples, and the rare reasons keep theirs (issue 11)', () => {
    const ids = [...page.matchAll(/<span class="id mono">([^<]*)<\/span>/g)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThan(5);
    expect(new Set(ids).size).toBe(ids.length);
    // Reasons that only one sample has are shown with that sample.
    for (const [reason, id] of [['request_failed', 's-007'], ['think_answer_disagree', 's-008'], ['target_image_not_named', 's-005'], ['answer_out_of_range', 's-006']]) {
      const group = page.slice(page.indexOf(`id="reason-${reason}"`));
      expect(group.slice(0, group.indexOf('</article>')), reason).toContain(`<span class="id mono">${id}</span>`);
    }
  });

  it("draws the reasoning's boxes on the target image, dashed in the candidate's colour (issue 11)", () => {
    // s-008: the reasoning settles on (5,5),(30,30) and the answer is the middle square.
    const card = page.slice(page.indexOf('id="reason-think_answer_disagree"'));
    expect(card).toMatch(/<rect class="think last" x="5" y="5" width="25" height="25" vector-effect="non-scaling-stroke"><title>last box in &lt;think&gt; \(5, 5\), \(30, 30\)<\/title><\/rect><rect class="pred" x="67" y="43" width="66" height="44"/);
    expect(card).toContain('<span class="legend-think"></span>1 box in &lt;think&gt;, last (5, 5), (30, 30)');
    expect(page).toMatch(/\.imgbox svg \.think \{ stroke: var\(--pred\); stroke-dasharray: [\d. ]+;/);
  });

  it("says where the figures' JSON is, and it is there", () => {
    const footer = /<footer class="page">([\s\S]*?)<\/footer>/.exec(page)![1]!;
    expect(footer).not.toContain('JSON block below');
    expect(footer).toContain('report/figures.json');
    expect(footer).toContain('&lt;script id="univg-figures"&gt;');
    expect(page).toContain('<script type="application/json" id="univg-figures">');
  });

  it('draws each example in the original pixel grid of its target image', () => {
    // s-006's answer box (1,1)-(300,300) lies on a 120x90 image: the overlay's viewBox is the image size.
    const card = page.slice(page.indexOf('s-006'));
    expect(card).toMatch(/<svg viewBox="0 0 120 90" preserveAspectRatio="none"[^>]*><rect class="gt" x="40" y="30" width="40" height="30"/);
    expect(card).toContain('<rect class="pred" x="1" y="1" width="299" height="299"');
    expect(card).toContain('answer (1, 1), (300, 300) (extends outside the image)');
  });
});
