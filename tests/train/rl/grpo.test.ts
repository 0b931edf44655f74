/**
 * GRPO's arithmetic and its gradient. The gradient checks compare the trainer's gradient of one prompt's
 * loss against a direct computation of the formula: d/dθ of Σ_t c_t · log p_t with each token's
 * coefficient c_t written out by hand from the paper's objective (and, separately, against finite
 * differences of the loss value), for every φ option.
 */
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../../src/train/backend.js';
import { exampleBatch, promptIds, stackBatches } from '../../../src/train/batching.js';
import { decodeImage } from '../../../src/train/image.js';
import { GroundingModel, makeModelConfig, type ModelBatch } from '../../../src/train/model/index.js';
import { Rng } from '../../../src/train/rng.js';
import { bucketOf, bucketShares, groupAdvantages, phi, PHI_KINDS, std, type PhiKind } from '../../../src/train/rl/difficulty.js';
import { groupGradients, groupLoss, grpoUpdate, readGroupStats, tokenLayout, type GroupInput } from '../../../src/train/rl/objective.js';
import { AdamW } from '../../../src/train/optim.js';
import { sampleGroup } from '../../../src/train/rl/rollout.js';
import { buildTokenizer, type Tokenizer } from '../../../src/train/tokenizer.js';
import { tinyRows } from '../helpers.js';

describe('difficulty weight and advantages', () => {
  it('phi follows the paper: exp(1 - m), (1.05 - m)^w, -ln(0.02 + m), 1', () => {
    expect(phi(0.25, { kind: 'exp' })).toBeCloseTo(Math.exp(0.75), 12);
    expect(phi(0, { kind: 'exp' })).toBeCloseTo(Math.E, 12);
    expect(phi(1, { kind: 'exp' })).toBe(1);
    expect(phi(0.25, { kind: 'power' })).toBeCloseTo(0.8, 12);
    expect(phi(0.25, { kind: 'power', power: 2 })).toBeCloseTo(0.64, 12);
    expect(phi(0.25, { kind: 'log' })).toBeCloseTo(-Math.log(0.27), 12);
    expect(phi(0.25, { kind: 'none' })).toBe(1);
    // Harder prompts (lower mIoU) weigh more, for every weighting that has an opinion.
    for (const kind of ['exp', 'power', 'log'] as const) expect(phi(0.1, { kind })).toBeGreaterThan(phi(0.9, { kind }));
    expect(() => phi(Number.NaN, { kind: 'exp' })).toThrow(/finite/);
  });

  it('buckets are those of the paper (< 0.3, 0.3-0.7, > 0.7)', () => {
    expect([0, 0.29, 0.3, 0.7, 0.71].map(bucketOf)).toEqual(['lt0.3', 'lt0.3', '0.3-0.7', '0.3-0.7', 'gt0.7']);
    expect(bucketShares([0.1, 0.5, 0.9, 0.95])).toEqual({ 'lt0.3': 0.25, '0.3-0.7': 0.25, 'gt0.7': 0.5 });
  });

  it('advantages are (r - mean) / (std + 1e-4), std with G - 1 by default (TRL) or G (verl)', () => {
    const r = [1, 2, 3, 6];
    const m = 3;
    const s = Math.sqrt((4 + 1 + 0 + 9) / 3);
    expect(groupAdvantages(r)).toEqual(r.map((x) => (x - m) / (s + 1e-4)));
    expect(std(r, 'population')).toBeCloseTo(Math.sqrt(14 / 4), 12);
    expect(groupAdvantages([0.5, 0.5, 0.5])).toEqual([0, 0, 0]);
  });

  it('a weight on the reward would do nothing: group normalisation cancels it', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 2, noNaN: true }), { minLength: 2, maxLength: 8 }), fc.double({ min: 1, max: Math.E, noNaN: true }), (r, w) => {
        // Up to the 1e-4 in the denominator, which matters only when the group barely varies.
        fc.pre(std(r) > 0.01);
        const a = groupAdvantages(r);
        const b = groupAdvantages(r.map((x) => x * w));
        // a = d / (s + eps), b = d / (s + eps / w): they differ by less than eps / s relative.
        a.forEach((x, i) => expect(Math.abs(x - b[i]!)).toBeLessThanOrEqual((1e-4 / std(r)) * Math.abs(x) + 1e-12));
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------------

let tok: Tokenizer;
let images: Float32Array[];
let prompt: number[];
let policy: GroundingModel;
let reference: GroundingModel;

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm', only: true });
  const rows = await tinyRows(4, 3);
  tok = buildTokenizer(rows.flatMap((r) => [r.prompt, r.completion]), { minCount: 1 });
  const row = rows[1]!;
  const cfg = makeModelConfig(
    { dModel: 16, nLayers: 1, nHeads: 2, mlpHidden: 32, imageSize: 16, patchSize: 8, maxImages: 3, coordFreqs: 4 },
    { vocabSize: tok.vocabSize, coordBase: tok.coordId(0), coordMax: 1000, boxTokens: tok.boxTokens() },
    { maxPromptTokens: 64, maxTargetTokens: 16 },
  );
  images = await Promise.all(row.images.map((im) => decodeImage(im.bytes!, { size: 16, fit: 'stretch' })));
  prompt = promptIds(tok, row.prompt);
  policy = GroundingModel.init(cfg, new Rng('policy'));
  // The reference differs from the policy, so the KL term and its gradient are not zero.
  const rng = new Rng('ref-noise');
  reference = new GroundingModel(cfg, new Map([...(await policy.values())].map(([k, v]) => [k, v.map((x) => x + rng.normal() * 0.05)])));
});
afterAll(() => {
  policy.dispose();
  reference.dispose();
});

describe('sampleGroup', () => {
  it('decodes G rows from one prefix exactly as one row would, and is deterministic', async () => {
    const four = await sampleGroup(policy, tok, images, prompt, { G: 4, maxTokens: 10, seed: 'x' });
    const one = await sampleGroup(policy, tok, images, prompt, { G: 1, maxTokens: 10, seed: 'x' });
    expect(one[0]!.tokens).toEqual(four[0]!.tokens);
    expect((await sampleGroup(policy, tok, images, prompt, { G: 4, maxTokens: 10, seed: 'x' })).map((r) => r.tokens)).toEqual(four.map((r) => r.tokens));
    // Temperature 1 over a random model: the rows differ.
    expect(new Set(four.map((r) => r.tokens.join(','))).size).toBeGreaterThan(1);
    for (const r of four) {
      expect(r.tokens.length).toBeLessThanOrEqual(10);
      expect(r.targetIds).toEqual(r.stop === 'eos' ? [...r.tokens, tok.eos] : r.tokens);
    }
  });

  it('with forceAnswer every rollout that runs out of budget ends in an answer frame, its coordinates sampled', async () => {
    const forced = await sampleGroup(policy, tok, images, prompt, { G: 4, maxTokens: 16, seed: 'x', forceAnswer: true });
    const plain = await sampleGroup(policy, tok, images, prompt, { G: 4, maxTokens: 16, seed: 'x' });
    for (const [g, r] of forced.entries()) {
      expect(r.forced).toBe(true);
      expect(r.text).toMatch(/<answer>\(\d+,\d+\),\(\d+,\d+\)<\/answer>$/);
      // The rollout trains on what it was fed, the frame included, then <eos>.
      expect(r.targetIds).toEqual([...r.tokens, tok.eos]);
      expect(r.tokens[0]).toBe(plain[g]!.tokens[0]);
    }
    // Sampled, not fixed: the rows choose different boxes.
    expect(new Set(forced.map((r) => r.text.slice(r.text.lastIndexOf('<answer>')))).size).toBeGreaterThan(1);
  });
});

/** One prompt's group from real rollouts of the policy, with fixed rewards. */
async function group(weight: number, opts: { beta: number; old?: (lp: Float32Array) => Float32Array } = { beta: 0.04 }): Promise<{ input: GroupInput; batch: ModelBatch }> {
  const rollouts = await sampleGroup(policy, tok, images, prompt, { G: 4, maxTokens: 8, seed: 'grad' });
  const batch = stackBatches(rollouts.map((r) => exampleBatch(policy.config, images, prompt, r.targetIds, tok.bos)));
  const input: GroupInput = {
    batch,
    advantages: groupAdvantages([0.1, 1.6, 0.7, 0.0]),
    weight,
    refLogProbs: await reference.logProbValues(batch),
    scale: 1 / 8,
  };
  if (opts.old) input.oldLogProbs = opts.old(await policy.logProbValues(batch));
  return { input, batch };
}

/** The gradient of Σ_t c_t · log p_t (c_t constants): the direct computation the objective must equal. */
function weightedLogProbGrad(batch: ModelBatch, coef: Float32Array, model = policy): Map<string, Float32Array> {
  const vars = model.variables();
  const { grads, value } = tf.variableGrads(() => tf.sum(tf.mul(model.logProbs(batch), tf.tensor1d(coef))) as tf.Scalar, vars);
  value.dispose();
  const out = new Map<string, Float32Array>();
  for (const s of model.specs) {
    const g = grads[model.param(s.name).name];
    out.set(s.name, g ? Float32Array.from(g.dataSync() as Float32Array) : new Float32Array(model.param(s.name).size));
    g?.dispose();
  }
  return out;
}

/** The gradients of groupGradients' result (its statistics freed). */
function withoutStats(r: { grads: Map<string, tf.Tensor>; stats: tf.Tensor }): Map<string, tf.Tensor> {
  r.stats.dispose();
  return r.grads;
}

function toArrays(grads: Map<string, tf.Tensor>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of grads) {
    out.set(k, Float32Array.from(t.dataSync() as Float32Array));
    t.dispose();
  }
  return out;
}

function maxRelDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (const [k, x] of a) {
    const y = b.get(k)!;
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
      scale = Math.max(scale, Math.abs(y[i]!));
    }
  }
  return { diff, scale };
}

/**
 * c_t from the formula: scale / |o_i| · ( φ · d/dlogp[-min(ρA, clip(ρ)A)] + β · (1 - exp(ref - logp)) ),
 * where d/dlogp of -ρA is -ρA, and 0 where the clipped branch is the smaller one (it is constant).
 */
async function directCoefficients(input: GroupInput, beta: number, eps: number, model = policy): Promise<Float32Array> {
  const { adv, invLen } = tokenLayout(input.batch, input.advantages);
  const lp = await model.logProbValues(input.batch);
  const old = input.oldLogProbs as Float32Array | undefined;
  const ref = input.refLogProbs as Float32Array;
  return Float32Array.from(lp, (l, t) => {
    const A = adv[t]!;
    const rho = Math.exp(l - (old ? old[t]! : l));
    const clippedBinds = (A > 0 && rho > 1 + eps) || (A < 0 && rho < 1 - eps);
    const pg = clippedBinds ? 0 : -rho * A;
    const kl = 1 - Math.exp(ref[t]! - l);
    return input.scale * invLen[t]! * (input.weight * pg + beta * kl);
  });
}

describe('the GRPO gradient with difficulty weighting', () => {
  const coefs = { beta: 0.04, epsilon: 0.2 };
  const miou = 0.3;

  for (const kind of PHI_KINDS) {
    it(`equals the direct computation of the formula, phi = ${kind}`, async () => {
      const w = phi(miou, { kind: kind as PhiKind, power: 2 });
      const { input, batch } = await group(w);
      const got = toArrays(withoutStats(groupGradients(policy, input, coefs)));
      const want = weightedLogProbGrad(batch, await directCoefficients(input, coefs.beta, coefs.epsilon));
      const { diff, scale } = maxRelDiff(got, want);
      expect(scale).toBeGreaterThan(1e-4);
      expect(diff).toBeLessThan(1e-4 * scale);
    });

    it(`phi = ${kind} multiplies the policy-gradient term and not the KL term`, async () => {
      const w = phi(miou, { kind: kind as PhiKind, power: 2 });
      // beta = 0: the whole gradient scales by phi.
      const pgOnly = toArrays(withoutStats(groupGradients(policy, (await group(1)).input, { ...coefs, beta: 0 })));
      const pgWeighted = toArrays(withoutStats(groupGradients(policy, (await group(w)).input, { ...coefs, beta: 0 })));
      const scaled = new Map([...pgOnly].map(([k, v]) => [k, v.map((x) => x * w)]));
      const r1 = maxRelDiff(pgWeighted, scaled);
      expect(r1.diff).toBeLessThan(1e-5 * r1.scale);
      // With the KL term: weighted - unweighted = (phi - 1) x the policy-gradient part (KL unchanged).
      const full1 = toArrays(withoutStats(groupGradients(policy, (await group(1)).input, coefs)));
      const fullW = toArrays(withoutStats(groupGradients(policy, (await group(w)).input, coefs)));
      const delta = new Map([...fullW].map(([k, v]) => [k, v.map((x, i) => x - full1.get(k)![i]!)]));
      const expected = new Map([...pgOnly].map(([k, v]) => [k, v.map((x) => x * (w - 1))]));
      const r2 = maxRelDiff(delta, expected);
      expect(r2.diff).toBeLessThan(1e-4 * Math.max(r2.scale, maxRelDiff(full1, full1).scale, 1e-6) + 1e-7);
    });

    it(`one update with phi = ${kind} moves the parameters as AdamW on the formula's gradient`, async () => {
      const w = phi(miou, { kind: kind as PhiKind, power: 2 });
      const model = new GroundingModel(policy.config, await policy.values());
      try {
        const before = await model.values();
        // Two prompts' groups (rollouts with different seeds), each a half of the step's rollouts.
        const groups: GroupInput[] = [];
        for (const seed of ['u1', 'u2']) {
          const rollouts = await sampleGroup(model, tok, images, prompt, { G: 4, maxTokens: 8, seed });
          const batch = stackBatches(rollouts.map((r) => exampleBatch(model.config, images, prompt, r.targetIds, tok.bos)));
          groups.push({ batch, advantages: groupAdvantages([0.1, 1.6, 0.7, 0.0]), weight: w, refLogProbs: await reference.logProbValues(batch), scale: 1 / 8 });
        }
        const direct = new Map<string, Float32Array>();
        for (const g of groups)
          for (const [k, v] of weightedLogProbGrad(g.batch, await directCoefficients(g, coefs.beta, coefs.epsilon, model), model)) {
            const acc = direct.get(k);
            direct.set(k, acc ? acc.map((x, i) => x + v[i]!) : v);
          }
        // eps = 1 makes AdamW's first step lr * g / (|g| + 1): it keeps the gradient's size (eps = 1e-8 would leave its sign only).
        const lr = 0.05;
        const opt = new AdamW({ eps: 1, weightDecay: 0 });
        grpoUpdate(model, opt, groups, coefs, { lr, clip: 0 }).dispose();
        const after = await model.values();
        let worst = 0;
        let largest = 0;
        for (const [k, g] of direct) {
          const b = before.get(k)!;
          const a = after.get(k)!;
          for (let i = 0; i < g.length; i++) {
            const expected = -lr * (g[i]! / (Math.abs(g[i]!) + 1));
            worst = Math.max(worst, Math.abs(a[i]! - b[i]! - expected));
            largest = Math.max(largest, Math.abs(expected));
          }
        }
        expect(largest).toBeGreaterThan(1e-6);
        expect(worst).toBeLessThan(1e-3 * largest + 1e-8);
      } finally {
        model.dispose();
      }
    });
  }

  it('matches finite differences of the loss value', async () => {
    const { input } = await group(phi(miou, { kind: 'exp' }), { beta: 0.04, old: (lp) => lp.map((x) => x) });
    const grads = toArrays(withoutStats(groupGradients(policy, input, coefs)));
    const name = 'out.b';
    const v = policy.param(name);
    const base = Float32Array.from(v.dataSync() as Float32Array);
    const dir = new Rng('dir').normals(base.length, 1);
    const lossAt = (h: number) => {
      v.assign(tf.tensor(base.map((x, i) => x + h * dir[i]!), v.shape));
      return tf.tidy(() => groupLoss(policy, input, coefs).loss.dataSync()[0]!);
    };
    const h = 2e-2;
    const fd = (lossAt(h) - lossAt(-h)) / (2 * h);
    v.assign(tf.tensor(base, v.shape));
    const analytic = grads.get(name)!.reduce((a, g, i) => a + g * dir[i]!, 0);
    expect(Math.abs(analytic)).toBeGreaterThan(1e-4);
    expect(Math.abs(fd - analytic)).toBeLessThan(0.02 * Math.abs(analytic));
  });

  it('clips the ratio as PPO does: no policy gradient from tokens whose clipped branch binds', async () => {
    // Rollouts from an older policy: ratio e^0.5 > 1.2 everywhere, so tokens with A > 0 are clipped.
    const { input, batch } = await group(phi(miou, { kind: 'exp' }), { beta: 0.04, old: (lp) => lp.map((x) => x - 0.5) });
    const { grads, stats } = groupGradients(policy, input, coefs);
    const got = toArrays(grads);
    const read = await readGroupStats(stats, input);
    stats.dispose();
    const want = weightedLogProbGrad(batch, await directCoefficients(input, coefs.beta, coefs.epsilon));
    const { diff, scale } = maxRelDiff(got, want);
    expect(diff).toBeLessThan(1e-4 * scale);
    const { adv } = tokenLayout(batch, input.advantages);
    expect(read.clipped).toBeCloseTo(adv.filter((a) => a > 0).length / adv.length, 6);
  });
});
