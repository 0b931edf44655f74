/**
 * Qwen2-VL's `smart_resize` (qwen-vl-utils), reproduced to the pixel: both sides become multiples of
 * `factor`, the area lands inside [minPixels, maxPixels], the aspect ratio is kept as far as possible.
 */
import { GeometryError } from '../errors.js';

export interface SmartResizeOptions {
  /** Side lengths become multiples of this (patch 14 x merge 2 = 28 for Qwen2/2.5-VL). */
  factor?: number;
  minPixels?: number;
  maxPixels?: number;
}

/** qwen-vl-utils defaults: MIN_PIXELS = 4*28*28, MAX_PIXELS = 16384*28*28. */
export const QWEN_DEFAULTS = { factor: 28, minPixels: 4 * 28 * 28, maxPixels: 16384 * 28 * 28 } as const;
const MAX_RATIO = 200;

/** Python 3 `round()`: half to even. Python's rounding, not JavaScript's, decides the resized size. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export function smartResize(width: number, height: number, opts: SmartResizeOptions = {}): { width: number; height: number } {
  const factor = opts.factor ?? QWEN_DEFAULTS.factor;
  const minPixels = opts.minPixels ?? QWEN_DEFAULTS.minPixels;
  const maxPixels = opts.maxPixels ?? QWEN_DEFAULTS.maxPixels;
  if (!(width > 0 && height > 0) || !Number.isFinite(width) || !Number.isFinite(height)) {
    throw new GeometryError(`image size must be positive, got ${width}x${height}`);
  }
  if (Math.max(width, height) / Math.min(width, height) > MAX_RATIO) {
    throw new GeometryError(`absolute aspect ratio must be smaller than ${MAX_RATIO}, got ${width}x${height}`);
  }
  let hBar = Math.max(factor, pyRound(height / factor) * factor);
  let wBar = Math.max(factor, pyRound(width / factor) * factor);
  if (hBar * wBar > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels);
    hBar = Math.max(factor, Math.floor(height / beta / factor) * factor);
    wBar = Math.max(factor, Math.floor(width / beta / factor) * factor);
  } else if (hBar * wBar < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    hBar = Math.ceil((height * beta) / factor) * factor;
    wBar = Math.ceil((width * beta) / factor) * factor;
  }
  return { width: wBar, height: hBar };
}
