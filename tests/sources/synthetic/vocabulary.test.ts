import { describe, expect, it } from 'vitest';
import { COLOR_NAMES, SHAPES, parseOrdinal, parseQuestion, renderQuestion, type QuestionSpec } from '../../../src/sources/synthetic/vocabulary.js';

describe('synthetic question grammar', () => {
  const specs: QuestionSpec[] = [];
  for (let t = 0; t < 6; t++) {
    specs.push({ task: 'common_object', target: t }, { task: 'diff', target: t }, { task: 'correspondence', target: t });
    specs.push({ task: 'reasoning', target: t, relation: 'same_color_as_largest' }, { task: 'reasoning', target: t, relation: 'same_shape_as_smallest' });
    specs.push({ task: 'object_tracking', target: t, markerBox1000: [12, 300, 450, 999] });
    for (const color of COLOR_NAMES) for (const shape of SHAPES) specs.push({ task: 'refer_grounding', target: t, size: t % 2 ? 'small' : null, color, shape });
  }
  it('parses back every rendered question, also when wrapped in a prompt', () => {
    for (const s of specs) {
      const text = renderQuestion(s);
      expect(parseQuestion(text)).toEqual(s);
      expect(parseQuestion(`Please examine all the images. The question to be addressed is ${text} The ground truth is (1,2),(3,4).`)).toEqual(s);
    }
  });
  it('returns null for text that is not a suite question', () => {
    expect(parseQuestion('Locate the red dragon in the first image.')).toBeNull();
    expect(parseQuestion('')).toBeNull();
  });
  it('reads MIG-Bench ordinals', () => {
    expect(parseOrdinal('second')).toBe(1);
    expect(parseOrdinal('2th')).toBe(1);
    expect(parseOrdinal('3rd')).toBe(2);
    expect(parseOrdinal('tenth')).toBeNull();
  });
});
