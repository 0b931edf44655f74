/**
 * reasoning: a relation across images. The first image holds 3-5 shapes with one clearly largest and
 * one clearly smallest (area ratio >= SIZE_RATIO); the target image holds exactly one object with the
 * colour of the largest, or the shape of the smallest.
 */
import { COLOR_NAMES, SHAPES } from '../vocabulary.js';
import { ImageBuilder, type Look, emptyImage, radiusFor, sampleSize } from '../layout.js';
import type { SceneImage } from '../scene.js';
import { SIZE_RATIO } from '../verify.js';
import { shapeArea } from '../shapes.js';
import { type Builder, addTargetCompanions, fillRelated, targetRadius } from './common.js';

export const buildReasoning: Builder = (ctx) => {
  const { rng, regime } = ctx;
  const n = rng.int(2, 4);
  const t = rng.int(1, n - 1);
  const relation = rng.chance(0.5) ? ('same_color_as_largest' as const) : ('same_shape_as_smallest' as const);
  const ids = { next: 1 };

  // Image 1: sizes spread so the extremes are clear; all in named colours, nothing overlapping.
  const first = emptyImage(rng, sampleSize(rng), ctx.tileSeed);
  const b0 = new ImageBuilder(first, rng, Math.max(regime.gap, 6), ids);
  const count = rng.int(3, 5);
  const sizes = [rng.float(0.2, 0.28), rng.float(0.06, 0.085), ...Array.from({ length: count - 2 }, () => rng.float(0.11, 0.16))];
  for (const s of sizes) {
    const look: Look = { shape: rng.pick(SHAPES), color: rng.pick(COLOR_NAMES), near: false };
    if (!b0.place(look, radiusFor(look.shape, s, first))) return null;
  }
  const byArea = first.objects.slice().sort((a, c) => shapeArea(c) - shapeArea(a));
  const largest = byArea[0]!;
  const smallest = byArea[byArea.length - 1]!;
  if (shapeArea(largest) < SIZE_RATIO * shapeArea(byArea[1]!) || shapeArea(byArea[byArea.length - 2]!) < SIZE_RATIO * shapeArea(smallest)) return null;

  const images: SceneImage[] = [first];
  let targetId = -1;
  for (let k = 1; k < n; k++) {
    const img = emptyImage(rng, sampleSize(rng), ctx.tileSeed);
    const b = new ImageBuilder(img, rng, regime.gap, ids);
    if (k === t) {
      const look: Look =
        relation === 'same_color_as_largest'
          ? { shape: rng.pick(SHAPES), color: largest.color, near: false }
          : { shape: smallest.shape, color: rng.pick(COLOR_NAMES), near: false };
      const ok = (l: Look) => (relation === 'same_color_as_largest' ? l.near || l.color !== largest.color : l.shape !== smallest.shape);
      const target = b.place(look, targetRadius(ctx, look, img));
      if (!target) return null;
      targetId = target.id;
      addTargetCompanions(b, ctx, target, ok);
      fillRelated(b, ctx, look, rng.int(...regime.distractors), ok);
    } else {
      fillRelated(b, ctx, { shape: smallest.shape, color: largest.color, near: false }, rng.int(...regime.distractors) + 1, () => true);
    }
    images.push(img);
  }
  return {
    task: 'reasoning',
    question: { task: 'reasoning', target: t, relation },
    images,
    target: { image: t, objectId: targetId },
    detail: { relation },
  };
};
