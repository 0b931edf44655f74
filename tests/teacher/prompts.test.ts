import { describe, expect, it } from 'vitest';
import { ConfigError, RecordError } from '../../src/errors.js';
import { smartResize } from '../../src/geometry/index.js';
import type { GroundingSample } from '../../src/schema/records.js';
import { checkPromptVersion, PROMPT_TEMPLATES, renderPrompt, TASK_BLOCKS, taskBlock } from '../../src/teacher/prompts.js';
import { parseHint } from '../../src/teacher/sim/index.js';

const sample: GroundingSample = {
  id: 'a',
  source: 'test',
  task: 'diff',
  images: [
    { sha256: 'a'.repeat(64), path: 'a.png', width: 640, height: 480 },
    { sha256: 'b'.repeat(64), path: 'b.png', width: 1000, height: 500 },
  ],
  question: 'Where is the car that moved?',
  context: [
    { role: 'user', content: '<image>\n<image>\nDescribe the scene.' },
    { role: 'assistant', content: 'Two street photos.' },
  ],
  targetImage: 1,
  targetBox: [100, 50, 300, 250],
  difficulty: null,
  split: null,
  meta: {},
};
const budget = { minPixels: 3136, maxPixels: 401408 };
const seen = sample.images.map((im) => smartResize(im.width, im.height, budget));
const input = (over: Partial<Parameters<typeof renderPrompt>[2]> = {}) => ({ sample, convention: 'qwen2vl' as const, seenSizes: seen, ...budget, ...over });

describe('hinted prompt (UniVG-R1 base prompt)', () => {
  it('states the question and the ground truth in the configured convention of the target image', () => {
    const { promptVersion, text } = renderPrompt('hinted', 'v1', input());
    expect(promptVersion).toBe('hinted-v1');
    expect(text).toContain(`The question to be addressed is ${sample.question}.`);
    // qwen2vl: 0-1000 of the target image (1000x500): x*1000/1000, y*1000/500.
    expect(text).toContain('The ground truth coordinates answer are (100,100),(300,500).');
    expect(text).toContain('integers from 0 to 1000');
    expect(text).toContain('The target is in the second image (image 2).');
    expect(text).toContain('There are 2 images, numbered 1 to 2');
  });

  it('writes qwen25vl boxes in pixels of the resized target image and says its size', () => {
    const { text } = renderPrompt('hinted', 'v1', input({ convention: 'qwen25vl' }));
    const r = seen[1]!;
    const sx = r.width / 1000;
    const sy = r.height / 500;
    const want = `(${Math.round(100 * sx)},${Math.round(50 * sy)}),(${Math.round(300 * sx)},${Math.round(250 * sy)})`;
    expect(text).toContain(`The ground truth coordinates answer are ${want}.`);
    expect(text).toContain(`image 2 is ${r.width}x${r.height}`);
  });

  it('is readable by the simulated teacher (same sentence it parses)', () => {
    const { text } = renderPrompt('hinted', 'v1', input());
    expect(parseHint(text)?.values).toEqual([100, 100, 300, 500]);
  });

  it('keeps the paper text verbatim and carries the conversation without <image> placeholders', () => {
    const { text } = renderPrompt('hinted', 'v1', input());
    expect(text).toContain('Please carefully examine all the images.');
    expect(text).toContain('Now, please assume you do not know the ground truth coordinates in advance.');
    expect(text).toContain('`<think>thinking process here</think><answer>GT coordinates</answer>`');
    expect(text).toContain('here are some relevant conversations about these images: User: Describe the scene.\nAssistant: Two street photos..');
    expect(text).not.toContain('<image>');
    expect(text).toContain(TASK_BLOCKS.diff!.text);
    expect(TASK_BLOCKS.diff!.source).toBe('paper');
  });

  it('leaves out the conversation sentence when there is none, and image numbering for one image', () => {
    const one: GroundingSample = { ...sample, images: [sample.images[0]!], targetImage: 0, context: [] };
    const { text } = renderPrompt('hinted', 'v1', { ...input(), sample: one, seenSizes: [seen[0]!] });
    expect(text).not.toContain('relevant conversations');
    expect(text).not.toContain('numbered 1 to');
    expect(text).toContain('The ground truth coordinates answer are (156,104),(469,521).');
  });

  it('rejects a target image that does not exist as a record error', () => {
    expect(() => renderPrompt('hinted', 'v1', { ...input(), sample: { ...sample, targetImage: 5 } })).toThrow(RecordError);
  });
});

describe('blind prompt', () => {
  it('never shows the ground truth', () => {
    const { promptVersion, text } = renderPrompt('blind', 'v1', input());
    expect(promptVersion).toBe('blind-v1');
    expect(text).toContain(`The question to be addressed is ${sample.question}.`);
    expect(text).not.toContain('ground truth');
    expect(text).not.toContain('(100,100),(300,500)');
    expect(parseHint(text)).toBeNull();
    expect(text).toContain('which image contains the target');
  });
});

describe('versions and task blocks', () => {
  it('refuses an unknown version with a config error listing the known ones', () => {
    expect(() => checkPromptVersion('hinted', 'v9')).toThrow(ConfigError);
    expect(() => checkPromptVersion('hinted', 'v9')).toThrow(/hinted-v1/);
    expect(checkPromptVersion('blind', 'blind-v1')).toBe('blind-v1');
    for (const id of Object.keys(PROMPT_TEMPLATES)) expect(id).toMatch(/^(hinted|blind)-v\d+$/);
  });

  it('maps task keys and aliases to blocks; unknown tasks get the generic block', () => {
    expect(taskBlock('Region_Locating').key).toBe('region');
    expect(taskBlock('gg').key).toBe('group_grounding');
    expect(taskBlock('something new').key).toBe('generic');
    for (const [k, b] of Object.entries(TASK_BLOCKS)) if (k !== 'diff') expect(b.source).toBe('ours');
  });
});
