/**
 * Boxes as sources write them, checked in the source's own convention before any conversion: the
 * Qwen2-VL text form `<|box_start|>(x1,y1),(x2,y2)<|box_end|>` (0-1000) and MIG-Bench's `[x1,y1,x2,y2]`
 * floats (0-1). Checking on the source grid needs no image size, so it stays pure.
 */
import type { IngestReason } from './reasons.js';

export type SourceBox = [number, number, number, number];

export type BoxCheck = { ok: true; box: SourceBox } | { ok: false; reason: IngestReason; detail: string };

const BOX_SPAN = /<\|box_start\|>(.*?)<\|box_end\|>/gs;
const PAIR_OF_POINTS = /^\s*\(\s*([^,()\s]+)\s*,\s*([^,()\s]+)\s*\)\s*,\s*\(\s*([^,()\s]+)\s*,\s*([^,()\s]+)\s*\)\s*$/;
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const NON_FINITE = /^[+-]?(?:nan|inf|infinity)$/i;

/** The upper end of each source grid; the lower end is 0. */
export const GRID_MAX = { qwen2vl: 1000, norm: 1 } as const;
export type SourceGrid = keyof typeof GRID_MAX;

/** A box span found in text: its inner text and where it starts. */
export interface BoxSpan {
  inner: string;
  at: number;
}

/**
 * Box spans in an answer. An opening `<|box_start|>` without its `<|box_end|>` is returned with
 * `inner: null` so the caller can report it as unparsable rather than treat the turn as box-free.
 */
export function findBoxSpans(text: string): { spans: BoxSpan[]; unclosedAt: number | null } {
  const spans: BoxSpan[] = [];
  let lastEnd = 0;
  for (const m of text.matchAll(BOX_SPAN)) {
    spans.push({ inner: m[1] ?? '', at: m.index });
    lastEnd = m.index + m[0].length;
  }
  const open = text.indexOf('<|box_start|>', lastEnd);
  return { spans, unclosedAt: open >= 0 ? open : text.indexOf('<|box_end|>', lastEnd) >= 0 ? lastEnd : null };
}

function toNumber(token: string): number | 'non_finite' | null {
  if (NON_FINITE.test(token)) return 'non_finite';
  if (!DECIMAL.test(token)) return null;
  const v = Number(token);
  return Number.isFinite(v) ? v : 'non_finite';
}

/** Parse the inside of a box span, `(x1,y1),(x2,y2)`. */
export function parseBoxText(inner: string): BoxCheck {
  const m = PAIR_OF_POINTS.exec(inner);
  if (!m) return { ok: false, reason: 'box_unparsable', detail: `expected (x1,y1),(x2,y2), got ${JSON.stringify(clip(inner))}` };
  const vals: number[] = [];
  for (const tok of m.slice(1, 5) as string[]) {
    const v = toNumber(tok);
    if (v === null) return { ok: false, reason: 'box_unparsable', detail: `${JSON.stringify(tok)} is not a number in ${JSON.stringify(clip(inner))}` };
    if (v === 'non_finite') return { ok: false, reason: 'box_not_finite', detail: `coordinate ${JSON.stringify(tok)} is not finite` };
    vals.push(v);
  }
  return { ok: true, box: vals as SourceBox };
}

/**
 * Parse a JSON box value, `[x1, y1, x2, y2]`. Python's NaN/Infinity arrive as the strings "NaN",
 * "Infinity", "-Infinity" (see json-array.ts) and are reported as not finite.
 */
export function parseBoxValue(value: unknown): BoxCheck {
  if (!Array.isArray(value) || value.length !== 4) {
    return { ok: false, reason: 'box_unparsable', detail: `expected an array of 4 numbers, got ${describe(value)}` };
  }
  const vals: number[] = [];
  for (const v of value) {
    if (typeof v === 'number') {
      vals.push(v);
      continue;
    }
    if (typeof v === 'string' && NON_FINITE.test(v)) return { ok: false, reason: 'box_not_finite', detail: `coordinate ${JSON.stringify(v)} is not finite` };
    return { ok: false, reason: 'box_unparsable', detail: `coordinate ${describe(v)} is not a number` };
  }
  return { ok: true, box: vals as SourceBox };
}

/** Check a parsed box on its source grid: finite, ordered, non-degenerate, inside [0, max]. */
export function checkBoxOnGrid(box: SourceBox, grid: SourceGrid): BoxCheck {
  const max = GRID_MAX[grid];
  const [x1, y1, x2, y2] = box;
  const shown = `[${box.join(', ')}]`;
  if (!box.every(Number.isFinite)) return { ok: false, reason: 'box_not_finite', detail: `${shown} has a non-finite coordinate` };
  if (x1 > x2 || y1 > y2) return { ok: false, reason: 'box_inverted', detail: `${shown} has ${x1 > x2 ? 'x1 > x2' : 'y1 > y2'}` };
  if (x1 === x2 || y1 === y2) return { ok: false, reason: 'box_degenerate', detail: `${shown} has zero ${x1 === x2 ? 'width' : 'height'}` };
  if (Math.min(x1, y1) < 0 || Math.max(x2, y2) > max) return { ok: false, reason: 'box_out_of_range', detail: `${shown} is outside 0-${max} (${grid})` };
  return { ok: true, box };
}

function clip(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : clip(s);
}
