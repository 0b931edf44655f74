/**
 * Selection: the best passing candidate per sample, a deterministic SFT / RL split, and the training
 * rows in the training convention. Pure functions; the stage wrapper does the I/O.
 */
import { createHash } from 'node:crypto';
import { formatBox, trainingPrompt } from '../completion/index.js';
import { convertBox } from '../geometry/convert.js';
import type { SelectConfig } from '../schema/config.js';
import type { BoxConvention, GroundingSample, HfImage, RlRow, SftRow, TeacherCandidate, Verdict } from '../schema/records.js';
import { rewriteBoxes } from '../completion/rewrite.js';

const agreementRank = (v: boolean | null) => (v === true ? 0 : v === null ? 1 : 2);

/**
 * Best passing candidate: highest IoU, then a think that agrees with its answer, then the shorter chain
 * (equal evidence in fewer tokens), then the lower candidate index, so the choice never depends on order.
 */
export function pickBest(verdicts: readonly Verdict[]): Verdict | null {
  const passing = verdicts.filter((v) => v.pass);
  if (passing.length === 0) return null;
  return [...passing].sort(
    (a, b) =>
      (b.iou ?? 0) - (a.iou ?? 0) ||
      agreementRank(a.thinkBoxAgrees) - agreementRank(b.thinkBoxAgrees) ||
      a.completionChars - b.completionChars ||
      a.candidateIndex - b.candidateIndex,
  )[0]!;
}

/** SFT or RL pool for a sample: a hash of (seed, id), so the split is stable whatever the order or task count. */
export function assignPool(sampleId: string, seed: number, rlFraction: number): 'sft' | 'rl' {
  const h = createHash('sha256').update(`${seed}\u0000${sampleId}`).digest();
  const u = h.readUInt32BE(0) / 0x1_0000_0000;
  return u < rlFraction ? 'rl' : 'sft';
}

export { rewriteBoxes };

/** Ground-truth answer text in a convention, e.g. `(120,45),(560,980)`. */
export function answerText(sample: GroundingSample, convention: BoxConvention): string {
  const img = sample.images[sample.targetImage]!;
  return formatBox(convertBox(sample.targetBox, 'pixels', convention, { width: img.width, height: img.height }), convention);
}

/** The completion for training: boxes in the training convention, the answer block per `answerFrom`. */
export function trainingCompletion(sample: GroundingSample, candidate: TeacherCandidate, config: SelectConfig): string {
  const text = rewriteBoxes(candidate.completion ?? '', candidate.convention, config.trainingConvention, sample, candidate.seenSizes[sample.targetImage]);
  if (config.answerFrom === 'teacher') return text;
  const open = text.indexOf('<answer>');
  const close = open < 0 ? -1 : text.indexOf('</answer>', open);
  if (open < 0 || close < 0) return text;
  return `${text.slice(0, open + '<answer>'.length)}${answerText(sample, config.trainingConvention)}${text.slice(close)}`;
}

function rowBase(sample: GroundingSample, images: HfImage[], convention: BoxConvention) {
  return {
    id: sample.id,
    source: sample.source,
    task: sample.task,
    images,
    imageSha256: sample.images.map((i) => i.sha256),
    imageWidth: sample.images.map((i) => i.width),
    imageHeight: sample.images.map((i) => i.height),
    prompt: trainingPrompt(sample),
    targetImage: sample.targetImage,
    targetBox: sample.targetBox,
    convention,
    answer: answerText(sample, convention),
    difficultyLabel: sample.difficulty,
  };
}

export function toSftRow(sample: GroundingSample, candidate: TeacherCandidate, verdict: Verdict, images: HfImage[], config: SelectConfig): SftRow {
  return {
    ...rowBase(sample, images, config.trainingConvention),
    completion: trainingCompletion(sample, candidate, config),
    candidateIndex: candidate.candidateIndex,
    iou: verdict.iou,
  };
}

export function toRlRow(sample: GroundingSample, images: HfImage[], config: SelectConfig): RlRow {
  return { ...rowBase(sample, images, config.trainingConvention), difficulty: null, weight: null, bucket: null };
}

export interface Selection {
  sample: GroundingSample;
  pool: 'sft' | 'rl';
  candidate: TeacherCandidate;
  verdict: Verdict;
}

/**
 * Select for one sample: null when no candidate passed (the funnel counts it). `choice` (the judge's
 * pick) overrides pickBest when it names a passing candidate.
 */
export function selectForSample(sample: GroundingSample, candidates: readonly TeacherCandidate[], verdicts: readonly Verdict[], seed: number, config: SelectConfig, choice?: number): Selection | null {
  const chosen = choice === undefined ? undefined : verdicts.find((v) => v.pass && v.candidateIndex === choice);
  const best = chosen ?? pickBest(verdicts);
  if (!best) return null;
  const candidate = candidates.find((c) => c.candidateIndex === best.candidateIndex);
  if (!candidate) return null;
  return { sample, pool: assignPool(sample.id, seed, config.rlFraction), candidate, verdict: best };
}
