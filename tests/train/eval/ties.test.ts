/**
 * A box whose IoU with the ground truth is exactly a threshold is a hit under both scorers, on images of
 * many sizes: the `<answer>` scorer decides thresholds on exact rationals (the 0-1000 integers and the
 * ground truth as written), not on floats that land a hair under 0.3, 0.5 or 0.7.
 */
import { describe, expect, it } from 'vitest';
import { convertBox, exactBox, exactOf, iou, iouAtLeast, pixelsExact } from '../../../src/geometry/index.js';
import type { GroundingSample } from '../../../src/schema/records.js';
import { aggregate, scoreCompletion } from '../../../src/train/eval/index.js';

const SHA = 'b'.repeat(64);
const sample = (w: number, h: number, box: [number, number, number, number]): GroundingSample => ({
  id: `s-${w}x${h}`,
  source: 'test',
  task: 'refer_grounding',
  images: [{ sha256: SHA, path: 'a.png', width: w, height: h }],
  question: 'Locate it.',
  context: [],
  targetImage: 0,
  targetBox: box,
  difficulty: null,
  split: 'test',
  meta: {},
});
const completion = (b: number[]) => `<think>there</think><answer>(${b[0]},${b[1]}),(${b[2]},${b[3]})</answer>`;

const SIZES: Array<[number, number]> = [[333, 333], [640, 480], [1001, 777], [555, 999], [224, 1024], [997, 223]];
// Same y extent; widths w and L on the x axis give IoU w / L exactly: 150/500, 250/500, 350/500.
const TIES = [
  { t: 0.3, w: 150, key: 'acc@0.3' },
  { t: 0.5, w: 250, key: 'acc@0.5' },
  { t: 0.7, w: 350, key: 'acc@0.7' },
] as const;

describe('IoU ties at the thresholds', () => {
  it('count as hits under the <answer> scorer and the paper scorer, on images of several sizes (where floats miss them)', () => {
    let floatMisses = 0;
    let cases = 0;
    for (const [W, H] of SIZES)
      for (const { t, w, key } of TIES)
        for (let x1 = 100; x1 < 130; x1 += 3) {
          const gtInts = [x1, 200, x1 + 500, 640];
          // The ground truth in pixels, as a source stores it (a float per coordinate).
          const s = sample(W, H, convertBox(gtInts, 'qwen2vl', 'pixels', { width: W, height: H }));
          const pred = [x1, 200, x1 + w, 640];
          const r = scoreCompletion(s, completion(pred), 'qwen2vl');
          cases++;
          if (r.iou < t) floatMisses++;
          const m = aggregate([r]);
          expect(m.tasks[0]!.answer[key], `${W}x${H} ${pred} IoU ${r.iou}`).toBe(1);
          expect(m.tasks[0]!.paper[key], `${W}x${H} ${pred} paper`).toBe(1);
          // One unit narrower is below the threshold on both.
          const below = scoreCompletion(s, completion([x1, 200, x1 + w - 1, 640]), 'qwen2vl');
          expect(aggregate([below]).tasks[0]!.answer[key]).toBe(0);
          expect(aggregate([below]).tasks[0]!.paper[key]).toBe(0);
        }
    // The float IoU really does fall under the threshold in a good share of these cases: the test would fail
    // on a scorer that compared floats.
    expect(cases).toBe(180);
    expect(floatMisses).toBeGreaterThan(20);
  });

  it('exact arithmetic: numbers as written, ratios of the frame, and >= on fractions', () => {
    expect(exactOf(233.1)).toEqual({ n: 2331n, d: 10n });
    expect(exactOf(1e-7)).toEqual({ n: 1n, d: 10000000n });
    expect(exactOf(-2.5e21)).toEqual({ n: -2500000000000000000000n, d: 1n });
    const ctx = { width: 333, height: 333 };
    const a = pixelsExact([100, 200, 400, 600], 'qwen2vl', ctx);
    const b = exactBox(convertBox([100, 200, 700, 600], 'qwen2vl', 'pixels', ctx));
    expect(iou(convertBox([100, 200, 400, 600], 'qwen2vl', 'pixels', ctx), convertBox([100, 200, 700, 600], 'qwen2vl', 'pixels', ctx))).toBeLessThan(0.5);
    expect(iouAtLeast(a, b, 1, 2)).toBe(true);
    expect(iouAtLeast(a, b, 500001, 1000000)).toBe(false);
    // Degenerate and disjoint boxes are never hits.
    expect(iouAtLeast(exactBox([0, 0, 0, 10]), exactBox([0, 0, 10, 10]), 1, 10)).toBe(false);
    expect(iouAtLeast(exactBox([0, 0, 5, 5]), exactBox([5, 5, 10, 10]), 1, 1000)).toBe(false);
    // xywh conventions: the same box written as (x, y, w, h).
    expect(iouAtLeast(pixelsExact([100, 200, 300, 400], 'qwen2vl-xywh', ctx), b, 1, 2)).toBe(true);
  });
});
