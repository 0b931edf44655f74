import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boxArea, boxProblem, clampBox, iou } from '../../src/index.js';

const SEED = { seed: 99, numRuns: 1000 };
// `+ 0` turns -0 into 0; sides under 1e-3 px would underflow areas (5e-324 squared is 0), not a real box.
const coord = fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((v) => v + 0);
/** A valid xyxy box with realistic coordinates. */
const validBox = fc
  .tuple(coord, coord, coord, coord)
  .filter(([a, b, c, d]) => Math.abs(a - c) >= 1e-3 && Math.abs(b - d) >= 1e-3)
  .map(([a, b, c, d]) => [Math.min(a, c), Math.min(b, d), Math.max(a, c), Math.max(b, d)]);
/** Anything, including NaN, infinities, inverted and degenerate boxes. */
const anyBox = fc.array(fc.oneof(fc.double(), coord, fc.constantFrom(0, 1, Number.NaN, Infinity, -Infinity)), { minLength: 4, maxLength: 4 });

describe('iou', () => {
  it('is symmetric, in [0, 1] and never NaN, whatever the input', () => {
    fc.assert(
      fc.property(fc.oneof(anyBox, validBox), fc.oneof(anyBox, validBox), (a, b) => {
        const v = iou(a, b);
        expect(Number.isNaN(v)).toBe(false);
        expect(v >= 0 && v <= 1).toBe(true);
        expect(iou(b, a)).toBe(v);
      }),
      SEED,
    );
  });

  it('is 1 for identical boxes', () => {
    fc.assert(
      fc.property(validBox, (a) => {
        expect(iou(a, [...a])).toBe(1);
      }),
      SEED,
    );
  });

  it('is 0 for disjoint or touching boxes', () => {
    fc.assert(
      fc.property(validBox, fc.double({ min: 0, max: 1e6, noNaN: true }), fc.boolean(), (a, gap, horizontal) => {
        const w = a[2]! - a[0]!;
        const h = a[3]! - a[1]!;
        const b = horizontal ? [a[2]! + gap, a[1]!, a[2]! + gap + w, a[3]!] : [a[0]!, a[3]! + gap, a[2]!, a[3]! + gap + h];
        expect(iou(a, b)).toBe(0);
      }),
      SEED,
    );
  });

  it('is 0 for degenerate, inverted or non-finite boxes', () => {
    fc.assert(
      fc.property(validBox, coord, (a, v) => {
        expect(iou(a, [v, a[1]!, v, a[3]!])).toBe(0); // zero width
        expect(iou(a, [a[2]!, a[1]!, a[0]!, a[3]!])).toBe(0); // inverted x
        expect(iou(a, [a[0]!, a[1]!, Number.NaN, a[3]!])).toBe(0);
        expect(iou([a[0]!, a[1]!, Infinity, a[3]!], a)).toBe(0);
      }),
      SEED,
    );
  });

  it('equals area ratio for a box inside another', () => {
    fc.assert(
      fc.property(validBox, fc.double({ min: 0.01, max: 1, noNaN: true }), (a, f) => {
        const w = (a[2]! - a[0]!) * f;
        const h = (a[3]! - a[1]!) * f;
        const inner = [a[0]!, a[1]!, a[0]! + w, a[1]! + h];
        fc.pre(inner[2]! > inner[0]! && inner[3]! > inner[1]!);
        expect(iou(a, inner)).toBeCloseTo(boxArea(inner) / boxArea(a), 9);
      }),
      SEED,
    );
  });

  it('known value: half overlap', () => {
    expect(iou([0, 0, 10, 10], [5, 0, 15, 10])).toBe(50 / 150);
  });
});

describe('boxProblem / clampBox', () => {
  it('names each problem', () => {
    expect(boxProblem([1, 2, 3, 4], 10, 10)).toBeNull();
    expect(boxProblem([1, 2, 3], 10, 10)).toBe('not_finite');
    expect(boxProblem([1, 2, Number.NaN, 4], 10, 10)).toBe('not_finite');
    expect(boxProblem([3, 2, 1, 4], 10, 10)).toBe('inverted');
    expect(boxProblem([1, 2, 1, 4], 10, 10)).toBe('degenerate');
    expect(boxProblem([-2, 2, 3, 4], 10, 10)).toBe('out_of_range');
    expect(boxProblem([-1, 2, 11, 4], 10, 10)).toBeNull(); // within the 1-pixel tolerance
  });

  it('clampBox keeps boxes inside the image and leaves inside boxes alone', () => {
    fc.assert(
      fc.property(validBox, fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 }), (b, w, h) => {
        const c = clampBox(b, w, h);
        expect(c[0] >= 0 && c[2] <= w && c[1] >= 0 && c[3] <= h).toBe(true);
        if (b[0]! >= 0 && b[1]! >= 0 && b[2]! <= w && b[3]! <= h) expect(c).toEqual(b);
      }),
      SEED,
    );
  });
});
