/**
 * correspondence: an object is marked by a red hollow box in the first image; the same look (shape and
 * colour, possibly another size) appears exactly once in the target image, among distractors.
 */
import { ImageBuilder, type Look, emptyImage, markerFootprint, radiusFor, sampleSize } from '../layout.js';
import { type SceneImage, keyOf } from '../scene.js';
import { shapeBox } from '../shapes.js';
import { type Builder, addTargetCompanions, fillRelated, namedLook, targetRadius } from './common.js';

export const buildCorrespondence: Builder = (ctx) => {
  const { rng, regime } = ctx;
  const n = rng.int(2, 4);
  const t = rng.int(1, n - 1);
  const look = namedLook(rng);
  const notSame = (l: Look) => keyOf(l) !== keyOf(look);
  const ids = { next: 1 };
  const images: SceneImage[] = [];
  let targetId = -1;
  for (let k = 0; k < n; k++) {
    const img = emptyImage(rng, sampleSize(rng), ctx.tileSeed);
    const b = new ImageBuilder(img, rng, regime.gap, ids);
    if (k === 0) {
      const marked = b.place(look, radiusFor(look.shape, rng.float(0.1, 0.22), img));
      if (!marked) return null;
      img.marker = shapeBox(marked);
      b.reserved.push(markerFootprint(img.marker));
      fillRelated(b, ctx, look, rng.int(...regime.distractors), () => true);
    } else if (k === t) {
      const target = b.place(look, targetRadius(ctx, look, img));
      if (!target) return null;
      targetId = target.id;
      addTargetCompanions(b, ctx, target, notSame);
      fillRelated(b, ctx, look, rng.int(...regime.distractors), notSame);
    } else {
      fillRelated(b, ctx, look, rng.int(...regime.distractors) + 1, () => true);
    }
    images.push(img);
  }
  return {
    task: 'correspondence',
    question: { task: 'correspondence', target: t },
    images,
    target: { image: t, objectId: targetId },
    detail: { look: keyOf(look) },
  };
};
