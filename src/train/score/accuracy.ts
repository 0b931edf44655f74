/**
 * The accuracy of one rollout, and a row's difficulty from its G rollouts. Pure: data in, data out.
 *
 * One definition, UniVG-R1's accuracy reward (`iou_reward`, src/completion/rewards.ts) in its own frame,
 * Qwen2-VL's 0-1000 integers of the target image:
 * - qwen2vl completions: `accuracyReward(text, gt)` exactly, the reward the GRPO trainer optimises (first
 *   box inside the first `<answer>` block, the paper's inclusive-intersection IoU, 0 without a box);
 * - any other declared convention: the `<answer>` box as `parseCompletion` reads it in that convention,
 *   converted to 0-1000 integers of the target image (clamped, rounded), then the same IoU (`univgIou`).
 *   So a model answering in `norm` or `qwen25vl` is scored by the reward it would get after its boxes were
 *   rewritten into the paper's frame, never by a second IoU formula.
 * The ground truth is the row's `targetBox` (pixels) in 0-1000 integers of `images[targetImage]`.
 */
import { accuracyReward, parseCompletion, univgIou } from '../../completion/index.js';
import { GeometryError } from '../../errors.js';
import { convertBox, type ConvertContext } from '../../geometry/index.js';
import type { BoxConvention, RlRow, SftRow } from '../../schema/records.js';
import { difficultyOf, type MiouBucket, type PhiOptions } from '../rl/difficulty.js';

/** The pixel budget a qwen25vl model saw (its boxes are pixels of the resized image). */
export interface PixelBudget {
  minPixels?: number;
  maxPixels?: number;
}

type Target = Pick<RlRow, 'id' | 'targetImage' | 'targetBox' | 'imageWidth' | 'imageHeight'>;

function targetContext(row: Target, budget: PixelBudget): ConvertContext {
  const width = row.imageWidth[row.targetImage];
  const height = row.imageHeight[row.targetImage];
  if (width === undefined || height === undefined) {
    throw new GeometryError(`targetImage ${row.targetImage} is out of range (${row.imageWidth.length} image sizes)`, { recordId: row.id, field: 'targetImage' });
  }
  return { width, height, ...budget };
}

/** The ground truth in the paper's frame: 0-1000 integers of the target image. */
export function groundTruth0to1000(row: Target): [number, number, number, number] {
  return convertBox(row.targetBox, 'pixels', 'qwen2vl', targetContext(row, {}));
}

const xyxyOf = (c: BoxConvention): BoxConvention => (c.endsWith('-xywh') ? (c.slice(0, -5) as BoxConvention) : c);

/** Accuracy of one completion written in `convention` (see the module comment); 0 when it has no usable answer box. */
export function rolloutAccuracy(text: string, row: Target, convention: BoxConvention, budget: PixelBudget = {}): number {
  const gt = groundTruth0to1000(row);
  if (convention === 'qwen2vl') return accuracyReward(text, gt);
  const box = parseCompletion(text, convention).answerBox;
  if (box === null || !box.every(Number.isFinite)) return 0;
  // parseCompletion already turned an xywh answer into xyxy of its frame.
  const q = convertBox(box, xyxyOf(convention), 'qwen2vl', targetContext(row, budget));
  return univgIou(q, gt);
}

export interface RowDifficulty {
  /** Mean accuracy of the G rollouts (the paper's mIoU); stored as `difficulty`. */
  miou: number;
  /** phi(mIoU); stored as `weight`. */
  weight: number;
  bucket: MiouBucket;
  /** Each rollout's accuracy, in rollout order. */
  accuracies: number[];
}

/** A row's difficulty from its rollouts' texts. */
export function scoreRollouts(texts: readonly string[], row: Target, convention: BoxConvention, phi: PhiOptions, budget: PixelBudget = {}): RowDifficulty {
  const accuracies = texts.map((t) => rolloutAccuracy(t, row, convention, budget));
  return { ...difficultyOf(accuracies, phi), accuracies };
}

/** Any training row as an RlRow with its difficulty columns unset (an SftRow loses its chain and its teacher IoU). */
export function asRlRow(row: RlRow | SftRow): RlRow {
  const { id, source, task, images, imageSha256, imageWidth, imageHeight, prompt, targetImage, targetBox, convention, answer, difficultyLabel } = row;
  return { id, source, task, images, imageSha256, imageWidth, imageHeight, prompt, targetImage, targetBox, convention, answer, difficultyLabel, difficulty: null, weight: null, bucket: null };
}

/** The row with its difficulty columns filled. */
export function withDifficulty(row: RlRow, d: Pick<RowDifficulty, 'miou' | 'weight' | 'bucket'>): RlRow {
  return { ...row, difficulty: d.miou, weight: d.weight, bucket: d.bucket };
}
