/**
 * Scoring and metrics on hand-computed cases: thresholds exactly at the boundary, averaging over tasks,
 * missing and unparsable answers, the paper's first-box quirk (both numbers), conventions.
 */
import { describe, expect, it } from 'vitest';
import { aggregate, scoreCompletion, scoreMissing, paperGroundTruth, toPrediction, evaluate, type Bench, type ScoredSample } from '../../../src/train/eval/index.js';
import { Prediction, type GroundingSample } from '../../../src/schema/records.js';

const SHA = 'a'.repeat(64);

/** One target image of `w` x `h` (the second of two), ground truth `box` in its pixels. */
function sample(id: string, task: string, box: [number, number, number, number], w = 200, h = 100, difficulty: GroundingSample['difficulty'] = null): GroundingSample {
  return {
    id,
    source: 'test',
    task,
    images: [
      { sha256: SHA, path: 'a.png', width: 640, height: 480 },
      { sha256: SHA, path: 'b.png', width: w, height: h },
    ],
    question: 'Find it in the second image.',
    context: [],
    targetImage: 1,
    targetBox: box,
    difficulty,
    split: 'test',
    meta: {},
  };
}

const answer = (box: string, think = 'reasoning') => `<think>${think}</think><answer>${box}</answer>`;

describe('scoreCompletion', () => {
  const gt = sample('s', 'diff', [0, 0, 100, 100], 200, 100);

  it('IoU exactly 0.5 counts at 0.5 and 0.3 but not 0.7 (>=, as compute_iou)', () => {
    // [0,0,50,100] inside [0,0,100,100]: 5000 / 10000 = 0.5 exactly.
    const s = scoreCompletion(gt, answer('(0,0),(50,100)'), 'pixels');
    expect(s.iou).toBe(0.5);
    const m = aggregate([s]);
    expect(m.tasks[0]!.answer.hits).toEqual({ 'acc@0.3': 1, 'acc@0.5': 1, 'acc@0.7': 0 });
  });

  it('IoU exactly 0.7 and exactly 0.3 count at their thresholds; just below does not', () => {
    const at07 = scoreCompletion(gt, answer('(0,0),(70,100)'), 'pixels');
    const at03 = scoreCompletion(gt, answer('(0,0),(30,100)'), 'pixels');
    const below05 = scoreCompletion(gt, answer('(0,0),(49.99,100)'), 'pixels');
    expect([at07.iou, at03.iou]).toEqual([0.7, 0.3]);
    expect(below05.iou).toBeLessThan(0.5);
    const m = aggregate([at07, at03, below05]);
    expect(m.tasks[0]!.answer.hits).toEqual({ 'acc@0.7': 1, 'acc@0.5': 1, 'acc@0.3': 3 });
  });

  it('a box in the think is what the paper scorer reads; ours reads the <answer> box', () => {
    // Ground truth in 0-1000 of the 200x100 image: (0,0),(500,1000). The answer is exact; the think quotes
    // a box half as wide first.
    const text = answer('(0,0),(500,1000)', 'The cat in image 2 might be at (0,0),(250,1000), but it is wider.');
    const s = scoreCompletion(gt, text, 'qwen2vl');
    expect(paperGroundTruth(gt)).toEqual([0, 0, 500, 1000]);
    expect(s.iou).toBe(1);
    expect(s.paperIou).toBe(0.5);
    expect(s.boxesDiffer).toBe(true);
    const m = aggregate([s]);
    expect(m.tasks[0]!.answer['acc@0.5']).toBe(1);
    expect(m.tasks[0]!.paper['acc@0.5']).toBe(1);
    expect(m.tasks[0]!.answer['acc@0.7']).toBe(1);
    expect(m.tasks[0]!.paper['acc@0.7']).toBe(0);
    expect(m.counts.boxesDiffer).toBe(1);
  });

  it('without a box in the think both scorers read the same box', () => {
    const s = scoreCompletion(gt, answer('(0,0),(400,1000)'), 'qwen2vl');
    expect(s.iou).toBeCloseTo(0.8, 12);
    expect(s.paperIou).toBeCloseTo(0.8, 12);
    expect(s.boxesDiffer).toBe(false);
  });

  it('missing, unparsable, empty and inverted answers score 0 with a reason', () => {
    const cases: Array<[string, string]> = [
      ['<think>no answer tag (0,0),(500,1000)</think>', 'missing_answer'],
      [answer('the left half'), 'answer_unparsable'],
      ['   ', 'empty_completion'],
      [answer('(500,1000),(0,0)'), 'box_invalid'],
    ];
    for (const [text, reason] of cases) {
      const s = scoreCompletion(gt, text, 'qwen2vl');
      expect(s.iou, text).toBe(0);
      expect(s.reason, text).toBe(reason);
      expect(s.answerBox).toBeNull();
    }
    // The paper's scorer still finds the exact box in the think of the first case.
    expect(scoreCompletion(gt, cases[0]![0], 'qwen2vl').paperIou).toBe(1);
    const m = aggregate(cases.map(([t]) => scoreCompletion(gt, t, 'qwen2vl')));
    expect(m.counts.unscored).toEqual({ missing_answer: 1, answer_unparsable: 1, empty_completion: 1, box_invalid: 1 });
    expect(m.tasks[0]!.answer.meanIou).toBe(0);
    expect(m.tasks[0]!.paper.meanIou).toBe(0.25);
    expect(m.counts.problems.missing_answer).toBe(1);
  });

  it('the same box in qwen2vl, norm, pixels and qwen25vl scores the same IoU', () => {
    // A 1120x560 image; at max_pixels 401408 smart-resize makes it 896x448 (0.8 exactly), so the box
    // [140,70,700,350] is exact in every convention.
    const s2 = sample('c', 'diff', [100, 50, 600, 300], 1120, 560);
    const budget = { minPixels: 3136, maxPixels: 401408 };
    const v = {
      qwen2vl: scoreCompletion(s2, answer('(125,125),(625,625)'), 'qwen2vl'),
      norm: scoreCompletion(s2, answer('(0.125,0.125),(0.625,0.625)'), 'norm'),
      pixels: scoreCompletion(s2, answer('(140,70),(700,350)'), 'pixels'),
      qwen25vl: scoreCompletion(s2, answer('(112,56),(560,280)'), 'qwen25vl', budget),
      'pixels-xywh': scoreCompletion(s2, answer('[140,70,560,280]'), 'pixels-xywh'),
    };
    const expected = (460 * 230) / (560 * 280 + 500 * 250 - 460 * 230);
    for (const [c, s] of Object.entries(v)) {
      expect(s.answerBox, c).toEqual([140, 70, 700, 350]);
      expect(s.iou, c).toBe(expected);
    }
    // The paper scorer reads only integer boxes: decimal (norm) answers score 0 on it, as they did there;
    // integer conventions are rescaled to 0-1000 and agree with each other.
    expect(v.norm.paperIou).toBe(0);
    expect(v.pixels.paperIou).toBeCloseTo(v.qwen2vl.paperIou, 12);
    expect(v.qwen25vl.paperIou).toBeCloseTo(v.qwen2vl.paperIou, 12);
  });

  it('qwen25vl without a pixel budget is refused, not guessed', () => {
    expect(() => scoreCompletion(gt, answer('(0,0),(50,100)'), 'qwen25vl')).toThrow(/minPixels and maxPixels/);
  });

  it('toPrediction gives a valid Prediction record; no answer box -> iou null', () => {
    const ok = toPrediction(scoreCompletion(gt, answer('(0,0),(500,1000)'), 'qwen2vl'), answer('(0,0),(500,1000)'), 'qwen2vl', 'm');
    const bad = toPrediction(scoreCompletion(gt, answer('?'), 'qwen2vl'), answer('?'), 'qwen2vl', 'm');
    expect(Prediction.parse(ok)).toEqual(ok);
    expect(Prediction.parse(bad).iou).toBeNull();
    expect(ok.iou).toBe(1);
  });
});

describe('aggregate', () => {
  it('AVG is the mean over tasks, not over samples', () => {
    // Task A: 1 of 1 hit. Task B: 0 of 3. AVG Acc@0.5 = (100% + 0%) / 2 = 50%; pooled = 1/4.
    const a = sample('a0', 'diff', [0, 0, 100, 100]);
    const b = [0, 1, 2].map((i) => sample(`b${i}`, 'reasoning', [0, 0, 100, 100]));
    const scored: ScoredSample[] = [scoreCompletion(a, answer('(0,0),(100,100)'), 'pixels'), ...b.map((s) => scoreCompletion(s, answer('(150,0),(200,100)'), 'pixels'))];
    const m = aggregate(scored);
    expect(m.average.answer['acc@0.5']).toBe(0.5);
    expect(m.pooled.answer['acc@0.5']).toBe(0.25);
    expect(m.average.answer.meanIou).toBe(0.5);
    expect(m.tasks.map((t) => [t.task, t.n])).toEqual([
      ['diff', 1],
      ['reasoning', 3],
    ]);
  });

  it('orders tasks in the paper\'s columns, unknown tasks after by name', () => {
    const tasks = ['zeta', 'correspondence', 'common_object', 'alpha', 'diff'];
    const m = aggregate(tasks.map((t, i) => scoreMissing(sample(`x${i}`, t, [0, 0, 1, 1]))));
    expect(m.tasks.map((t) => t.task)).toEqual(['diff', 'common_object', 'correspondence', 'alpha', 'zeta']);
  });

  it('breaks down by difficulty when samples carry a label', () => {
    const e = sample('e', 'diff', [0, 0, 100, 100], 200, 100, 'easy');
    const h = sample('h', 'diff', [0, 0, 100, 100], 200, 100, 'hard');
    const m = aggregate([scoreCompletion(h, answer('(150,0),(200,100)'), 'pixels'), scoreCompletion(e, answer('(0,0),(100,100)'), 'pixels')]);
    expect(m.byDifficulty.map((d) => [d.difficulty, d.answer['acc@0.5']])).toEqual([
      ['easy', 1],
      ['hard', 0],
    ]);
  });
});

describe('evaluate with a predictions map', () => {
  const bench: Bench = {
    file: 'bench.json',
    imageRoot: '.',
    samples: [sample('d-0', 'diff', [0, 0, 100, 100]), sample('d-1', 'diff', [0, 0, 100, 100]), sample('r-0', 'reasoning', [0, 0, 100, 100])],
    quarantined: [],
  };

  it('missing predictions score 0, count in the denominator, and are reported', async () => {
    const predictions = new Map([
      ['d-0', { completion: answer('(0,0),(500,1000)'), convention: 'qwen2vl' as const, line: 1 }],
      ['r-0', { completion: answer('(0,0),(500,1000)'), convention: 'qwen2vl' as const, line: 2 }],
    ]);
    const written: Prediction[] = [];
    const r = await evaluate({ bench, source: { kind: 'predictions', file: 'p.jsonl', predictions }, onPrediction: (p) => void written.push(p) });
    const diff = r.metrics.tasks.find((t) => t.task === 'diff')!;
    expect(diff).toMatchObject({ n: 2, predicted: 1, missing: 1, unscored: { missing_prediction: 1 } });
    expect(diff.answer['acc@0.5']).toBe(0.5);
    expect(r.metrics.average.answer['acc@0.5']).toBe(0.75);
    expect(r.metrics.counts).toMatchObject({ samples: 3, predicted: 2, missing: 1 });
    expect(written.map((p) => p.id)).toEqual(['d-0', 'r-0']);
  });

  it('ids the bench does not have are an error that lists them', async () => {
    const predictions = new Map([
      ['nope-1', { completion: 'x', convention: 'qwen2vl' as const, line: 1 }],
      ['d-0', { completion: 'x', convention: 'qwen2vl' as const, line: 2 }],
    ]);
    await expect(evaluate({ bench, source: { kind: 'predictions', file: 'p.jsonl', predictions } })).rejects.toThrow(/1 prediction id\(s\) are not in the bench: "nope-1"/);
  });
});
