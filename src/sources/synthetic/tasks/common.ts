/** What every task builder shares: its inputs, its output, and the target's companions. */
import type { QuestionSpec, SynthTask } from '../vocabulary.js';
import { COLOR_NAMES, SHAPES } from '../vocabulary.js';
import type { Rng } from '../rng.js';
import { type ImageBuilder, type Look, type Regime, radiusFor, randomLook } from '../layout.js';
import { type SceneImage, type SceneObject, keyOf } from '../scene.js';

export interface BuildContext {
  rng: Rng;
  regime: Regime;
  tileSeed: number;
}

/** A scene before measurement: the generator adds the answer, metrics and label, then verifies. */
export interface Draft {
  task: SynthTask;
  question: QuestionSpec;
  images: SceneImage[];
  target: { image: number; objectId: number };
  detail: Record<string, string | number | boolean>;
}

/** A builder returns null when its random layout did not fit; the generator then draws again. */
export type Builder = (ctx: BuildContext) => Draft | null;

export function namedLook(rng: Rng): Look {
  return { shape: rng.pick(SHAPES), color: rng.pick(COLOR_NAMES), near: false };
}

/**
 * A distractor that shares one attribute with `base` (its colour family or its shape) half of the
 * time, otherwise anything; `ok` has the last word.
 */
export function relatedLook(rng: Rng, base: Look, nearProb: number, ok: (l: Look) => boolean): Look | null {
  for (let i = 0; i < 30; i++) {
    const u = rng.next();
    const l: Look =
      u < 0.25
        ? { shape: rng.pick(SHAPES), color: base.color, near: rng.chance(nearProb) }
        : u < 0.5
          ? { shape: base.shape, color: rng.pick(COLOR_NAMES), near: rng.chance(nearProb) }
          : { shape: rng.pick(SHAPES), color: rng.pick(COLOR_NAMES), near: rng.chance(nearProb) };
    if (ok(l)) return l;
  }
  return null;
}

/** Fill an image with distractors related to `base`, each accepted by `ok`. */
export function fillRelated(b: ImageBuilder, ctx: BuildContext, base: Look, count: number, ok: (l: Look) => boolean): void {
  for (let i = 0; i < count; i++) {
    const look = relatedLook(ctx.rng, base, ctx.regime.nearProb, ok);
    if (!look) return;
    b.place(look, radiusFor(look.shape, ctx.rng.float(...ctx.regime.distractorSize), b.img));
  }
}

/**
 * The regime's companions of a target: maybe an object laid over it, maybe a near-colour twin of the
 * same shape. Both only when `ok` accepts their look.
 */
export function addTargetCompanions(b: ImageBuilder, ctx: BuildContext, target: SceneObject, ok: (l: Look) => boolean): void {
  const { rng, regime } = ctx;
  if (rng.chance(regime.occluderProb)) {
    const look = randomLook(rng, regime.nearProb, (l) => ok(l) && keyOf(l) !== keyOf(target));
    if (look) b.occlude(target, look, regime.occlusion);
  }
  if (rng.chance(regime.twinProb)) {
    const twin: Look = { shape: target.shape, color: target.color, near: true };
    if (ok(twin)) b.place(twin, radiusFor(twin.shape, rng.float(...regime.targetSize), b.img));
  }
}

export function targetRadius(ctx: BuildContext, look: Look, img: SceneImage): number {
  return radiusFor(look.shape, ctx.rng.float(...ctx.regime.targetSize), img);
}
