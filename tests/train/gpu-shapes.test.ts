/**
 * GPU-hostile shapes stay out of the trainer: every kernel of an SFT update, a GRPO update, a prefill and
 * a decode step works on tensors of rank 4 at most (a rank-5 slice's gradient, Pad, fails to compile on
 * Dawn and silently turns the loss into NaN), and nothing is read back synchronously along the way.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/train/backend.js';
import { exampleBatch, stackBatches } from '../../src/train/batching.js';
import { GroundingModel, makeModelConfig } from '../../src/train/model/index.js';
import { AdamW } from '../../src/train/optim.js';
import { grpoUpdate } from '../../src/train/rl/objective.js';
import { Rng } from '../../src/train/rng.js';
import { update } from '../../src/train/step.js';
import { TINY } from './helpers.js';

const cfg = makeModelConfig({ ...TINY, nLayers: 2 }, { vocabSize: 1300, coordBase: 264, coordMax: 1000, boxTokens: [10, 11, 12] }, { maxPromptTokens: 16, maxTargetTokens: 16 });
const rng = new Rng('shapes');
const img = () => Float32Array.from({ length: cfg.imageSize * cfg.imageSize * 3 }, () => rng.uniform());
const batch = stackBatches([1, 2, 3].map((m) => exampleBatch(cfg, Array.from({ length: m }, img), [1, 20, 21, 22 + m], [10, 300, 11, 400, 12, 2].slice(0, 3 + m), 1)));

async function kernels(f: () => tf.TensorContainer | Promise<tf.TensorContainer>): Promise<Array<{ name: string; rank: number }>> {
  const info = await tf.profile(f as () => tf.TensorContainer);
  return info.kernels.map((k) => ({ name: k.name, rank: Math.max(0, ...[...k.inputShapes, ...k.outputShapes].map((s) => (s ? s.length : 0))) }));
}

describe('GPU-friendly shapes', () => {
  let model: GroundingModel;
  beforeAll(async () => {
    await selectBackend({ prefer: 'cpu', only: true });
    model = GroundingModel.init(cfg, rng.fork('init'));
  });

  it('an SFT update, a GRPO update, a prefill and a decode step use tensors of rank 4 at most', async () => {
    const opt = new AdamW();
    const seen: Array<{ name: string; rank: number }> = [];
    seen.push(...(await kernels(() => update(model, opt, [batch], { clip: 1, lr: 1e-3 }).stats)));
    const ref = model.logProbs(batch, 1, { grad: false });
    seen.push(...(await kernels(() => grpoUpdate(model, opt, [{ batch, advantages: [1, -1, 0.5], weight: 1.5, refLogProbs: ref, scale: 1 / 3 }], { beta: 0.04, epsilon: 0.2 }, { lr: 1e-3, clip: 1 }))));
    ref.dispose();
    const state = model.prefill(exampleBatch(cfg, [img(), img()], [1, 20, 21], [], 1));
    model.repeatState(state, 4);
    seen.push(...(await kernels(() => model.decodeStep(state, Int32Array.of(1, 1, 1, 1)))));
    model.disposeState(state);
    opt.dispose();
    // The profile saw the whole training graph (attention's batched products and the gather gradient included).
    expect(seen.length).toBeGreaterThan(200);
    expect(seen.some((k) => k.name === 'BatchMatMul' && k.rank === 3)).toBe(true);
    expect(seen.some((k) => k.name === 'UnsortedSegmentSum')).toBe(true);
    const over = seen.filter((k) => k.rank > 4);
    expect(over.map((k) => `${k.name} (rank ${k.rank})`)).toEqual([]);
  });
});
