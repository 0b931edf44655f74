/**
 * The scorer UniVG-R1 used for MIG-Bench, kept so that reported numbers can be compared with the paper's.
 * Ported from AMAP-ML/UniVG-R1 (commit c79947e2) `eval/MIG_bench/utils.py`: `extract_bbox` and
 * `calculate_iou`. Its quirk: the prediction is the first box anywhere in the output, so a box quoted inside
 * `<think>` beats the one in `<answer>`. Use `parseCompletion(...).answerBox` for the project's own scoring.
 */
import { PY_DIGIT, PY_SPACE, pyIntOfDigits } from './pyre.js';

const D = PY_DIGIT;
const S = PY_SPACE;
const F = `${D}+\\.${D}+`;

/** `extract_bbox`'s patterns, tried in order; the first that matches anywhere decides. */
const CASCADE: ReadonlyArray<{ re: RegExp; integer: boolean }> = [
  { re: new RegExp(`\\((${D}+),${S}*(${D}+)\\),${S}*\\((${D}+),${S}*(${D}+)\\)`, 'u'), integer: true },
  { re: new RegExp(`\\[(${F}),${S}*(${F}),${S}*(${F}),${S}*(${F})\\]`, 'u'), integer: false },
  { re: new RegExp(`\\((${F}),(${F})\\),\\((${F}),(${F})\\)`, 'u'), integer: false },
  { re: new RegExp(`\\((${F}),${S}*(${F}),${S}*(${F}),${S}*(${F})\\)`, 'u'), integer: false },
  { re: new RegExp(`\\[(${D}+),${S}*(${D}+),${S}*(${D}+),${S}*(${D}+)\\]`, 'u'), integer: true },
  { re: new RegExp(`<box>(${D}+)${S}+(${D}+)${S}+(${D}+)${S}+(${D}+)</box>`, 'u'), integer: true },
];

/**
 * The paper's `extract_bbox`: the first `(x1,y1),(x2,y2)` anywhere in the text; failing that the first
 * `[x1, y1, x2, y2]` of integers, then `<box>x1 y1 x2 y2</box>`. Returns null where theirs returns its
 * failure value `[0.0, 0.0, 0.0, 0.0]`: no box, or a decimal box (`[0.1, 0.2, 0.3, 0.4]` matches an earlier
 * pattern, and `int("0.1")` raises, so such an output scores IoU 0 even when an integer list follows).
 * Values beyond 2^53 lose precision (Python keeps them exact).
 */
export function firstBoxAnywhere(text: string): [number, number, number, number] | null {
  for (const { re, integer } of CASCADE) {
    const m = re.exec(text);
    if (m === null) continue;
    if (!integer) return null;
    const v = [m[1]!, m[2]!, m[3]!, m[4]!].map(pyIntOfDigits);
    if (v.some((x) => x === null)) return null;
    return v.map((x) => Number(x)) as [number, number, number, number];
  }
  return null;
}

/**
 * The paper's `calculate_iou(gt, pred)` for MIG-Bench: plain continuous IoU, touching boxes give 0, boxes are
 * not reordered. Where theirs divides by a zero union (and crashes the run) this returns 0.
 */
export function paperEvalIou(gt: readonly number[], pred: readonly number[]): number {
  if (pred.length === 0) return 0;
  const xLeft = Math.max(gt[0]!, pred[0]!);
  const yTop = Math.max(gt[1]!, pred[1]!);
  const xRight = Math.min(gt[2]!, pred[2]!);
  const yBottom = Math.min(gt[3]!, pred[3]!);
  if (xRight < xLeft || yBottom < yTop) return 0;
  const inter = (xRight - xLeft) * (yBottom - yTop);
  const union = (gt[2]! - gt[0]!) * (gt[3]! - gt[1]!) + (pred[2]! - pred[0]!) * (pred[3]! - pred[1]!) - inter;
  if (union === 0) return 0;
  return inter / union;
}
