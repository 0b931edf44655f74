/**
 * A tiny SVG plotting kit (the report, the trainers' curves): horizontal bar chart, histogram and line chart. Pure
 * functions from data to markup (no DOM, no libraries), so the page stays one self-contained file.
 * Coordinates are rounded to two decimals, which keeps the output byte-stable and small. Text comes
 * from data and is escaped; styling (fonts, colours of axes) is left to the page's CSS classes.
 */
import { escapeHtml, raw, type SafeHtml } from './html.js';

/** Okabe-Ito colours (distinguishable with common colour-vision deficiencies), yellow left out. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#4D4D4D'] as const;

const r2 = (n: number): string => {
  const v = Math.round(n * 100) / 100;
  return Object.is(v, -0) ? '0' : String(v);
};

/** Round ticks from 0 to at least `max`: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(max: number, target = 4): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const rough = max / target;
  const pow = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= rough) ?? 10 * pow;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

function clip(label: string, max: number): string {
  return label.length > max ? `${label.slice(0, max - 1)}…` : label;
}

const defaultFormat = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(2));

function frame(width: number, height: number, title: string, body: string, cls: string): SafeHtml {
  return raw(
    `<svg class="chart ${cls}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${r2(width)} ${r2(height)}" width="${r2(width)}" height="${r2(height)}" role="img" aria-label="${escapeHtml(title)}">` +
      `<title>${escapeHtml(title)}</title>${body}</svg>`,
  );
}

export interface Bar {
  label: string;
  value: number;
  /** Text after the value, e.g. "(12 of 40)". */
  note?: string;
  color?: string;
}

export interface BarChartOptions {
  title: string;
  width?: number;
  /** Value at the right edge; default the largest value. */
  max?: number;
  format?: (n: number) => string;
  color?: string;
}

/** Horizontal bars, one row per item, labels on the left and values at the bar's end. */
export function barChart(bars: readonly Bar[], o: BarChartOptions): SafeHtml {
  const width = o.width ?? 560;
  const rowH = 22;
  const top = 6;
  const labelW = Math.min(200, Math.max(60, Math.max(0, ...bars.map((b) => clip(b.label, 30).length)) * 6.6 + 10));
  const valueW = 120;
  const plotW = Math.max(40, width - labelW - valueW);
  const height = top * 2 + Math.max(1, bars.length) * rowH;
  const max = o.max ?? Math.max(0, ...bars.map((b) => b.value));
  const fmt = o.format ?? defaultFormat;
  let body = `<line class="axis" x1="${r2(labelW)}" y1="${top}" x2="${r2(labelW)}" y2="${r2(height - top)}"/>`;
  if (bars.length === 0) body += `<text class="empty" x="${r2(labelW + 8)}" y="${top + 15}">no data</text>`;
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const w = max > 0 ? (Math.max(0, b.value) / max) * plotW : 0;
    const color = b.color ?? o.color ?? PALETTE[0];
    body +=
      `<g><title>${escapeHtml(`${b.label}: ${fmt(b.value)}${b.note ? ` ${b.note}` : ''}`)}</title>` +
      `<text class="label" x="${r2(labelW - 6)}" y="${r2(y + 15)}" text-anchor="end">${escapeHtml(clip(b.label, 30))}</text>` +
      `<rect x="${r2(labelW)}" y="${r2(y + 3)}" width="${r2(w)}" height="${rowH - 6}" rx="2" fill="${escapeHtml(color)}"/>` +
      `<text class="value" x="${r2(labelW + w + 5)}" y="${r2(y + 15)}">${escapeHtml(fmt(b.value))}${b.note ? `<tspan class="note"> ${escapeHtml(b.note)}</tspan>` : ''}</text></g>`;
  });
  return frame(width, height, o.title, body, 'bar-chart');
}

export interface Bin {
  lo: number;
  hi: number;
  count: number;
}

export interface HistogramOptions {
  title: string;
  width?: number;
  height?: number;
  xLabel?: string;
  color?: string;
  /** Format of bin edges on the x axis. */
  xFormat?: (n: number) => string;
  /** Label every k-th edge (default: about 5 labels). */
  labelEvery?: number;
}

const PAD = { left: 40, right: 12, top: 10, bottom: 34 };

function yAxis(ticks: number[], yOf: (v: number) => number, x0: number, x1: number): string {
  return ticks
    .map(
      (t) =>
        `<line class="grid" x1="${r2(x0)}" y1="${r2(yOf(t))}" x2="${r2(x1)}" y2="${r2(yOf(t))}"/>` +
        `<text class="tick" x="${r2(x0 - 5)}" y="${r2(yOf(t) + 4)}" text-anchor="end">${escapeHtml(defaultFormat(t))}</text>`,
    )
    .join('');
}

/** Vertical bars over contiguous bins; counts on hover (title) and above non-empty bars. */
export function histogram(bins: readonly Bin[], o: HistogramOptions): SafeHtml {
  const width = o.width ?? 300;
  const height = o.height ?? 170;
  const x0 = PAD.left;
  const x1 = width - PAD.right;
  const y0 = height - PAD.bottom;
  const y1 = PAD.top + 10;
  const maxCount = Math.max(0, ...bins.map((b) => b.count));
  // Counts are whole: never a tick at 0.5.
  const ticks = niceTicks(Math.max(maxCount, 3), 3);
  const top = ticks[ticks.length - 1]!;
  const yOf = (v: number) => y0 - (v / top) * (y0 - y1);
  const n = Math.max(1, bins.length);
  const bw = (x1 - x0) / n;
  const fmt = o.xFormat ?? defaultFormat;
  const every = o.labelEvery ?? Math.max(1, Math.ceil(n / 5));
  const color = o.color ?? PALETTE[0];
  let body = yAxis(ticks, yOf, x0, x1);
  bins.forEach((b, i) => {
    const x = x0 + i * bw;
    const h = y0 - yOf(b.count);
    body +=
      `<g><title>${escapeHtml(`${fmt(b.lo)}–${fmt(b.hi)}: ${b.count}`)}</title>` +
      `<rect x="${r2(x + 1)}" y="${r2(y0 - h)}" width="${r2(Math.max(0, bw - 2))}" height="${r2(h)}" fill="${escapeHtml(color)}"/>` +
      (b.count > 0 && bw >= 14 ? `<text class="count" x="${r2(x + bw / 2)}" y="${r2(y0 - h - 3)}" text-anchor="middle">${b.count}</text>` : '') +
      `</g>`;
  });
  const edges = bins.length ? [...bins.map((b) => b.lo), bins[bins.length - 1]!.hi] : [];
  edges.forEach((e, i) => {
    if (i % every !== 0 && i !== edges.length - 1) return;
    body += `<text class="tick" x="${r2(x0 + i * bw)}" y="${r2(y0 + 14)}" text-anchor="middle">${escapeHtml(fmt(e))}</text>`;
  });
  body += `<line class="axis" x1="${x0}" y1="${r2(y0)}" x2="${r2(x1)}" y2="${r2(y0)}"/>`;
  if (o.xLabel) body += `<text class="axis-label" x="${r2((x0 + x1) / 2)}" y="${r2(height - 4)}" text-anchor="middle">${escapeHtml(o.xLabel)}</text>`;
  if (bins.length === 0 || maxCount === 0) body += `<text class="empty" x="${r2((x0 + x1) / 2)}" y="${r2((y0 + y1) / 2)}" text-anchor="middle">no data</text>`;
  return frame(width, height, o.title, body, 'histogram');
}

export interface Series {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
  color?: string;
}

export interface LineChartOptions {
  title: string;
  width?: number;
  height?: number;
  xDomain: readonly [number, number];
  yDomain: readonly [number, number];
  xLabel?: string;
  yLabel?: string;
  xFormat?: (n: number) => string;
  yFormat?: (n: number) => string;
  xTicks?: readonly number[];
  yTicks?: readonly number[];
  /** Draw the legend (default true); a one-series small multiple names its series in the caption instead. */
  legend?: boolean;
}

/** Lines over a shared x axis with a legend to the right. */
export function lineChart(series: readonly Series[], o: LineChartOptions): SafeHtml {
  const width = o.width ?? 560;
  const height = o.height ?? 220;
  const legend = o.legend ?? true;
  const legendW = legend ? Math.min(180, Math.max(0, ...series.map((s) => clip(s.name, 22).length)) * 6.6 + 30) : 0;
  const x0 = PAD.left + 8;
  const x1 = width - PAD.right - legendW;
  const y0 = height - PAD.bottom;
  const y1 = PAD.top;
  const [xa, xb] = o.xDomain;
  const [ya, yb] = o.yDomain;
  const xOf = (v: number) => x0 + ((v - xa) / (xb - xa || 1)) * (x1 - x0);
  const yOf = (v: number) => y0 - ((v - ya) / (yb - ya || 1)) * (y0 - y1);
  const xf = o.xFormat ?? defaultFormat;
  const yf = o.yFormat ?? defaultFormat;
  const yTicks = o.yTicks ?? [ya, ya + (yb - ya) / 2, yb];
  const xTicks = o.xTicks ?? [xa, xa + (xb - xa) / 2, xb];
  let body = yTicks
    .map(
      (t) =>
        `<line class="grid" x1="${r2(x0)}" y1="${r2(yOf(t))}" x2="${r2(x1)}" y2="${r2(yOf(t))}"/>` +
        `<text class="tick" x="${r2(x0 - 5)}" y="${r2(yOf(t) + 4)}" text-anchor="end">${escapeHtml(yf(t))}</text>`,
    )
    .join('');
  body += xTicks.map((t) => `<text class="tick" x="${r2(xOf(t))}" y="${r2(y0 + 14)}" text-anchor="middle">${escapeHtml(xf(t))}</text>`).join('');
  body += `<line class="axis" x1="${r2(x0)}" y1="${r2(y0)}" x2="${r2(x1)}" y2="${r2(y0)}"/>`;
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const d = s.points.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${r2(xOf(x))},${r2(yOf(y))}`).join('');
    body += `<g><title>${escapeHtml(s.name)}</title><path d="${d}" fill="none" stroke="${escapeHtml(color)}" stroke-width="2"/></g>`;
    const ly = PAD.top + 8 + i * 18;
    if (legend)
      body +=
      `<line x1="${r2(x1 + 14)}" y1="${r2(ly)}" x2="${r2(x1 + 30)}" y2="${r2(ly)}" stroke="${escapeHtml(color)}" stroke-width="3"/>` +
      `<text class="legend" x="${r2(x1 + 35)}" y="${r2(ly + 4)}">${escapeHtml(clip(s.name, 22))}</text>`;
  });
  if (o.xLabel) body += `<text class="axis-label" x="${r2((x0 + x1) / 2)}" y="${r2(height - 4)}" text-anchor="middle">${escapeHtml(o.xLabel)}</text>`;
  if (o.yLabel)
    body += `<text class="axis-label" transform="translate(11 ${r2((y0 + y1) / 2)}) rotate(-90)" text-anchor="middle">${escapeHtml(o.yLabel)}</text>`;
  if (series.length === 0) body += `<text class="empty" x="${r2((x0 + x1) / 2)}" y="${r2((y0 + y1) / 2)}" text-anchor="middle">no data</text>`;
  return frame(width, height, o.title, body, 'line-chart');
}
