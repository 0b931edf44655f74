/**
 * The parts of difficulty-aware GRPO that are plain arithmetic on rewards: group-normalised advantages,
 * the difficulty weight phi(mIoU) and the mIoU buckets of the paper's Figure 3. Pure, no tfjs, so scoring
 * (`univg score`), the trainer and the report share one definition.
 *
 * Why phi multiplies the policy-gradient term and not the reward: advantages are normalised within each
 * prompt's group, (r - mean) / (std + 1e-4), so scaling every reward of a prompt by phi scales its mean and
 * std by phi too and the advantage comes out unchanged (up to the 1e-4). A weight on the reward would do
 * nothing; a weight on the loss term changes how hard the update pushes on that prompt.
 */
import { z } from 'zod';

export const PHI_KINDS = ['exp', 'power', 'log', 'none'] as const;
export const PhiKind = z.enum(PHI_KINDS);
export type PhiKind = z.infer<typeof PhiKind>;

export interface PhiOptions {
  kind: PhiKind;
  /** Exponent w of `power`: (1.05 - mIoU)^w (the paper's `miou_weight`, default 1). */
  power?: number;
}

/**
 * The difficulty weight of a prompt whose rollouts have mean accuracy reward `miou` (UniVG-R1's
 * `--miou_adjust_math`): exp -> e^(1 - mIoU) in [1, e] (the paper's choice); power -> (1.05 - mIoU)^w;
 * log -> -ln(0.02 + mIoU); none -> 1.
 */
export function phi(miou: number, o: PhiOptions): number {
  if (!Number.isFinite(miou)) throw new RangeError(`phi: mIoU must be a finite number, got ${miou}`);
  switch (o.kind) {
    case 'exp':
      return Math.exp(1 - miou);
    case 'power':
      return Math.pow(1.05 - miou, o.power ?? 1);
    case 'log':
      return -Math.log(0.02 + miou);
    case 'none':
      return 1;
  }
}

/** The paper's Figure 3 buckets of a prompt's mIoU. */
export const MIOU_BUCKETS = ['lt0.3', '0.3-0.7', 'gt0.7'] as const;
export type MiouBucket = (typeof MIOU_BUCKETS)[number];

export function bucketOf(miou: number): MiouBucket {
  return miou < 0.3 ? 'lt0.3' : miou > 0.7 ? 'gt0.7' : '0.3-0.7';
}

/** Share of values in each bucket (zeros when there are none). */
export function bucketShares(mious: readonly number[]): Record<MiouBucket, number> {
  const out: Record<MiouBucket, number> = { 'lt0.3': 0, '0.3-0.7': 0, 'gt0.7': 0 };
  for (const m of mious) out[bucketOf(m)] += 1;
  if (mious.length) for (const b of MIOU_BUCKETS) out[b] /= mious.length;
  return out;
}

export const ADVANTAGE_EPS = 1e-4;

/**
 * How the group's spread is measured. `sample` (default) divides by G - 1, as TRL's GRPOTrainer does
 * (`torch.std`, which UniVG-R1's trainer inherits); `population` divides by G, as verl's GRPO does.
 */
export type StdKind = 'sample' | 'population';

export function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length ? s / xs.length : 0;
}

export function std(xs: readonly number[], kind: StdKind = 'sample'): number {
  const n = xs.length;
  const d = kind === 'sample' ? n - 1 : n;
  if (d <= 0) return 0;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return Math.sqrt(s / d);
}

/** (r - mean) / (std + 1e-4) over one prompt's group of rewards. */
export function groupAdvantages(rewards: readonly number[], kind: StdKind = 'sample'): number[] {
  const m = mean(rewards);
  const s = std(rewards, kind);
  return rewards.map((r) => (r - m) / (s + ADVANTAGE_EPS));
}

/** A prompt's difficulty signals from its rollouts' accuracy rewards: mIoU, phi and bucket. */
export function difficultyOf(accuracy: readonly number[], o: PhiOptions): { miou: number; weight: number; bucket: MiouBucket } {
  if (accuracy.length === 0) throw new RangeError('difficultyOf: no rollouts');
  const miou = mean(accuracy);
  return { miou, weight: phi(miou, o), bucket: bucketOf(miou) };
}
