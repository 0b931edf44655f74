/**
 * diff: two images of one scene that differ in exactly one object, which was added, recoloured,
 * reshaped or moved; locate it in the second image.
 */
import { COLOR_NAMES, SHAPES } from '../vocabulary.js';
import { ImageBuilder, emptyImage, inBounds, sampleSize } from '../layout.js';
import { type SceneImage, type SceneObject, keyOf } from '../scene.js';
import { shapeBox } from '../shapes.js';
import { type Builder, addTargetCompanions, fillRelated, namedLook, targetRadius } from './common.js';

export const CHANGES = ['added', 'recoloured', 'reshaped', 'moved'] as const;

export const buildDiff: Builder = (ctx) => {
  const { rng, regime } = ctx;
  const after = emptyImage(rng, sampleSize(rng), ctx.tileSeed);
  const ids = { next: 1 };
  const b = new ImageBuilder(after, rng, regime.gap, ids);
  const look = namedLook(rng);
  const target = b.place(look, targetRadius(ctx, look, after));
  if (!target) return null;
  addTargetCompanions(b, ctx, target, () => true);
  fillRelated(b, ctx, look, rng.int(...regime.distractors), () => true);

  const change = rng.pick(CHANGES);
  const ti = after.objects.indexOf(target);
  const before: SceneImage = { ...after, background: { ...after.background }, objects: after.objects.map((o) => ({ ...o })) };
  const others = new Set(before.objects.filter((_, i) => i !== ti));
  const fitsBefore = (o: SceneObject) => inBounds(o, before) && new ImageBuilder(before, rng, regime.gap, ids).fits(shapeBox(o), new Set([before.objects[ti]!, ...aboveOf(before, ti)]));
  switch (change) {
    case 'added':
      before.objects.splice(ti, 1);
      break;
    case 'recoloured':
      before.objects[ti]!.color = rng.pick(COLOR_NAMES.filter((c) => c !== target.color));
      break;
    case 'reshaped': {
      const shape = rng.pick(SHAPES.filter((s) => s !== target.shape));
      const o = { ...target, shape };
      if (!fitsBefore(o)) return null;
      before.objects[ti] = o;
      break;
    }
    case 'moved': {
      // Somewhere clear of everything, including where it ends up.
      const probe = new ImageBuilder({ ...before, objects: [...others, target] }, rng, regime.gap, ids);
      const moved = probe.place(look, target.r, target.id);
      if (!moved) return null;
      before.objects[ti] = moved;
      break;
    }
  }
  return {
    task: 'diff',
    question: { task: 'diff', target: 1 },
    images: [before, after],
    target: { image: 1, objectId: target.id },
    detail: { change, look: keyOf(target) },
  };
};

/** Objects drawn above index i that overlap it (the target's occluder): a reshape may touch them. */
function aboveOf(img: SceneImage, i: number): SceneObject[] {
  const box = shapeBox(img.objects[i]!);
  return img.objects.slice(i + 1).filter((o) => {
    const p = shapeBox(o);
    return p[0] < box[2] && box[0] < p[2] && p[1] < box[3] && box[1] < p[3];
  });
}
