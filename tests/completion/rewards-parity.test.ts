/**
 * Parity with the Python the paper's trainer ran: the same strings go through univg_reward_ref.py (real
 * CPython `re`, `int()` and float arithmetic) and through the TypeScript rewards; every value must be equal
 * (Object.is, so even -0.0 counts).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  PY_UNICODE_VERSION,
  REFERENCE_PATTERNS,
  accuracyReward,
  firstBoxAnywhere,
  formatReward,
  isPySpace,
  pyDigitZeros,
  singleImageAccuracyReward,
  singleImageFormatReward,
} from '../../src/index.js';
import { REWARD_CASES } from './reward-cases.js';

const PY = process.env.PYTHON ?? 'python3';
const here = import.meta.dirname;

function runPython(args: string[], input: string): string {
  const r = spawnSync(PY, args, { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${PY} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

interface PyResult {
  format: number;
  formatSingle: number;
  acc: number;
  accSingle: number;
  first: string[] | null;
}

function oracle(cases: Array<{ text: string; gt: number[] }>): PyResult[] {
  return JSON.parse(runPython([join(here, 'univg_reward_ref.py')], JSON.stringify(cases))) as PyResult[];
}

// --- generator: pieces that matter to the regexes, glued at random, plus mutated well-formed completions ---
const zeros = pyDigitZeros();
const unicodeNumber = fc
  .tuple(fc.constantFrom(0x660, 0x966, 0xff10, 0x1d7ce, 0x16ac0, 0x11f50 /* Kawi: not a digit for CPython 3.11 */), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 4 }))
  .map(([z, ds]) => ds.map((d) => String.fromCodePoint(z + d)).join(''));
const number = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 1100 }).map(String) },
  { weight: 1, arbitrary: fc.stringMatching(/^[0-9]{8,40}$/) },
  { weight: 1, arbitrary: unicodeNumber },
  { weight: 1, arbitrary: fc.constantFrom('12.5', '0.3', '-7', '007', '1e3', '') },
);
const sep = fc.constantFrom(',', ', ', ',  ', ' ,', ',\t', ',\n', ',\u3000', ',\x1c', ',\x85', ',\ufeff', ',\u00a0', ';');
const box = fc
  .tuple(number, sep, number, fc.constantFrom(',', ', ', ',\n', '', ' '), number, sep, number)
  .map(([a, s1, b, mid, c, s2, d]) => `(${a}${s1}${b})${mid}(${c}${s2}${d})`);
const piece = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('<think>', '</think>', '<answer>', '</answer>', '<box>', '</box>', '<|box_start|>', '<|box_end|>') },
  { weight: 3, arbitrary: box },
  { weight: 2, arbitrary: fc.constantFrom('(', ')', ',', '[', ']', '.', ' ', '\n', '\r\n', '\t', '\u3000', '\ufeff', '\x1c', '\x85') },
  // Halves of U+1D7CF (MATHEMATICAL BOLD DIGIT ONE): alone they are lone surrogates, together a digit.
  { weight: 1, arbitrary: fc.constantFrom('\ud835', '\udfcf', '\ud835\udfcf') },
  { weight: 2, arbitrary: number },
  { weight: 2, arbitrary: fc.constantFrom('The bus in image 2 ', 'the second image', ' so the answer is ', 'Image-3: ', 'x') },
  { weight: 1, arbitrary: fc.tuple(number, number, number, number).map((n) => `[${n.join(', ')}]`) },
  { weight: 1, arbitrary: fc.tuple(number, number, number, number).map((n) => `<box>${n.join(' ')}</box>`) },
);
const soup = fc.array(piece, { maxLength: 14 }).map((ps) => ps.join(''));
const cleanBox = fc
  .tuple(fc.nat(1000), fc.nat(1000), fc.nat(1000), fc.nat(1000), fc.constantFrom(',', ', '))
  .map(([a, b, c, d, s]) => `(${a}${s}${b}),${s === ',' ? '' : ' '}(${c}${s}${d})`);
const likely = (common: string, ...rare: string[]) =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(common) }, { weight: 2, arbitrary: fc.constantFrom(...rare) });
const wellFormed = fc
  .tuple(
    likely('', 'Sure. ', '\n'),
    fc.array(piece, { maxLength: 5 }).map((ps) => ps.join('')),
    likely('', '\n', '\n\n', ' ', '\u3000', '\ufeff', '\x1c'),
    fc.oneof({ weight: 3, arbitrary: cleanBox }, { weight: 2, arbitrary: box }),
    likely('', '\n', '\n\n', ' ', ' Done.', '<|im_end|>', '<answer>(1,2),(3,4)</answer>'),
  )
  .map(([pre, think, gap, b, post]) => `${pre}<think>${think}</think>${gap}<answer>${b}</answer>${post}`);
const gt = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 999 }), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 })) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: -50, max: 1100 }), fc.integer({ min: -50, max: 1100 }), fc.integer({ min: -50, max: 1100 }), fc.integer({ min: -50, max: 1100 })) },
  { weight: 1, arbitrary: fc.tuple(fc.double({ min: 0, max: 1000, noNaN: true }), fc.double({ min: 0, max: 1000, noNaN: true }), fc.double({ min: 0, max: 1000, noNaN: true }), fc.double({ min: 0, max: 1000, noNaN: true })) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 0, max: 1e12 })) },
).map((t) => [...t]);
/** A completion whose box is near its ground truth, so the IoU arithmetic is exercised on real overlaps. */
const near = fc
  .tuple(fc.nat(900), fc.nat(900), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }), fc.array(fc.integer({ min: -6, max: 6 }), { minLength: 4, maxLength: 4 }), wellFormed)
  .map(([x, y, w, h, j, wf]) => {
    const b = [x, y, x + w, y + h];
    const text = wf.replace(/<answer>[^]*?<\/answer>/, `<answer>(${b[0]},${b[1]}),(${b[2]},${b[3]})</answer>`);
    return { text, gt: b.map((v, k) => v + j[k]!) };
  });
const caseArb = fc.oneof(fc.record({ text: fc.oneof(soup, wellFormed), gt }), near);

describe('parity with CPython (univg_reward_ref.py)', () => {
  it('agrees on the hand-computed cases', () => {
    const py = oracle(REWARD_CASES);
    REWARD_CASES.forEach((c, i) => {
      expect(py[i]!.format, c.name).toBe(c.format);
      expect(py[i]!.acc, c.name).toBe(c.accuracy);
    });
  });

  it('agrees on 4000 generated completions (seeded)', () => {
    const cases = fc.sample(caseArb, { seed: 20250514, numRuns: 4000 });
    const py = oracle(cases);
    let formatOnes = 0;
    let accNonZero = 0;
    cases.forEach((c, i) => {
      const p = py[i]!;
      const where = JSON.stringify(c);
      expect(formatReward(c.text), where).toBe(p.format);
      expect(REFERENCE_PATTERNS.format.test(c.text) ? 1 : 0, where).toBe(p.format);
      expect(singleImageFormatReward(c.text), where).toBe(p.formatSingle);
      expect(accuracyReward(c.text, c.gt), where).toBe(p.acc);
      expect(singleImageAccuracyReward(c.text, c.gt), where).toBe(p.accSingle);
      expect(firstBoxAnywhere(c.text), where).toEqual(p.first === null ? null : p.first.map(Number));
      formatOnes += p.format;
      if (p.acc !== 0) accNonZero++;
    });
    // The generator must exercise both outcomes, or the comparison proves little.
    expect(formatOnes).toBeGreaterThan(300);
    expect(formatOnes).toBeLessThan(3700);
    expect(accNonZero).toBeGreaterThan(300);
  });

  it("uses CPython's own digit and whitespace tables", () => {
    const out = runPython(
      ['-c', [
        'import json, re, sys, unicodedata',
        "z = [c for c in range(0x110000) if re.match(r'\\d', chr(c)) and unicodedata.decimal(chr(c)) == 0]",
        "w = [c for c in range(0x110000) if re.match(r'\\s', chr(c))]",
        'json.dump({"v": unicodedata.unidata_version, "z": z, "w": w}, sys.stdout)',
      ].join('\n')],
      '',
    );
    const py = JSON.parse(out) as { v: string; z: number[]; w: number[] };
    const mine = [...zeros];
    if (py.v === PY_UNICODE_VERSION) expect(mine).toEqual(py.z);
    else expect(py.z).toEqual(expect.arrayContaining(mine)); // newer Pythons only add digits
    const ws: number[] = [];
    for (let c = 0; c < 0x10000; c++) if (isPySpace(c)) ws.push(c);
    expect(ws).toEqual(py.w);
  });
});
