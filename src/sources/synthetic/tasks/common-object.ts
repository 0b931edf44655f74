/** common_object: one look (shape and colour) appears in every image; locate it in the target image. */
import { ImageBuilder, type Look, emptyImage, radiusFor, sampleSize } from '../layout.js';
import { type SceneImage, keyOf } from '../scene.js';
import { type Builder, addTargetCompanions, fillRelated, namedLook, targetRadius } from './common.js';

export const buildCommonObject: Builder = (ctx) => {
  const { rng, regime } = ctx;
  const n = rng.int(2, 6);
  const t = rng.int(0, n - 1);
  const common = namedLook(rng);
  const commonKey = keyOf(common);
  const ids = { next: 1 };
  const images: SceneImage[] = [];
  let targetId = -1;
  for (let k = 0; k < n; k++) {
    const img = emptyImage(rng, sampleSize(rng), ctx.tileSeed);
    const b = new ImageBuilder(img, rng, regime.gap, ids);
    // Building the last image, refuse any look already present in all others: the common look stays the only one.
    const inAllSoFar =
      k === n - 1 ? new Set([...new Set(images[0]?.objects.map(keyOf))].filter((key) => images.every((im) => im.objects.some((o) => keyOf(o) === key)))) : new Set<string>();
    const ok = (l: Look) => keyOf(l) !== commonKey && !inAllSoFar.has(keyOf(l));
    const r = k === t ? targetRadius(ctx, common, img) : radiusFor(common.shape, rng.float(...regime.distractorSize), img);
    const obj = b.place(common, r);
    if (!obj) return null;
    if (k === t) {
      targetId = obj.id;
      addTargetCompanions(b, ctx, obj, ok);
    }
    fillRelated(b, ctx, common, rng.int(...regime.distractors), ok);
    images.push(img);
  }
  return { task: 'common_object', question: { task: 'common_object', target: t }, images, target: { image: t, objectId: targetId }, detail: { look: commonKey } };
};
