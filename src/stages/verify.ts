/**
 * Verification of teacher candidates: a pure function from (sample, candidate, config) to a Verdict with
 * every failed check named. No I/O, no network: changing a check re-verifies cached completions for free.
 */
import { formatReward, parseCompletion } from '../completion/index.js';
import { iou } from '../geometry/box.js';
import { convertBox } from '../geometry/convert.js';
import type { VerifyConfig } from '../schema/config.js';
import type { BoxConvention, GroundingSample, PromptMode, TeacherCandidate, Verdict } from '../schema/records.js';

/** Bump when a check changes meaning: verdict shards record it, so stale verdicts are visible. */
export const VERIFIER_VERSION = 'verify-v1';

/** Reason codes a verdict can carry, in the order checks run. */
export const VERDICT_REASONS = [
  'request_failed',
  'refusal',
  'truncated',
  'format',
  'answer_unparsable',
  'answer_out_of_range',
  'iou_below_threshold',
  'think_answer_disagree',
  'target_image_not_named',
  'hint_leak',
  'think_too_short',
  'think_too_long',
  'repetitive',
  'text_after_answer',
] as const;
export type VerdictReason = (typeof VERDICT_REASONS)[number];

/** Two boxes "agree" when they overlap this much; the think may round or restate the final box. */
const AGREEMENT_IOU = 0.8;

const LEAK_PHRASES = [
  /ground[\s-]?truth/i,
  /\bgiven (?:coordinates|box|answer)\b/i,
  /\bprovided (?:coordinates|box|answer)\b/i,
  /\b(?:coordinates|box|answer) (?:is|are|was|were) (?:given|provided)\b/i,
  /\bI (?:was|am) (?:told|given)\b/i,
];

const REFUSAL = /^\s*(?:I'?m sorry|I am sorry|I cannot|I can'?t|As an AI)/i;

export interface VerifyContext {
  sample: GroundingSample;
  candidate: TeacherCandidate;
  config: VerifyConfig;
  mode: PromptMode;
  /** The hinted answer text as the prompt showed it (hinted mode), to detect it quoted before reasoning. */
  hintText?: string | null;
}

/**
 * Convert a box the teacher wrote in `convention` to original pixels of image `index`. The teacher saw
 * `seenSizes[index]`; for the resized-pixel convention that size, not the budget, decides the scale.
 */
export function teacherBoxToPixels(box: readonly number[], convention: BoxConvention, sample: GroundingSample, seen: { width: number; height: number } | undefined, index: number): [number, number, number, number] {
  const img = sample.images[index]!;
  // parseCompletion already returns xyxy for the -xywh conventions: convert the frame only, never the layout again.
  const frame = convention.replace(/-xywh$/, '') as BoxConvention;
  if (frame === 'qwen25vl') {
    const s = seen ?? img;
    const sx = img.width / s.width;
    const sy = img.height / s.height;
    return [box[0]! * sx, box[1]! * sy, box[2]! * sx, box[3]! * sy];
  }
  return convertBox(box, frame, 'pixels', { width: img.width, height: img.height });
}

/** Share of word 4-grams that repeat an earlier one: a cheap, robust degeneration signal. */
export function repeatedNgramShare(text: string, n = 4): number {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length < n * 2) return 0;
  const seen = new Set<string>();
  let repeats = 0;
  let total = 0;
  for (let i = 0; i + n <= words.length; i++) {
    const g = words.slice(i, i + n).join(' ');
    total++;
    if (seen.has(g)) repeats++;
    else seen.add(g);
  }
  return total ? repeats / total : 0;
}

export function verifyCandidate(ctx: VerifyContext): Verdict {
  const { sample, candidate: c, config } = ctx;
  const reasons: VerdictReason[] = [];
  const base = {
    sampleId: c.sampleId,
    candidateIndex: c.candidateIndex,
    task: sample.task,
    difficulty: sample.difficulty,
    verifierVersion: VERIFIER_VERSION,
  };
  if (c.error !== null || c.completion === null) {
    return { ...base, pass: false, reasons: ['request_failed'], formatReward: 0, answerBox: null, iou: null, thinkBoxAgrees: null, namesTargetImage: null, completionChars: 0 };
  }
  const text = c.completion;
  if (REFUSAL.test(text) && !text.includes('<answer>')) reasons.push('refusal');
  if (c.finishReason === 'length') reasons.push('truncated');
  const fmt = formatReward(text);
  if (fmt === 0) reasons.push('format');

  const parsed = parseCompletion(text, c.convention);
  const t = sample.targetImage;
  let answerBox: [number, number, number, number] | null = null;
  let score: number | null = null;
  if (parsed.answerBox === null) {
    if (!reasons.includes('refusal')) reasons.push('answer_unparsable');
  } else {
    const problems = new Set(parsed.problems.map((p) => p.code));
    if (problems.has('box_out_of_range') || problems.has('box_inverted') || problems.has('box_degenerate')) reasons.push('answer_out_of_range');
    answerBox = teacherBoxToPixels(parsed.answerBox, c.convention, sample, c.seenSizes[t], t);
    score = iou(answerBox, sample.targetBox);
    if (score < config.iouThreshold) reasons.push('iou_below_threshold');
  }
  if (parsed.problems.some((p) => p.code === 'text_after_answer')) reasons.push('text_after_answer');

  // The last box the reasoning commits to must be the answer: a chain that argues for one box and
  // answers another teaches the model nothing useful.
  let thinkBoxAgrees: boolean | null = null;
  const lastThink = parsed.thinkBoxes.at(-1);
  if (lastThink && answerBox) {
    const px = teacherBoxToPixels(lastThink.box, c.convention, sample, c.seenSizes[t], t);
    thinkBoxAgrees = iou(px, answerBox) >= AGREEMENT_IOU;
    if (!thinkBoxAgrees && config.requireThinkBoxAgreement) reasons.push('think_answer_disagree');
  }

  let namesTargetImage: boolean | null = null;
  if (sample.images.length > 1) {
    namesTargetImage = parsed.mentionedImages.includes(t);
    if (!namesTargetImage && config.requireTargetImageNamed) reasons.push('target_image_not_named');
  }

  const think = parsed.think ?? '';
  if (ctx.mode === 'hinted' && hintLeaks(think, ctx.hintText ?? null)) reasons.push('hint_leak');
  if (parsed.think !== null) {
    if (think.trim().length < config.minThinkChars) reasons.push('think_too_short');
    if (think.length > config.maxThinkChars) reasons.push('think_too_long');
    if (repeatedNgramShare(think) > config.maxRepeatedNgramShare) reasons.push('repetitive');
  }

  const ordered = VERDICT_REASONS.filter((r) => reasons.includes(r));
  return {
    ...base,
    pass: ordered.length === 0,
    reasons: ordered,
    formatReward: fmt,
    answerBox,
    iou: score,
    thinkBoxAgrees,
    namesTargetImage,
    completionChars: text.length,
  };
}

/**
 * A hinted chain leaks when it admits to the hint, or quotes the hinted coordinates before it has
 * reasoned (in its first fifth); restating the box at the end, once derived, is what we want.
 */
export function hintLeaks(think: string, hintText: string | null): boolean {
  if (LEAK_PHRASES.some((re) => re.test(think))) return true;
  if (hintText) {
    const compact = (s: string) => s.replace(/\s+/g, '');
    const at = compact(think).indexOf(compact(hintText));
    if (at >= 0 && at < compact(think).length * 0.2) return true;
  }
  return false;
}
