/**
 * Token losses with hand-written gradients: the summed cross-entropy of SFT (optionally against smoothed
 * coordinate targets) and the per-token log-probabilities GRPO weights.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Coordinate targets spread over neighbouring values (see softTargets). */
export interface CoordSmoothing {
  /** Token ids of coordinates 0 and coordMax. */
  first: number;
  last: number;
  /** Standard deviation in coordinate units (0-1000 scale); 0 = exact targets. */
  sigma: number;
}

/**
 * Target distributions [N, V]: one-hot, except that a coordinate target v becomes a discretised Gaussian
 * over coordinates u (exp(-(u - v)^2 / 2 sigma^2), |u - v| <= 3 sigma, normalised). Being off by 3 then
 * costs less than being off by 300, which an exact target cannot say: the coordinate tokens learn as a
 * smooth regression instead of 1001 unrelated classes.
 */
export function softTargets(targets: Int32Array, V: number, smooth?: CoordSmoothing): Float32Array {
  const q = new Float32Array(targets.length * V);
  const sigma = smooth?.sigma ?? 0;
  const reach = Math.ceil(3 * sigma);
  targets.forEach((t, n) => {
    if (!smooth || !(sigma > 0) || t < smooth.first || t > smooth.last) {
      q[n * V + t] = 1;
      return;
    }
    const lo = Math.max(smooth.first, t - reach);
    const hi = Math.min(smooth.last, t + reach);
    let z = 0;
    for (let u = lo; u <= hi; u++) z += Math.exp(-((u - t) ** 2) / (2 * sigma * sigma));
    for (let u = lo; u <= hi; u++) q[n * V + u] = Math.exp(-((u - t) ** 2) / (2 * sigma * sigma)) / z;
  });
  return q;
}

/**
 * Summed cross-entropy of logits [N, V] against target ids (or their smoothed distributions), times
 * `scale`. The gradient is (softmax - target) * scale directly (tfjs's logSumExp gradient goes through a
 * slow broadcast compare).
 */
export function crossEntropy(logits: tf.Tensor2D, targets: Int32Array, scale: number, smooth?: CoordSmoothing): tf.Scalar {
  const V = logits.shape[1];
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const q = smooth && smooth.sigma > 0 ? tf.tensor2d(softTargets(targets, V, smooth), [targets.length, V]) : tf.oneHot(tf.tensor1d(targets, 'int32'), V);
    const z = tf.sub(x, tf.max(x, 1, true));
    const lse = tf.log(tf.sum(tf.exp(z), 1, true));
    const value = tf.mul(tf.sum(tf.sub(lse, tf.sum(tf.mul(z, q), 1, true))), scale) as tf.Scalar;
    save([tf.exp(tf.sub(z, lse)), q]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.sub(saved[0]!, saved[1]!), tf.mul(dy, scale)),
    };
  });
  return f(logits) as tf.Scalar;
}

/**
 * log p(target) of each row of logits [N, V]: [N]. The gradient is dy * (onehot - softmax) directly, as
 * for crossEntropy (GRPO weights each token's log-probability by its own coefficient).
 */
export function targetLogProbs(logits: tf.Tensor2D, targets: Int32Array): tf.Tensor1D {
  const V = logits.shape[1];
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const q = tf.oneHot(tf.tensor1d(targets, 'int32'), V);
    const z = tf.sub(x, tf.max(x, 1, true));
    const lse = tf.log(tf.sum(tf.exp(z), 1, true));
    const value = tf.reshape(tf.sub(tf.sum(tf.mul(z, q), 1, true), lse), [targets.length]) as tf.Tensor1D;
    save([tf.exp(tf.sub(z, lse)), q]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.sub(saved[1]!, saved[0]!), tf.reshape(dy, [targets.length, 1])),
    };
  });
  return f(logits) as tf.Tensor1D;
}
