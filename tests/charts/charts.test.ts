/** The one chart module: definitions in, static SVG out, the same bytes for the same data. */
import { describe, expect, it } from 'vitest';
import {
  MIME_BUNDLE,
  barChart,
  funnelChart,
  groupHistograms,
  grpoCurve,
  histogram,
  intervalChart,
  lineChart,
  miouBuckets,
  rejectionChart,
  render,
  rowsTable,
  sftLossChart,
  stacked,
  type ChartDef,
} from '../../src/charts/index.js';

const bins = [
  { lo: 0, hi: 0.5, count: 3 },
  { lo: 0.5, hi: 1, count: 6 },
];

/** One definition of every kind, each with its axis titles (what a reader must see). */
const EVERY: Array<[ChartDef, string[]]> = [
  [barChart([{ label: 'a', value: 1 }, { label: 'b', value: 2 }], { title: 'Bars', xTitle: 'candidates' }), ['candidates']],
  [funnelChart([{ label: 'Samples in', unit: 'samples', count: 8, share: 1 }, { label: 'Kept', unit: 'rows', count: 3, share: 0.375 }]), ['count (samples']],
  [rejectionChart([{ reason: 'iou_below_threshold', count: 5, only: 2 }]), ['candidates rejected']],
  [histogram(bins, { title: 'IoU', xTitle: 'IoU with the ground truth', yTitle: 'candidates' }), ['IoU with the ground truth', 'candidates']],
  [groupHistograms([{ key: 'common_object', bins }, { key: 'refer', bins, noBox: 1 }], { title: 'IoU by task', xTitle: 'IoU of the answer box', yTitle: 'candidates' }), ['IoU of the answer box']],
  [lineChart([{ name: 's', points: [[0, 1], [1, 2]] }], { title: 'Line', xTitle: 'step', yTitle: 'reward' }), ['step', 'reward']],
  [miouBuckets({ 'lt0.3': [[1, 0.2]], '0.3-0.7': [[1, 0.5]], 'gt0.7': [[1, 0.3]] }), ['GRPO step', 'share of prompts']],
  [sftLossChart([[1, 5], [2, 4]], [[2, 4.5]]), ['update', 'loss (nats per token)']],
  [grpoCurve('kl', [[1, 0.001], [2, 0.002]]), ['GRPO step', 'KL (nats per token)']],
  [intervalChart([{ key: 'task', measures: { precision: { p: 0.8, lo: 0.6, hi: 0.9 }, recall: { p: 0.7, lo: 0.5, hi: 0.85 } } }], { title: 'Verifier', xTitle: 'share of candidates' }), ['share of candidates']],
];

describe('chart definitions', () => {
  it('every kind draws without a warning, with its title and axis titles', async () => {
    for (const [d, titles] of EVERY) {
      const c = await render(d);
      expect(c.warnings, d.title).toEqual([]);
      expect(c.svg.startsWith('<svg'), d.title).toBe(true);
      expect(c.svg, d.title).toContain(`<title>${d.title.replace(/&/g, '&amp;')}</title>`);
      for (const t of titles) expect(c.svg, `${d.title}: ${t}`).toContain(t.replace(/&/g, '&amp;'));
    }
  });

  it('gives the same bytes for the same data, whatever was drawn before it in the process', async () => {
    // The funnel's rounded bars are clipped, so it carries ids.
    const def = () => funnelChart([{ label: 'Samples in', unit: 'samples', count: 8 }, { label: 'Kept', unit: 'rows', count: 3 }]);
    const first = (await render(def())).svg;
    // Vega numbers clip paths from a process-wide counter: move it on, past a power of ten.
    for (let i = 0; i < 12; i++) await render(barChart([{ label: `x${i}`, value: i + 1 }], { title: 'other', xTitle: 'n' }));
    const second = (await render(def())).svg;
    expect(second).toBe(first);
    expect(first).toMatch(/clip-path="url\(#c[0-9a-f]{10}-\d+\)"/);
    // A different chart on the same page never shares an id with it.
    const other = (await render(funnelChart([{ label: 'Samples in', unit: 'samples', count: 9 }]))).svg;
    expect(other).toMatch(/ id="/);
    const ids = (s: string) => new Set([...s.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]));
    for (const id of ids(other)) expect(ids(first).has(id)).toBe(false);
  });

  it('draws bars in proportion to their values, and writes each value', async () => {
    const svg = (await render(barChart([{ label: 'a', value: 1 }, { label: 'b', value: 2 }, { label: 'c', value: 4 }], { title: 'B', xTitle: 'n' }))).svg;
    const widths = [...svg.matchAll(/aria-roledescription="bar" d="M0,0h([\d.]+)v/g)].map((m) => Number(m[1]));
    expect(widths).toHaveLength(3);
    expect(widths[1]! / widths[0]!).toBeCloseTo(2, 2);
    expect(widths[2]! / widths[0]!).toBeCloseTo(4, 2);
    for (const v of ['>1<', '>2<', '>4<']) expect(svg).toContain(v);
  });

  it('escapes text from data and says when there is nothing to draw', async () => {
    const svg = (await render(barChart([{ label: 'c<svg onload=alert(1)>', value: 1 }], { title: 'x', xTitle: 'n' }))).svg;
    expect(svg).not.toContain('<svg onload');
    expect(svg).toContain('c&lt;svg onload=alert(1)&gt;');
    expect((await render(histogram([{ lo: 0, hi: 1, count: 0 }], { title: 'e', xTitle: 'x', yTitle: 'y' }))).svg).toContain('no data');
    expect((await render(lineChart([], { title: 'e', xTitle: 'x', yTitle: 'y' }))).svg).toContain('no data');
  });

  it('draws one area per mIoU bucket however many GRPO steps there are', async () => {
    const steps = (v: number) => Array.from({ length: 50 }, (_, i) => [i + 1, v] as const);
    const svg = (await render(miouBuckets({ 'lt0.3': steps(0.2), '0.3-0.7': steps(0.5), 'gt0.7': steps(0.3) }))).svg;
    expect(svg.match(/aria-roledescription="area mark"/g)).toHaveLength(3);
  });

  it('hands a notebook the SVG as image/svg+xml', async () => {
    const c = await render(EVERY[0]![0]);
    expect(c[MIME_BUNDLE]()).toEqual({ 'image/svg+xml': c.svg, 'text/plain': '[chart] Bars' });
  });

  it('stacks charts into one SVG document (a trainer\'s curves file)', async () => {
    const c = await render(stacked([grpoCurve('rewardMean', [[1, 0.5], [2, 0.7]]), sftLossChart([[1, 5], [2, 4]], [])], 'Curves'));
    expect(c.warnings).toEqual([]);
    expect(c.svg).toContain('reward (IoU + format)');
    expect(c.svg).toContain('loss (nats per token)');
  });
});

describe('rowsTable', () => {
  it('writes one column per key, numbers formatted, every cell escaped', () => {
    const t = rowsTable([{ task: '<b>x</b>', n: 1234, iou: 0.12345, box: [1, 2], none: null }]).value;
    expect(t).toContain('<th>task</th><th>n</th><th>iou</th><th>box</th><th>none</th>');
    expect(t).toContain('&lt;b&gt;x&lt;/b&gt;');
    expect(t).toContain('>1,234<');
    expect(t).toContain('>0.123<');
    expect(t).toContain('<code>[1,2]</code>');
    expect(rowsTable([]).value).toContain('no rows');
  });
});
