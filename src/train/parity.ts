/**
 * Backend parity: does a backend compute what the reference (the pure-JS `cpu` backend) computes? From the
 * same initial weights and batch it runs one SFT update, one GRPO update and greedy generation on both and
 * compares them within stated fp32 tolerances. Dawn prints validation errors and carries on, so this is
 * the check that a GPU backend really trains: `univg train parity --backend webgpu` on a new machine, the
 * parity tests (wasm against cpu in CI, webgpu against cpu where an adapter exists), and bench/gpu/check.sh.
 *
 * Tolerances (fp32 throughout; products and reductions run in different orders on different backends):
 * - loss and gradient norm: relative 1e-4;
 * - gradients: every element within 1e-3 of the largest gradient element (relative to it);
 * - parameters after the AdamW update: within 1e-3 * lr wherever the gradient is above 1e-3 of the
 *   gradient's RMS. Below that, AdamW's first step (about lr * sign(g)) turns fp32 noise in g into a
 *   difference of up to 2 lr, so there only the bound |update| <= lr (1 + weight decay) is checked;
 * - generation: the same tokens, and the logits along the way within 1e-3 of their largest magnitude.
 */
import * as tf from '@tensorflow/tfjs-core';
import { announceBackend, selectBackend, type BackendChoice, type BackendName } from './backend.js';
import { exampleBatch, stackBatches } from './batching.js';
import { generateIds } from './generate.js';
import { GroundingModel, initParamValues, makeModelConfig, type ModelBatch, type ModelConfig } from './model/index.js';
import { AdamW, clipByGlobalNorm } from './optim.js';
import { groupGradients, grpoUpdate, updateStatsOf, type GroupInput } from './rl/objective.js';
import { Rng } from './rng.js';
import { accumulateGradients, update } from './step.js';
import { buildTokenizer, type Tokenizer } from './tokenizer.js';

export interface ParityCheck {
  name: string;
  /** The measured discrepancy, in the unit the tolerance is stated in. */
  value: number;
  tolerance: number;
  ok: boolean;
  detail?: string;
}

export interface ParityReport {
  backend: BackendName;
  reference: BackendName;
  /** The GPU adapter, when the backend is WebGPU. */
  adapter: BackendChoice['adapter'];
  checks: ParityCheck[];
  ok: boolean;
  seconds: number;
}

export interface ParityOptions {
  backend: BackendName;
  /** Default `cpu`: tfjs's pure-JS kernels, the plainest implementation of every op. */
  reference?: BackendName;
  seed?: number;
  /** Greedy-generation check: updates that first fit one example on `backend` (default 60). */
  fitSteps?: number;
  log?: (line: string) => void;
}

const TEXTS = [
  '<image><image>Locate the red square in the second image. First output the thinking process in <think> </think> tags and then output the bounding box in <answer> </answer> tags.',
  '<think>The first image shows a blue circle at (120,340),(300,520). The red square is in the second image at (610,95),(880,402).</think><answer>(610,95),(880,402)</answer>',
];

interface Fixture {
  tok: Tokenizer;
  cfg: ModelConfig;
  values: Map<string, Float32Array>;
  refValues: Map<string, Float32Array>;
  sft: ModelBatch;
  groups: Array<Omit<GroupInput, 'refLogProbs'>>;
  images: Float32Array[];
  prompt: number[];
  target: number[];
}

function fixture(seed: number): Fixture {
  const tok = buildTokenizer(TEXTS, { minCount: 1 });
  const cfg = makeModelConfig(
    { dModel: 32, nLayers: 2, nHeads: 2, mlpHidden: 64, imageSize: 16, patchSize: 8, maxImages: 3, coordFreqs: 4 },
    { vocabSize: tok.vocabSize, coordBase: tok.coordId(0), coordMax: 1000, boxTokens: tok.boxTokens() },
    { maxPromptTokens: 64, maxTargetTokens: 64 },
  );
  const rng = new Rng(`parity:${seed}`);
  const values = initParamValues(cfg, rng.fork('init'));
  const noise = rng.fork('reference');
  const refValues = new Map([...values].map(([k, v]) => [k, v.map((x) => x + noise.normal() * 0.02)]));
  const image = () => Float32Array.from({ length: cfg.imageSize * cfg.imageSize * 3 }, () => rng.uniform());
  const ids = (n: number) => Array.from({ length: n }, () => 8 + rng.int(tok.vocabSize - 8));
  const sft = stackBatches([1, 2, 3].map((m) => exampleBatch(cfg, Array.from({ length: m }, image), [tok.bos, ...ids(4 + 3 * m)], [...ids(6 + 5 * m), tok.eos], tok.bos)));
  const images = [image(), image()];
  const prompt = [tok.bos, ...tok.encode(TEXTS[0]!)];
  const groups = [0, 1].map((g) => {
    const batch = stackBatches([0, 1, 2, 3].map((r) => exampleBatch(cfg, images, prompt, [...ids(5 + 3 * r + g), tok.eos], tok.bos)));
    return { batch, advantages: [0.9, -0.3, 1.2, -1.8].map((a) => a * (g ? -1 : 1)), weight: g ? 1.7 : 1, scale: 1 / 8 };
  });
  return { tok, cfg, values, refValues, sft, groups, images, prompt, target: tok.encode(TEXTS[1]!) };
}

interface SftOutcome {
  loss: number;
  gradNorm: number;
  grads: Map<string, Float32Array>;
  after: Map<string, Float32Array>;
}

async function sftOnce(f: Fixture, lr: number): Promise<SftOutcome> {
  const model = new GroundingModel(f.cfg, f.values);
  const opt = new AdamW();
  try {
    const { grads, loss } = accumulateGradients(model, [f.sft]);
    const norm = clipByGlobalNorm(grads, 1);
    const read = new Map<string, Float32Array>();
    for (const [k, g] of grads) read.set(k, (await g.data()) as Float32Array);
    opt.apply(
      model.specs.map((s) => ({ name: s.name, variable: model.param(s.name), decay: s.decay })),
      grads,
      lr,
    );
    const out = { loss: (await loss.data())[0]!, gradNorm: (await norm.data())[0]!, grads: read, after: await model.values() };
    loss.dispose();
    norm.dispose();
    for (const g of grads.values()) g.dispose();
    return out;
  } finally {
    model.dispose();
    opt.dispose();
  }
}

async function grpoOnce(f: Fixture, lr: number): Promise<{ stats: number[]; grads: Map<string, Float32Array>; after: Map<string, Float32Array> }> {
  const policy = new GroundingModel(f.cfg, f.values);
  const reference = new GroundingModel(f.cfg, f.refValues);
  const opt = new AdamW();
  const coefs = { beta: 0.04, epsilon: 0.2 };
  const groups: GroupInput[] = f.groups.map((g) => ({ ...g, refLogProbs: reference.logProbs(g.batch, 1, { grad: false }) }));
  try {
    // The step's gradient (the sum over groups), read for the comparison of the update below.
    const grads = new Map<string, Float32Array>();
    for (const g of groups) {
      const r = groupGradients(policy, g, coefs);
      r.stats.dispose();
      for (const [k, t] of r.grads) {
        const v = (await t.data()) as Float32Array;
        t.dispose();
        const acc = grads.get(k);
        grads.set(k, acc ? acc.map((x, i) => x + v[i]!) : Float32Array.from(v));
      }
    }
    const stats = grpoUpdate(policy, opt, groups, coefs, { lr, clip: 1 });
    const values = Array.from((await stats.data()) as Float32Array);
    stats.dispose();
    return { stats: values, grads, after: await policy.values() };
  } finally {
    for (const g of groups) (g.refLogProbs as tf.Tensor).dispose();
    policy.dispose();
    reference.dispose();
    opt.dispose();
  }
}

/** Fit the fixture's one example on the active backend, so greedy decoding has clear winners. */
async function fitted(f: Fixture, steps: number): Promise<Map<string, Float32Array>> {
  const model = new GroundingModel(f.cfg, f.values);
  const opt = new AdamW({ weightDecay: 0 });
  try {
    const ex = exampleBatch(f.cfg, f.images, f.prompt, [...f.target, f.tok.eos], f.tok.bos);
    for (let i = 0; i < steps; i++) {
      const { stats } = update(model, opt, [ex], { clip: 1, lr: 1e-2 });
      // One read per update: it also lets the event loop run between updates.
      await stats.data();
      stats.dispose();
    }
    return await model.values();
  } finally {
    model.dispose();
    opt.dispose();
  }
}

async function greedy(f: Fixture, values: Map<string, Float32Array>): Promise<{ tokens: number[]; logits: Float32Array }> {
  const model = new GroundingModel(f.cfg, values);
  try {
    const gen = await generateIds(model, f.tok, f.images, f.prompt, { maxTokens: f.target.length + 1 });
    // The logits along the generated path, by full recomputation (one tensor, one read).
    const l = model.logits(exampleBatch(f.cfg, f.images, f.prompt, gen.tokens.length ? gen.tokens : [f.tok.eos], f.tok.bos));
    const logits = (await l.data()) as Float32Array;
    l.dispose();
    return { tokens: gen.tokens, logits };
  } finally {
    model.dispose();
  }
}

const maxAbs = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
};

export function relativeCheck(name: string, got: number, want: number, tol: number): ParityCheck {
  const value = Math.abs(got - want) / Math.max(Math.abs(want), 1e-12);
  return { name, value, tolerance: tol, ok: value <= tol, detail: `${got} vs ${want}` };
}

export function compareGradients(got: Map<string, Float32Array>, want: Map<string, Float32Array>): ParityCheck {
  let scale = 0;
  for (const g of want.values()) scale = Math.max(scale, maxAbs(g));
  let worst = 0;
  let where = '';
  for (const [k, w] of want) {
    const g = got.get(k)!;
    for (let i = 0; i < w.length; i++) {
      const d = Math.abs(g[i]! - w[i]!);
      if (d > worst) [worst, where] = [d, `${k}[${i}]`];
    }
  }
  const value = worst / Math.max(scale, 1e-12);
  return { name: 'SFT gradients (max |diff| / max |g|)', value, tolerance: 1e-3, ok: value <= 1e-3, detail: `worst at ${where}` };
}

export function compareUpdates(name: string, before: Map<string, Float32Array>, got: Map<string, Float32Array>, want: Map<string, Float32Array>, grads: Map<string, Float32Array> | null, lr: number): ParityCheck {
  let sq = 0;
  let n = 0;
  if (grads)
    for (const g of grads.values())
      for (let i = 0; i < g.length; i++) {
        sq += g[i]! * g[i]!;
        n++;
      }
  const floor = grads ? 1e-3 * Math.sqrt(sq / Math.max(1, n)) : 0;
  let worst = 0;
  let where = '';
  let loose = 0;
  let bounded = true;
  for (const [k, w] of want) {
    const g = got.get(k)!;
    const b = before.get(k)!;
    const gr = grads?.get(k);
    for (let i = 0; i < w.length; i++) {
      const du = Math.abs(g[i]! - b[i]!);
      if (du > lr * 1.01 + 1e-7 + Math.abs(b[i]!) * lr * 0.011) bounded = false;
      if (gr && Math.abs(gr[i]!) <= floor) {
        loose++;
        continue;
      }
      const d = Math.abs(g[i]! - w[i]!);
      if (d > worst) [worst, where] = [d, `${k}[${i}]`];
    }
  }
  const value = worst / lr;
  const tol = 1e-3;
  return { name, value, tolerance: tol, ok: value <= tol && bounded, detail: `worst at ${where}; ${loose} elements with gradients below fp32 noise checked for |update| <= lr only${bounded ? '' : '; SOME UPDATES EXCEED lr'}` };
}

/** Run the parity checks of `backend` against `reference` (switches the active backend; restores nothing). */
export async function backendParity(o: ParityOptions): Promise<ParityReport> {
  const t0 = performance.now();
  const log = o.log ?? (() => {});
  const reference = o.reference ?? 'cpu';
  const f = fixture(o.seed ?? 0);
  const lr = 1e-3;
  const run = async <T>(name: BackendName, what: () => Promise<T>): Promise<{ choice: BackendChoice; out: T }> => {
    const choice = await selectBackend({ prefer: name, only: true });
    const line = announceBackend(choice);
    if (line) log(line);
    return { choice, out: await what() };
  };
  const checks: ParityCheck[] = [];
  // Both backends must start: one that cannot is a usage error, not a failed comparison.
  await selectBackend({ prefer: reference, only: true });
  await selectBackend({ prefer: o.backend, only: true });

  // Each section is caught on its own: a kernel the backend lacks fails its section with the message, and
  // the other sections still report.
  const section = async (name: string, f: () => Promise<void>) => {
    try {
      await f();
      log(`${name} compared (${o.backend} vs ${reference})`);
    } catch (err) {
      checks.push({ name: `${name}: ran`, value: 1, tolerance: 0, ok: false, detail: `${(err as Error).name}: ${(err as Error).message.split('\n')[0]}` });
      log(`${name} FAILED: ${(err as Error).message.split('\n')[0]}`);
    }
  };
  let adapter: BackendChoice['adapter'] = null;

  await section('SFT update', async () => {
    const sftA = await run(o.backend, () => sftOnce(f, lr));
    adapter = sftA.choice.adapter;
    const sftB = await run(reference, () => sftOnce(f, lr));
    checks.push(relativeCheck('SFT loss', sftA.out.loss, sftB.out.loss, 1e-4));
    checks.push(relativeCheck('SFT gradient norm', sftA.out.gradNorm, sftB.out.gradNorm, 1e-4));
    checks.push(compareGradients(sftA.out.grads, sftB.out.grads));
    checks.push(compareUpdates('SFT parameters after AdamW (max |diff| / lr)', f.values, sftA.out.after, sftB.out.after, sftB.out.grads, lr));
  });

  await section('GRPO update', async () => {
    const rlA = await run(o.backend, () => grpoOnce(f, lr));
    const rlB = await run(reference, () => grpoOnce(f, lr));
    const a = updateStatsOf(rlA.out.stats);
    const b = updateStatsOf(rlB.out.stats);
    checks.push(relativeCheck('GRPO loss', a.loss, b.loss, 1e-4));
    checks.push(relativeCheck('GRPO KL', a.kl, b.kl, 1e-3));
    checks.push({ name: 'GRPO clip fraction', value: Math.abs(a.clipped - b.clipped), tolerance: 0, ok: a.clipped === b.clipped, detail: `${a.clipped} vs ${b.clipped}` });
    checks.push(relativeCheck('GRPO gradient norm', a.gradNorm, b.gradNorm, 1e-4));
    checks.push(compareUpdates('GRPO parameters after AdamW (max |diff| / lr)', f.values, rlA.out.after, rlB.out.after, rlB.out.grads, lr));
  });

  await section('greedy generation', async () => {
    const fit = await run(o.backend, () => fitted(f, o.fitSteps ?? 60));
    const genA = await run(o.backend, () => greedy(f, fit.out));
    const genB = await run(reference, () => greedy(f, fit.out));
    const same = genA.out.tokens.length === genB.out.tokens.length && genA.out.tokens.every((t, i) => t === genB.out.tokens[i]);
    checks.push({ name: 'greedy generation: same tokens', value: same ? 0 : 1, tolerance: 0, ok: same, detail: `${genA.out.tokens.length} vs ${genB.out.tokens.length} tokens` });
    if (same) {
      let worst = 0;
      for (let i = 0; i < genB.out.logits.length; i++) worst = Math.max(worst, Math.abs(genA.out.logits[i]! - genB.out.logits[i]!));
      const value = worst / Math.max(maxAbs(genB.out.logits), 1e-12);
      checks.push({ name: 'greedy generation: logits (max |diff| / max |logit|)', value, tolerance: 1e-3, ok: value <= 1e-3 });
    }
  });

  return { backend: o.backend, reference, adapter, checks, ok: checks.every((c) => c.ok), seconds: (performance.now() - t0) / 1000 };
}

/** The report as a few lines for people. */
export function formatParity(r: ParityReport): string {
  const head = `parity of ${r.backend}${r.adapter ? ` (${r.adapter.description || r.adapter.device})` : ''} against ${r.reference}: ${r.ok ? 'OK' : 'FAILED'} in ${r.seconds.toFixed(1)} s`;
  const rows = r.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.value.toExponential(2)} (tolerance ${c.tolerance})${c.ok && !c.detail?.includes('SOME') ? '' : ` ${c.detail ?? ''}`}`);
  return [head, ...rows].join('\n');
}
