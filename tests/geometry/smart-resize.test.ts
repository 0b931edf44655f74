import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GeometryError, QWEN_DEFAULTS, pyRound, smartResize } from '../../src/index.js';

/**
 * qwen-vl-utils' smart_resize as shipped with Qwen2.5-VL (qwen-vl-utils/src/qwen_vl_utils/vision_process.py:
 * round_by_factor / floor_by_factor / ceil_by_factor, max(factor, ...) on the first two branches), run by
 * CPython so that round() is Python's banker's rounding and the float arithmetic is Python's.
 */
const PY_SMART_RESIZE = `
import json, math, sys
def round_by_factor(n, f): return round(n / f) * f
def ceil_by_factor(n, f): return math.ceil(n / f) * f
def floor_by_factor(n, f): return math.floor(n / f) * f
def smart_resize(height, width, factor, min_pixels, max_pixels):
    if max(height, width) / min(height, width) > 200:
        raise ValueError("ratio")
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, floor_by_factor(height / beta, factor))
        w_bar = max(factor, floor_by_factor(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return h_bar, w_bar
out = []
for w, h, mn, mx in json.load(sys.stdin):
    try:
        rh, rw = smart_resize(h, w, 28, mn, mx)
        out.append([rw, rh])
    except ValueError:
        out.append(None)
json.dump(out, sys.stdout)
`;

function python(script: string, input: unknown): unknown {
  const r = spawnSync(process.env.PYTHON ?? 'python3', ['-c', script], { input: JSON.stringify(input), encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

const BUDGETS: Array<[number, number]> = [
  [3136, 401408], // UniVG-R1 SFT / MIG-Bench eval
  [3136, 640000], // UniVG-R1 RL
  [QWEN_DEFAULTS.minPixels, QWEN_DEFAULTS.maxPixels],
  [56 * 56, 14 * 14 * 4 * 1280], // transformers' Qwen2-VL image processor defaults
  [100 * 28 * 28, 110 * 28 * 28], // a narrow window, where rounding decides
];

describe('smartResize', () => {
  it("matches Python's smart_resize on a table of sizes (incl. halves that banker's rounding decides)", () => {
    const fixed: Array<[number, number]> = [
      [640, 480], [1920, 1080], [1080, 1920], [28, 28], [14, 14], [42, 42], [70, 70], [98, 126], [1, 1], [5, 200],
      [4000, 3000], [8192, 8192], [3, 600], [600, 3], [1000, 5], [2, 400], [1234, 567], [448, 448], [800, 800],
      [14 * 3, 14 * 5], [28 * 7 + 14, 28 * 9 + 14], [4032, 3024], [12000, 9000], [333, 777],
    ];
    const size = fc.tuple(fc.integer({ min: 1, max: 9000 }), fc.integer({ min: 1, max: 9000 }));
    const random = fc.sample(size.filter(([w, h]) => Math.max(w, h) / Math.min(w, h) <= 200), { seed: 5, numRuns: 400 });
    const cases = [...fixed, ...random].flatMap(([w, h]) => BUDGETS.map(([mn, mx]) => [w, h, mn, mx] as const));
    const want = python(PY_SMART_RESIZE, cases) as Array<[number, number] | null>;
    let compared = 0;
    cases.forEach(([w, h, mn, mx], i) => {
      const exp = want[i];
      if (exp === null) {
        expect(() => smartResize(w, h, { minPixels: mn, maxPixels: mx })).toThrow(GeometryError);
      } else {
        expect(smartResize(w, h, { minPixels: mn, maxPixels: mx }), `${w}x${h} in [${mn}, ${mx}]`).toEqual({ width: exp![0], height: exp![1] });
        compared++;
      }
    });
    expect(compared).toBeGreaterThan(cases.length * 0.9);
  });

  it('yields multiples of 28 inside [minPixels, maxPixels] for aspect ratios up to 200', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20000 }),
        fc.integer({ min: 1, max: 20000 }),
        fc.constantFrom(...BUDGETS.slice(0, 4)),
        (w, h, [minPixels, maxPixels]) => {
          fc.pre(Math.max(w, h) / Math.min(w, h) <= 200);
          const r = smartResize(w, h, { minPixels, maxPixels });
          expect(r.width % 28).toBe(0);
          expect(r.height % 28).toBe(0);
          expect(r.width * r.height).toBeGreaterThanOrEqual(minPixels);
          expect(r.width * r.height).toBeLessThanOrEqual(maxPixels);
        },
      ),
      { seed: 11, numRuns: 2000 },
    );
  });

  it('rejects impossible sizes', () => {
    expect(() => smartResize(0, 10)).toThrow(GeometryError);
    expect(() => smartResize(Number.NaN, 10)).toThrow(GeometryError);
    expect(() => smartResize(10, 2001)).toThrow(/aspect ratio/);
  });
});

describe('pyRound', () => {
  it("is Python's round(): half to even", () => {
    const xs = [0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 0.49999999999999994, 2.675, 1e15 + 0.5, 7.5, 8.5, 12.5 / 1, 37 / 28, 42 / 28, 70 / 28];
    const want = python('import json,sys\nprint(json.dumps([round(x) for x in json.load(sys.stdin)]))', xs) as number[];
    expect(xs.map(pyRound)).toEqual(want);
  });
});
