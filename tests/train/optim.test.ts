import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/train/backend.js';
import { exampleBatch, stackBatches } from '../../src/train/batching.js';
import { GroundingModel, initParamValues, makeModelConfig } from '../../src/train/model/index.js';
import { AdamW, clipByGlobalNorm, globalNorm, lrAt } from '../../src/train/optim.js';
import { Rng } from '../../src/train/rng.js';
import { accumulateGradients, update } from '../../src/train/step.js';
import { TINY } from './helpers.js';

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm', only: true });
});

describe('learning-rate schedule', () => {
  it('warms up linearly, then follows a cosine from lr to minLr (hand-computed)', () => {
    const s = { lr: 1, minLr: 0.1, warmupSteps: 2, totalSteps: 6 };
    const got = [0, 1, 2, 3, 4, 5].map((k) => lrAt(k, s));
    // 1/2, 2/2, then p = 0, 1/3, 2/3, 1: 0.1 + 0.9 * (1 + cos(pi p)) / 2.
    const want = [0.5, 1, 1, 0.775, 0.325, 0.1];
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 12));
    expect(lrAt(10, s)).toBeCloseTo(0.1, 12);
    expect(lrAt(0, { lr: 2, warmupSteps: 0, totalSteps: 1 })).toBeCloseTo(0.2, 12);
  });
});

describe('AdamW', () => {
  it('matches hand-computed updates with decoupled weight decay (PyTorch AdamW)', () => {
    const p = tf.variable(tf.tensor1d([1, -2]));
    const q = tf.variable(tf.tensor1d([1, -2]));
    const opt = new AdamW({ weightDecay: 0.1 });
    const params = [
      { name: 'p', variable: p, decay: true },
      { name: 'q', variable: q, decay: false },
    ];
    const step = (g: number[]) => opt.apply(params, new Map([['p', tf.tensor1d(g)], ['q', tf.tensor1d(g)]]), 0.1);
    step([0.5, 0.1]);
    // Step 1: p * (1 - 0.1 * 0.1) = [0.99, -1.98], then minus lr * sign(g) (first Adam step is |m/sqrt(v)| = 1).
    expect([...p.dataSync()].map((x) => +x.toFixed(5))).toEqual([0.89, -2.08]);
    expect([...q.dataSync()].map((x) => +x.toFixed(5))).toEqual([0.9, -2.1]);
    step([-0.3, 0.2]);
    // Step 2, worked through the formula in float64: m = [0.015, 0.029], v = [3.3975e-4, 4.999e-5],
    // bias corrections 0.19 and 0.001999.
    const got = [...p.dataSync()];
    expect(got[0]).toBeCloseTo(0.8619502, 5);
    expect(got[1]).toBeCloseTo(-2.1557182, 5);
    expect(opt.t).toBe(2);
  });

  it('saves and restores its moments so the next update is identical', async () => {
    const mk = () => tf.variable(tf.tensor1d([0.3, 0.7, -1]));
    const a = mk();
    const b = mk();
    const o1 = new AdamW();
    const o2 = new AdamW();
    const g = (k: number) => new Map([['w', tf.tensor1d([0.1 * k, -0.2, 0.05 * k])]]);
    o1.apply([{ name: 'w', variable: a, decay: true }], g(1), 0.01);
    o2.load(await o1.state(), new Map([['w', [3]]]));
    b.assign(a);
    o1.apply([{ name: 'w', variable: a, decay: true }], g(2), 0.01);
    o2.apply([{ name: 'w', variable: b, decay: true }], g(2), 0.01);
    expect([...b.dataSync()]).toEqual([...a.dataSync()]);
    expect(o2.t).toBe(2);
  });
});

describe('gradient clipping', () => {
  it('scales all gradients by maxNorm / globalNorm when above it, and leaves them otherwise', () => {
    const grads = () =>
      new Map<string, tf.Tensor>([
        ['a', tf.tensor1d([3, 4])],
        ['b', tf.tensor1d([0, 12])],
      ]);
    const g1 = grads();
    expect(globalNorm(g1).dataSync()[0]).toBeCloseTo(13, 5);
    expect(clipByGlobalNorm(g1, 6.5).dataSync()[0]).toBeCloseTo(13, 5);
    expect([...g1.get('a')!.dataSync()].map((x) => +x.toFixed(5))).toEqual([1.5, 2]);
    expect([...g1.get('b')!.dataSync()].map((x) => +x.toFixed(5))).toEqual([0, 6]);
    const g2 = grads();
    clipByGlobalNorm(g2, 20);
    expect([...g2.get('b')!.dataSync()]).toEqual([0, 12]);
  });
});

describe('gradient accumulation', () => {
  it('2 micro-batches of 4 rows give the gradients and update of one batch of 8 (within 1e-5)', async () => {
    const cfg = makeModelConfig(TINY, { vocabSize: 1400, coordBase: 264, coordMax: 1000 }, { maxPromptTokens: 20, maxTargetTokens: 20 });
    const rng = new Rng('accum');
    const rows = Array.from({ length: 8 }, (_, i) =>
      exampleBatch(
        cfg,
        Array.from({ length: 1 + (i % 3) }, () => Float32Array.from({ length: 16 * 16 * 3 }, () => rng.uniform())),
        [1, ...Array.from({ length: 3 + i }, () => 1265 + rng.int(100))],
        // Different target lengths per row: micro-batches hold different token counts.
        [...Array.from({ length: 2 + 2 * i }, () => 264 + rng.int(1000)), 2],
        1,
      ),
    );
    const values = initParamValues(cfg, rng.fork('init'));
    const whole = new GroundingModel(cfg, values);
    const split = new GroundingModel(cfg, values);
    const full = accumulateGradients(whole, [stackBatches(rows)]);
    const acc = accumulateGradients(split, [stackBatches(rows.slice(0, 4)), stackBatches(rows.slice(4))]);
    expect(acc.loss.dataSync()[0]).toBeCloseTo(full.loss.dataSync()[0]!, 5);
    let worst = 0;
    for (const [k, g] of full.grads) {
      const a = g.dataSync();
      const b = acc.grads.get(k)!.dataSync();
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    }
    expect(worst).toBeLessThan(1e-5);
    expect(globalNorm(full.grads).dataSync()[0]).toBeGreaterThan(0.01);
    // And one full update (clipping + AdamW) lands on the same weights.
    const o1 = new AdamW();
    const o2 = new AdamW();
    update(whole, o1, [stackBatches(rows)], { clip: 0.5, lr: 1e-2 });
    update(split, o2, [stackBatches(rows.slice(0, 4)), stackBatches(rows.slice(4))], { clip: 0.5, lr: 1e-2 });
    const wa = await whole.values();
    const wb = await split.values();
    let dw = 0;
    for (const [k, a] of wa) {
      const b = wb.get(k)!;
      for (let i = 0; i < a.length; i++) dw = Math.max(dw, Math.abs(a[i]! - b[i]!));
    }
    expect(dw).toBeLessThan(1e-5);
  });
});
