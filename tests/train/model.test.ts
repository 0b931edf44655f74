import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend, type BackendName } from '../../src/train/backend.js';
import { exampleBatch, stackBatches } from '../../src/train/batching.js';
import { generateIds } from '../../src/train/generate.js';
import { boxStateAfter, boxStates, crossEntropy, gatherRows, GroundingModel, initParamValues, makeModelConfig, opsFor, paramCount, paramSpecs, type ModelConfig } from '../../src/train/model/index.js';
import { AdamW } from '../../src/train/optim.js';
import { Rng } from '../../src/train/rng.js';
import { update } from '../../src/train/step.js';
import { buildTokenizer } from '../../src/train/tokenizer.js';
import { TINY } from './helpers.js';

const tok = buildTokenizer(['<think>The red square is in the first image.</think><answer>(1,2),(3,4)</answer>', '<image>Locate the red square.']);
const cfg: ModelConfig = makeModelConfig(TINY, { vocabSize: tok.vocabSize, coordBase: tok.coordId(0), coordMax: 1000, boxTokens: tok.boxTokens() }, { maxPromptTokens: 24, maxTargetTokens: 40 });
const BACKENDS: BackendName[] = ['wasm', 'cpu'];

function randomImages(rng: Rng, n: number): Float32Array[] {
  return Array.from({ length: n }, () => Float32Array.from({ length: cfg.imageSize * cfg.imageSize * 3 }, () => rng.uniform()));
}
const randomIds = (rng: Rng, n: number) => Array.from({ length: n }, () => 8 + rng.int(cfg.vocabSize - 8));

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  expect(a.length).toBe(b.length);
  expect(worst).toBeLessThan(tol);
  return worst;
}

describe('GroundingModel', () => {
  it('counts and initialises its parameters deterministically from the seed', () => {
    const n = paramSpecs(cfg).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
    expect(paramCount(cfg)).toBe(n);
    const a = initParamValues(cfg, new Rng(3));
    const b = initParamValues(cfg, new Rng(3));
    const c = initParamValues(cfg, new Rng(4));
    expect([...a.get('tok.emb')!]).toEqual([...b.get('tok.emb')!]);
    expect([...a.get('tok.emb')!]).not.toEqual([...c.get('tok.emb')!]);
    expect([...a.get('h0.ln1.g')!].every((v) => v === 1)).toBe(true);
  });

  for (const name of BACKENDS) {
    it(`generates with the KV cache exactly what full recomputation gives (${name})`, async () => {
      await selectBackend({ prefer: name, only: true });
      const rng = new Rng(`kv-${name}`);
      const model = GroundingModel.init(cfg, rng.fork('init'));
      try {
        const images = randomImages(rng, 2);
        const prompt = [tok.bos, ...randomIds(rng, 7)];
        const gen = await generateIds(model, tok, images, prompt, { maxTokens: 12 });
        // Greedy by full recomputation: feed the whole sequence so far, take the argmax at the last slot.
        const seq: number[] = [];
        const state = model.prefill(exampleBatch(cfg, images, prompt, [], tok.bos));
        for (let t = 0; t < gen.tokens.length + (gen.stop === 'eos' ? 1 : 0); t++) {
          const full = model.logits(exampleBatch(cfg, images, prompt, [...seq, 0], tok.bos));
          const last = (full.arraySync() as number[][][])[0]![t]!;
          full.dispose();
          const cached = model.decodeStep(state, Int32Array.of(t === 0 ? tok.bos : seq[t - 1]!));
          close(cached.dataSync(), last, 1e-4);
          cached.dispose();
          let best = 0;
          for (let v = 1; v < last.length; v++) if (last[v]! > last[best]!) best = v;
          if (best === tok.eos) break;
          seq.push(best);
        }
        model.disposeState(state);
        expect(seq).toEqual(gen.tokens);
        expect(gen.tokens.length).toBeGreaterThan(0);
      } finally {
        model.dispose();
      }
    });

    it(`gives the same logits cached and recomputed along a completion with boxes (${name})`, async () => {
      await selectBackend({ prefer: name, only: true });
      const rng = new Rng(`kv-forced-${name}`);
      const model = GroundingModel.init(cfg, rng.fork('init'));
      try {
        const images = randomImages(rng, 3);
        const prompt = [tok.bos, ...randomIds(rng, 5)];
        const target = tok.encode('<think>at (12,34),(56,78).</think><answer>(12,34),(56,78)</answer>');
        const full = model.logits(exampleBatch(cfg, images, prompt, target, tok.bos));
        const rowsFull = (full.arraySync() as number[][][])[0]!;
        full.dispose();
        const state = model.prefill(exampleBatch(cfg, images, prompt, [], tok.bos));
        target.forEach((_, t) => {
          const l = model.decodeStep(state, Int32Array.of(t === 0 ? tok.bos : target[t - 1]!));
          close(l.dataSync(), rowsFull[t]!, 1e-4);
          l.dispose();
        });
        // The last token fed closes the answer's box.
        expect(state.box.dataSync()[0]).toBe(11);
        model.disposeState(state);
      } finally {
        model.dispose();
      }
    });

    it(`lowers the loss with a few training steps (${name})`, async () => {
      await selectBackend({ prefer: name, only: true });
      const rng = new Rng(`train-${name}`);
      const model = GroundingModel.init(cfg, rng.fork('init'));
      const opt = new AdamW();
      try {
        const batch = stackBatches([0, 1, 2].map((i) => exampleBatch(cfg, randomImages(rng, 1 + i), [tok.bos, ...randomIds(rng, 5 + i)], [...randomIds(rng, 8), tok.eos], tok.bos)));
        // One update first: it makes the AdamW moments and the model's constant features.
        const first = update(model, opt, [batch], { clip: 1, lr: 1e-2 }).stats;
        const before = tf.memory().numTensors;
        const losses = [(await first.data())[0]!];
        for (let i = 0; i < 11; i++) {
          const { stats } = update(model, opt, [batch], { clip: 1, lr: 1e-2 });
          losses.push((await stats.data())[0]!);
          stats.dispose();
        }
        first.dispose();
        expect(losses[11]!).toBeLessThan(losses[0]! * 0.7);
        // Nothing leaks per update (the first update's statistics were freed: one tensor fewer).
        expect(tf.memory().numTensors - before).toBe(-1);
      } finally {
        opt.dispose();
        model.dispose();
      }
    });
  }

  it('computes the same logits on WASM and CPU', async () => {
    const rng = new Rng('cross-backend');
    const values = initParamValues(cfg, rng.fork('init'));
    const b = exampleBatch(cfg, randomImages(rng, 3), [tok.bos, ...randomIds(rng, 6)], randomIds(rng, 9), tok.bos);
    const out: Float32Array[] = [];
    for (const name of BACKENDS) {
      await selectBackend({ prefer: name, only: true });
      const m = new GroundingModel(cfg, values);
      const l = m.logits(b);
      out.push(l.dataSync() as Float32Array);
      l.dispose();
      m.dispose();
    }
    close(out[0]!, out[1]!, 1e-4);
  });
});

describe('box-structure states', () => {
  it('follow the grammar (x1,y1),(x2,y2) token by token and reset on anything else', () => {
    const ids = tok.encode('(12,34),(56,78). (1,2),x(3');
    const states = boxStates(Int32Array.from(ids), 1, ids.length, cfg);
    const byPiece = ids.map((id, i) => `${tok.pieceOf(id)}:${states[i]}`);
    expect(byPiece.join(' ')).toBe('(:1 12:2 ,:3 34:4 ):5 ,:6 (:7 56:8 ,:9 78:10 ):11 .:0  :0 (:1 1:2 ,:3 2:4 ):5 ,:6 x:0 (:1 3:2');
    expect(boxStateAfter(3, tok.idOf(')')!, cfg)).toBe(0);
    expect(boxStateAfter(5, tok.idOf(',')!, { ...cfg, boxTokens: null })).toBe(0);
  });
});

describe('ops with hand-written gradients', () => {
  const rng = new Rng('ops');
  const rand = (r: number, c: number) => tf.tensor2d(rng.normals(r * c, 1), [r, c]);

  for (const name of BACKENDS) {
    it(`matMul's gradient equals the reference for every transpose combination (${name})`, async () => {
      await selectBackend({ prefer: 'cpu', only: true });
      const cases: Array<[boolean, boolean]> = [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ];
      const data = cases.map(([ta, tb]) => ({ ta, tb, a: rand(ta ? 5 : 3, ta ? 3 : 5).arraySync(), b: rand(tb ? 4 : 5, tb ? 5 : 4).arraySync(), w: rand(3, 4).arraySync() }));
      const reference = data.map(({ ta, tb, a, b, w }) => {
        const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), tf.tensor2d(w)));
        return tf.grads(f)([tf.tensor2d(a), tf.tensor2d(b)]).map((g) => g.dataSync() as Float32Array);
      });
      await selectBackend({ prefer: name, only: true });
      data.forEach(({ ta, tb, a, b, w }, i) => {
        const ops = opsFor(true);
        const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(ops.matMul(x as tf.Tensor2D, y as tf.Tensor2D, ta, tb), tf.tensor2d(w)));
        const got = tf.grads(f)([tf.tensor2d(a), tf.tensor2d(b)]).map((g) => g.dataSync() as Float32Array);
        close(got[0]!, reference[i]![0]!, 1e-4);
        close(got[1]!, reference[i]![1]!, 1e-4);
      });
    });
  }

  it('gatherRows (its gradient is the UnsortedSegmentSum kernel registered for WASM) equals a one-hot product, value and gradient', async () => {
    await selectBackend({ prefer: 'wasm', only: true });
    const table = rand(6, 4);
    const idx = Int32Array.from([5, 0, 5, 2, 5]);
    const w = rand(5, 4);
    const viaGather = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gatherRows(t as tf.Tensor2D, idx), w)))(table);
    const onehot = tf.oneHot(tf.tensor1d(idx, 'int32'), 6).toFloat();
    const viaOneHot = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.matMul(onehot, t as tf.Tensor2D), w)))(table);
    close(viaGather.dataSync(), viaOneHot.dataSync(), 1e-6);
    close(gatherRows(table, idx).dataSync(), tf.matMul(onehot, table).dataSync(), 1e-6);
  });

  it('crossEntropy equals -log softmax at the target, value and gradient', async () => {
    await selectBackend({ prefer: 'wasm', only: true });
    const logits = rand(4, 7);
    const targets = Int32Array.from([0, 6, 3, 3]);
    const oh = tf.oneHot(tf.tensor1d(targets, 'int32'), 7).toFloat();
    const ref = (x: tf.Tensor) => tf.mul(tf.neg(tf.sum(tf.mul(tf.logSoftmax(x), oh))), 0.25);
    const mine = (x: tf.Tensor) => crossEntropy(x as tf.Tensor2D, targets, 0.25);
    close(mine(logits).dataSync(), ref(logits).dataSync(), 1e-5);
    close(tf.grad(mine)(logits).dataSync(), tf.grad(ref)(logits).dataSync(), 1e-6);
  });
});
