/**
 * Teacher prompt templates, versioned. A template turns a sample (question, ground truth, conversation,
 * image sizes as the teacher sees them) into the text of the single user message; the images go before it.
 *
 * `hinted-*` reproduces UniVG-R1's CoT prompt (reference/univg-r1.md §1, the author's reply in
 * AMAP-ML/UniVG-R1#2): the teacher is shown the ground truth and asked to reason as if it did not know it.
 * `blind-*` gives no ground truth; the teacher has to find the box itself.
 *
 * Changing any text here changes the requests, hence the cache keys: bump the version when you edit a
 * template so rows say which text produced them.
 */
import { ConfigError, RecordError } from '../errors.js';
import { formatBox } from '../completion/index.js';
import { fromPixels } from '../geometry/index.js';
import type { BoxConvention, GroundingSample, PromptMode, Turn } from '../schema/records.js';

export interface SeenSize {
  width: number;
  height: number;
}

export interface PromptInput {
  sample: GroundingSample;
  convention: BoxConvention;
  /** Size of each image as sent (after smart-resize), in sample.images order. */
  seenSizes: readonly SeenSize[];
  /** Pixel budget the images were resized to; needed to express boxes in the qwen25vl convention. */
  minPixels: number;
  maxPixels: number;
}

export interface TaskBlock {
  text: string;
  /** `paper`: text published by the UniVG-R1 authors; `ours`: written here where the paper gives none. */
  source: 'paper' | 'ours';
}

/**
 * Task-specific blocks of the hinted prompt. The authors published the Diff block in full; the figure shows
 * the common-object pattern ("Specifically, you need to: 1.Analyze xxx 2.Locate xxx") without its text, and
 * the other tasks' blocks were not published (UniVG-R1#16), so those are ours, written in the same pattern.
 */
export const TASK_BLOCKS: Readonly<Record<string, TaskBlock>> = {
  diff: {
    source: 'paper',
    text: 'Specifically, you need to: 1. Analyze each image to identify the difference area. 2. Locate the difference within the relevant image.',
  },
  view_diff: {
    source: 'ours',
    text: 'Specifically, you need to: 1. Compare the images, allowing for changes of viewpoint, to identify the area that truly differs. 2. Locate the difference within the relevant image.',
  },
  common_object: {
    source: 'ours',
    text: 'Specifically, you need to: 1. Analyze each image to identify the object that the images have in common. 2. Locate that common object within the relevant image.',
  },
  free_form: {
    source: 'ours',
    text: 'Specifically, you need to: 1. Analyze the description in the question and the content of each image to decide which image it refers to. 2. Locate the described object within that image.',
  },
  group_grounding: {
    source: 'ours',
    text: 'Specifically, you need to: 1. Analyze every image in the group to find the one that contains the described object. 2. Locate the described object within that image.',
  },
  object_tracking: {
    source: 'ours',
    text: 'Specifically, you need to: 1. Analyze the appearance of the object marked in the reference image. 2. Follow that object into the requested image and locate it there.',
  },
  refer_grounding: {
    source: 'ours',
    text: 'Specifically, you need to: 1. Analyze the reference image to understand which object is being referred to. 2. Find the same object in the other image and locate it there.',
  },
  region: {
    source: 'ours',
    text: 'Specifically, you need to: 1. Analyze the region given in the question and what it contains. 2. Find that content in the requested image and locate it there.',
  },
  multi_view: {
    source: 'ours',
    text: 'Specifically, you need to: 1. Analyze the object in the view where it is identified. 2. Match it across viewpoints and locate it within the requested image.',
  },
  reasoning: {
    source: 'ours',
    text: 'Specifically, you need to: 1. Reason about what object answers the question, using the content of all images. 2. Locate that object within the relevant image.',
  },
  correspondence: {
    source: 'ours',
    text: 'Specifically, you need to: 1. Analyze the part or point indicated in the reference image. 2. Find the corresponding part in the other image and locate it there.',
  },
  generic: {
    source: 'ours',
    text: 'Specifically, you need to: 1. Analyze each image to understand what the question refers to. 2. Locate the target within the relevant image.',
  },
};

const TASK_ALIASES: Readonly<Record<string, string>> = {
  difference: 'diff',
  static_diff: 'diff',
  robust_diff: 'view_diff',
  common: 'common_object',
  common_objects: 'common_object',
  freeform: 'free_form',
  free_form_grounding: 'free_form',
  gg: 'group_grounding',
  ot: 'object_tracking',
  tracking: 'object_tracking',
  refer: 'refer_grounding',
  referring_grounding: 'refer_grounding',
  region_locating: 'region',
  multiview: 'multi_view',
  mv: 'multi_view',
  co_re: 'correspondence',
};

/** The block used for a task key; unknown tasks get the generic block. */
export function taskBlock(task: string): TaskBlock & { key: string } {
  const norm = task.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');
  const key = TASK_BLOCKS[norm] ? norm : (TASK_ALIASES[norm] ?? 'generic');
  return { key, ...TASK_BLOCKS[key]! };
}

/**
 * The ground-truth answer text in `convention`, for the sample's target image, written by the same
 * formatter the verifier uses, so a hint quoted back verbatim is recognised as such.
 */
export function groundTruthText(input: PromptInput): string {
  const { sample } = input;
  const img = sample.images[sample.targetImage];
  if (!img) throw new RecordError(`targetImage ${sample.targetImage} is out of range (${sample.images.length} images)`, { recordId: sample.id, field: 'targetImage' });
  const box = fromPixels(sample.targetBox, input.convention, { width: img.width, height: img.height, minPixels: input.minPixels, maxPixels: input.maxPixels });
  return formatBox(box, input.convention);
}

const ORDINAL = ['first', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth', 'ninth', 'tenth'];
const ordinal = (i: number) => ORDINAL[i] ?? `number ${i + 1}`;

/** What the numbers mean, said once so the teacher answers in the convention the verifier expects. */
function conventionSentence(input: PromptInput, target: number | null): string {
  const c = input.convention;
  const xywh = c.endsWith('-xywh');
  const layout = xywh
    ? '[x,y,w,h]: the top-left corner, then the width and height'
    : '(x1,y1),(x2,y2): the top-left corner, then the bottom-right corner';
  const sizes = (pick: (i: number) => SeenSize) => {
    const idx = target === null ? input.sample.images.map((_, i) => i) : [target];
    return idx.map((i) => `image ${i + 1} is ${pick(i).width}x${pick(i).height}`).join(', ');
  };
  let frame: string;
  if (c.startsWith('qwen2vl')) frame = 'integers from 0 to 1000, relative to the width and height of the image';
  else if (c.startsWith('qwen25vl')) frame = `integer pixel coordinates of the image as you see it (${sizes((i) => input.seenSizes[i]!)} pixels)`;
  else if (c.startsWith('norm')) frame = 'decimal fractions from 0 to 1 of the width and height of the image';
  else frame = `pixel coordinates of the original image (${sizes((i) => input.sample.images[i]!)} pixels)`;
  return `Coordinates are written ${layout}, as ${frame}.`;
}

function conversationText(turns: readonly Turn[]): string {
  return turns
    .map((t) => `${t.role === 'user' ? 'User' : 'Assistant'}: ${t.content.replace(/<image>\s*/g, '').trim()}`)
    .join('\n');
}

function imageSentence(sample: GroundingSample): string | null {
  const n = sample.images.length;
  return n > 1 ? `There are ${n} images, numbered 1 to ${n} in the order they are given.` : null;
}

/** UniVG-R1's base prompt, paper text verbatim; sentences marked "ours" are additions. */
function hintedV1(input: PromptInput): string {
  const { sample } = input;
  const n = sample.images.length;
  const p1 = [`Please carefully examine all the images. The question to be addressed is ${sample.question.trim()}. The ground truth coordinates answer are ${groundTruthText(input)}.`];
  if (sample.context.length > 0) {
    p1.push(`To assist your analysis, here are some relevant conversations about these images: ${conversationText(sample.context)}.`);
  }
  // ours: which image holds the target, and what the numbers mean (the paper's answer text carried the
  // image in MGrounding's "It's in the third image." and the 0-1000 convention implicitly).
  const notes = [imageSentence(sample), n > 1 ? `The target is in the ${ordinal(sample.targetImage)} image (image ${sample.targetImage + 1}).` : null, conventionSentence(input, sample.targetImage), 'Write your final answer in exactly this form and convention.'].filter((s): s is string => s !== null);
  return [
    p1.join(' '),
    notes.join(' '),
    'Now, please assume you do not know the ground truth coordinates in advance. Then, provide a detailed description of your reasoning process: explain how you would think, starting from seeing the question, to ultimately derive the correct coordinates.',
    taskBlock(sample.task).text,
    'Please format your thought process and the final answer strictly as follows: `<think>thinking process here</think><answer>GT coordinates</answer>`. Remember: The core objective is to demonstrate a clear, structured, and logical thought process that explains how to accurately determine the target object\'s location step by step.',
  ].join('\n');
}

/** Ours: the same frame without the ground truth; the teacher must find the image and the box. */
function blindV1(input: PromptInput): string {
  const { sample } = input;
  const p1 = [`Please carefully examine all the images. The question to be addressed is ${sample.question.trim()}.`];
  if (sample.context.length > 0) {
    p1.push(`To assist your analysis, here are some relevant conversations about these images: ${conversationText(sample.context)}.`);
  }
  const notes = [imageSentence(sample), conventionSentence(input, null)].filter((s): s is string => s !== null);
  const which = sample.images.length > 1 ? ' Say in your reasoning which image contains the target.' : '';
  return [
    p1.join(' '),
    notes.join(' '),
    `Find the target and determine its bounding box. Provide a detailed description of your reasoning process: explain how you think, starting from seeing the question, to derive the coordinates.${which}`,
    taskBlock(sample.task).text,
    `Please format your thought process and the final answer strictly as follows: \`<think>thinking process here</think><answer>${input.convention.endsWith('-xywh') ? '[x,y,w,h]' : '(x1,y1),(x2,y2)'}</answer>\`, with the coordinates of the target in the convention above.`,
  ].join('\n');
}

type Template = (input: PromptInput) => string;

/** Every template, by its full version id (`<mode>-<version>`). */
export const PROMPT_TEMPLATES: Readonly<Record<string, Template>> = {
  'hinted-v1': hintedV1,
  'blind-v1': blindV1,
};

/** The version id recorded in rows and cache keys, e.g. `hinted-v1`. */
export function promptVersionId(mode: PromptMode, version: string): string {
  return version.startsWith(`${mode}-`) ? version : `${mode}-${version}`;
}

/** Fail before any call when the configured template does not exist. */
export function checkPromptVersion(mode: PromptMode, version: string): string {
  const id = promptVersionId(mode, version);
  if (!PROMPT_TEMPLATES[id]) {
    throw new ConfigError(`unknown prompt version "${id}"; available: ${Object.keys(PROMPT_TEMPLATES).join(', ')}`, { field: 'teacher.promptVersion' });
  }
  return id;
}

export function renderPrompt(mode: PromptMode, version: string, input: PromptInput): { promptVersion: string; text: string } {
  const id = checkPromptVersion(mode, version);
  return { promptVersion: id, text: PROMPT_TEMPLATES[id]!(input) };
}
