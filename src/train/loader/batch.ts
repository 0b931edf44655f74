/**
 * Training batches: fixed shapes (the batch size rows, always; a short last batch is padded and
 * masked), flat typed arrays in row-major order. Backend-independent: a trainer turns them into
 * tensors of the shapes in `shapes`.
 */
import type { LoaderState } from './state.js';

export interface SkippedRow {
  id: string;
  file: string;
  row: number;
  reason: string;
}

export interface Batch {
  kind: 'SftRow' | 'RlRow';
  epoch: number;
  /** This consumer's batch number within the epoch (0-based). */
  index: number;
  /** Rows taken from the stream: rows 0..size-1 (a short last batch has size < batchSize). */
  size: number;
  batchSize: number;
  /** [B] 1 where the row holds a sample (0: padding of a short batch, or a skipped bad row). */
  rowMask: Uint8Array;
  /** [B, maxImages, S, S, 3] RGB in 0..1; padding images and letterbox bars are 0. */
  images: Float32Array;
  /** [B, maxImages] 1 for a real image. */
  imageMask: Uint8Array;
  /** [B, maxImages, 4] = [sx, sy, ox, oy]: resized = original * s + o (pixel edges). See resize.ts. */
  imageScale: Float32Array;
  /** [B, maxImages, 2] original width, height. */
  imageSize: Float32Array;
  /** [B, maxPromptTokens] token ids, padded with padId. */
  promptTokens: Int32Array;
  /** [B, maxPromptTokens] 1 for a real token. */
  promptMask: Uint8Array;
  /** [B, maxTargetTokens] */
  targetTokens: Int32Array;
  targetMask: Uint8Array;
  /** [B, 4] ground truth in original pixels of the target image. */
  targetBox: Float32Array;
  /** [B] index of the target image. */
  targetImage: Int32Array;
  /** [B] (RlRow only) difficulty weight; null in the row -> 1. */
  weight: Float32Array | null;
  /** [B] (RlRow only) mIoU difficulty; null in the row -> NaN. */
  difficulty: Float32Array | null;
  ids: string[];
  tasks: string[];
  /** Ground-truth answer text and its box convention (for rewards and evaluation). */
  answers: string[];
  conventions: string[];
  /** Shape of each array above. */
  shapes: Record<string, number[]>;
  /** Rows of this batch whose prompt or target was truncated to fit. */
  truncated: number;
  /** Rows masked out because an image could not be decoded (onBadImage: 'skip'). */
  skipped: SkippedRow[];
  /** The loader state after this batch: a loader created from it continues with the next sample. */
  state: LoaderState;
}

export interface BatchDims {
  batchSize: number;
  maxImages: number;
  imageSize: number;
  maxPromptTokens: number;
  maxTargetTokens: number;
}

export function allocBatch(kind: 'SftRow' | 'RlRow', d: BatchDims, padId: number): Omit<Batch, 'epoch' | 'index' | 'size' | 'truncated' | 'skipped' | 'state'> {
  const { batchSize: B, maxImages: M, imageSize: S, maxPromptTokens: P, maxTargetTokens: T } = d;
  const promptTokens = new Int32Array(B * P);
  const targetTokens = new Int32Array(B * T);
  if (padId !== 0) {
    promptTokens.fill(padId);
    targetTokens.fill(padId);
  }
  const rl = kind === 'RlRow';
  const shapes: Record<string, number[]> = {
    rowMask: [B],
    images: [B, M, S, S, 3],
    imageMask: [B, M],
    imageScale: [B, M, 4],
    imageSize: [B, M, 2],
    promptTokens: [B, P],
    promptMask: [B, P],
    targetTokens: [B, T],
    targetMask: [B, T],
    targetBox: [B, 4],
    targetImage: [B],
  };
  if (rl) {
    shapes.weight = [B];
    shapes.difficulty = [B];
  }
  return {
    kind,
    batchSize: B,
    rowMask: new Uint8Array(B),
    images: new Float32Array(B * M * S * S * 3),
    imageMask: new Uint8Array(B * M),
    imageScale: new Float32Array(B * M * 4),
    imageSize: new Float32Array(B * M * 2),
    promptTokens,
    promptMask: new Uint8Array(B * P),
    targetTokens,
    targetMask: new Uint8Array(B * T),
    targetBox: new Float32Array(B * 4),
    targetImage: new Int32Array(B),
    weight: rl ? new Float32Array(B) : null,
    difficulty: rl ? new Float32Array(B) : null,
    ids: new Array<string>(B).fill(''),
    tasks: new Array<string>(B).fill(''),
    answers: new Array<string>(B).fill(''),
    conventions: new Array<string>(B).fill(''),
    shapes,
  };
}

/** Reset row b to padding (a skipped bad row). */
export function clearRow(batch: Omit<Batch, 'epoch' | 'index' | 'size' | 'truncated' | 'skipped' | 'state'>, d: BatchDims, b: number, padId: number): void {
  const { maxImages: M, imageSize: S, maxPromptTokens: P, maxTargetTokens: T } = d;
  batch.rowMask[b] = 0;
  batch.images.fill(0, b * M * S * S * 3, (b + 1) * M * S * S * 3);
  batch.imageMask.fill(0, b * M, (b + 1) * M);
  batch.imageScale.fill(0, b * M * 4, (b + 1) * M * 4);
  batch.imageSize.fill(0, b * M * 2, (b + 1) * M * 2);
  batch.promptTokens.fill(padId, b * P, (b + 1) * P);
  batch.promptMask.fill(0, b * P, (b + 1) * P);
  batch.targetTokens.fill(padId, b * T, (b + 1) * T);
  batch.targetMask.fill(0, b * T, (b + 1) * T);
  batch.targetBox.fill(0, b * 4, (b + 1) * 4);
  batch.targetImage[b] = 0;
  if (batch.weight) batch.weight[b] = 0;
  if (batch.difficulty) batch.difficulty[b] = 0;
}
