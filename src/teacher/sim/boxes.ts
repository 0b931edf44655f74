/**
 * Boxes as the simulated teacher writes and reads them: its configured convention, computed from the size
 * of the image it received (qwen2vl: 0-1000 of that image; qwen25vl: pixels of that image after the
 * model's own smart-resize, which is the identity for an image the client already resized; norm: 0-1).
 */
import { convertBox } from '../../geometry/index.js';
import type { PixelBox } from './perceive.js';

export type SimConvention = 'qwen2vl' | 'qwen25vl' | 'norm';

export interface ConventionContext {
  convention: SimConvention;
  minPixels: number;
  maxPixels: number;
}

/** Numbers as a model in this convention prints them: integers, or 0-1 with three decimals. */
function num(v: number, convention: SimConvention): string {
  if (convention !== 'norm') return String(Math.round(v));
  const s = v.toFixed(3).replace(/\.?0+$/, '');
  return s === '-0' || s === '' ? '0' : s;
}

export function formatBox(b: readonly number[], convention: SimConvention): string {
  const [a, c, d, e] = b.map((v) => num(v, convention)) as [string, string, string, string];
  return `(${a},${c}),(${d},${e})`;
}

/** A pixel box of an image of `width` x `height` in the convention, never degenerate after rounding. */
export function toConvention(box: PixelBox, width: number, height: number, ctx: ConventionContext): [number, number, number, number] {
  const out = convertBox(box, 'pixels', ctx.convention, { width, height, minPixels: ctx.minPixels, maxPixels: ctx.maxPixels });
  if (ctx.convention !== 'norm') {
    if (out[2] <= out[0]) out[2] = out[0] + 1;
    if (out[3] <= out[1]) out[3] = out[1] + 1;
  }
  return out;
}

export function fromConvention(box: readonly number[], width: number, height: number, ctx: ConventionContext): PixelBox {
  return convertBox(box, ctx.convention, 'pixels', { width, height, minPixels: ctx.minPixels, maxPixels: ctx.maxPixels });
}

/** The box text in the convention for a pixel box. */
export function boxText(box: PixelBox, width: number, height: number, ctx: ConventionContext): string {
  return formatBox(toConvention(box, width, height, ctx), ctx.convention);
}

export interface Hint {
  /** The hinted box exactly as written in the prompt, normalized to `(a,b),(c,d)`. */
  text: string;
  values: [number, number, number, number];
}

const NUM = String.raw`(-?\d+(?:\.\d+)?)`;
const SEP = String.raw`\s*,\s*`;
const HINT_RE = new RegExp(
  String.raw`ground[ -]truth coordinates?(?: answer)? (?:are|is)\s*:?\s*(?:<\|box_start\|>)?\s*(?:\(\s*${NUM}${SEP}${NUM}\s*\)${SEP}\(\s*${NUM}${SEP}${NUM}\s*\)|\[\s*${NUM}${SEP}${NUM}${SEP}${NUM}${SEP}${NUM}\s*\])`,
  'i',
);

/** UniVG-R1's hint sentence, "The ground truth coordinates answer are (x1,y1),(x2,y2)", or null. */
export function parseHint(text: string): Hint | null {
  const m = HINT_RE.exec(text);
  if (!m) return null;
  const raw = (m[1] !== undefined ? [m[1], m[2], m[3], m[4]] : [m[5], m[6], m[7], m[8]]) as [string, string, string, string];
  const values = raw.map(Number) as [number, number, number, number];
  if (!values.every(Number.isFinite)) return null;
  return { text: `(${raw[0]},${raw[1]}),(${raw[2]},${raw[3]})`, values };
}
