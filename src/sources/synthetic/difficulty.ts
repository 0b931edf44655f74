/**
 * The difficulty label of a synthetic sample, computed from measurable properties of its target image
 * (documented in datasets/synthetic/README.md):
 *
 *   D  distractor similarity: the highest over the other objects of the target image of
 *      0.5 * [same shape] + 0.5 * [same colour family], where a NEAR_COLORS shade counts as its family;
 *   Z  smallness: clamp((0.15 - s) / 0.10, 0, 1), s = sqrt(target box area / image area);
 *   O  occlusion: fraction of the target covered by objects drawn above it; O' = min(1, O / 0.3).
 *
 *   score = 0.4 D + 0.3 Z + 0.3 O';  easy < 0.3 <= medium < 0.6 <= hard.
 */
import type { Difficulty } from '../../schema/records.js';
import { type DifficultyMetrics, type SceneImage, visibility } from './scene.js';
import { shapeBox } from './shapes.js';

export const DIFFICULTY_WEIGHTS = { distractor: 0.4, size: 0.3, occlusion: 0.3 } as const;
export const DIFFICULTY_THRESHOLDS = { medium: 0.3, hard: 0.6 } as const;
/** s at or above which size adds nothing, and the span over which it reaches its full weight. */
export const SIZE_EASY = 0.15;
export const SIZE_SPAN = 0.1;
/** Occlusion at which O' saturates. */
export const OCCLUSION_FULL = 0.3;

export function difficultyScore(m: Omit<DifficultyMetrics, 'score'>): number {
  const z = Math.min(1, Math.max(0, (SIZE_EASY - m.relativeSize) / SIZE_SPAN));
  const o = Math.min(1, m.occlusion / OCCLUSION_FULL);
  const s = DIFFICULTY_WEIGHTS.distractor * m.distractorSimilarity + DIFFICULTY_WEIGHTS.size * z + DIFFICULTY_WEIGHTS.occlusion * o;
  // Rounded so the label is a function of the stored metrics, free of float noise.
  return Math.round(s * 1e6) / 1e6;
}

export function difficultyLabel(score: number): Difficulty {
  return score < DIFFICULTY_THRESHOLDS.medium ? 'easy' : score < DIFFICULTY_THRESHOLDS.hard ? 'medium' : 'hard';
}

/** The metrics of the target object `targetId` in `img`. */
export function measureDifficulty(img: SceneImage, targetId: number): DifficultyMetrics {
  const index = img.objects.findIndex((o) => o.id === targetId);
  if (index < 0) throw new RangeError(`target object ${targetId} is not in the target image`);
  const t = img.objects[index]!;
  let distractorSimilarity = 0;
  for (const o of img.objects) {
    if (o === t) continue;
    const sim = 0.5 * Number(o.shape === t.shape) + 0.5 * Number(o.color === t.color);
    distractorSimilarity = Math.max(distractorSimilarity, sim);
  }
  const b = shapeBox(t);
  const relativeSize = round6(Math.sqrt(((b[2] - b[0]) * (b[3] - b[1])) / (img.width * img.height)));
  const occlusion = round6(visibility(img.objects, index).occlusion);
  const partial = { distractorSimilarity, relativeSize, occlusion };
  return { ...partial, score: difficultyScore(partial) };
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
