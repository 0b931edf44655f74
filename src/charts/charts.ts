/**
 * Every chart univg draws, defined once as data in, Vega-Lite spec out: the run report, the notebooks,
 * the audit app and the trainers' SVG files all call these, then `render` (./render.ts). Pure and
 * synchronous, so a definition can be tested, tweaked in a notebook or handed to any Vega-Lite tool.
 *
 * Every chart has axis titles with their unit, its numbers written the same way everywhere (theme.ts),
 * labels at the end of bars where a reader wants the number, and a description per mark (its hover text).
 */
import type { TopLevelSpec } from 'vega-lite';
import { MIOU_BUCKET_NAMES } from '../schema/config.js';
import type { ChartDef } from './render.js';
import { FORMATS, PALETTE, TRAFFIC, UNIT_COLORS, type NumberFormat } from './theme.js';

type Spec = Record<string, unknown>;
type Row = Record<string, unknown>;

/** A point of a curve: x (a step, a threshold), y. */
export type XY = readonly [number, number];

/** Width of the plot area (px) when a caller does not say. */
const WIDTH = 420;

function def(kind: string, title: string, spec: Spec, subtitle?: string): ChartDef {
  const t = subtitle ? { text: title, subtitle } : { text: title };
  return { kind, title, spec: { title: t, ...spec } as TopLevelSpec };
}

/** d3-format in Vega expression language, for labels and hover text built inside the spec. */
const fmtExpr = (field: string, f: NumberFormat) => `format(datum[${JSON.stringify(field)}], ${JSON.stringify(FORMATS[f].label)})`;

/** What an empty chart shows: its title and a line saying there is nothing to draw. */
function nothing(kind: string, title: string, what: string, width = WIDTH): ChartDef {
  return def(kind, title, {
    width,
    height: 40,
    data: { values: [{ t: what }] },
    mark: { type: 'text', align: 'left', x: 0, y: 20, fontStyle: 'italic' },
    encoding: { text: { field: 't' }, description: { field: 't' } },
  });
}

/** Labels made unique (a duplicate would merge two bars into one). */
function uniqueLabels(labels: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return labels.map((l) => {
    const n = (seen.get(l) ?? 0) + 1;
    seen.set(l, n);
    return n === 1 ? l : `${l} (${n})`;
  });
}

// ---------------------------------------------------------------------------------------------------
// bars

export interface Bar {
  label: string;
  value: number;
  /** Text after the value at the bar's end, e.g. "(12 of 40)". */
  note?: string;
  color?: string;
}

export interface BarOptions {
  title: string;
  subtitle?: string;
  /** The value axis, with its unit: "candidates", "pass rate (% of candidates)". */
  xTitle: string;
  /** The category axis, e.g. "task"; none by default (the labels say it). */
  yTitle?: string;
  format?: NumberFormat;
  /** Value at the right edge (1 for shares); default the largest value. */
  max?: number;
  color?: string;
  width?: number;
}

/** Horizontal bars, one row per item in the order given, each value written at its bar's end. */
export function barChart(bars: readonly Bar[], o: BarOptions): ChartDef {
  if (bars.length === 0) return nothing('bar-chart', o.title, 'no data', o.width);
  const f = o.format ?? 'int';
  const labels = uniqueLabels(bars.map((b) => b.label));
  const values: Row[] = bars.map((b, i) => ({ label: labels[i], value: b.value, note: b.note ?? '', color: b.color ?? o.color ?? PALETTE[0] }));
  const text = `${fmtExpr('value', f)} + (datum.note ? ' ' + datum.note : '')`;
  return def(
    'bar-chart',
    o.title,
    {
      width: o.width ?? WIDTH,
      height: { step: 22 },
      data: { values },
      transform: [{ calculate: text, as: 'text' }, { calculate: `datum.label + ': ' + datum.text`, as: 'tip' }],
      encoding: {
        y: { field: 'label', type: 'nominal', sort: null, title: o.yTitle ?? null, axis: { labelLimit: 240 } },
        x: {
          field: 'value',
          type: 'quantitative',
          title: o.xTitle,
          axis: { format: FORMATS[f].axis, tickMinStep: f === 'int' ? 1 : undefined, tickCount: 6 },
          scale: o.max !== undefined ? { domain: [0, o.max] } : { domainMin: 0 },
        },
      },
      layer: [
        { mark: { type: 'bar', cornerRadiusEnd: 2, height: { band: 0.72 } }, encoding: { color: { field: 'color', type: 'nominal', scale: null }, description: { field: 'tip' } } },
        { mark: { type: 'text', align: 'left', baseline: 'middle', dx: 4 }, encoding: { text: { field: 'text' } } },
      ],
    },
    o.subtitle,
  );
}

export interface FunnelStep {
  label: string;
  unit: 'samples' | 'candidates' | 'rows';
  count: number;
  /** Share of the step the funnel measures it against (the first step in its unit), if any. */
  share?: number | null;
}

/** The funnel: one bar per step, coloured by what it counts, with the count and its share. */
export function funnelChart(steps: readonly FunnelStep[], o: { title?: string; width?: number } = {}): ChartDef {
  const title = o.title ?? 'From samples in to training rows out';
  if (steps.length === 0) return nothing('funnel', title, 'no stage output in this run', o.width);
  const labels = uniqueLabels(steps.map((s) => s.label));
  const units = [...new Set(steps.map((s) => s.unit))];
  const values: Row[] = steps.map((s, i) => ({ label: labels[i], unit: s.unit, count: s.count, share: s.share ?? null }));
  return def('funnel', title, {
    width: o.width ?? 520,
    height: { step: 24 },
    data: { values },
    transform: [
      { calculate: `${fmtExpr('count', 'int')} + (datum.share === null ? '' : '  ·  ' + ${fmtExpr('share', 'pct')})`, as: 'text' },
      { calculate: `datum.label + ': ' + datum.text + ' ' + datum.unit`, as: 'tip' },
    ],
    encoding: {
      y: { field: 'label', type: 'nominal', sort: null, title: null, axis: { labelLimit: 300 } },
      x: { field: 'count', type: 'quantitative', title: 'count (samples, candidates or rows: see colour)', axis: { format: FORMATS.int.axis, tickMinStep: 1, tickCount: 6 } },
    },
    layer: [
      {
        mark: { type: 'bar', cornerRadiusEnd: 2, height: { band: 0.72 } },
        encoding: {
          color: { field: 'unit', type: 'nominal', title: 'counts', scale: { domain: units, range: units.map((u) => UNIT_COLORS[u]) } },
          description: { field: 'tip' },
        },
      },
      { mark: { type: 'text', align: 'left', baseline: 'middle', dx: 4 }, encoding: { text: { field: 'text' } } },
    ],
  });
}

export interface ReasonCount {
  reason: string;
  count: number;
  /** Candidates for which it was the only reason. */
  only: number;
}

/** Rejection reasons: one bar per reason, split into "the only reason" and "with other reasons". */
export function rejectionChart(rows: readonly ReasonCount[], o: { title?: string; width?: number; unit?: string } = {}): ChartDef {
  const title = o.title ?? 'Rejected candidates by reason';
  if (rows.length === 0) return nothing('bar-chart', title, 'nothing was rejected', o.width);
  const labels = uniqueLabels(rows.map((r) => r.reason));
  const values: Row[] = rows.flatMap((r, i) => [
    { reason: labels[i], part: 'the only reason', n: r.only, total: r.count, k: 0 },
    { reason: labels[i], part: 'with other reasons', n: r.count - r.only, total: r.count, k: 1 },
  ]);
  const unit = o.unit ?? 'candidates';
  return def(
    'bar-chart',
    title,
    {
      width: o.width ?? 460,
      height: { step: 22 },
      data: { values },
      encoding: {
        y: { field: 'reason', type: 'nominal', sort: null, title: null, axis: { labelLimit: 240 } },
      },
      layer: [
        {
          transform: [{ calculate: `datum.reason + ': ' + ${fmtExpr('n', 'int')} + ' ' + datum.part + ' (of ' + ${fmtExpr('total', 'int')} + ')'`, as: 'tip' }],
          mark: { type: 'bar', height: { band: 0.72 } },
          encoding: {
            x: { field: 'n', type: 'quantitative', stack: 'zero', title: `${unit} rejected`, axis: { format: FORMATS.int.axis, tickMinStep: 1, tickCount: 6 } },
            color: { field: 'part', type: 'nominal', title: null, scale: { domain: ['the only reason', 'with other reasons'], range: [TRAFFIC.bad, '#f3b37e'] } },
            order: { field: 'k' },
            description: { field: 'tip' },
          },
        },
        {
          transform: [{ filter: 'datum.k === 0' }, { calculate: fmtExpr('total', 'int'), as: 'text' }],
          mark: { type: 'text', align: 'left', baseline: 'middle', dx: 4 },
          encoding: { x: { field: 'total', type: 'quantitative' }, text: { field: 'text' } },
        },
      ],
    },
    'a candidate can fail several checks',
  );
}

// ---------------------------------------------------------------------------------------------------
// distributions

export interface Bin {
  lo: number;
  hi: number;
  count: number;
}

export interface HistogramOptions {
  title: string;
  subtitle?: string;
  /** The measured quantity with its unit, e.g. "IoU with the ground truth". */
  xTitle: string;
  /** What is counted, e.g. "candidates". */
  yTitle: string;
  /** How bin edges are written. */
  format?: NumberFormat;
  /**
   * `linear`: bins on a number line (equal or not). `ordinal`: bins side by side whatever their width,
   * labelled by their upper edge (log-spaced latency buckets).
   */
  scale?: 'linear' | 'ordinal';
  color?: string;
  width?: number;
  height?: number;
}

/** Counts over contiguous bins, the count written above each bar that has any. */
export function histogram(bins: readonly Bin[], o: HistogramOptions): ChartDef {
  const total = bins.reduce((s, b) => s + b.count, 0);
  if (bins.length === 0 || total === 0) return nothing('histogram', o.title, 'no data', o.width ?? 300);
  const f = o.format ?? 'num';
  const ordinal = o.scale === 'ordinal';
  const values: Row[] = bins.map((b, i) => ({ lo: b.lo, hi: b.hi, count: b.count, k: i, name: ordinal ? `≤ ${b.hi}` : '' }));
  const tip = `${fmtExpr('lo', f)} + '–' + ${fmtExpr('hi', f)} + ': ' + ${fmtExpr('count', 'int')} + ' ' + ${JSON.stringify(o.yTitle)}`;
  const x = ordinal
    ? { field: 'name', type: 'ordinal', sort: null, title: o.xTitle, axis: { labelAngle: 0, labelOverlap: 'greedy' } }
    : { field: 'lo', type: 'quantitative', bin: { binned: true }, title: o.xTitle, axis: { format: FORMATS[f].axis }, scale: { domain: [bins[0]!.lo, bins[bins.length - 1]!.hi] } };
  return def(
    'histogram',
    o.title,
    {
      width: o.width ?? 300,
      height: o.height ?? 130,
      data: { values },
      transform: [{ calculate: tip, as: 'tip' }, { calculate: '(datum.lo + datum.hi) / 2', as: 'mid' }],
      encoding: {
        y: { field: 'count', type: 'quantitative', title: o.yTitle, axis: { format: FORMATS.int.axis, tickMinStep: 1, tickCount: 4 } },
      },
      layer: [
        {
          mark: { type: 'bar', color: o.color ?? PALETTE[0], binSpacing: 1, ...(ordinal ? { width: { band: 0.9 } } : {}) },
          encoding: { x, ...(ordinal ? {} : { x2: { field: 'hi' } }), description: { field: 'tip' } },
        },
        {
          transform: [{ filter: 'datum.count > 0' }],
          mark: { type: 'text', baseline: 'bottom', dy: -2, fontSize: 10 },
          encoding: { x: ordinal ? { field: 'name', type: 'ordinal', sort: null } : { field: 'mid', type: 'quantitative' }, text: { field: 'count', format: ',d' } },
        },
      ],
    },
    o.subtitle ?? `${total.toLocaleString('en-US')} ${o.yTitle}`,
  );
}

export interface GroupHistogram {
  key: string;
  bins: readonly Bin[];
  /** Items with no value (a candidate with no answer box has no IoU). */
  noBox?: number;
}

/** One IoU histogram per group (task, difficulty) side by side, each with its own count axis. */
export function groupHistograms(groups: readonly GroupHistogram[], o: { title: string; xTitle: string; yTitle: string; columns?: number; width?: number; colors?: readonly string[] }): ChartDef {
  const total = groups.reduce((s, g) => s + g.bins.reduce((a, b) => a + b.count, 0) + (g.noBox ?? 0), 0);
  if (groups.length === 0 || total === 0) return nothing('histogram facets', o.title, 'no data');
  const heads = uniqueLabels(groups.map((g) => g.key)).map((k, i) => {
    const g = groups[i]!;
    const n = g.bins.reduce((a, b) => a + b.count, 0) + (g.noBox ?? 0);
    return `${k}  ·  n=${n.toLocaleString('en-US')}${g.noBox ? `, no box ${g.noBox.toLocaleString('en-US')}` : ''}`;
  });
  const colors = o.colors ?? PALETTE;
  const values: Row[] = groups.flatMap((g, i) => g.bins.map((b) => ({ group: heads[i], lo: b.lo, hi: b.hi, mid: (b.lo + b.hi) / 2, count: b.count, color: colors[i % colors.length] })));
  const lo = Math.min(...groups.flatMap((g) => g.bins.map((b) => b.lo)));
  const hi = Math.max(...groups.flatMap((g) => g.bins.map((b) => b.hi)));
  return def('histogram facets', o.title, {
    data: { values },
    transform: [{ calculate: `datum.group + ': ' + ${fmtExpr('lo', 'num')} + '–' + ${fmtExpr('hi', 'num')} + ', ' + ${fmtExpr('count', 'int')} + ' ' + ${JSON.stringify(o.yTitle)}`, as: 'tip' }],
    facet: { field: 'group', type: 'nominal', sort: heads, title: null, header: { labelAnchor: 'start', labelLimit: (o.width ?? 220) + 40, labelFontSize: 11.5 } },
    columns: o.columns ?? 3,
    spacing: { row: 14, column: 22 },
    resolve: { scale: { y: 'independent' }, axis: { x: 'independent' } },
    spec: {
      width: o.width ?? 220,
      height: 100,
      encoding: {
        y: { field: 'count', type: 'quantitative', title: o.yTitle, axis: { format: FORMATS.int.axis, tickMinStep: 1, tickCount: 3 } },
      },
      layer: [
        {
          mark: { type: 'bar', binSpacing: 1 },
          encoding: {
            x: { field: 'lo', type: 'quantitative', bin: { binned: true }, title: o.xTitle, scale: { domain: [lo, hi] }, axis: { format: FORMATS.num.axis, tickCount: 5 } },
            x2: { field: 'hi' },
            color: { field: 'color', type: 'nominal', scale: null },
            description: { field: 'tip' },
          },
        },
        {
          transform: [{ filter: 'datum.count > 0' }],
          mark: { type: 'text', baseline: 'bottom', dy: -1, fontSize: 9.5 },
          encoding: { x: { field: 'mid', type: 'quantitative' }, text: { field: 'count', format: ',d' } },
        },
      ],
    },
  });
}

// ---------------------------------------------------------------------------------------------------
// curves

export interface Series {
  name: string;
  points: readonly XY[];
  color?: string;
}

export interface LineOptions {
  title: string;
  subtitle?: string;
  xTitle: string;
  /** The value with its unit, e.g. "cross-entropy per token (nats)". */
  yTitle: string;
  yFormat?: NumberFormat;
  xFormat?: NumberFormat;
  /** Shares: the y axis runs from 0 to 100%. */
  share?: boolean;
  xDomain?: readonly [number, number];
  /** Start the y axis at zero (default true unless a value is negative). */
  zero?: boolean;
  width?: number;
  height?: number;
  /** Legend (default: when there is more than one series). */
  legend?: boolean;
  /** Mark each point (default: when no series has more than 40). */
  points?: boolean;
}

/** Lines over a shared x axis; one colour per series, in the order given. */
export function lineChart(series: readonly Series[], o: LineOptions): ChartDef {
  const drawn = series.filter((s) => s.points.length > 0);
  if (drawn.length === 0) return nothing('line-chart', o.title, 'no data', o.width ?? 300);
  const maxAbs = Math.max(0, ...drawn.flatMap((s) => s.points.map((p) => Math.abs(p[1]))).filter(Number.isFinite));
  // Learning rates and KLs are tiny: their ticks in exponent notation rather than all "0".
  const yf = o.yFormat ?? (o.share ? 'pct' : maxAbs > 0 && maxAbs < 0.01 ? 'sci' : 'num');
  const xf = o.xFormat ?? 'int';
  const values: Row[] = drawn.flatMap((s) => s.points.filter((p) => Number.isFinite(p[1])).map(([x, y]) => ({ series: s.name, x, y })));
  const names = drawn.map((s) => s.name);
  const colors = drawn.map((s, i) => s.color ?? PALETTE[series.indexOf(s) % PALETTE.length]!);
  const legend = o.legend ?? drawn.length > 1;
  const points = o.points ?? Math.max(...drawn.map((s) => s.points.length)) <= 40;
  const negative = values.some((v) => (v.y as number) < 0);
  return def(
    'line-chart',
    o.title,
    {
      width: o.width ?? 300,
      height: o.height ?? 150,
      data: { values },
      transform: [{ calculate: `datum.series + ' at ' + ${fmtExpr('x', xf)} + ': ' + ${fmtExpr('y', yf)}`, as: 'tip' }],
      mark: { type: 'line', point: points, interpolate: 'linear' },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: o.xTitle, axis: { format: FORMATS[xf].axis, tickMinStep: xf === 'int' ? 1 : undefined }, scale: o.xDomain ? { domain: [...o.xDomain], nice: false } : { nice: false } },
        y: {
          field: 'y',
          type: 'quantitative',
          title: o.yTitle,
          axis: { format: FORMATS[yf].axis, tickCount: 4 },
          scale: o.share ? { domain: [0, 1] } : { zero: o.zero ?? !negative },
        },
        color: { field: 'series', type: 'nominal', scale: { domain: names, range: colors }, legend: legend ? { title: null } : null },
        description: { field: 'tip' },
      },
    },
    o.subtitle,
  );
}

type MiouBucket = (typeof MIOU_BUCKET_NAMES)[number];
/** How charts name the paper's Figure 3 buckets. */
export const MIOU_BUCKET_LABELS: Readonly<Record<MiouBucket, string>> = { 'lt0.3': 'mIoU < 0.3 (hard)', '0.3-0.7': 'mIoU 0.3–0.7', 'gt0.7': 'mIoU > 0.7 (easy)' };

/** The share of each GRPO step's prompts in each mIoU bucket, stacked (the paper's Figure 3 over time). */
export function miouBuckets(buckets: Readonly<Record<MiouBucket, readonly XY[]>>, o: { title?: string; width?: number; height?: number } = {}): ChartDef {
  const title = o.title ?? "Prompts by mIoU bucket per GRPO step";
  const values: Row[] = MIOU_BUCKET_NAMES.flatMap((b, k) => buckets[b].map(([step, share]) => ({ step, share, bucket: MIOU_BUCKET_LABELS[b], k })));
  if (values.length === 0) return nothing('line-chart', title, 'no GRPO steps logged', o.width ?? 300);
  return def('line-chart', title, {
    width: o.width ?? 300,
    height: o.height ?? 150,
    data: { values },
    // No per-point description on the area: the stack would group by it, one area per point (O(n²) bytes).
    mark: { type: 'area', opacity: 0.9, description: title },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'GRPO step', axis: { format: 'd', tickMinStep: 1 }, scale: { nice: false } },
      y: { field: 'share', type: 'quantitative', stack: 'zero', title: 'share of prompts', axis: { format: '.0%', tickCount: 4 }, scale: { domain: [0, 1] } },
      color: {
        field: 'bucket',
        type: 'nominal',
        title: null,
        scale: { domain: MIOU_BUCKET_NAMES.map((b) => MIOU_BUCKET_LABELS[b]), range: [TRAFFIC.bad, TRAFFIC.middle, TRAFFIC.good] },
      },
    },
  });
}

// ---------------------------------------------------------------------------------------------------
// training

/** SFT's loss per update on its batches, with the held-out loss where it was measured. */
export function sftLossChart(train: readonly XY[], heldOut: readonly XY[], o: { title?: string; subtitle?: string; width?: number; height?: number } = {}): ChartDef {
  return lineChart(
    [
      { name: 'train loss (batch)', points: train, color: PALETTE[0] },
      { name: 'held-out loss', points: heldOut, color: PALETTE[1] },
    ],
    {
      title: o.title ?? 'SFT loss per update',
      subtitle: o.subtitle ?? 'cross-entropy per completion token',
      xTitle: 'update',
      yTitle: 'loss (nats per token)',
      yFormat: 'num',
      width: o.width ?? 520,
      height: o.height ?? 200,
    },
  );
}

/** What GRPO logs per step, and how each is charted. */
export const GRPO_CURVES = [
  { key: 'rewardMean', title: 'Reward, mean over rollouts', yTitle: 'reward (IoU + format)' },
  { key: 'rewardStd', title: 'Reward spread within a group', yTitle: 'reward std' },
  { key: 'accuracyMean', title: 'Accuracy reward (IoU), mean', yTitle: 'IoU reward', share: true },
  { key: 'formatRate', title: 'Format rate', yTitle: 'rollouts well-formed', share: true },
  { key: 'weightMean', title: 'Difficulty weight, mean', yTitle: 'phi(mIoU)' },
  { key: 'kl', title: 'KL to the SFT model', yTitle: 'KL (nats per token)' },
  { key: 'clipFraction', title: 'Clip fraction', yTitle: 'tokens clipped', share: true },
  { key: 'completionLength', title: 'Completion length', yTitle: 'tokens' },
  { key: 'loss', title: 'Loss', yTitle: 'GRPO loss' },
] as const satisfies ReadonlyArray<{ key: string; title: string; yTitle: string; share?: boolean }>;
export type GrpoCurve = (typeof GRPO_CURVES)[number]['key'];

/** One GRPO metric over the steps. */
export function grpoCurve(key: GrpoCurve, points: readonly XY[], o: { subtitle?: string; color?: string; width?: number; height?: number } = {}): ChartDef {
  const i = GRPO_CURVES.findIndex((c) => c.key === key);
  const c: { title: string; yTitle: string; share?: boolean } = GRPO_CURVES[i]!;
  return lineChart([{ name: c.title, points, color: o.color ?? PALETTE[i % PALETTE.length]! }], {
    title: c.title,
    ...(o.subtitle ? { subtitle: o.subtitle } : {}),
    xTitle: 'GRPO step',
    yTitle: c.yTitle,
    share: c.share ?? false,
    width: o.width ?? 250,
    height: o.height ?? 130,
  });
}

// ---------------------------------------------------------------------------------------------------
// estimates

/** A share with its confidence interval (p null: nothing to estimate yet). */
export interface Estimate {
  p: number | null;
  lo: number;
  hi: number;
}

/** Estimates with intervals per group, several measures side by side (the verifier's precision and recall). */
export function intervalChart(
  groups: ReadonlyArray<{ key: string; measures: Readonly<Record<string, Estimate>> }>,
  o: { title: string; subtitle?: string; xTitle: string; width?: number },
): ChartDef {
  const values: Row[] = groups.flatMap((g) => Object.entries(g.measures).filter(([, e]) => e.p !== null).map(([measure, e]) => ({ key: g.key, measure, p: e.p, lo: e.lo, hi: e.hi })));
  if (values.length === 0) return nothing('interval-chart', o.title, 'nothing to estimate yet', o.width);
  const measures = [...new Set(values.map((v) => v.measure as string))];
  return def(
    'interval-chart',
    o.title,
    {
      width: o.width ?? 360,
      height: { step: 16 * Math.max(1, measures.length) + 8 },
      data: { values },
      transform: [{ calculate: `datum.key + ', ' + datum.measure + ': ' + format(datum.p, '.3f') + ' [' + format(datum.lo, '.3f') + ', ' + format(datum.hi, '.3f') + ']'`, as: 'tip' }],
      encoding: {
        y: { field: 'key', type: 'nominal', sort: null, title: null },
        yOffset: { field: 'measure', type: 'nominal', sort: measures },
        color: { field: 'measure', type: 'nominal', title: null, sort: measures, scale: { range: [PALETTE[0], PALETTE[1], PALETTE[2]] } },
      },
      layer: [
        { mark: { type: 'rule', strokeWidth: 2 }, encoding: { x: { field: 'lo', type: 'quantitative', title: o.xTitle, scale: { domain: [0, 1] }, axis: { format: '.0%' } }, x2: { field: 'hi' } } },
        { mark: { type: 'point', filled: true, size: 50 }, encoding: { x: { field: 'p', type: 'quantitative' }, description: { field: 'tip' } } },
      ],
    },
    o.subtitle,
  );
}

// ---------------------------------------------------------------------------------------------------
// composition

/** Charts one above the other in one SVG (a trainer's curves file). */
export function stacked(charts: readonly ChartDef[], title: string, kind = 'stack'): ChartDef {
  return {
    kind,
    title,
    spec: {
      title: { text: title, fontSize: 15 },
      vconcat: charts.map((c) => c.spec),
      spacing: 28,
      resolve: { scale: { color: 'independent', x: 'independent', y: 'independent' }, legend: { color: 'independent' } },
    } as TopLevelSpec,
  };
}
