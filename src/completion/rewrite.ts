/**
 * Boxes written inside completion text, moved between conventions: the answer box and every
 * `(x1,y1),(x2,y2)` in the reasoning. Shared by selection (teacher convention -> training convention),
 * verification, the report and the trainer exports (training convention -> a model family's).
 */
import { convertBox, teacherBoxToPixels, type ConvertContext } from '../geometry/convert.js';
import type { BoxConvention } from '../schema/records.js';
import { formatBox } from './parse.js';

interface Sized {
  width: number;
  height: number;
}

const BOX_IN_TEXT = /\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)\s*,\s*\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)/g;

/** What a text box is read against: the images (sizes) and the one the boxes refer to. */
export interface BoxOwner {
  images: ReadonlyArray<Sized>;
  targetImage: number;
}

/**
 * Rewrite every `(x1,y1),(x2,y2)` box of a completion from one convention to another, reading each as a
 * box of the target image. `seen` is the size the writer saw (for a qwen25vl source); `toContext` gives
 * what a qwen25vl destination needs (the pixel budget, or the model-input size). Exact between relative
 * conventions (qwen2vl, norm); for resized-pixel conventions boxes about other images would be rescaled
 * with the target's size, so such pairs should share a convention (documented in the README).
 */
export function rewriteBoxes(
  text: string,
  from: BoxConvention,
  to: BoxConvention,
  owner: BoxOwner,
  seen: Sized | undefined,
  toContext: Omit<ConvertContext, 'width' | 'height'> = {},
): string {
  if (from === to) return text;
  const t = owner.targetImage;
  const img = owner.images[t]!;
  return text.replace(BOX_IN_TEXT, (_m, a, b, c, d) => {
    const px = teacherBoxToPixels([Number(a), Number(b), Number(c), Number(d)], from, owner, seen, t);
    return formatBox(convertBox(px, 'pixels', to, { ...toContext, width: img.width, height: img.height }), to);
  });
}
