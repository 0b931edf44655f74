import { describe, expect, it } from 'vitest';
import { VerifyConfig } from '../../src/schema/config.js';
import type { GroundingSample, TeacherCandidate } from '../../src/schema/records.js';
import { teacherBoxToPixels } from '../../src/geometry/convert.js';
import { conclusionNamesTarget, hintLeaks, isLoop, longestLoop, verifyCandidate } from '../../src/stages/verify.js';
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
  });
  it('hint leaks: being given the images is how chains start, being given the answer is the leak', () => {
    expect(hintLeaks('I am given two images and asked to find the change. In the second image the square is green.', null)).toBe(false);
    expect(hintLeaks('I was given the coordinates, so the square must be there.', null)).toBe(true);
    expect(hintLeaks('I am told the answer box, which sits on the square.', null)).toBe(true);
  });
});

/** A 5-frame tracking sample, target in the second frame, 500 x 250 frames. */
const track: GroundingSample = {
  ...sample, id: 't1', task: 'object_tracking', targetImage: 1, targetBox: [188, 84, 247.5, 106.25],
  question: 'These are a sequence of images containing moving objects. For the object in the first image marked with red bounding box(<|box_start|>(376,336),(495,425)<|box_end|>), please locate it in the 2th image.',
  images: Array.from({ length: 5 }, (_, i) => ({ sha256: String(i).repeat(64), path: `${i}.png`, width: 500, height: 250 })),
};
const trackCand = (completion: string): TeacherCandidate => ({ ...cand(completion), sampleId: 't1', seenSizes: track.images.map(() => ({ width: 500, height: 250 })) });
const verifyTrack = (completion: string) => verifyCandidate({ sample: track, candidate: trackCand(completion), config: cfg, mode: 'hinted', hintText: '(376,336),(495,425)' });
/** A correct chain from the demo run that the 4-gram check rejected as repetitive (issue 11): it lists the objects frame by frame. */
const TRACKING_CHAIN =
  '<think>The task is to follow the object marked in the first image through the sequence and locate it in the second image. In the first image, I see a large pink triangle in the top-left corner, an orange triangle in the bottom-left corner, a blue triangle in the centre, a green triangle on the left side, a red triangle in the centre and 1 other shape, with a red box drawn around one of them. In the second image, I see a large pink triangle in the top-left corner, an orange triangle in the bottom-left corner, a blue triangle in the centre, a green triangle on the left side, a yellow triangle in the top-right corner and 1 other shape. The third image contains a large pink triangle in the top-left corner, an orange triangle in the bottom-left corner, a blue triangle in the centre, a green triangle on the left side, a yellow triangle in the top-right corner and 1 other shape. Fourth image: a large pink triangle in the top-left corner, an orange triangle near the bottom, a blue triangle near the top, a green triangle on the left side, a red triangle in the centre and 1 other shape. In the fifth image, I see a large pink triangle in the top-left corner, an orange triangle near the bottom, a blue triangle near the top, a red triangle in the centre, a green triangle on the left side and 1 other shape. In the first image, the red box marks a red triangle. Following it frame by frame: in the second image it is in the centre. Hence the target is the red triangle in the centre in the second image. Its box is (376,336),(495,425), so the target is at (376,336),(495,425).</think><answer>(376,336),(495,425)</answer>';

describe('verifyCandidate: checks that kept throwing away good chains (issue 11)', () => {
  it('repetitive: a tracking chain listing the objects frame by frame passes', () => {
    const v = verifyTrack(TRACKING_CHAIN);
    expect(v.reasons).toEqual([]);
    expect(v.iou).toBeCloseTo(1);
  });
  it('repetitive: a decoding loop is still rejected, however it loops', () => {
    const loop = (s: string, n: number) => TRACKING_CHAIN.replace('Hence the target', `${Array.from({ length: n }, () => s).join(' ')} Hence the target`);
    expect(verifyTrack(loop('In the second image it is in the centre.', 3)).reasons).toEqual(['repetitive']);
    expect(verifyTrack(loop('the red triangle,', 8)).reasons).toEqual(['repetitive']);
    expect(verifyTrack(loop('Let me look again at the frames to be sure about where the red triangle went after it left.', 3)).reasons).toEqual(['repetitive']);
    // Twice in a row is emphasis, not a loop; a three-word stutter is too short to matter.
    expect(verifyTrack(loop('The red triangle has moved to the centre of the frame.', 2)).reasons).toEqual([]);
    expect(verifyTrack(loop('very very very', 1)).reasons).toEqual([]);
  });
  it('longestLoop measures copies and the words they cover', () => {
    expect(longestLoop('a b c a b c a b c a b c x')).toEqual({ copies: 4, unit: 3, words: 12 });
    expect(longestLoop('frame two: a red star. frame three: a red star. frame four: a red star.').copies).toBe(0);
    expect(isLoop('one two three four five six one two three four five six one two three four five six', 2)).toBe(true);
    expect(isLoop('one two three four five six one two three four five six', 2)).toBe(false);
  });
  it('target_image_not_named: a chain that ends "So the target lies in the third image" after describing others passes', () => {
    const three: GroundingSample = { ...sample, targetImage: 2, images: [...sample.images, { sha256: 'c'.repeat(64), path: 'c.png', width: 500, height: 250 }] };
    const chain = '<think>The first image has a red circle and a blue square. The second image has a red circle and a green star. The third image has a red circle, a blue square and a yellow hexagon. Comparing them, only the yellow hexagon is new. So the target lies in the third image, and it is the yellow hexagon. Its box is (200,200),(600,600), so the target is at (200,200),(600,600).</think><answer>(200,200),(600,600)</answer>';
    const v = verifyCandidate({ sample: three, candidate: { ...cand(chain), seenSizes: three.images.map(() => ({ width: 500, height: 250 })) }, config: cfg, mode: 'hinted', hintText: '(200,200),(600,600)' });
    expect(v.reasons).toEqual([]);
    expect(v.namesTargetImage).toBe(true);
  });
  it('target_image_not_named: a broken think is a format failure, not also a missing image name', () => {
    const v = verify(cand(`${think}\nFinal answer: (200,200),(600,600)`));
    expect(v.reasons).toContain('format');
    expect(v.reasons).not.toContain('target_image_not_named');
    expect(v.namesTargetImage).toBeNull();
  });
  it('target_image_not_named: still rejects a chain that concludes in another image or never names the target', () => {
    const wrongImage = TRACKING_CHAIN.replace('Hence the target is the red triangle in the centre in the second image.', 'Hence the target is the red triangle in the centre in the fourth image.');
    expect(verifyTrack(wrongImage).reasons).toEqual(['target_image_not_named']);
    expect(verify(cand(`<think>${think.replace(/second image/g, 'picture')}</think><answer>(200,200),(600,600)</answer>`)).reasons).toContain('target_image_not_named');
  });
  it('target_image_not_named: the conclusion is the sentence of the committed box, or the nearest one before it naming an image', () => {
    const t = 'The first image shows a cat. The second image shows a dog on the left. So the dog in the second image is the target. Its box is (1,2),(3,4). It looks like the cat in the first image.';
    const box = t.indexOf('(1,2)');
    expect(conclusionNamesTarget(t, 1, 2, box)).toBe(true);
    expect(conclusionNamesTarget(t, 0, 2, box)).toBe(false);
    expect(conclusionNamesTarget('Image 1 shows a cat. The dog is at (1,2),(3,4) in image 2.', 1, 2, 27)).toBe(true);
    // No committed box: naming the target anywhere is enough; "the last image" names the last one.
    expect(conclusionNamesTarget('Image 1 shows a cat; the dog is in the last image.', 2, 3, null)).toBe(true);
    expect(conclusionNamesTarget('Image 1 shows a cat.', 1, 2, null)).toBe(false);
  });
  it('format: a correct chain in a float or [x,y,w,h] convention passes; the structure is still checked', () => {
    const as = (convention: TeacherCandidate['convention'], completion: string) =>
      verifyCandidate({ sample, candidate: cand(completion, { convention }), config: cfg, mode: 'blind' }).reasons;
    const normThink = think.replace('(200,200),(600,600)', '(0.2,0.2),(0.6,0.6)');
    // The paper's regex reads only integers: before, every norm and -xywh chain failed `format`.
    expect(as('norm', `<think>${normThink}</think><answer>(0.2,0.2),(0.6,0.6)</answer>`)).toEqual([]);
    expect(as('pixels', `<think>${think.replace('(200,200),(600,600)', '(100.5,50),(300,150.25)')}</think><answer>(100.5,50),(300,150.25)</answer>`)).toEqual([]);
    expect(as('pixels-xywh', `<think>${think.replace('(200,200),(600,600)', '[100,50,200,100]')}</think><answer>[100,50,200,100]</answer>`)).toEqual([]);
    expect(as('norm', `<think>${normThink}</think><answer>(0.2,0.2),(0.6,0.6)</answer> Hope this helps.`)).toContain('format');
    expect(as('norm', `${normThink}<answer>(0.2,0.2),(0.6,0.6)</answer>`)).toContain('format');
    expect(as('norm', `<think>${normThink}</think><answer>the box (0.2,0.2),(0.6,0.6)</answer>`)).toContain('format');
    expect(as('norm', `<think>${normThink}</think><answer>(0.2,0.2),(0.6,0.6)</answer><answer>(0.2,0.2),(0.6,0.6)</answer>`)).toContain('format');
    // An integer convention still wants integers.
    expect(as('qwen2vl', `<think>${think}</think><answer>(200.5,200),(600,600)</answer>`)).toContain('format');
  });
  it('think_answer_disagree: the same object drawn more loosely agrees, another object does not', () => {
    // IoU 0.6 with the answer: the same square, a looser box.
    const loose = think.replace('(200,200),(600,600)', '(200,200),(600,867)');
    expect(verify(cand(`<think>${loose}</think><answer>(200,200),(600,600)</answer>`)).reasons).toEqual([]);
    const other = think.replace('(200,200),(600,600)', '(650,100),(900,400)');
    expect(verify(cand(`<think>${other}</think><answer>(200,200),(600,600)</answer>`)).reasons).toEqual(['think_answer_disagree']);
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
