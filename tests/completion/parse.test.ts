import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COMPLETION_PROBLEM_CODES,
  GeometryError,
  RecordError,
  firstBoxAnywhere,
  formatBox,
  formatCompletion,
  paperEvalIou,
  parseCompletion,
  type BoxConvention,
  type CompletionProblemCode,
} from '../../src/index.js';

const codes = (text: string, conv: BoxConvention = 'qwen2vl'): CompletionProblemCode[] =>
  parseCompletion(text, conv).problems.map((p) => p.code);

describe('parseCompletion: structure', () => {
  it('reads a canonical completion without problems', () => {
    const p = parseCompletion('<think>Look at image 2.</think><answer>(120,45),(560,980)</answer>', 'qwen2vl');
    expect(p).toEqual({
      think: 'Look at image 2.',
      answer: '(120,45),(560,980)',
      answerBox: [120, 45, 560, 980],
      thinkBoxes: [],
      mentionedImages: [1],
      thinkOffset: 7,
      problems: [],
    });
  });

  const table: Array<[string, string, CompletionProblemCode[]]> = [
    ['no think', '<answer>(1,2),(3,4)</answer>', ['missing_think']],
    ['no answer', '<think>x</think>', ['missing_answer']],
    ['unclosed think', '<think>x <answer>(1,2),(3,4)</answer>', ['unclosed_tag']],
    ['unclosed answer', '<think>x</think><answer>(1,2),(3,4)', ['unclosed_tag']],
    ['two thinks', '<think>a</think><think>b</think><answer>(1,2),(3,4)</answer>', ['repeated_think']],
    ['two answers', '<think>a</think><answer>(1,2),(3,4)</answer><answer>(1,2),(3,4)</answer>', ['text_after_answer', 'repeated_answer']],
    ['preamble', 'Sure! <think>a</think><answer>(1,2),(3,4)</answer>', ['text_before_think']],
    ['leading whitespace is fine', '\n <think>a</think><answer>(1,2),(3,4)</answer>', []],
    ['trailing whitespace is fine', '<think>a</think><answer>(1,2),(3,4)</answer>\n\n', []],
    ['text after', '<think>a</think><answer>(1,2),(3,4)</answer> Hope this helps', ['text_after_answer']],
    ['answer first', '<answer>(1,2),(3,4)</answer><think>a</think>', ['text_before_think', 'text_after_answer', 'answer_before_think']],
    ['answer inside think', '<think>a <answer>(1,2),(3,4)</answer> b</think>', ['text_after_answer', 'answer_before_think']],
    ['no box', '<think>a</think><answer>the red car</answer>', ['answer_unparsable']],
    ['two different boxes', '<think>a</think><answer>(1,2),(3,4) or (5,6),(7,8)</answer>', ['answer_multiple_boxes']],
    ['same box twice is one box', '<think>a</think><answer>(1,2),(3,4) i.e. [1, 2, 3, 4]</answer>', []],
    ['qwen2vl above 1000', '<think>a</think><answer>(1,2),(3,1001)</answer>', ['box_out_of_range']],
    ['negative', '<think>a</think><answer>(-1,2),(3,4)</answer>', ['box_out_of_range']],
    ['inverted', '<think>a</think><answer>(5,2),(3,4)</answer>', ['box_inverted']],
    ['degenerate', '<think>a</think><answer>(3,2),(3,4)</answer>', ['box_degenerate']],
    ['floats in an integer convention', '<think>a</think><answer>(1.5,2),(3,4.0)</answer>', ['box_not_integer']],
  ];
  for (const [name, text, expected] of table) {
    it(`problems: ${name}`, () => expect(codes(text)).toEqual(expected));
  }

  it('every problem code is produced by some input', () => {
    const seen = new Set(table.flatMap(([, t]) => codes(t)));
    expect(codes('<think>a</think><answer>(0.2,0.1),(1.5,0.9)</answer>', 'norm')).toEqual(['box_out_of_range']);
    seen.add('box_out_of_range');
    expect([...seen].sort()).toEqual([...COMPLETION_PROBLEM_CODES].sort());
  });

  it('takes the reasoning before a lone </think> (chat templates that open <think> themselves)', () => {
    const p = parseCompletion('I see two dogs.</think><answer>(1,2),(3,4)</answer>', 'qwen2vl');
    expect(p.think).toBe('I see two dogs.');
    expect(p.answerBox).toEqual([1, 2, 3, 4]);
    expect(p.problems.map((x) => x.code)).toEqual(['missing_think']);
  });

  it('problem details say where', () => {
    const p = parseCompletion('<think>x</think><answer>(1,2),(3,4)</answer>xx<answer>', 'qwen2vl');
    expect(p.problems.find((x) => x.code === 'repeated_answer')!.detail).toContain('offset 46');
  });
});

describe('parseCompletion: boxes', () => {
  const ans = (a: string, conv: BoxConvention = 'qwen2vl') => parseCompletion(`<think>t</think><answer>${a}</answer>`, conv);

  it.each([
    ['(120,45),(560,980)', [120, 45, 560, 980]],
    ['( 120 , 45 ) , ( 560 , 980 )', [120, 45, 560, 980]],
    ['(120,45) (560,980)', [120, 45, 560, 980]],
    ['[120, 45, 560, 980]', [120, 45, 560, 980]],
    ['(120, 45, 560, 980)', [120, 45, 560, 980]],
    ['<|box_start|>(120,45),(560,980)<|box_end|>', [120, 45, 560, 980]],
    ['{"bbox_2d": [120, 45, 560, 980], "label": "bus"}', [120, 45, 560, 980]],
    ['```json\n[{"bbox_2d": [120,45,560,980]}]\n```', [120, 45, 560, 980]],
    ['The bus: (120,45),(560,980).', [120, 45, 560, 980]],
    ['120, 45, 560, 980', [120, 45, 560, 980]],
    ['120 45 560 980', [120, 45, 560, 980]],
  ])('answer %j -> %j', (a, box) => {
    const p = ans(a);
    expect(p.answerBox).toEqual(box);
    expect(p.problems).toEqual([]);
  });

  it('reads norm floats as written', () => {
    const p = ans('(0.123,0.456),(0.789,0.999)', 'norm');
    expect(p.answerBox).toEqual([0.123, 0.456, 0.789, 0.999]);
    expect(p.problems).toEqual([]);
  });

  it('turns xywh into xyxy', () => {
    expect(ans('[10, 20, 30, 40]', 'pixels-xywh').answerBox).toEqual([10, 20, 40, 60]);
    expect(codes('<think>t</think><answer>[10, 20, 30, -10]</answer>', 'pixels-xywh')).toEqual(['box_inverted']);
    expect(codes('<think>t</think><answer>[900, 20, 200, 40]</answer>', 'qwen2vl-xywh')).toEqual(['box_out_of_range']);
  });

  it('never takes the answer from the think, and lists think boxes with their offsets', () => {
    const text = '<think>First (1,2),(3,4) then [5, 6, 7, 8].</think><answer>(120,45),(560,980)</answer>';
    const p = parseCompletion(text, 'qwen2vl');
    expect(p.answerBox).toEqual([120, 45, 560, 980]);
    expect(p.thinkBoxes).toEqual([
      { box: [1, 2, 3, 4], offset: text.indexOf('(1,2)'), end: text.indexOf(' then') },
      { box: [5, 6, 7, 8], offset: text.indexOf('[5,'), end: text.indexOf('.</think>') },
    ]);
  });

  it('an answer without a box stays null even when the think has boxes', () => {
    const p = parseCompletion('<think>(1,2),(3,4)</think><answer>none</answer>', 'qwen2vl');
    expect(p.answerBox).toBeNull();
    expect(p.thinkBoxes).toHaveLength(1);
  });
});

describe('parseCompletion: image mentions', () => {
  const mentions = (think: string) => parseCompletion(`<think>${think}</think><answer>(1,2),(3,4)</answer>`, 'qwen2vl').mentionedImages;
  it.each([
    ['In image 2 the car is red.', [1]],
    ['Image-3 and Image1 differ; image_4 too.', [2, 0, 3]],
    ['the second image and the third frame', [1, 2]],
    ['the 2th image (MIG-Bench spelling), 1st picture, 10th photo', [1, 0, 9]],
    ['Comparing the first image with image 2, then the first image again.', [0, 1]],
    ['First, I look at the picture. The image is 640x480; image 1000 is no index.', []],
    ['image 3x4 grid, image 2.5', []],
    ['frame #4 and view 2', [3, 1]],
    ['no images named here', []],
    ['IMAGE 2, Third Picture, subimage 4, preview 5', [1, 2]],
    ['İstanbul photo: image 3 then the first frame', [2, 0]],
  ])('%j -> %j', (think, expected) => expect(mentions(think)).toEqual(expected));
});

describe('formatBox / formatCompletion', () => {
  it('writes each convention canonically', () => {
    expect(formatBox([120, 45, 560, 980], 'qwen2vl')).toBe('(120,45),(560,980)');
    expect(formatBox([0.1234, 0.4565, 0.7891, 1], 'norm')).toBe('(0.123,0.457),(0.789,1.000)');
    expect(formatBox([10.5, 20, 30.125, 40], 'pixels')).toBe('(10.5,20),(30.13,40)');
    expect(formatBox([10, 20, 40, 60], 'pixels-xywh')).toBe('[10,20,30,40]');
    expect(formatCompletion('thinking', [1, 2, 3, 4], 'qwen25vl')).toBe('<think>thinking</think><answer>(1,2),(3,4)</answer>');
  });

  it('refuses fractions in integer conventions, non-finite boxes and tags in the reasoning', () => {
    expect(() => formatBox([1.5, 2, 3, 4], 'qwen2vl')).toThrow(GeometryError);
    expect(() => formatBox([1, 2, 3, Number.NaN], 'norm')).toThrow(GeometryError);
    expect(() => formatCompletion('a</think>b', [1, 2, 3, 4], 'qwen2vl')).toThrow(RecordError);
  });

  const reasoning = fc.string({ maxLength: 60 }).filter((s) => !/<\/?(think|answer)>/.test(s));
  const sorted = (lo: number, hi: number, int: boolean) => {
    const v = int ? fc.integer({ min: lo, max: hi }) : fc.double({ min: lo, max: hi, noNaN: true });
    return fc.tuple(v, v, v, v).filter(([a, b, c, d]) => a < c && b < d);
  };

  it('parse(formatCompletion(box)) gives the box back (integer conventions exactly)', () => {
    fc.assert(
      fc.property(reasoning, sorted(0, 1000, true), fc.constantFrom<BoxConvention>('qwen2vl', 'qwen25vl', 'qwen2vl-xywh'), (t, box, conv) => {
        const p = parseCompletion(formatCompletion(t, box, conv), conv);
        expect(p.answerBox).toEqual(box);
        expect(p.problems.filter((x) => x.code !== 'answer_multiple_boxes')).toEqual([]);
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  it('norm round trip is within the 3-decimal rounding', () => {
    fc.assert(
      fc.property(reasoning, sorted(0, 1, false), (t, box) => {
        const p = parseCompletion(formatCompletion(t, box, 'norm'), 'norm');
        p.answerBox!.forEach((v, k) => expect(Math.abs(v - box[k]!)).toBeLessThanOrEqual(0.0005 + 1e-12));
      }),
      { seed: 8, numRuns: 300 },
    );
  });
});

describe("the paper's MIG-Bench scorer", () => {
  it('firstBoxAnywhere prefers a box in the think over the answer', () => {
    expect(firstBoxAnywhere('<think>at (1,2),(3,4)</think><answer>(120,45),(560,980)</answer>')).toEqual([1, 2, 3, 4]);
    expect(firstBoxAnywhere('[12, 34, 56, 78]')).toEqual([12, 34, 56, 78]);
    expect(firstBoxAnywhere('<box>1 2 3 4</box>')).toEqual([1, 2, 3, 4]);
    // A decimal list matches an earlier pattern and int() fails: the paper scores it as [0,0,0,0].
    expect(firstBoxAnywhere('[0.1, 0.2, 0.3, 0.4] then [12, 34, 56, 78]')).toBeNull();
    expect(firstBoxAnywhere('nothing')).toBeNull();
  });

  it('paperEvalIou is the plain continuous IoU with touching boxes at 0', () => {
    expect(paperEvalIou([0, 0, 10, 10], [5, 0, 15, 10])).toBeCloseTo(50 / 150, 15);
    expect(paperEvalIou([0, 0, 10, 10], [10, 0, 20, 10])).toBe(0);
    expect(paperEvalIou([0, 0, 0, 0], [0, 0, 0, 0])).toBe(0);
    expect(paperEvalIou([0, 0, 10, 10], [])).toBe(0);
  });
});
