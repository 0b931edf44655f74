/**
 * One optimizer update from one or more micro-batches: gradients of the summed token cross-entropy,
 * each micro-batch scaled by 1 / (target tokens in the whole update) so that accumulating k micro-batches
 * equals one batch of all their rows; then clipping by global norm and AdamW.
 */
import * as tf from '@tensorflow/tfjs-core';
import { targetTokenCount } from './batching.js';
import type { GroundingModel, ModelBatch } from './model.js';
import { clipByGlobalNorm, type AdamW } from './optim.js';

export interface UpdateResult {
  /** Mean cross-entropy per target token over the update. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  targetTokens: number;
}

/** Summed gradients of the update's mean token loss (caller disposes them). */
export function accumulateGradients(model: GroundingModel, micro: readonly ModelBatch[], coordSigma = 0): { grads: Map<string, tf.Tensor>; loss: number; targetTokens: number } {
  const nTarget = micro.reduce((n, m) => n + targetTokenCount(m), 0);
  if (nTarget === 0) throw new Error('accumulateGradients: the micro-batches have no target tokens');
  const vars = model.variables();
  const grads = new Map<string, tf.Tensor>();
  let loss = 0;
  for (const mb of micro) {
    const { value, grads: g } = tf.variableGrads(() => model.loss(mb, 1 / nTarget, coordSigma), vars);
    loss += value.dataSync()[0]!;
    value.dispose();
    for (const s of model.specs) {
      // A parameter the loss does not reach has no entry: its gradient is zero.
      const gi = g[model.p(s.name).name] ?? tf.zerosLike(model.p(s.name));
      const prev = grads.get(s.name);
      if (prev) {
        grads.set(s.name, tf.add(prev, gi));
        prev.dispose();
        gi.dispose();
      } else grads.set(s.name, gi);
    }
  }
  return { grads, loss, targetTokens: nTarget };
}

/** Gradients, clipping (clip <= 0: off) and one AdamW update at learning rate `lr`. */
export function update(model: GroundingModel, opt: AdamW, micro: readonly ModelBatch[], o: { clip: number; lr: number; coordSigma?: number }): UpdateResult {
  const { grads, loss, targetTokens } = accumulateGradients(model, micro, o.coordSigma ?? 0);
  try {
    const gradNorm = clipByGlobalNorm(grads, o.clip);
    opt.apply(
      model.specs.map((s) => ({ name: s.name, variable: model.p(s.name), decay: s.decay })),
      grads,
      o.lr,
    );
    return { loss, gradNorm, targetTokens };
  } finally {
    for (const g of grads.values()) g.dispose();
  }
}
