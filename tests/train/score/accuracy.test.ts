/**
 * The pure parts of scoring: the one accuracy definition (the paper's reward for qwen2vl, the same IoU in
 * the 0-1000 frame for other conventions), a row's difficulty, the SftRow -> RlRow conversion, and the
 * pool's filter and band rules.
 */
import { describe, expect, it } from 'vitest';
import { accuracyReward, univgIou } from '../../../src/completion/index.js';
import { convertBox } from '../../../src/geometry/index.js';
import { asRlRow, bandPart, groundTruth0to1000, keeps, parseBuckets, resolveSelection, rolloutAccuracy, rolloutSeed, scorePrompt, scoreRollouts, selects } from '../../../src/train/score/index.js';
import { tinyRows } from '../helpers.js';

const row = { id: 'r1', targetImage: 1, targetBox: [40, 30, 200, 150] as [number, number, number, number], imageWidth: [100, 400], imageHeight: [100, 300] };
const gt = convertBox(row.targetBox, 'pixels', 'qwen2vl', { width: 400, height: 300 });
const answer = (box: string) => `<think>I look at the second image.</think><answer>${box}</answer>`;

describe('rolloutAccuracy', () => {
  it('is the paper accuracy reward for qwen2vl completions, ground truth in 0-1000 of the target image', () => {
    expect(groundTruth0to1000(row)).toEqual([100, 100, 500, 500]);
    for (const t of [answer('(100,100),(500,500)'), answer('(120,90),(480,520)'), answer('(600,600),(900,900)'), 'no answer at all', answer('(500,500),(100,100)')]) {
      expect(rolloutAccuracy(t, row, 'qwen2vl')).toBe(accuracyReward(t, gt));
    }
    expect(rolloutAccuracy(answer('(100,100),(500,500)'), row, 'qwen2vl')).toBeCloseTo(accuracyReward(answer('(100,100),(500,500)'), [100, 100, 500, 500]), 12);
    // Only the <answer> box counts: a box quoted in the think does not.
    expect(rolloutAccuracy('<think>at (100,100),(500,500)</think><answer>(600,600),(900,900)</answer>', row, 'qwen2vl')).toBe(0);
  });

  it('reads other conventions in their frame and scores them with the same IoU in 0-1000', () => {
    const norm = answer('(0.3,0.3),(0.5,0.5)');
    expect(rolloutAccuracy(norm, row, 'norm')).toBe(univgIou([300, 300, 500, 500], gt));
    expect(rolloutAccuracy(norm, row, 'norm')).toBe(rolloutAccuracy(answer('(300,300),(500,500)'), row, 'qwen2vl'));
    // Pixels of the original image, and the xywh layout.
    expect(rolloutAccuracy(answer('(40,30),(200,150)'), row, 'pixels')).toBe(accuracyReward(answer('(100,100),(500,500)'), gt));
    expect(rolloutAccuracy(answer('(40,30),(160,120)'), row, 'pixels-xywh')).toBe(rolloutAccuracy(answer('(40,30),(200,150)'), row, 'pixels'));
    // qwen25vl needs the budget the model saw.
    expect(() => rolloutAccuracy(answer('(10,10),(50,50)'), row, 'qwen25vl')).toThrow(/minPixels/);
    expect(rolloutAccuracy(answer('(10,10),(50,50)'), row, 'qwen25vl', { minPixels: 3136, maxPixels: 401408 })).toBeGreaterThanOrEqual(0);
    expect(rolloutAccuracy('<answer>nothing</answer>', row, 'norm')).toBe(0);
  });

  it('refuses a target image the row has no size for', () => {
    expect(() => rolloutAccuracy(answer('(1,1),(2,2)'), { ...row, targetImage: 2 }, 'qwen2vl')).toThrow(/out of range/);
  });
});

describe('scoreRollouts', () => {
  it('difficulty = mean accuracy of the G rollouts, weight = phi, bucket of the mean', () => {
    const texts = [answer('(100,100),(500,500)'), answer('(600,600),(900,900)'), answer('(100,100),(300,500)'), 'garbage'];
    const acc = texts.map((t) => accuracyReward(t, gt));
    const mean = acc.reduce((a, b) => a + b, 0) / acc.length;
    const d = scoreRollouts(texts, row, 'qwen2vl', { kind: 'exp' });
    expect(d.accuracies).toEqual(acc);
    expect(d.miou).toBeCloseTo(mean, 15);
    expect(d.weight).toBeCloseTo(Math.exp(1 - mean), 15);
    expect(d.bucket).toBe(mean < 0.3 ? 'lt0.3' : mean > 0.7 ? 'gt0.7' : '0.3-0.7');
    expect(scoreRollouts(texts, row, 'qwen2vl', { kind: 'power', power: 2 }).weight).toBeCloseTo((1.05 - mean) ** 2, 15);
    expect(scoreRollouts(texts, row, 'qwen2vl', { kind: 'log' }).weight).toBeCloseTo(-Math.log(0.02 + mean), 15);
    expect(scoreRollouts(texts.slice(0, 1), row, 'qwen2vl', { kind: 'exp' }).bucket).toBe('gt0.7');
    expect(() => scoreRollouts([], row, 'qwen2vl', { kind: 'exp' })).toThrow(/no rollouts/);
  });
});

describe('rows and prompts', () => {
  it('an SftRow becomes an RlRow without its chain, with empty difficulty columns', async () => {
    const [sft] = await tinyRows(1, 2);
    const rl = asRlRow(sft!);
    expect(rl).not.toHaveProperty('completion');
    expect(rl).not.toHaveProperty('iou');
    expect(rl).toMatchObject({ id: sft!.id, prompt: sft!.prompt, targetBox: sft!.targetBox, difficulty: null, weight: null, bucket: null });
  });

  it('sends the prompt without <image> placeholders, and a distinct stable seed per rollout', () => {
    expect(scorePrompt({ prompt: '<image><image>Which one? First output the thinking process.' })).toBe('Which one? First output the thinking process.');
    const seeds = Array.from({ length: 16 }, (_, g) => rolloutSeed(0, g));
    expect(new Set(seeds).size).toBe(16);
    expect(seeds.every((s) => Number.isInteger(s) && s >= 0 && s < 2 ** 31)).toBe(true);
    expect(rolloutSeed(0, 3)).toBe(seeds[3]);
    expect(rolloutSeed(1, 3)).not.toBe(seeds[3]);
  });
});

describe('pool selection rules', () => {
  it('parses bucket names and aliases into the canonical order, and refuses unknown ones', () => {
    expect(parseBuckets(['easy', 'hard'])).toEqual(['lt0.3', 'gt0.7']);
    expect(parseBuckets(['0.3-0.7', 'medium'])).toEqual(['0.3-0.7']);
    expect(() => parseBuckets(['difficult'])).toThrow(/unknown bucket/);
    expect(() => resolveSelection({ minMiou: 0.8, maxMiou: 0.2 })).toThrow(/above/);
    expect(() => resolveSelection({ order: 'random' as never })).toThrow(/order/);
  });

  it('keeps by bucket and mIoU range; bands put the hardest (or easiest) rows in part 0', () => {
    const all = resolveSelection();
    expect(selects(all)).toBe(false);
    const hard = resolveSelection({ keep: ['hard', 'medium'], maxMiou: 0.6 });
    expect(selects(hard)).toBe(true);
    expect(keeps(hard, 0.1, 'lt0.3')).toBe(true);
    expect(keeps(hard, 0.65, '0.3-0.7')).toBe(false);
    expect(keeps(hard, 0.9, 'gt0.7')).toBe(false);
    const hf = resolveSelection({ order: 'hardest-first', bands: 10 });
    expect([0, 0.05, 0.1, 0.55, 0.99, 1, 1.2, -0.1].map((m) => bandPart(hf, m))).toEqual([0, 0, 1, 5, 9, 9, 9, 0]);
    const ef = resolveSelection({ order: 'easiest-first', bands: 4 });
    expect([0, 0.3, 0.6, 1].map((m) => bandPart(ef, m))).toEqual([3, 2, 1, 0]);
  });
});
