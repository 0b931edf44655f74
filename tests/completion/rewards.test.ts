import { describe, expect, it } from 'vitest';
import {
  GeometryError,
  REFERENCE_PATTERNS,
  accuracyReward,
  formatCompletion,
  formatReward,
  rewards,
  singleImageAccuracyReward,
  singleImageFormatReward,
  univgIou,
} from '../../src/index.js';
import { REWARD_CASES } from './reward-cases.js';

describe('formatReward / accuracyReward on hand-computed cases', () => {
  for (const c of REWARD_CASES) {
    it(c.name, () => {
      expect(formatReward(c.text)).toBe(c.format);
      // toBe uses Object.is, so -0 vs 0 is checked too.
      expect(accuracyReward(c.text, c.gt)).toBe(c.accuracy);
      // The literal translation of their regex agrees with the fast path.
      expect(REFERENCE_PATTERNS.format.test(c.text) ? 1 : 0).toBe(c.format);
    });
  }
});

describe('rewards()', () => {
  it('sums format and accuracy', () => {
    const text = '<think>x</think><answer>(0,0),(12,12)</answer>';
    expect(rewards(text, [10, 10, 20, 20])).toEqual({ format: 1, accuracy: 4 / 240, total: 1 + 4 / 240 });
    expect(rewards('no tags (0,0),(12,12)', [10, 10, 20, 20])).toEqual({ format: 0, accuracy: 0, total: 0 });
  });

  it('single-image variant: any box anywhere, no tags needed', () => {
    const text = 'The man is at (120, 45),(560,980).';
    expect(singleImageFormatReward(text)).toBe(1);
    expect(singleImageAccuracyReward(text, [120, 45, 560, 980])).toBe(1);
    expect(rewards(text, [120, 45, 560, 980], { singleImage: true }).total).toBe(2);
    expect(rewards(text, [120, 45, 560, 980]).total).toBe(0);
    expect(singleImageFormatReward('(1.5,2),(3,4)')).toBe(0);
    // First box anywhere, even inside <think>.
    expect(singleImageAccuracyReward('<think>(0,0),(5,5)</think><answer>(120,45),(560,980)</answer>', [120, 45, 560, 980])).toBe(0);
  });

  it('rejects a malformed ground truth with a typed error', () => {
    expect(() => accuracyReward('x', [1, 2, 3])).toThrow(GeometryError);
    expect(() => accuracyReward('x', [1, 2, 3, Number.NaN])).toThrow(/4 finite numbers/);
  });

  it('scores a completion written by formatCompletion as a perfect answer', () => {
    const text = formatCompletion('The second image shows it.', [120, 45, 560, 980], 'qwen2vl');
    expect(rewards(text, [120, 45, 560, 980])).toEqual({ format: 1, accuracy: 1, total: 2 });
  });
});

describe('univgIou', () => {
  it('is their arithmetic: strict < on the inclusive intersection', () => {
    expect(univgIou([0n, 0n, 11n, 11n], [10, 10, 20, 20])).toBe(0);
    expect(univgIou([0, 0, 12, 12], [10, 10, 20, 20])).toBe(4 / 240);
    expect(univgIou([5, 5, 5, 5], [5, 5, 5, 5])).toBe(0);
  });
});
