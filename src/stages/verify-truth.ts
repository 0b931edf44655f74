/**
 * How often the verifier throws away a correct chain, measured where the truth is known: the synthetic
 * suite's scene graphs say which image and which object the answer is, so a chain can be labelled
 * correct without asking the verifier. The benchmark (bench/verify-false-rejections.ts) and the per-task
 * tests (tests/stages/verify-false-rejections.test.ts) both label chains with `judgeChain` and count, for
 * each check, the correct chains it rejects.
 *
 * A chain is correct when it is a usable UniVG-R1 completion (answered, not cut, the paper's format
 * reward is 1 with the box read in the teacher's convention), its answer box and the last box its reasoning commits to both have IoU >= 0.5 with the
 * ground truth, and its conclusion (the last sentence that says where the target is and names an
 * object) names the target image and the target object's colour and shape.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseCompletion } from '../completion/index.js';
import { iou } from '../geometry/box.js';
import type { PipelineConfig } from '../schema/config.js';
import type { GroundingSample, TeacherCandidate } from '../schema/records.js';
import { COLOR_NAMES, SHAPES, ordinal } from '../sources/synthetic/vocabulary.js';
import type { Scene } from '../sources/synthetic/scene.js';
import { readRows } from '../store/reader.js';
import { SYNTHETIC_DIR } from './ingest-stage.js';
import { joinBySample } from './join.js';
import { hintTextFor } from './verify-stage.js';
import { teacherBoxToPixels } from '../geometry/convert.js';
import { formatInConvention, verifyCandidate, type VerifyContext } from './verify.js';

/** What the scene graph says the answer is. */
export interface SceneTruth {
  id: string;
  task: string;
  targetImage: number;
  /** Colour and shape of the target object as drawn in the target image. */
  color: string;
  shape: string;
}

/** Why a chain is not correct; null when it is. */
export type WrongBecause = 'no_completion' | 'cut' | 'malformed' | 'answer_box_wrong' | 'reasoning_box_wrong' | 'no_conclusion' | 'wrong_image' | 'wrong_object';

/** Boxes closer than this to the ground truth are right (the paper's Acc@0.5). */
export const RIGHT_IOU = 0.5;

export function sceneTruth(scene: Scene & { id: string }): SceneTruth {
  const img = scene.images[scene.target.image];
  const obj = img?.objects.find((o) => o.id === scene.target.objectId);
  if (!obj) throw new RangeError(`scene ${scene.id}: target object ${scene.target.objectId} is not in image ${scene.target.image}`);
  return { id: scene.id, task: scene.task, targetImage: scene.target.image, color: obj.color, shape: obj.shape };
}

/** The truth of every sample in a suite's `scenes.jsonl` (one small record per sample). */
export async function readSceneTruths(scenesJsonl: string): Promise<Map<string, SceneTruth>> {
  const out = new Map<string, SceneTruth>();
  const lines = createInterface({ input: createReadStream(scenesJsonl, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const t = sceneTruth(JSON.parse(line) as Scene & { id: string });
    out.set(t.id, t);
  }
  return out;
}

const OBJECT_RE = new RegExp(`\\b(${COLOR_NAMES.join('|')}) (${SHAPES.join('|')})\\b`, 'gi');

/** Sentences of a reasoning text; a box's decimal point is never followed by a space. */
function sentences(text: string): string[] {
  return text.split(/(?<=[.!?])\s+/).filter((s) => s.length > 0);
}

/** Label one chain against the scene graph; `because` is the first reason it is not correct. */
export function judgeChain(sample: GroundingSample, c: TeacherCandidate, truth: SceneTruth): { correct: boolean; because: WrongBecause | null } {
  const wrong = (because: WrongBecause) => ({ correct: false, because });
  if (c.error !== null || c.completion === null) return wrong('no_completion');
  if (c.finishReason !== 'stop') return wrong('cut');
  const p = parseCompletion(c.completion, c.convention);
  if (formatInConvention(c.completion, p, c.convention) !== 1) return wrong('malformed');
  const t = sample.targetImage;
  const toPx = (b: readonly number[]) => teacherBoxToPixels(b, c.convention, sample, c.seenSizes[t], t);
  if (p.answerBox === null || iou(toPx(p.answerBox), sample.targetBox) < RIGHT_IOU) return wrong('answer_box_wrong');
  const last = p.thinkBoxes.at(-1);
  if (last && iou(toPx(last.box), sample.targetBox) < RIGHT_IOU) return wrong('reasoning_box_wrong');
  const conclusion = sentences(p.think ?? '')
    .filter((s) => /\btarget\b/i.test(s) && new RegExp(OBJECT_RE.source, 'i').test(s))
    .at(-1);
  if (conclusion === undefined) return wrong('no_conclusion');
  const imageName = new RegExp(`\\b(?:${ordinal(t)} (?:image|frame)|image ${t + 1})\\b`, 'i');
  if (!imageName.test(conclusion)) return wrong('wrong_image');
  const named = [...conclusion.matchAll(OBJECT_RE)].map((m) => `${m[1]!.toLowerCase()} ${m[2]!.toLowerCase()}`);
  if (!named.includes(`${truth.color} ${truth.shape}`)) return wrong('wrong_object');
  return { correct: true, because: null };
}

/** Per task: how many chains, how many correct, and for each check how many correct chains it rejected. */
export interface FalseRejectionTally {
  chains: number;
  correct: number;
  /** Why the other chains are not correct. */
  wrong: Partial<Record<WrongBecause, number>>;
  /** Check -> correct chains it rejected. */
  rejectedCorrect: Record<string, number>;
  /** Check -> incorrect chains it rejected. */
  rejectedWrong: Record<string, number>;
}

export class FalseRejections {
  readonly byTask = new Map<string, FalseRejectionTally>();

  add(task: string, label: { correct: boolean; because: WrongBecause | null }, reasons: readonly string[]): void {
    let t = this.byTask.get(task);
    if (!t) this.byTask.set(task, (t = { chains: 0, correct: 0, wrong: {}, rejectedCorrect: {}, rejectedWrong: {} }));
    t.chains++;
    if (label.correct) t.correct++;
    else t.wrong[label.because!] = (t.wrong[label.because!] ?? 0) + 1;
    const into = label.correct ? t.rejectedCorrect : t.rejectedWrong;
    for (const r of reasons) into[r] = (into[r] ?? 0) + 1;
  }

  /** Share of a task's correct chains that `check` rejected (0 when the task has none). */
  rate(task: string, check: string): number {
    const t = this.byTask.get(task);
    return t && t.correct > 0 ? (t.rejectedCorrect[check] ?? 0) / t.correct : 0;
  }
}

/** The verification under audit: the reasons a candidate is rejected for. */
export type Checker = (ctx: VerifyContext) => readonly string[];

/**
 * Label every candidate of a synthetic run (ingest and generate done) and verify it again with `check`
 * (the verifier with the run's verify settings by default), streaming: one sample's rows at a time.
 */
export async function auditRun(runDir: string, config: PipelineConfig, check: Checker = (ctx) => verifyCandidate(ctx).reasons): Promise<FalseRejections> {
  const truths = await readSceneTruths(join(runDir, SYNTHETIC_DIR, 'scenes.jsonl'));
  const mode = config.teacher?.mode ?? 'hinted';
  const out = new FalseRejections();
  const joined = joinBySample<GroundingSample, { candidates: TeacherCandidate[] }>(readRows('GroundingSample', join(runDir, 'samples')), {
    candidates: readRows('TeacherCandidate', join(runDir, 'candidates')),
  });
  for await (const { sample, candidates } of joined) {
    const truth = truths.get(sample.id);
    if (!truth) throw new RangeError(`sample ${sample.id} has no scene in ${runDir}`);
    const hintText = hintTextFor(sample, config);
    for (const candidate of candidates) {
      out.add(sample.task, judgeChain(sample, candidate, truth), check({ sample, candidate, config: config.verify, mode, hintText }));
    }
  }
  return out;
}
