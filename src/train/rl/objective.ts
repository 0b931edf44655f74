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
import { stopGradient, type GroundingModel, type ModelBatch } from '../model/index.js';
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
  refLogProbs: Float32Array | tf.Tensor1D;
  /** [N] log p under the policy that sampled them; absent: the current policy's (ratio exactly 1). */
  oldLogProbs?: Float32Array | tf.Tensor1D;
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
export function tokenLayout(b: ModelBatch, advantages: ArrayLike<number>): { adv: Float32Array; invLen: Float32Array; row: Int32Array; rowsWithTokens: number } {
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
  return { adv, invLen, row, rowsWithTokens: lens.filter((l) => l > 0).length };
}

const asTensor = (x: Float32Array | tf.Tensor1D) => (x instanceof Float32Array ? tf.tensor1d(x) : x);

/**
 * The scaled GRPO loss of one prompt's group as a differentiable scalar (call inside variableGrads), and
 * its statistics [loss, kl, clipped] computed on the device from the same log-probabilities.
 */
export function groupLoss(model: GroundingModel, g: GroupInput, c: GrpoCoefficients): { loss: tf.Scalar; stats: tf.Tensor1D } {
  const { adv, invLen, rowsWithTokens } = tokenLayout(g.batch, g.advantages);
  const N = adv.length;
  const nRef = g.refLogProbs instanceof Float32Array ? g.refLogProbs.length : g.refLogProbs.shape[0];
  if (nRef !== N) throw new Error(`groupLoss: ${nRef} reference log-probs for ${N} tokens`);
  const logp = model.logProbs(g.batch);
  // On-policy, logp_old is logp's own value held constant: the ratio is 1 and its gradient is d logp.
  const old = g.oldLogProbs ? asTensor(g.oldLogProbs) : stopGradient(logp);
  const A = tf.tensor1d(adv);
  const ratio = tf.exp(tf.sub(logp, old));
  const pg = tf.neg(tf.minimum(tf.mul(ratio, A), tf.mul(tf.clipByValue(ratio, 1 - c.epsilon, 1 + c.epsilon), A)));
  const d = tf.sub(asTensor(g.refLogProbs), logp);
  const kl = tf.sub(tf.sub(tf.exp(d), d), 1);
  const perToken = tf.add(tf.mul(pg, g.weight), tf.mul(kl, c.beta));
  const inv = tf.tensor1d(invLen);
  const loss = tf.mul(tf.sum(tf.mul(perToken, inv)), g.scale) as tf.Scalar;
  // The mean over rollouts of each rollout's mean KL is sum_t kl_t / len(row_t) / rows.
  const klMean = rowsWithTokens ? tf.div(tf.sum(tf.mul(kl, inv)), rowsWithTokens) : tf.scalar(0);
  const zero = tf.zerosLike(A);
  const clippedTok = tf.logicalOr(tf.logicalAnd(tf.less(ratio, 1 - c.epsilon), tf.less(A, zero)), tf.logicalAnd(tf.greater(ratio, 1 + c.epsilon), tf.greater(A, zero)));
  const clipped = N ? tf.div(tf.sum(tf.cast(clippedTok, 'float32')), N) : tf.scalar(0);
  const stats = tf.stack([loss, klMean, clipped]) as tf.Tensor1D;
  return { loss, stats };
}

/** Gradients of one group's scaled loss and its statistics [loss, kl, clipped], on the device (caller disposes). */
export function groupGradients(model: GroundingModel, g: GroupInput, c: GrpoCoefficients): { grads: Map<string, tf.Tensor>; stats: tf.Tensor1D } {
  const vars = model.variables();
  let stats: tf.Tensor1D | null = null;
  const { value, grads } = tf.variableGrads(() => {
    const r = groupLoss(model, g, c);
    // Kept past the gradient pass's own cleanup: the statistics are read later, with the step's others.
    stats = tf.keep(r.stats);
    return r.loss;
  }, vars);
  value.dispose();
  const out = new Map<string, tf.Tensor>();
  for (const s of model.specs) out.set(s.name, grads[model.param(s.name).name] ?? tf.zerosLike(model.param(s.name)));
  return { grads: out, stats: stats! };
}

/** Read one group's statistics (tests and one-off use; the trainer reads a whole step's at once). */
export async function readGroupStats(stats: tf.Tensor1D, g: GroupInput): Promise<GroupStats> {
  const [loss, kl, clipped] = (await stats.data()) as Float32Array;
  return { loss: loss!, kl: kl!, clipped: clipped!, tokens: tokenLayout(g.batch, g.advantages).adv.length };
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

/** The order of the values in grpoUpdate's device statistics. */
export const UPDATE_STATS = ['loss', 'kl', 'clipped', 'gradNorm'] as const;

/** UpdateStats from grpoUpdate's device statistics once read. */
export function updateStatsOf(values: ArrayLike<number>): UpdateStats {
  return { loss: values[0]!, kl: values[1]!, clipped: values[2]!, gradNorm: values[3]! };
}

/**
 * One optimizer update from a step's groups: the sum of their gradients (each scaled by 1 / rollouts in
 * the step, so the sum is the gradient of the mean over rollouts), clipping by global norm (clip <= 0:
 * off) and AdamW. The groups' activations are freed one group at a time. Returns [loss, kl, clipped,
 * gradNorm] on the device (see UPDATE_STATS; the caller disposes it).
 */
export function grpoUpdate(model: GroundingModel, opt: AdamW, groups: readonly GroupInput[], c: GrpoCoefficients, o: { lr: number; clip: number }): tf.Tensor1D {
  const sum = new Map<string, tf.Tensor>();
  const groupStats: tf.Tensor1D[] = [];
  try {
    for (const g of groups) {
      const { grads, stats } = groupGradients(model, g, c);
      groupStats.push(stats);
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
      model.specs.map((s) => ({ name: s.name, variable: model.param(s.name), decay: s.decay })),
      sum,
      o.lr,
    );
    const out = tf.tidy(() => {
      // Loss: the sum over groups; KL and clip fraction: the mean over groups.
      const per = tf.stack(groupStats) as tf.Tensor2D; // [groups, 3]
      const loss = tf.sum(tf.slice(per, [0, 0], [-1, 1]));
      const rest = tf.mean(tf.slice(per, [0, 1], [-1, 2]), 0);
      return tf.concat([tf.reshape(loss, [1]), rest, tf.reshape(gradNorm, [1])]) as tf.Tensor1D;
    });
    gradNorm.dispose();
    return out;
  } finally {
    for (const t of groupStats) t.dispose();
    for (const t of sum.values()) t.dispose();
  }
}
