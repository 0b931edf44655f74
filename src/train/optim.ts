/**
 * AdamW with decoupled weight decay (PyTorch's `torch.optim.AdamW` update, term for term; tfjs's Adam has
 * no decoupled decay), the learning-rate schedule (linear warmup, then cosine to a floor) and clipping
 * by global norm. Moments are plain tensors so a checkpoint stores them bit for bit.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';

export interface ScheduleConfig {
  /** Peak learning rate. */
  lr: number;
  /** Floor the cosine decays to (default lr / 10). */
  minLr?: number;
  /** Updates of linear warmup from lr / warmup to lr. */
  warmupSteps: number;
  /** Updates in the whole run (the cosine reaches minLr at the last one). */
  totalSteps: number;
}

/**
 * Learning rate of update `step` (0-based): (step + 1) / warmup * lr during warmup, then
 * minLr + (lr - minLr) * (1 + cos(pi * p)) / 2 with p = (step - warmup) / (total - 1 - warmup),
 * so the first update after warmup uses lr and the last uses minLr.
 */
export function lrAt(step: number, s: ScheduleConfig): number {
  const minLr = s.minLr ?? s.lr / 10;
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const span = s.totalSteps - 1 - s.warmupSteps;
  const p = span <= 0 ? 1 : Math.min(1, (step - s.warmupSteps) / span);
  return minLr + ((s.lr - minLr) * (1 + Math.cos(Math.PI * p))) / 2;
}

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const DEFAULT_ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

export interface AdamWState {
  /** Updates done so far (bias correction uses t after increment). */
  t: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  readonly cfg: AdamWConfig;
  t = 0;
  private m = new Map<string, tf.Tensor>();
  private v = new Map<string, tf.Tensor>();

  constructor(cfg: Partial<AdamWConfig> = {}) {
    this.cfg = { ...DEFAULT_ADAMW, ...cfg };
    const { beta1, beta2, eps, weightDecay } = this.cfg;
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps > 0 && weightDecay >= 0))
      throw new ConfigError(`AdamW: invalid hyper-parameters ${JSON.stringify(this.cfg)}`, { field: 'optimizer' });
  }

  /**
   * One update: p <- p * (1 - lr * wd) (only where `decay`), m <- b1 m + (1 - b1) g,
   * v <- b2 v + (1 - b2) g^2, p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
   */
  apply(params: ReadonlyArray<{ name: string; variable: tf.Variable; decay: boolean; lrScale?: number }>, grads: Map<string, tf.Tensor>, baseLr: number): void {
    this.t++;
    const { beta1, beta2, eps, weightDecay } = this.cfg;
    const bc1 = 1 - beta1 ** this.t;
    const bc2Sqrt = Math.sqrt(1 - beta2 ** this.t);
    for (const { name, variable, decay, lrScale } of params) {
      const lr = baseLr * (lrScale ?? 1);
      const g = grads.get(name);
      if (!g) throw new Error(`AdamW: no gradient for ${name}`);
      const mOld = this.m.get(name);
      const vOld = this.v.get(name);
      const [m, v] = tf.tidy(() => {
        const m = mOld ? tf.add(tf.mul(mOld, beta1), tf.mul(g, 1 - beta1)) : tf.mul(g, 1 - beta1);
        const v = vOld ? tf.add(tf.mul(vOld, beta2), tf.mul(tf.square(g), 1 - beta2)) : tf.mul(tf.square(g), 1 - beta2);
        const p0 = decay && weightDecay > 0 ? tf.mul(variable, 1 - lr * weightDecay) : variable;
        const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), eps);
        variable.assign(tf.sub(p0, tf.mul(tf.div(m, denom), lr / bc1)));
        return [m, v];
      });
      mOld?.dispose();
      vOld?.dispose();
      this.m.set(name, m!);
      this.v.set(name, v!);
    }
  }

  /** The moments, read back asynchronously (for a checkpoint). */
  async state(): Promise<AdamWState> {
    const copy = async (src: Map<string, tf.Tensor>) => {
      const out = new Map<string, Float32Array>();
      for (const [k, t] of src) out.set(k, (await t.data()) as Float32Array);
      return out;
    };
    return { t: this.t, m: await copy(this.m), v: await copy(this.v) };
  }

  load(state: AdamWState, shapes: Map<string, number[]>): void {
    this.dispose();
    this.t = state.t;
    for (const [k, a] of state.m) this.m.set(k, tf.tensor(a, shapes.get(k)));
    for (const [k, a] of state.v) this.v.set(k, tf.tensor(a, shapes.get(k)));
  }

  dispose(): void {
    for (const t of this.m.values()) t.dispose();
    for (const t of this.v.values()) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** Global L2 norm of all gradients on the device (summed in the order given, so it is reproducible). */
export function globalNorm(grads: Map<string, tf.Tensor>): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

/**
 * Scale every gradient by min(1, maxNorm / (norm + 1e-6)) in place of the map (torch's clip_grad_norm_),
 * the coefficient computed on the device (below the threshold it is exactly 1, and so is the product).
 * Returns the norm before clipping, on the device (caller disposes it).
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): tf.Scalar {
  const norm = globalNorm(grads);
  if (!(maxNorm > 0)) return norm;
  const coef = tf.tidy(() => tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6))));
  for (const [k, g] of grads) {
    grads.set(k, tf.mul(g, coef));
    g.dispose();
  }
  coef.dispose();
  return norm;
}
