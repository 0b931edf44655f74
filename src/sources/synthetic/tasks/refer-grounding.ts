/**
 * refer_grounding: "Locate the [small|large] <colour> <shape> in the <k>th image" among distractors that
 * share its colour or its shape. A size word is used only when another object of the same colour and
 * shape is in that image, and then the target is the largest or smallest of them by a clear margin.
 */
import { ImageBuilder, type Look, MIN_R, emptyImage, sampleSize } from '../layout.js';
import type { SizeWord } from '../vocabulary.js';
import { type SceneImage, keyOf } from '../scene.js';
import { type Builder, addTargetCompanions, fillRelated, namedLook, targetRadius } from './common.js';

/** Chance of a same-look object of another size (which calls for a size word), by regime. */
const SIZE_TWIN = { easy: 0, medium: 0.35, hard: 0.35 } as const;

export const buildReferGrounding: Builder = (ctx) => {
  const { rng, regime } = ctx;
  const n = rng.int(2, 5);
  const t = rng.int(0, n - 1);
  const look = namedLook(rng);
  const ids = { next: 1 };
  const images: SceneImage[] = [];
  let targetId = -1;
  let size: SizeWord | null = null;
  for (let k = 0; k < n; k++) {
    const img = emptyImage(rng, sampleSize(rng), ctx.tileSeed);
    const b = new ImageBuilder(img, rng, regime.gap, ids);
    if (k === t) {
      const target = b.place(look, targetRadius(ctx, look, img));
      if (!target) return null;
      targetId = target.id;
      const notSame = (l: Look) => keyOf(l) !== keyOf(look);
      if (rng.chance(SIZE_TWIN[regime.level])) {
        size = rng.chance(0.5) ? 'large' : 'small';
        const ratio = Math.sqrt(rng.float(2, 3)); // area ratio 2-3
        const r = Math.round((size === 'large' ? target.r / ratio : target.r * ratio) * 100) / 100;
        if (r < MIN_R || !b.place(look, r)) return null;
      }
      addTargetCompanions(b, ctx, target, notSame);
      fillRelated(b, ctx, look, rng.int(...regime.distractors), notSame);
    } else {
      fillRelated(b, ctx, look, rng.int(...regime.distractors) + 1, () => true);
    }
    images.push(img);
  }
  return {
    task: 'refer_grounding',
    question: { task: 'refer_grounding', target: t, size, color: look.color, shape: look.shape },
    images,
    target: { image: t, objectId: targetId },
    detail: { sizeWord: size ?? 'none' },
  };
};
