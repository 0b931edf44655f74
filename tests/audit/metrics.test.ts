/**
 * The audit plan's numbers (issue 14): Wilson intervals, the verifier's precision and recall rebuilt from
 * a stratified sample, and Cohen's kappa, against textbook values and by simulation (the intervals must
 * cover the true value about as often as they claim).
 */
import { describe, expect, it } from 'vitest';
import { cohensKappa, stratifiedRate, verifierQuality, wilson } from '../../src/audit/metrics.js';
import { Sfc32 } from '../../src/random/sfc32.js';

describe('wilson', () => {
  it('matches published intervals', () => {
    const a = wilson(8, 10);
    expect(a.p).toBe(0.8);
    expect(a.lo).toBeCloseTo(0.4902, 4);
    expect(a.hi).toBeCloseTo(0.9433, 4);
    const b = wilson(0, 10);
    expect(b.lo).toBe(0);
    expect(b.hi).toBeCloseTo(0.2775, 4);
    expect(wilson(10, 10).hi).toBe(1);
  });

  it('is the whole [0, 1] without observations, and refuses impossible counts', () => {
    expect(wilson(0, 0)).toEqual({ p: null, lo: 0, hi: 1, n: 0 });
    expect(() => wilson(3, 2)).toThrow(RangeError);
  });
});

describe('cohensKappa', () => {
  it("gives the textbook 0.4 (po 0.7, pe 0.5)", () => {
    const pairs: Array<[string, string]> = [
      ...Array.from({ length: 20 }, () => ['yes', 'yes'] as [string, string]),
      ...Array.from({ length: 5 }, () => ['yes', 'no'] as [string, string]),
      ...Array.from({ length: 10 }, () => ['no', 'yes'] as [string, string]),
      ...Array.from({ length: 15 }, () => ['no', 'no'] as [string, string]),
    ];
    const k = cohensKappa(pairs);
    expect(k.n).toBe(50);
    expect(k.observed).toBeCloseTo(0.7, 10);
    expect(k.kappa).toBeCloseTo(0.4, 10);
  });

  it('is 1 for perfect agreement, below 0 for systematic disagreement, undefined without variety', () => {
    expect(cohensKappa([['accept', 'accept'], ['reject', 'reject'], ['flag', 'flag']]).kappa).toBeCloseTo(1, 12);
    expect(cohensKappa([['accept', 'reject'], ['reject', 'accept']]).kappa).toBeLessThan(0);
    expect(cohensKappa([['accept', 'accept'], ['accept', 'accept']]).kappa).toBeNull();
    expect(cohensKappa([])).toEqual({ kappa: null, observed: null, n: 0 });
  });
});

describe('verifierQuality', () => {
  it('reads precision off the passed group and rebuilds recall from both groups and their sizes', () => {
    const even = verifierQuality({ passAccepted: 90, passRejected: 10, failAccepted: 10, failRejected: 90, passTotal: 1000, failTotal: 1000 });
    expect(even.precision.p).toBeCloseTo(0.9, 12);
    expect(even.recall.p).toBeCloseTo(0.9, 12);
    expect(even.falseRejection.p).toBeCloseTo(0.1, 12);
    // Nine times as many passed candidates: the same labels mean far fewer good chains lost.
    const skewed = verifierQuality({ passAccepted: 90, passRejected: 10, failAccepted: 10, failRejected: 90, passTotal: 9000, failTotal: 1000 });
    expect(skewed.recall.p).toBeCloseTo(8100 / 8200, 12);
    for (const q of [even, skewed]) {
      expect(q.recall.lo).toBeLessThan(q.recall.p!);
      expect(q.recall.hi).toBeGreaterThan(q.recall.p!);
    }
  });

  it('says what it cannot know: no failed candidates labelled leaves recall wide open', () => {
    const q = verifierQuality({ passAccepted: 20, passRejected: 0, failAccepted: 0, failRejected: 0, passTotal: 100, failTotal: 100 });
    expect(q.recall.p).toBeNull();
    expect(q.recall.hi).toBe(1);
    expect(q.recall.lo).toBeLessThan(0.6);
    expect(verifierQuality({ passAccepted: 3, passRejected: 1, failAccepted: 0, failRejected: 0, passTotal: 10, failTotal: 0 }).recall.p).toBe(1);
    expect(verifierQuality({ passAccepted: 0, passRejected: 0, failAccepted: 2, failRejected: 1, passTotal: 0, failTotal: 10 }).recall.p).toBe(0);
  });

  it('covers the true precision and recall at least 95% of the time on simulated stratified audits', () => {
    const g = Sfc32.seeded(1, 4, 14, 2025);
    const binom = (n: number, p: number) => {
      let k = 0;
      for (let i = 0; i < n; i++) if (g.next() < p) k++;
      return k;
    };
    // A run where the verifier passes 6,000 and fails 4,000 candidates; 92% of the passed and 15% of the
    // failed ones are good. True recall = 6000*0.92 / (6000*0.92 + 4000*0.15).
    const [nPass, nFail, good, goodFail] = [6000, 4000, 0.92, 0.15];
    const trueRecall = (nPass * good) / (nPass * good + nFail * goodFail);
    let pCover = 0;
    let rCover = 0;
    const trials = 600;
    for (let t = 0; t < trials; t++) {
      // A plan of 60 passed and 40 failed samples (the strata are drawn at different rates).
      const pa = binom(60, good);
      const fa = binom(40, goodFail);
      const q = verifierQuality({ passAccepted: pa, passRejected: 60 - pa, failAccepted: fa, failRejected: 40 - fa, passTotal: nPass, failTotal: nFail });
      if (q.precision.lo <= good && good <= q.precision.hi) pCover++;
      if (q.recall.lo <= trueRecall && trueRecall <= q.recall.hi) rCover++;
    }
    expect(pCover / trials).toBeGreaterThanOrEqual(0.93);
    expect(rCover / trials).toBeGreaterThanOrEqual(0.95);
    // And the intervals are not vacuous.
    const typical = verifierQuality({ passAccepted: 55, passRejected: 5, failAccepted: 6, failRejected: 34, passTotal: nPass, failTotal: nFail });
    expect(typical.recall.hi - typical.recall.lo).toBeLessThan(0.25);
  });
});

describe('stratifiedRate', () => {
  it('weights each group by its size, not by how many were labelled', () => {
    const e = stratifiedRate([
      { k: 9, n: 10, weight: 900 },
      { k: 1, n: 10, weight: 100 },
    ]);
    expect(e.p).toBeCloseTo(0.82, 12);
    expect(e.lo).toBeLessThan(0.82);
    expect(e.hi).toBeGreaterThan(0.82);
    expect(stratifiedRate([])).toEqual({ p: null, lo: 0, hi: 1, n: 0 });
  });
});
