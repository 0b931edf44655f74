/**
 * Conversions between the canonical box (original-image pixels, xyxy) and the conventions found at the
 * edges: Qwen2-VL 0-1000 integers, Qwen2.5-VL pixels of the smart-resized input, normalized 0-1 floats,
 * each also in an xywh layout. A convention is configuration, never guessed per record.
 */
import { GeometryError } from '../errors.js';
import type { BoxConvention } from '../schema/records.js';
import { smartResize, type SmartResizeOptions } from './smart-resize.js';

export interface ConvertContext extends SmartResizeOptions {
  /** Original image width in pixels. */
  width: number;
  /** Original image height in pixels. */
  height: number;
  /**
   * Size of the model input for qwen25vl when the trainer's resize is not a plain smart_resize of the
   * original (EasyR1 and LLaMA-Factory shrink the image first); takes precedence over minPixels/maxPixels.
   */
  resized?: { width: number; height: number };
}

type Frame = 'pixels' | 'qwen2vl' | 'qwen25vl' | 'norm';

function split(c: BoxConvention): { frame: Frame; xywh: boolean } {
  const xywh = c.endsWith('-xywh');
  return { frame: (xywh ? c.slice(0, -5) : c) as Frame, xywh };
}

/**
 * Scale from the frame to original pixels, per axis, as a ratio: pixels = v * n / d. Kept as a ratio so that
 * v * n is exact and only the division rounds: with a precomputed factor (width / 1000) a full-width box
 * [0, 1000] came back as 1000.9999999999999 for a 1001-pixel image.
 */
function frameScale(frame: Frame, ctx: ConvertContext): { xn: number; xd: number; yn: number; yd: number } {
  if (!(ctx.width > 0 && ctx.height > 0)) throw new GeometryError(`image size must be positive, got ${ctx.width}x${ctx.height}`);
  switch (frame) {
    case 'pixels':
      return { xn: 1, xd: 1, yn: 1, yd: 1 };
    case 'norm':
      return { xn: ctx.width, xd: 1, yn: ctx.height, yd: 1 };
    case 'qwen2vl':
      return { xn: ctx.width, xd: 1000, yn: ctx.height, yd: 1000 };
    case 'qwen25vl': {
      const r = resized(ctx);
      return { xn: ctx.width, xd: r.width, yn: ctx.height, yd: r.height };
    }
  }
}

/** The scale from a convention's frame to original pixels as integers (pixels = v * xn / xd). */
export function frameRatio(c: BoxConvention, ctx: ConvertContext): { xn: number; xd: number; yn: number; yd: number } {
  return frameScale(split(c).frame, ctx);
}

const toXyxy = (b: readonly number[]): [number, number, number, number] => [b[0]!, b[1]!, b[0]! + b[2]!, b[1]! + b[3]!];
const toXywh = (b: readonly number[]): [number, number, number, number] => [b[0]!, b[1]!, b[2]! - b[0]!, b[3]! - b[1]!];

/** Bounds of the integer grid a frame is written in (for rounding and clamping on output). */
/** qwen25vl depends on the pixel budget, so it must be stated, never defaulted behind the user's back. */
function resized(ctx: ConvertContext): { width: number; height: number } {
  if (ctx.resized) {
    const r = ctx.resized;
    if (!(Number.isInteger(r.width) && Number.isInteger(r.height) && r.width > 0 && r.height > 0)) throw new GeometryError(`resized size must be positive integers, got ${r.width}x${r.height}`);
    return r;
  }
  if (ctx.minPixels === undefined || ctx.maxPixels === undefined) {
    throw new GeometryError('the qwen25vl convention needs minPixels and maxPixels (the pixel budget the model saw)');
  }
  return smartResize(ctx.width, ctx.height, ctx);
}

function integerLimits(frame: Frame, ctx: ConvertContext): { w: number; h: number } | null {
  if (frame === 'qwen2vl') return { w: 1000, h: 1000 };
  if (frame === 'qwen25vl') {
    const r = resized(ctx);
    return { w: r.width, h: r.height };
  }
  return null;
}

/**
 * Convert `box` from one convention to another for an image of `ctx.width` x `ctx.height`.
 * Integer conventions (qwen2vl, qwen25vl) are rounded and clamped to their grid on output;
 * pixel and norm outputs are exact floats.
 */
export function convertBox(box: readonly number[], from: BoxConvention, to: BoxConvention, ctx: ConvertContext): [number, number, number, number] {
  if (box.length !== 4) throw new GeometryError(`a box has 4 numbers, got ${box.length}`);
  const f = split(from);
  const t = split(to);
  const xyxy = f.xywh ? toXyxy(box) : [box[0]!, box[1]!, box[2]!, box[3]!];
  const s1 = frameScale(f.frame, ctx);
  const px = [(xyxy[0]! * s1.xn) / s1.xd, (xyxy[1]! * s1.yn) / s1.yd, (xyxy[2]! * s1.xn) / s1.xd, (xyxy[3]! * s1.yn) / s1.yd];
  const s2 = frameScale(t.frame, ctx);
  let out: [number, number, number, number] = [
    (px[0]! * s2.xd) / s2.xn,
    (px[1]! * s2.yd) / s2.yn,
    (px[2]! * s2.xd) / s2.xn,
    (px[3]! * s2.yd) / s2.yn,
  ];
  const lim = integerLimits(t.frame, ctx);
  if (lim) {
    const r = (v: number, hi: number) => Math.min(hi, Math.max(0, Math.round(v)));
    out = [r(out[0], lim.w), r(out[1], lim.h), r(out[2], lim.w), r(out[3], lim.h)];
  }
  return t.xywh ? toXywh(out) : out;
}

/** Convenience: a box in `from` to canonical pixels. */
export function toPixels(box: readonly number[], from: BoxConvention, ctx: ConvertContext): [number, number, number, number] {
  return convertBox(box, from, 'pixels', ctx);
}

/** Convenience: a canonical pixel box to `to`. */
export function fromPixels(box: readonly number[], to: BoxConvention, ctx: ConvertContext): [number, number, number, number] {
  return convertBox(box, 'pixels', to, ctx);
}

/** True for conventions written as integers. */
export function isIntegerConvention(c: BoxConvention): boolean {
  const { frame } = split(c);
  return frame === 'qwen2vl' || frame === 'qwen25vl';
}

/**
 * Convert a box the teacher wrote in `convention` to original pixels of image `index`. The teacher saw
 * `seenSizes[index]`; for the resized-pixel convention that size, not the budget, decides the scale.
 */
export function teacherBoxToPixels(
  box: readonly number[],
  convention: BoxConvention,
  sample: { images: ReadonlyArray<{ width: number; height: number }> },
  seen: { width: number; height: number } | undefined,
  index: number,
): [number, number, number, number] {
  const img = sample.images[index]!;
  // parseCompletion already returns xyxy for the -xywh conventions: convert the frame only, never the layout again.
  const frame = convention.replace(/-xywh$/, '') as BoxConvention;
  if (frame === 'qwen25vl') {
    const s = seen ?? img;
    const sx = img.width / s.width;
    const sy = img.height / s.height;
    return [box[0]! * sx, box[1]! * sy, box[2]! * sx, box[3]! * sy];
  }
  return convertBox(box, frame, 'pixels', { width: img.width, height: img.height });
}
