/**
 * Timing of one SFT step and one GRPO step of the grounding model on the active tfjs backend, for
 * bench/train-step.ts (here) and bench/gpu/check.ts (bundled and carried to a GPU host). The shapes and
 * the PyTorch reference (bench/train_step_torch.py) are the same on both sides.
 *
 * SFT step: forward, backward, clipping, AdamW, and the read of [loss, grad norm] (a trainer reads a
 * logging interval of them at once; the benchmark reads every step so the time is the step's, finished).
 * GRPO step: for each of `prompts` prompts, G rollouts of exactly `rolloutTokens` tokens decoded from one
 * shared prefix (no early stop, so both frameworks decode the same number of tokens), the frozen
 * reference's log-probabilities, then one update over all groups and the read of its statistics.
 */
import { exampleBatch, stackBatches } from '../../src/train/batching.js';
import { GroundingModel, makeModelConfig, paramCount, patchDim, patchesPerImage, type ModelBatch, type ModelConfig, type ModelShape } from '../../src/train/model/index.js';
import { AdamW } from '../../src/train/optim.js';
import { grpoUpdate, type GroupInput } from '../../src/train/rl/objective.js';
import { Rng } from '../../src/train/rng.js';
import { decodeRows } from '../../src/train/sample.js';
import { update } from '../../src/train/step.js';

export interface StepPreset {
  name: string;
  /** Rows per SFT step and images, question and completion tokens per row. */
  B: number;
  M: number;
  Lq: number;
  Lc: number;
  shape: Partial<ModelShape>;
  /** GRPO: prompts per step, rollouts per prompt, tokens per rollout. */
  prompts: number;
  G: number;
  rolloutTokens: number;
}

export const PRESETS: Record<string, StepPreset> = {
  // The demo corpus: ~4 images per row, ~60 question and ~260 completion tokens.
  demo: { name: 'demo', B: 4, M: 4, Lq: 60, Lc: 260, shape: { dModel: 128, nLayers: 3, nHeads: 2, mlpHidden: 512, imageSize: 64, patchSize: 8 }, prompts: 4, G: 4, rolloutTokens: 64 },
  // A plain transformer of the size the GPU README measured (3 layers, width 96, batch 32, 96 tokens).
  scratch: { name: 'scratch', B: 32, M: 1, Lq: 16, Lc: 64, shape: { dModel: 96, nLayers: 3, nHeads: 2, mlpHidden: 384, imageSize: 32, patchSize: 8 }, prompts: 4, G: 4, rolloutTokens: 64 },
  // Small enough for the pure-JS cpu backend: only for testing the benchmark and the GPU kit themselves.
  tiny: { name: 'tiny', B: 4, M: 1, Lq: 8, Lc: 16, shape: { dModel: 32, nLayers: 1, nHeads: 2, mlpHidden: 64, imageSize: 16, patchSize: 8 }, prompts: 2, G: 2, rolloutTokens: 8 },
  // A larger lab shape for the next model (wider, deeper, 128 px images in 16 px patches, batch 16).
  lab: { name: 'lab', B: 16, M: 4, Lq: 64, Lc: 256, shape: { dModel: 256, nLayers: 4, nHeads: 4, mlpHidden: 1024, imageSize: 128, patchSize: 16 }, prompts: 8, G: 8, rolloutTokens: 128 },
};

/** The config the bench and the PyTorch script share (no box-state embedding: the text is random). */
export function presetConfig(p: StepPreset): ModelConfig {
  return makeModelConfig({ ...p.shape, maxImages: Math.max(6, p.M) }, { vocabSize: 1473, coordBase: 264, coordMax: 1000 }, { maxPromptTokens: Math.max(80, p.Lq), maxTargetTokens: Math.max(420, p.Lc, p.rolloutTokens + 1) });
}

function randomBatch(cfg: ModelConfig, p: StepPreset, rng: Rng): ModelBatch {
  const P = patchesPerImage(cfg);
  const id = () => 8 + rng.int(cfg.vocabSize - 8);
  return {
    B: p.B,
    M: p.M,
    Lq: p.Lq,
    Lc: p.Lc,
    patches: Float32Array.from({ length: p.B * p.M * P * patchDim(cfg) }, () => rng.uniform() * 2 - 1),
    imageMask: new Uint8Array(p.B * p.M).fill(1),
    qIds: Int32Array.from({ length: p.B * p.Lq }, id),
    qMask: new Uint8Array(p.B * p.Lq).fill(1),
    cIn: Int32Array.from({ length: p.B * p.Lc }, id),
    cTgt: Int32Array.from({ length: p.B * p.Lc }, id),
    cMask: new Uint8Array(p.B * p.Lc).fill(1),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export interface StepTiming {
  preset: string;
  params: number;
  sftSeconds: number;
  grpo: { seconds: number; rolloutSeconds: number; referenceSeconds: number; updateSeconds: number } | null;
  /** Why the GRPO step could not be timed (the SFT figure stands). */
  grpoError?: string;
}

/** Median seconds per SFT step (after one warm-up step) and per GRPO step (after one warm-up step). */
export async function timeSteps(p: StepPreset, o: { steps: number; grpoSteps: number }): Promise<StepTiming> {
  const cfg = presetConfig(p);
  const rng = new Rng(`bench:${p.name}`);
  const model = GroundingModel.init(cfg, rng.fork('init'));
  const opt = new AdamW();
  try {
    const batch = randomBatch(cfg, p, rng);
    const sftStep = async () => {
      const { stats } = update(model, opt, [batch], { clip: 1, lr: 1e-3 });
      await stats.data();
      stats.dispose();
    };
    await sftStep();
    const sft: number[] = [];
    for (let i = 0; i < o.steps; i++) {
      const t = performance.now();
      await sftStep();
      sft.push((performance.now() - t) / 1000);
    }
    if (o.grpoSteps <= 0) return { preset: p.name, params: paramCount(cfg), sftSeconds: median(sft), grpo: null };

    const reference = new GroundingModel(cfg, await model.values());
    const S = cfg.imageSize;
    const prompts = Array.from({ length: p.prompts }, () => ({
      images: Array.from({ length: p.M }, () => Float32Array.from({ length: S * S * 3 }, () => rng.uniform())),
      ids: [1, ...Array.from({ length: p.Lq - 1 }, () => 8 + rng.int(cfg.vocabSize - 8))],
    }));
    const grpoStep = async (seed: number) => {
      const t0 = performance.now();
      const rollouts: ModelBatch[] = [];
      for (const [i, pr] of prompts.entries()) {
        const state = model.prefill(exampleBatch(cfg, pr.images, pr.ids, [], 1));
        try {
          model.repeatState(state, p.G);
          // eos -1: no row ever stops early, so every framework decodes rolloutTokens tokens.
          const r = await decodeRows(model, state, { maxTokens: p.rolloutTokens, bos: 1, eos: -1, temperature: 1, topP: 1, rngs: Array.from({ length: p.G }, (_, g) => new Rng(`b:${seed}:${i}:${g}`)) });
          rollouts.push(stackBatches(r.tokens.map((tk) => exampleBatch(cfg, pr.images, pr.ids, tk, 1))));
        } finally {
          model.disposeState(state);
        }
      }
      const t1 = performance.now();
      const groups: GroupInput[] = rollouts.map((b) => ({ batch: b, advantages: Array.from({ length: p.G }, (_, g) => (g % 2 ? 1 : -1)), weight: 1.3, refLogProbs: reference.logProbs(b, 1, { grad: false }), scale: 1 / (p.prompts * p.G) }));
      // Wait for the reference pass alone, for the breakdown.
      await Promise.all(groups.map((g) => (g.refLogProbs as { data(): Promise<unknown> }).data()));
      const t2 = performance.now();
      const stats = grpoUpdate(model, opt, groups, { beta: 0.04, epsilon: 0.2 }, { lr: 1e-6, clip: 1 });
      await stats.data();
      stats.dispose();
      for (const g of groups) (g.refLogProbs as { dispose(): void }).dispose();
      const t3 = performance.now();
      return { seconds: (t3 - t0) / 1000, rolloutSeconds: (t1 - t0) / 1000, referenceSeconds: (t2 - t1) / 1000, updateSeconds: (t3 - t2) / 1000 };
    };
    try {
      await grpoStep(0);
      const runs: Array<Awaited<ReturnType<typeof grpoStep>>> = [];
      for (let i = 0; i < o.grpoSteps; i++) runs.push(await grpoStep(i + 1));
      runs.sort((a, b) => a.seconds - b.seconds);
      return { preset: p.name, params: paramCount(cfg), sftSeconds: median(sft), grpo: runs[Math.floor(runs.length / 2)]! };
    } catch (err) {
      return { preset: p.name, params: paramCount(cfg), sftSeconds: median(sft), grpo: null, grpoError: `${(err as Error).name}: ${(err as Error).message.split('\n')[0]}` };
    } finally {
      reference.dispose();
    }
  } finally {
    model.dispose();
    opt.dispose();
  }
}

/** The spec the PyTorch script reads (same config, shapes and counts). */
export function torchSpec(p: StepPreset, o: { steps: number; grpoSteps: number; device: string; threads?: number }) {
  return { config: presetConfig(p), B: p.B, M: p.M, Lq: p.Lq, Lc: p.Lc, prompts: p.prompts, G: p.G, rolloutTokens: p.rolloutTokens, steps: o.steps, grpoSteps: o.grpoSteps, warmup: 1, seed: 0, device: o.device, ...(o.threads ? { threads: o.threads } : {}) };
}
