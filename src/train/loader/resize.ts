/**
 * How an original image maps into the square model input of side S, computed once here (the decode
 * worker only executes it). `letterbox` keeps the aspect ratio: the image is scaled by
 * min(S/w, S/h), rounded to whole pixels, and centred on a black square. `stretch` scales each axis to S.
 *
 * The mapping is affine per axis, in pixel-edge coordinates: x' = x * sx + ox, y' = y * sy + oy, with
 * sx = resizedWidth / w (exact after rounding, so a box edge at the image border maps to the border of
 * the resized content). Batches carry [sx, sy, ox, oy] per image so boxes go both ways.
 */
import type { Box } from '../../schema/records.js';

export type Fit = 'letterbox' | 'stretch';

export interface ResizePlan {
  /** Size of the resized content. */
  width: number;
  height: number;
  /** Where the content's top-left corner sits in the S x S square. */
  left: number;
  top: number;
  sx: number;
  sy: number;
}

export function resizePlan(width: number, height: number, size: number, fit: Fit): ResizePlan {
  if (fit === 'stretch') return { width: size, height: size, left: 0, top: 0, sx: size / width, sy: size / height };
  const s = Math.min(size / width, size / height);
  const rw = Math.min(size, Math.max(1, Math.round(width * s)));
  const rh = Math.min(size, Math.max(1, Math.round(height * s)));
  const left = Math.floor((size - rw) / 2);
  const top = Math.floor((size - rh) / 2);
  return { width: rw, height: rh, left, top, sx: rw / width, sy: rh / height };
}

/** A mapping as batches store it: [sx, sy, ox, oy]. */
export type Mapping = readonly [number, number, number, number];

/** Original-image pixels -> resized-input pixels. */
export function boxToResized(box: Box, m: Mapping): Box {
  return [box[0] * m[0] + m[2], box[1] * m[1] + m[3], box[2] * m[0] + m[2], box[3] * m[1] + m[3]];
}

/** Resized-input pixels -> original-image pixels (what a model's prediction must be turned into). */
export function boxFromResized(box: Box, m: Mapping): Box {
  return [(box[0] - m[2]) / m[0], (box[1] - m[3]) / m[1], (box[2] - m[2]) / m[0], (box[3] - m[3]) / m[1]];
}

/** The mapping of image j of row b of a batch's `imageScale` array. */
export function mappingAt(imageScale: Float32Array, maxImages: number, b: number, j: number): Mapping {
  const o = (b * maxImages + j) * 4;
  return [imageScale[o]!, imageScale[o + 1]!, imageScale[o + 2]!, imageScale[o + 3]!];
}
