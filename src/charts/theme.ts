/**
 * The look every chart shares (report, notebooks, audit app, trainers' SVG files): one Vega-Lite config,
 * the palette, and the number formats axes and labels use. Colours and type follow the report's page.
 */
import type { Config } from 'vega-lite';

/** Okabe-Ito colours (distinguishable with common colour-vision deficiencies), yellow left out. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#4D4D4D'] as const;

/** The funnel's units, coloured as the report's stage chips and tables. */
export const UNIT_COLORS = { samples: '#0072B2', candidates: '#E69F00', rows: '#009E73' } as const;

/** Bad to good, for things that fail, half-work and pass (mIoU buckets, rejection shares). */
export const TRAFFIC = { bad: '#D55E00', middle: '#E69F00', good: '#009E73' } as const;

const FONT = '-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "DejaVu Sans", sans-serif';
const FG = '#1f2328';
const MUTED = '#59636e';

export const THEME: Config = {
  background: 'white',
  font: FONT,
  padding: 6,
  view: { stroke: null },
  title: { anchor: 'start', fontSize: 13, fontWeight: 600, color: FG, subtitleColor: MUTED, subtitleFontSize: 11.5, offset: 8 },
  axis: {
    labelColor: MUTED,
    labelFontSize: 11,
    titleColor: FG,
    titleFontSize: 11.5,
    titleFontWeight: 600,
    gridColor: '#eaeef2',
    domainColor: '#8c959f',
    tickColor: '#8c959f',
    labelLimit: 220,
  },
  axisBand: { grid: false },
  legend: { labelColor: MUTED, labelFontSize: 11, titleColor: FG, titleFontSize: 11.5, titleFontWeight: 600, orient: 'bottom', symbolStrokeWidth: 3 },
  header: { labelColor: FG, labelFontSize: 12, labelFontWeight: 600, titleFontSize: 12 },
  range: { category: [...PALETTE] },
  line: { strokeWidth: 2 },
  point: { size: 36, filled: true },
  bar: { continuousBandSize: 12 },
  text: { color: MUTED, fontSize: 11 },
};

/** How a chart writes its numbers. */
export type NumberFormat = 'int' | 'pct' | 'usd' | 'num' | 'ms' | 'sci';

/** d3-format strings: for axis ticks (short) and for labels and hover text (more digits). */
export const FORMATS: Record<NumberFormat, { axis: string; label: string }> = {
  int: { axis: ',~s', label: ',d' },
  pct: { axis: '.0%', label: '.1%' },
  usd: { axis: '$,.2~f', label: '$,.4~f' },
  num: { axis: ',.3~g', label: ',.3~f' },
  ms: { axis: ',~s', label: ',.0f' },
  sci: { axis: '.1~e', label: '.3~e' },
};
