import { describe, expect, it } from 'vitest';
import { VerifyConfig } from '../../src/schema/config.js';
import type { GroundingSample, TeacherCandidate } from '../../src/schema/records.js';
import { hintLeaks, repeatedNgramShare, teacherBoxToPixels, verifyCandidate } from '../../src/stages/verify.js';
import { assignPool, pickBest, rewriteBoxes, trainingCompletion } from '../../src/stages/select.js';
import { SelectConfig } from '../../src/schema/config.js';

const sample: GroundingSample = {
  id: 's1', source: 't', task: 'diff', question: 'Find the change and locate it in the second image.', context: [], targetImage: 1,
  targetBox: [100, 50, 300, 150], difficulty: 'easy', split: null, meta: {},
  images: [
    { sha256: 'a'.repeat(64), path: 'a.png', width: 500, height: 250 },
    { sha256: 'b'.repeat(64), path: 'b.png', width: 500, height: 250 },
  ],
};
const think = 'In the first image there is a red circle and a blue square. In the second image the blue square is now green, so the change is at (200,200),(600,600).';
const cand = (completion: string | null, extra: Partial<TeacherCandidate> = {}): TeacherCandidate => ({
  sampleId: 's1', candidateIndex: 0, requestHash: 'h', model: 'm', promptVersion: 'v', promptMode: 'hinted', convention: 'qwen2vl',
  seenSizes: [{ width: 500, height: 250 }, { width: 500, height: 250 }], completion, finishReason: 'stop', error: null,
  promptTokens: 1, completionTokens: 1, costUsd: 0, latencyMs: 1, attempts: 1, cached: false, ...extra,
});
const cfg = VerifyConfig.parse({});
const verify = (c: TeacherCandidate, hintText: string | null = '(200,200),(600,600)') => verifyCandidate({ sample, candidate: c, config: cfg, mode: 'hinted', hintText });

describe('verifyCandidate', () => {
  it('passes a good chain and converts its answer to pixels of the target image', () => {
    const v = verify(cand(`<think>${think}</think><answer>(200,200),(600,600)</answer>`));
    expect(v.reasons).toEqual([]);
    expect(v.pass).toBe(true);
    expect(v.answerBox).toEqual([100, 50, 300, 150]);
    expect(v.iou).toBeCloseTo(1);
    expect(v.thinkBoxAgrees).toBe(true);
    expect(v.namesTargetImage).toBe(true);
  });
  it('names every failed check', () => {
    const wrong = verify(cand(`<think>${think.replace('(200,200),(600,600)', '(700,700),(900,900)')}</think><answer>(700,700),(900,900)</answer> extra`));
    expect(wrong.reasons).toEqual(expect.arrayContaining(['format', 'iou_below_threshold', 'text_after_answer']));
    expect(verify(cand(`<think>${think}</think><answer>(700,700),(900,900)</answer>`)).reasons).toContain('think_answer_disagree');
    expect(verify(cand(`<think>${think.replace(/second image/g, 'picture')}</think><answer>(200,200),(600,600)</answer>`)).reasons).toContain('target_image_not_named');
    expect(verify(cand(`<think>The ground truth is given. ${think}</think><answer>(200,200),(600,600)</answer>`)).reasons).toContain('hint_leak');
    expect(verify(cand(`<think>in the second image</think><answer>(200,200),(600,600)</answer>`)).reasons).toContain('think_too_short');
    expect(verify(cand(null, { error: 'timeout after 3 attempts', completion: null })).reasons).toEqual(['request_failed']);
    expect(verify(cand(`<think>${think}</think><answer>(200,200),(6`, { finishReason: 'length' })).reasons).toContain('truncated');
    const refusal = verify(cand("I'm sorry, I can't help with that.")).reasons;
    expect(refusal.slice(0, 2)).toEqual(['refusal', 'format']);
    expect(refusal).not.toContain('answer_unparsable');
  });
  it('reads qwen25vl boxes with the size the teacher saw, and -xywh boxes once', () => {
    const seen = { width: 1000, height: 500 };
    expect(teacherBoxToPixels([200, 100, 600, 300], 'qwen25vl', sample, seen, 1)).toEqual([100, 50, 300, 150]);
    // parseCompletion has already turned [x,y,w,h] into xyxy: only the frame changes here.
    expect(teacherBoxToPixels([100, 50, 300, 150], 'pixels-xywh', sample, undefined, 1)).toEqual([100, 50, 300, 150]);
    expect(teacherBoxToPixels([0.2, 0.2, 0.6, 0.6], 'norm-xywh', sample, undefined, 1)).toEqual([100, 50, 300, 150]);
  });
  it('hint leaks: quoting the hint early leaks, restating it after reasoning does not', () => {
    expect(hintLeaks(`(200,200),(600,600) is where it is. ${think}`, '(200,200),(600,600)')).toBe(true);
    expect(hintLeaks(think, '(200,200),(600,600)')).toBe(false);
    expect(repeatedNgramShare('a b c d a b c d a b c d a b c d')).toBeGreaterThan(0.5);
  });
});

describe('select', () => {
  const v = (i: number, iou: number, agrees: boolean | null, chars: number, pass = true) => ({ ...verify(cand('x')), candidateIndex: i, pass, iou, thinkBoxAgrees: agrees, completionChars: chars });
  it('picks by IoU, then agreement, then length, then index; null when none passes', () => {
    expect(pickBest([v(0, 0.8, true, 10), v(1, 0.9, false, 50)])!.candidateIndex).toBe(1);
    expect(pickBest([v(0, 0.9, null, 10), v(1, 0.9, true, 50)])!.candidateIndex).toBe(1);
    expect(pickBest([v(0, 0.9, true, 50), v(1, 0.9, true, 10)])!.candidateIndex).toBe(1);
    expect(pickBest([v(2, 0.9, true, 10), v(1, 0.9, true, 10)])!.candidateIndex).toBe(1);
    expect(pickBest([v(0, 0.9, true, 10, false)])).toBeNull();
  });
  it('splits pools by hash of (seed, id), independent of order', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => `id${i}`);
    const rl = ids.filter((id) => assignPool(id, 1, 0.25) === 'rl').length;
    expect(rl / ids.length).toBeGreaterThan(0.2);
    expect(rl / ids.length).toBeLessThan(0.3);
    expect(ids.map((id) => assignPool(id, 1, 0.25))).toEqual([...ids].reverse().map((id) => assignPool(id, 1, 0.25)).reverse());
    expect(ids.some((id) => assignPool(id, 1, 0.25) !== assignPool(id, 2, 0.25))).toBe(true);
  });
  it('writes the training completion in the training convention with the ground-truth answer', () => {
    const c = cand(`<think>${think}</think><answer>(202,198),(600,600)</answer>`);
    const out = trainingCompletion(sample, c, SelectConfig.parse({ trainingConvention: 'qwen2vl' }));
    expect(out.endsWith('<answer>(200,200),(600,600)</answer>')).toBe(true);
    const norm = trainingCompletion(sample, c, SelectConfig.parse({ trainingConvention: 'norm', answerFrom: 'teacher' }));
    expect(norm).toContain('(0.200,0.200),(0.600,0.600)');
    expect(rewriteBoxes('at (200,200),(600,600)', 'qwen2vl', 'qwen2vl', sample, undefined)).toBe('at (200,200),(600,600)');
  });
});
