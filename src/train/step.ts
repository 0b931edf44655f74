/**
 * One optimizer update from one or more micro-batches: gradients of the summed token cross-entropy,
 * each micro-batch scaled by 1 / (target tokens in the whole update) so that accumulating k micro-batches
 * equals one batch of all their rows; then clipping by global norm and AdamW.
 *
 * Nothing is read back: the loss and the gradient norm stay on the device until the trainer reads a whole
 * logging interval of them at once (see StepStats).
 */
import * as tf from '@tensorflow/tfjs-core';
import { targetTokenCount } from './batching.js';
import type { GroundingModel, ModelBatch } from './model/index.js';
import { clipByGlobalNorm, type AdamW } from './optim.js';

export interface UpdateResult {
  /** [loss, gradNorm] on the device: mean cross-entropy per target token, global norm before clipping. */
  stats: tf.Tensor1D;
  targetTokens: number;
}

/** A learning-rate multiplier per parameter (0 freezes it: no gradient is computed for it). */
export type LrScale = (name: string) => number;

/** The parameters an update trains, with their multipliers. */
export function trainableSpecs(model: GroundingModel, lrScale?: LrScale) {
  return model.specs.filter((s) => (lrScale ? lrScale(s.name) : 1) > 0).map((s) => ({ ...s, scale: lrScale ? lrScale(s.name) : 1 }));
}

/** Summed gradients of the update's mean token loss, and that loss on the device (caller disposes all). */
export function accumulateGradients(model: GroundingModel, micro: readonly ModelBatch[], coordSigma = 0, lrScale?: LrScale): { grads: Map<string, tf.Tensor>; loss: tf.Scalar; targetTokens: number } {
  const nTarget = micro.reduce((n, m) => n + targetTokenCount(m), 0);
  if (nTarget === 0) throw new Error('accumulateGradients: the micro-batches have no target tokens');
  const specs = trainableSpecs(model, lrScale);
  const vars = specs.map((s) => model.param(s.name));
  const grads = new Map<string, tf.Tensor>();
  let loss: tf.Scalar | null = null;
  for (const mb of micro) {
    const { value, grads: g } = tf.variableGrads(() => model.loss(mb, 1 / nTarget, coordSigma), vars);
    if (loss) {
      const sum = tf.add(loss, value) as tf.Scalar;
      loss.dispose();
      value.dispose();
      loss = sum;
    } else loss = value;
    for (const s of specs) {
      // A parameter the loss does not reach has no entry: its gradient is zero.
      const gi = g[model.param(s.name).name] ?? tf.zerosLike(model.param(s.name));
      const prev = grads.get(s.name);
      if (prev) {
        grads.set(s.name, tf.add(prev, gi));
        prev.dispose();
        gi.dispose();
      } else grads.set(s.name, gi);
    }
  }
  return { grads, loss: loss!, targetTokens: nTarget };
}

/** Gradients, clipping (clip <= 0: off) and one AdamW update at learning rate `lr`. */
export function update(model: GroundingModel, opt: AdamW, micro: readonly ModelBatch[], o: { clip: number; lr: number; coordSigma?: number; lrScale?: LrScale }): UpdateResult {
  const { grads, loss, targetTokens } = accumulateGradients(model, micro, o.coordSigma ?? 0, o.lrScale);
  try {
    const gradNorm = clipByGlobalNorm(grads, o.clip);
    opt.apply(
      trainableSpecs(model, o.lrScale).map((s) => ({ name: s.name, variable: model.param(s.name), decay: s.decay, lrScale: s.scale })),
      grads,
      o.lr,
    );
    const stats = tf.stack([loss, gradNorm]) as tf.Tensor1D;
    gradNorm.dispose();
    return { stats, targetTokens };
  } finally {
    loss.dispose();
    for (const g of grads.values()) g.dispose();
  }
}
