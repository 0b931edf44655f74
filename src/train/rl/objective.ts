/**
 * The GRPO objective of UniVG-R1 (TRL's GRPOTrainer as VLM-R1 forked it, with the difficulty weight), per
 * completion token t of rollout i of one prompt:
 *
 *   rho    = exp(logp - logp_old)                              (1 on-policy: one update per rollout batch)
 *   pg     = -min(rho * A_i, clip(rho, 1 - eps, 1 + eps) * A_i) * phi(mIoU)
 *   kl     = exp(ref - logp) - (ref - logp) - 1                (the k3 estimator, to the frozen SFT model)
 *   loss_i = mean over t of (pg + beta * kl)
 *
 * and the step's loss is the mean of loss_i over every rollout of every prompt in the step. phi multiplies
 * the policy-gradient term only, never the KL term (see difficulty.ts for why not the reward).
 *
 * `groupGradients` returns the gradient of one prompt's share (`scale` = 1 / rollouts in the step), so the
 * caller sums prompts into the step's gradient without holding every rollout's activations at once.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GroundingModel, ModelBatch } from '../model.js';
import { clipByGlobalNorm, type AdamW } from '../optim.js';

export interface GrpoCoefficients {
  /** KL coefficient (paper: 0.04). */
  beta: number;
  /** Clip range of the ratio (paper: 0.2). */
  epsilon: number;
}

/** One prompt's rollouts as a training batch, with what the objective needs per row and token. */
export interface GroupInput {
  /** B = G rows: the prompt repeated, completions = sampled tokens (cMask marks them). */
  batch: ModelBatch;
  /** [B] group-normalised advantages. */
  advantages: ArrayLike<number>;
  /** phi(mIoU) of this prompt (1 when weighting is off). */
  weight: number;
  /** [N] log p of each masked token under the frozen reference model (row-major, as logProbs). */
  refLogProbs: Float32Array;
  /** [N] log p under the policy that sampled them; absent: the current policy's (ratio exactly 1). */
  oldLogProbs?: Float32Array;
  /** Multiplies this prompt's loss: 1 / (rollouts in the whole step). */
  scale: number;
}

export interface GroupStats {
  /** This prompt's contribution to the step loss (already scaled). */
  loss: number;
  /** Mean over rollouts of the per-token-mean k3 KL. */
  kl: number;
  /** Share of tokens whose ratio the clip cut off (the side that binds for the sign of A). */
  clipped: number;
  tokens: number;
}

/** Per token: its row's advantage, 1 / (its row's token count), and the row index. */
export function tokenLayout(b: ModelBatch, advantages: ArrayLike<number>): { adv: Float32Array; invLen: Float32Array; row: Int32Array } {
  const lens = new Array<number>(b.B).fill(0);
  for (let i = 0; i < b.B; i++) for (let k = 0; k < b.Lc; k++) lens[i]! += b.cMask[i * b.Lc + k]!;
  const N = lens.reduce((a, x) => a + x, 0);
  const adv = new Float32Array(N);
  const invLen = new Float32Array(N);
  const row = new Int32Array(N);
  let n = 0;
  for (let i = 0; i < b.B; i++)
    for (let k = 0; k < b.Lc; k++)
      if (b.cMask[i * b.Lc + k]) {
        adv[n] = advantages[i]!;
        invLen[n] = 1 / lens[i]!;
        row[n] = i;
        n++;
      }
  return { adv, invLen, row };
}

/** The scaled GRPO loss of one prompt's group, as a differentiable scalar (call inside variableGrads). */
export function groupLoss(model: GroundingModel, g: GroupInput, c: GrpoCoefficients): { loss: tf.Scalar; logp: tf.Tensor1D } {
  const { adv, invLen } = tokenLayout(g.batch, g.advantages);
  const N = adv.length;
  if (g.refLogProbs.length !== N) throw new Error(`groupLoss: ${g.refLogProbs.length} reference log-probs for ${N} tokens`);
  const logp = model.logProbs(g.batch);
  // On-policy, logp_old is logp's own value held constant: the ratio is 1 and its gradient is d logp.
  const old = tf.tensor1d(g.oldLogProbs ?? (logp.dataSync() as Float32Array));
  const A = tf.tensor1d(adv);
  const ratio = tf.exp(tf.sub(logp, old));
  const pg = tf.neg(tf.minimum(tf.mul(ratio, A), tf.mul(tf.clipByValue(ratio, 1 - c.epsilon, 1 + c.epsilon), A)));
  const d = tf.sub(tf.tensor1d(g.refLogProbs), logp);
  const kl = tf.sub(tf.sub(tf.exp(d), d), 1);
  const perToken = tf.add(tf.mul(pg, g.weight), tf.mul(kl, c.beta));
  const loss = tf.mul(tf.sum(tf.mul(perToken, tf.tensor1d(invLen))), g.scale) as tf.Scalar;
  return { loss, logp };
}

/** Statistics of a group from plain numbers (no tensors). */
export function groupStats(g: GroupInput, logp: Float32Array, c: GrpoCoefficients, loss: number): GroupStats {
  const { adv, row } = tokenLayout(g.batch, g.advantages);
  const N = adv.length;
  const klSum = new Float64Array(g.batch.B);
  const count = new Float64Array(g.batch.B);
  let clipped = 0;
  for (let n = 0; n < N; n++) {
    const d = g.refLogProbs[n]! - logp[n]!;
    const r = row[n]!;
    klSum[r] = klSum[r]! + Math.exp(d) - d - 1;
    count[r] = count[r]! + 1;
    const rho = Math.exp(logp[n]! - (g.oldLogProbs ? g.oldLogProbs[n]! : logp[n]!));
    if ((rho < 1 - c.epsilon && adv[n]! < 0) || (rho > 1 + c.epsilon && adv[n]! > 0)) clipped++;
  }
  let kl = 0;
  let rows = 0;
  for (let i = 0; i < g.batch.B; i++)
    if (count[i]! > 0) {
      kl += klSum[i]! / count[i]!;
      rows++;
    }
  return { loss, kl: rows ? kl / rows : 0, clipped: N ? clipped / N : 0, tokens: N };
}

/** Gradients of one group's scaled loss (caller disposes them) and its statistics. */
export function groupGradients(model: GroundingModel, g: GroupInput, c: GrpoCoefficients): { grads: Map<string, tf.Tensor>; stats: GroupStats } {
  const vars = model.variables();
  let logpValues = new Float32Array(0);
  const { value, grads } = tf.variableGrads(() => {
    const { loss, logp } = groupLoss(model, g, c);
    logpValues = Float32Array.from(logp.dataSync() as Float32Array);
    return loss;
  }, vars);
  const loss = value.dataSync()[0]!;
  value.dispose();
  const out = new Map<string, tf.Tensor>();
  for (const s of model.specs) out.set(s.name, grads[model.p(s.name).name] ?? tf.zerosLike(model.p(s.name)));
  return { grads: out, stats: groupStats(g, logpValues, c, loss) };
}

export interface UpdateStats {
  /** The step's loss: the sum of the groups' scaled losses. */
  loss: number;
  /** Mean over groups of their KL and clip fraction. */
  kl: number;
  clipped: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/**
 * One optimizer update from a step's groups: the sum of their gradients (each scaled by 1 / rollouts in
 * the step, so the sum is the gradient of the mean over rollouts), clipping by global norm (clip <= 0:
 * off) and AdamW. The groups' activations are freed one group at a time.
 */
export function grpoUpdate(model: GroundingModel, opt: AdamW, groups: readonly GroupInput[], c: GrpoCoefficients, o: { lr: number; clip: number }): UpdateStats {
  const sum = new Map<string, tf.Tensor>();
  let loss = 0;
  let kl = 0;
  let clipped = 0;
  try {
    for (const g of groups) {
      const { grads, stats } = groupGradients(model, g, c);
      loss += stats.loss;
      kl += stats.kl / groups.length;
      clipped += stats.clipped / groups.length;
      for (const [name, t] of grads) {
        const prev = sum.get(name);
        if (prev) {
          sum.set(name, tf.add(prev, t));
          prev.dispose();
          t.dispose();
        } else sum.set(name, t);
      }
    }
    const gradNorm = clipByGlobalNorm(sum, o.clip);
    opt.apply(
      model.specs.map((s) => ({ name: s.name, variable: model.p(s.name), decay: s.decay })),
      sum,
      o.lr,
    );
    return { loss, kl, clipped, gradNorm };
  } finally {
    for (const t of sum.values()) t.dispose();
  }
}
