/**
 * Parity with the Python the paper's trainer ran: the same strings go through univg_reward_ref.py (real
 * CPython `re`, `int()` and float arithmetic) and through the TypeScript rewards; every value must be equal
 * (Object.is, so even -0.0 counts).
 */
import { join } from 'node:path';
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
import { parityCases } from './reward-generator.js';
import { runPython } from '../python.js';

const zeros = pyDigitZeros();
const here = import.meta.dirname;

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

describe('parity with CPython (univg_reward_ref.py)', () => {
  it('agrees on the hand-computed cases', () => {
    const py = oracle(REWARD_CASES);
    REWARD_CASES.forEach((c, i) => {
      expect(py[i]!.format, c.name).toBe(c.format);
      expect(py[i]!.acc, c.name).toBe(c.accuracy);
    });
  });

  it('agrees on 4000 generated completions (seeded)', () => {
    const cases = parityCases();
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
