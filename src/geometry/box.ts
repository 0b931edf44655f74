/** Box arithmetic on canonical xyxy boxes. */
import type { Box } from '../schema/records.js';

/** Standard continuous IoU of two xyxy boxes. 0 for degenerate, disjoint or non-finite boxes; never NaN. */
export function iou(a: readonly number[], b: readonly number[]): number {
  const [ax1, ay1, ax2, ay2] = a as [number, number, number, number];
  const [bx1, by1, bx2, by2] = b as [number, number, number, number];
  const areaA = (ax2 - ax1) * (ay2 - ay1);
  const areaB = (bx2 - bx1) * (by2 - by1);
  // Written so that any NaN makes the comparison false and lands on 0.
  if (!(areaA > 0 && areaB > 0 && ax2 > ax1 && ay2 > ay1 && bx2 > bx1 && by2 > by1)) return 0;
  const iw = Math.min(ax2, bx2) - Math.max(ax1, bx1);
  const ih = Math.min(ay2, by2) - Math.max(ay1, by1);
  if (!(iw > 0 && ih > 0)) return 0;
  const inter = iw * ih;
  const union = areaA + areaB - inter;
  const v = inter / union;
  return Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
}

export function boxArea(b: readonly number[]): number {
  const w = (b[2] ?? 0) - (b[0] ?? 0);
  const h = (b[3] ?? 0) - (b[1] ?? 0);
  return w > 0 && h > 0 ? w * h : 0;
}

/** Clamp a box into an image of the given size (pixels). */
export function clampBox(b: readonly number[], width: number, height: number): Box {
  const c = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
  return [c(b[0]!, width), c(b[1]!, height), c(b[2]!, width), c(b[3]!, height)];
}

export type BoxProblem = 'not_finite' | 'inverted' | 'degenerate' | 'out_of_range';

/**
 * Why a pixel box is unusable for an image of this size, or null when it is fine.
 * `tolerance` pixels outside the image are accepted (sources round to integers at the edge).
 */
export function boxProblem(b: readonly number[], width: number, height: number, tolerance = 1): BoxProblem | null {
  if (b.length !== 4 || !b.every(Number.isFinite)) return 'not_finite';
  const [x1, y1, x2, y2] = b as [number, number, number, number];
  if (x1 > x2 || y1 > y2) return 'inverted';
  if (x1 === x2 || y1 === y2) return 'degenerate';
  if (x1 < -tolerance || y1 < -tolerance || x2 > width + tolerance || y2 > height + tolerance) return 'out_of_range';
  return null;
}
