import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GeometryError, convertBox, fromPixels, smartResize, toPixels, type BoxConvention } from '../../src/index.js';

const SEED = { seed: 1234, numRuns: 500 };

/** An image size and a box inside it (canonical pixels, x1 < x2, y1 < y2). */
const imageAndBox = fc
  .record({ width: fc.integer({ min: 28, max: 8000 }), height: fc.integer({ min: 28, max: 8000 }) })
  .filter(({ width, height }) => Math.max(width, height) / Math.min(width, height) <= 200)
  .chain(({ width, height }) =>
    fc
      .tuple(
        fc.double({ min: 0, max: width, noNaN: true }),
        fc.double({ min: 0, max: height, noNaN: true }),
        fc.double({ min: 0, max: width, noNaN: true }),
        fc.double({ min: 0, max: height, noNaN: true }),
      )
      // Sub-micro-pixel boxes underflow to zero width in the 0-1 frame; no image has them.
      .filter(([a, b, c, d]) => Math.abs(a - c) >= 1e-3 && Math.abs(b - d) >= 1e-3)
      .map(([a, b, c, d]) => ({ width, height, box: [Math.min(a, c), Math.min(b, d), Math.max(a, c), Math.max(b, d)] as number[] })),
  );

const budget = fc.constantFrom(
  { minPixels: 3136, maxPixels: 401408 }, // UniVG-R1 SFT and MIG-Bench eval
  { minPixels: 3136, maxPixels: 640000 }, // UniVG-R1 RL
  { minPixels: 4 * 28 * 28, maxPixels: 16384 * 28 * 28 }, // qwen-vl-utils defaults
);

const near = (got: readonly number[], want: readonly number[], tol: readonly number[]) =>
  got.forEach((v, i) => expect(Math.abs(v - want[i]!), `coordinate ${i}: ${v} vs ${want[i]}`).toBeLessThanOrEqual(tol[i]!));

describe('convertBox round trips', () => {
  it('pixels -> norm -> pixels is exact within 1e-9', () => {
    fc.assert(
      fc.property(imageAndBox, ({ width, height, box }) => {
        const ctx = { width, height };
        const n = fromPixels(box, 'norm', ctx);
        n.forEach((v) => expect(v >= 0 && v <= 1).toBe(true));
        near(toPixels(n, 'norm', ctx), box, [1e-9, 1e-9, 1e-9, 1e-9]);
      }),
      SEED,
    );
  });

  it('pixels -> qwen2vl -> pixels is within width/1000 and height/1000, on integers in [0, 1000]', () => {
    fc.assert(
      fc.property(imageAndBox, ({ width, height, box }) => {
        const ctx = { width, height };
        const q = fromPixels(box, 'qwen2vl', ctx);
        q.forEach((v) => expect(Number.isInteger(v) && v >= 0 && v <= 1000).toBe(true));
        const tx = width / 1000;
        const ty = height / 1000;
        near(toPixels(q, 'qwen2vl', ctx), box, [tx, ty, tx, ty]);
      }),
      SEED,
    );
  });

  it('pixels -> qwen25vl -> pixels is within one resized pixel, on integers inside the resized image', () => {
    fc.assert(
      fc.property(imageAndBox, budget, ({ width, height, box }, b) => {
        const ctx = { width, height, ...b };
        const r = smartResize(width, height, b);
        const q = fromPixels(box, 'qwen25vl', ctx);
        expect(q.every(Number.isInteger)).toBe(true);
        expect(q[0] >= 0 && q[2] <= r.width && q[1] >= 0 && q[3] <= r.height).toBe(true);
        const tx = width / r.width;
        const ty = height / r.height;
        near(toPixels(q, 'qwen25vl', ctx), box, [tx, ty, tx, ty]);
      }),
      SEED,
    );
  });

  it('xyxy <-> xywh in every frame', () => {
    const frames = ['pixels', 'norm'] as const;
    fc.assert(
      fc.property(imageAndBox, fc.constantFrom(...frames), ({ width, height, box }, frame) => {
        const ctx = { width, height };
        const xyxy = fromPixels(box, frame, ctx);
        const xywh = convertBox(xyxy, frame, `${frame}-xywh` as BoxConvention, ctx);
        near(xywh, [xyxy[0], xyxy[1], xyxy[2] - xyxy[0], xyxy[3] - xyxy[1]], [1e-9, 1e-9, 1e-9, 1e-9]);
        expect(xywh[2] > 0 && xywh[3] > 0).toBe(true);
        near(convertBox(xywh, `${frame}-xywh` as BoxConvention, frame, ctx), xyxy, [1e-9, 1e-9, 1e-9, 1e-9]);
      }),
      SEED,
    );
  });

  it('integer xywh conventions are consistent with their xyxy counterparts', () => {
    fc.assert(
      fc.property(imageAndBox, budget, ({ width, height, box }, b) => {
        const ctx = { width, height, ...b };
        for (const frame of ['qwen2vl', 'qwen25vl'] as const) {
          const xyxy = fromPixels(box, frame, ctx);
          const xywh = fromPixels(box, `${frame}-xywh`, ctx);
          expect(xywh).toEqual([xyxy[0], xyxy[1], xyxy[2] - xyxy[0], xyxy[3] - xyxy[1]]);
          expect(convertBox(xywh, `${frame}-xywh`, frame, ctx)).toEqual(xyxy);
        }
      }),
      SEED,
    );
  });

  it('the full-image box maps to exactly the image size (no 1000.9999999999999 for 1001 px)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20000 }), fc.integer({ min: 1, max: 20000 }), budget, (width, height, b) => {
        fc.pre(Math.max(width, height) / Math.min(width, height) <= 200);
        const ctx = { width, height, ...b };
        const r = smartResize(width, height, b);
        expect(toPixels([0, 0, 1000, 1000], 'qwen2vl', ctx)).toEqual([0, 0, width, height]);
        expect(toPixels([0, 0, r.width, r.height], 'qwen25vl', ctx)).toEqual([0, 0, width, height]);
        expect(toPixels([0, 0, 1, 1], 'norm', ctx)).toEqual([0, 0, width, height]);
        // Grid points come back as the correctly rounded q * width / 1000.
        expect(toPixels([1, 3, 999, 7], 'qwen2vl', ctx)).toEqual([width / 1000, (3 * height) / 1000, (999 * width) / 1000, (7 * height) / 1000]);
      }),
      { seed: 3, numRuns: 2000 },
    );
    expect(toPixels([0, 0, 1000, 1000], 'qwen2vl', { width: 1001, height: 1003 })).toEqual([0, 0, 1001, 1003]);
  });

  it('qwen2vl of a known box', () => {
    // 640x480 image: x * 1000/640, y * 1000/480, rounded.
    expect(fromPixels([64, 48, 320, 240], 'qwen2vl', { width: 640, height: 480 })).toEqual([100, 100, 500, 500]);
    expect(toPixels([100, 100, 500, 500], 'qwen2vl', { width: 640, height: 480 })).toEqual([64, 48, 320, 240]);
  });

  it('refuses what it cannot convert', () => {
    expect(() => fromPixels([1, 2, 3, 4], 'qwen25vl', { width: 100, height: 100 })).toThrow(GeometryError);
    expect(() => fromPixels([1, 2, 3, 4], 'norm', { width: 0, height: 100 })).toThrow(GeometryError);
    expect(() => convertBox([1, 2, 3], 'pixels', 'norm', { width: 10, height: 10 })).toThrow(GeometryError);
  });
});
