/**
 * Scoring one completion against one benchmark sample, two ways:
 *
 * - ours: the box of the `<answer>` block (parseCompletion), read in the declared convention, converted to
 *   pixels of the target image, IoU (`iou` from geometry) with the ground truth in pixels;
 * - the paper's: UniVG-R1's MIG-Bench scorer, the first integer box anywhere in the output
 *   (`firstBoxAnywhere`, so a box quoted in `<think>` wins) compared in the 0-1000 space with
 *   `paperEvalIou`, as `eval/MIG_bench/MIG_bench_eval.py` does on `revised_MIG_bench.json`.
 *
 * Pure: data in, data out.
 */
import { firstBoxAnywhere, formatReward, paperEvalIou, parseCompletion, type CompletionProblemCode } from '../../completion/index.js';
import { GeometryError } from '../../errors.js';
import { convertBox, exactBox, iou, iouAtLeast, pixelsExact, thresholdFraction, type ConvertContext, type Rational } from '../../geometry/index.js';
import type { BoxConvention, GroundingSample, Prediction } from '../../schema/records.js';

/**
 * Why a sample scored IoU 0 without a usable answer box. Only one reason per sample, the first that
 * applies in this order.
 */
export const UNSCORED_REASONS = ['missing_prediction', 'prediction_failed', 'empty_completion', 'missing_answer', 'answer_unparsable', 'box_invalid'] as const;
export type UnscoredReason = (typeof UNSCORED_REASONS)[number];

/** IoU thresholds reported, in the paper's order of importance (Acc@0.5 is the headline). */
export const THRESHOLDS = [0.3, 0.5, 0.7] as const;
export type Threshold = (typeof THRESHOLDS)[number];
const FRACTIONS = THRESHOLDS.map(thresholdFraction);

/** Whether IoU >= each of THRESHOLDS, decided on exact rationals (a tie is a hit). */
export type Hits = [boolean, boolean, boolean];
const NO_HITS: Hits = [false, false, false];
const hitsOf = (a: readonly Rational[], b: readonly Rational[]): Hits => FRACTIONS.map((f) => iouAtLeast(a, b, f.num, f.den)) as Hits;

/** The pixel budget a qwen25vl model saw; needed to read its boxes (geometry refuses to guess it). */
export interface PixelBudget {
  minPixels?: number;
  maxPixels?: number;
}

export interface ScoredSample {
  id: string;
  task: string;
  /** The sample's difficulty label when the bench has one (the synthetic suite does). */
  difficulty: string | null;
  /** False when the bench sample had no prediction at all (scored 0 on both scorers). */
  predicted: boolean;
  /** IoU of the `<answer>` box with the ground truth, pixels of the target image; 0 when unscored. */
  iou: number;
  /** The paper scorer's IoU (first box anywhere, 0-1000 space); 0 when it finds no integer box. */
  paperIou: number;
  /**
   * Which thresholds each scorer's box reaches, decided exactly: `iou` is a float, and a 0-1000 box
   * converted to pixels can land a hair under a threshold it meets exactly.
   */
  hits: { answer: Hits; paper: Hits };
  /** Answer box in pixels of the target image, null when there is none (or it is inverted/degenerate). */
  answerBox: [number, number, number, number] | null;
  /** Set when `iou` is 0 because there was no usable answer box. */
  reason: UnscoredReason | null;
  /** Problem codes parseCompletion reported (format diagnostics; a problem does not by itself zero the IoU). */
  problems: CompletionProblemCode[];
  formatReward: number;
  /**
   * The two scorers looked at different boxes: the paper's first box anywhere is not the `<answer>` box
   * (a box in the think came first, or only one of the two scorers found a box).
   */
  boxesDiffer: boolean;
}

function targetContext(sample: GroundingSample, budget: PixelBudget): ConvertContext {
  const img = sample.images[sample.targetImage];
  if (img === undefined) throw new GeometryError(`targetImage ${sample.targetImage} is out of range (${sample.images.length} images)`, { recordId: sample.id });
  return { width: img.width, height: img.height, ...budget };
}

/**
 * A bench sample without a completion: IoU 0 on both scorers. `missing_prediction` (nobody answered it) is
 * counted as missing; `prediction_failed` (the predictor tried and failed) as predicted.
 */
export function scoreMissing(sample: GroundingSample, reason: 'missing_prediction' | 'prediction_failed' = 'missing_prediction'): ScoredSample {
  return { id: sample.id, task: sample.task, difficulty: sample.difficulty, predicted: reason !== 'missing_prediction', iou: 0, paperIou: 0, hits: { answer: NO_HITS, paper: NO_HITS }, answerBox: null, reason, problems: [], formatReward: 0, boxesDiffer: false };
}

/**
 * The ground truth as the paper's scorer sees it: the target box in 0-1000 integers (Qwen2-VL
 * convention), which is what `revised_MIG_bench.json` stores (inferred: its scorer compares raw model
 * integers with `obj['answer']`; reference §2d).
 */
export function paperGroundTruth(sample: GroundingSample): [number, number, number, number] {
  return convertBox(sample.targetBox, 'pixels', 'qwen2vl', targetContext(sample, {}));
}

/**
 * The first box anywhere, in the paper's 0-1000 space. For a qwen2vl model that is the integers as
 * written, exactly the paper. For other declared conventions the integers are read in that convention and
 * rescaled to 0-1000 (not rounded), so the number isolates the first-box quirk instead of mixing in a unit
 * mismatch; the paper's scorer only reads integer boxes, so decimal (`norm`) answers score 0 on it, as
 * they did there.
 */
function paperBox(first: readonly number[], convention: BoxConvention, ctx: ConvertContext): number[] {
  if (convention === 'qwen2vl') return [...first];
  const n = convertBox(first, convention, 'norm', ctx);
  return n.map((v) => v * 1000);
}

/**
 * Score one completion for one sample. `convention` is what the model was declared to answer in; it is
 * never guessed from the text.
 */
export function scoreCompletion(sample: GroundingSample, completion: string | null, convention: BoxConvention, budget: PixelBudget = {}): ScoredSample {
  const ctx = targetContext(sample, budget);
  const base = { id: sample.id, task: sample.task, difficulty: sample.difficulty, predicted: true };
  if (completion === null || completion.trim() === '') {
    return { ...base, iou: 0, paperIou: 0, hits: { answer: NO_HITS, paper: NO_HITS }, answerBox: null, reason: 'empty_completion', problems: [], formatReward: 0, boxesDiffer: false };
  }
  const parsed = parseCompletion(completion, convention);
  const problems = parsed.problems.map((p) => p.code);
  const fmt = formatReward(completion);
  const first = firstBoxAnywhere(completion);
  const paperGt = paperGroundTruth(sample);
  const paperPred = first === null ? null : paperBox(first, convention, ctx);
  const paperIou = paperPred === null ? 0 : paperEvalIou(paperGt, paperPred);
  const paperHits = paperPred === null ? NO_HITS : hitsOf(exactBox(paperGt), exactBox(paperPred));
  // xywh conventions: parseCompletion reports xyxy, the paper's regex reads the four numbers as written.
  const a = parsed.answerBox;
  const written = a === null ? null : convention.endsWith('-xywh') ? [a[0], a[1], a[2] - a[0], a[3] - a[1]] : a;
  const boxesDiffer = first === null || written === null ? first !== written : first.some((v, i) => v !== written[i]);

  let reason: UnscoredReason | null = null;
  let answerBox: [number, number, number, number] | null = null;
  let value = 0;
  let answerHits = NO_HITS;
  if (parsed.answerBox === null) {
    reason = parsed.answer === null ? 'missing_answer' : 'answer_unparsable';
  } else {
    // parseCompletion already turned an xywh answer into xyxy: convert from the xyxy form of the frame.
    const px = convertBox(parsed.answerBox, xyxyOf(convention), 'pixels', ctx);
    if (!(px.every(Number.isFinite) && px[0] < px[2] && px[1] < px[3])) {
      reason = 'box_invalid';
    } else {
      answerBox = px;
      value = iou(px, sample.targetBox);
      answerHits = hitsOf(pixelsExact(parsed.answerBox, xyxyOf(convention), ctx), exactBox(sample.targetBox));
    }
  }
  return { ...base, iou: value, paperIou, hits: { answer: answerHits, paper: paperHits }, answerBox, reason, problems, formatReward: fmt, boxesDiffer };
}

function xyxyOf(c: BoxConvention): BoxConvention {
  return c.endsWith('-xywh') ? (c.slice(0, -5) as BoxConvention) : c;
}

/** The stored record of a scored prediction (schema `Prediction`). */
export function toPrediction(s: ScoredSample, completion: string, convention: BoxConvention, model: string): Prediction {
  return {
    id: s.id,
    task: s.task,
    model,
    completion,
    convention,
    answerBox: s.answerBox,
    // null marks "no usable answer box" (the metrics count it as IoU 0, with s.reason saying why).
    iou: s.answerBox === null ? null : s.iou,
    firstBoxIou: s.paperIou,
    formatReward: s.formatReward,
  };
}
