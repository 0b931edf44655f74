/**
 * Verification of teacher candidates: a pure function from (sample, candidate, config) to a Verdict with
 * every failed check named. No I/O, no network: changing a check re-verifies cached completions for free.
 */
import { formatReward, imageMentionsAt, parseCompletion, type ParsedCompletion } from '../completion/index.js';
import { teacherBoxToPixels } from '../completion/rewrite.js';
import { iou } from '../geometry/box.js';
import { isIntegerConvention } from '../geometry/convert.js';
import type { VerifyConfig } from '../schema/config.js';
import type { BoxConvention, GroundingSample, PromptMode, TeacherCandidate, Verdict } from '../schema/records.js';

/** Bump when a check changes meaning: verdict shards record it, so stale verdicts are visible. */
export const VERIFIER_VERSION = 'verify-v2';

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

/**
 * The reasoning's box "agrees" with the answer when they overlap this much: the same bar a box must clear to
 * be right at all (Acc@0.5), so a chain is only rejected when its reasoning points at a different object,
 * not when it draws the same object more loosely than the answer.
 */
const AGREEMENT_IOU = 0.5;

/** A decoding loop must cover at least this many words to count (a stutter like "very very very" does not). */
const LOOP_MIN_WORDS = 12;
/** Longest repeating unit looked for, in words (a looping sentence or two). */
const LOOP_MAX_UNIT = 60;

const LEAK_PHRASES = [
  /ground[\s-]?truth/i,
  /\bgiven (?:coordinates|box|answer)\b/i,
  /\bprovided (?:coordinates|box|answer)\b/i,
  /\b(?:coordinates|box|answer) (?:is|are|was|were) (?:given|provided)\b/i,
  // "I am given two images" is how chains start; being given the answer is the leak.
  /\bI (?:was|am|have been) (?:told|given) (?:the |that the )?(?:answer|coordinates|box|bounding box|location|position|target box|solution)\b/i,
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

export { teacherBoxToPixels };

/**
 * The longest decoding loop in `text`: a span of `unit` words written at least `minCopies` times back to
 * back; `words` is how many words the run covers, `copies` how many whole copies it holds. Listing the same
 * objects frame after frame is not a loop (each list has its own frame name and differs somewhere); a
 * model stuck repeating a sentence until it is cut off is.
 */
export function longestLoop(text: string, minCopies = 3, maxUnit = LOOP_MAX_UNIT): { copies: number; unit: number; words: number } {
  const ids = new Map<string, number>();
  const w: number[] = [];
  for (const t of text.toLowerCase().split(/\s+/)) {
    if (t === '') continue;
    let id = ids.get(t);
    if (id === undefined) ids.set(t, (id = ids.size));
    w.push(id);
  }
  let best = { copies: 0, unit: 0, words: 0 };
  for (let p = 1; p <= maxUnit && 2 * p <= w.length; p++) {
    let run = 0; // positions i with w[i] === w[i + p], in a row
    for (let i = 0; i + p < w.length; i++) {
      run = w[i] === w[i + p] ? run + 1 : 0;
      // A run of `run` matches at period p covers run + p words: floor(run / p) + 1 copies of the unit.
      const copies = Math.floor(run / p) + 1;
      if (copies >= minCopies && run + p > best.words) best = { copies, unit: p, words: run + p };
    }
  }
  return best;
}

/** A loop the verifier rejects: more than `maxRepeats` copies in a row, covering at least LOOP_MIN_WORDS words. */
export function isLoop(text: string, maxRepeats: number): boolean {
  return longestLoop(text, maxRepeats + 1).words >= LOOP_MIN_WORDS;
}

/** Start offsets of the sentences of `text`: after . ! ? followed by white space, and after line breaks. */
function sentenceStarts(text: string): number[] {
  const out = [0];
  for (const m of text.matchAll(/[.!?]\s+|\n+/g)) out.push(m.index + m[0].length);
  return out;
}

/**
 * Does the reasoning name the target image where it concludes? The conclusion is the sentence holding the
 * box the reasoning commits to (`anchor`, an offset in `think`) or, when that sentence names no image, the
 * nearest sentence before it that does: "So the target lies in the third image ... Its box is (…)" names
 * the third image, whatever images were described before. Without a committed box, naming the target
 * anywhere is enough.
 */
export function conclusionNamesTarget(think: string, target: number, imageCount: number, anchor: number | null): boolean {
  const mentions = imageMentionsAt(think, imageCount);
  if (!mentions.some((m) => m.image === target)) return false;
  if (anchor === null) return true;
  const starts = sentenceStarts(think);
  let s = starts.length - 1;
  while (s > 0 && starts[s]! > anchor) s--;
  let end = starts[s + 1] ?? think.length;
  for (; s >= 0; s--) {
    const from = starts[s]!;
    const named = mentions.filter((m) => m.offset >= from && m.offset < end);
    if (named.length > 0) return named.some((m) => m.image === target);
    end = from;
  }
  return true;
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
  const parsed = parseCompletion(text, c.convention);
  const fmt = formatInConvention(text, parsed, c.convention);
  if (fmt === 0) reasons.push('format');

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

  // Only a think that was found can be read for image names; a missing or unclosed <think> is a format
  // failure already, and blaming its content as well would misreport why the chain was dropped.
  let namesTargetImage: boolean | null = null;
  if (sample.images.length > 1 && parsed.think !== null) {
    const anchor = lastThink && parsed.thinkOffset !== null ? lastThink.offset - parsed.thinkOffset : null;
    namesTargetImage = conclusionNamesTarget(parsed.think, t, sample.images.length, anchor);
    if (!namesTargetImage && config.requireTargetImageNamed) reasons.push('target_image_not_named');
  }

  const think = parsed.think ?? '';
  if (ctx.mode === 'hinted' && hintLeaks(think, ctx.hintText ?? null)) reasons.push('hint_leak');
  if (parsed.think !== null) {
    if (think.trim().length < config.minThinkChars) reasons.push('think_too_short');
    if (think.length > config.maxThinkChars) reasons.push('think_too_long');
    if (isLoop(think, config.maxLoopRepeats)) reasons.push('repetitive');
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

const NUM_TEXT = '\\s*(?:\\d+(?:\\.\\d*)?|\\.\\d+)\\s*';
/** One box and nothing else, as a teacher writes it in a convention the paper's integer regex does not read. */
const XYXY_BOX = new RegExp(`^\\s*\\(${NUM_TEXT},${NUM_TEXT}\\)\\s*,\\s*\\(${NUM_TEXT},${NUM_TEXT}\\)\\s*$`);
const XYWH_BOX = new RegExp(`^\\s*\\[${NUM_TEXT},${NUM_TEXT},${NUM_TEXT},${NUM_TEXT}\\]\\s*$`);

/**
 * UniVG-R1's format reward for a completion in the teacher's convention. The paper's regex reads
 * `(int,int),(int,int)`, which is how its training rows write boxes; a teacher asked for 0-1 floats (norm),
 * float pixels or `[x,y,w,h]` writes a correct answer differently, and select rewrites it in the training
 * convention anyway. So when the answer block is exactly one box in the teacher's layout, the paper's own
 * check judges the rest of the structure (think first, answer last, nothing after it) with that box written
 * as integers; any other answer is judged as it is.
 */
export function formatInConvention(text: string, parsed: ParsedCompletion, convention: BoxConvention): 0 | 1 {
  const fmt = formatReward(text);
  if (fmt === 1 || parsed.answer === null) return fmt;
  const shape = convention.endsWith('-xywh') ? XYWH_BOX : XYXY_BOX;
  if ((isIntegerConvention(convention) && !convention.endsWith('-xywh')) || !shape.test(parsed.answer)) return fmt;
  const block = `<answer>${parsed.answer}</answer>`;
  const at = text.indexOf(block);
  return at < 0 ? 0 : formatReward(`${text.slice(0, at)}<answer>(0,0),(1,1)</answer>${text.slice(at + block.length)}`);
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
