/**
 * One SFT training step (forward, backward, clipping, AdamW) of the grounding model, in TensorFlow.js on
 * the selected backend and in PyTorch (bench/train_step_torch.py, same architecture, shapes and
 * parameter count), side by side. Prints seconds per step (median of the timed steps).
 *
 *   npx tsx bench/train-step.ts                       # the demo SFT shape: 4 rows x (4 images, 60 + 260 tokens)
 *   npx tsx bench/train-step.ts --preset scratch      # 3 layers, width 96, batch 32, 96 tokens
 *   npx tsx bench/train-step.ts --B 8 --backend cpu --steps 5 --profile
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend, selectBackend, type BackendName } from '../src/train/backend.js';
import { GroundingModel, makeModelConfig, paramCount, patchDim, patchesPerImage, type ModelBatch, type ModelShape } from '../src/train/model/index.js';
import { AdamW } from '../src/train/optim.js';
import { Rng } from '../src/train/rng.js';
import { update } from '../src/train/step.js';

const { values: a } = parseArgs({
  options: {
    preset: { type: 'string', default: 'demo' },
    B: { type: 'string' },
    M: { type: 'string' },
    Lq: { type: 'string' },
    Lc: { type: 'string' },
    d: { type: 'string' },
    layers: { type: 'string' },
    heads: { type: 'string' },
    steps: { type: 'string', default: '3' },
    backend: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
    // Debian's python3-torch uses the reference BLAS (BLAS_INFO=generic); pass an OpenBLAS directory to also
    // time it with OpenBLAS, e.g. from `apt-get download libopenblas0-pthread && dpkg -x <deb> /tmp/oblas`:
    // --torch-lib /tmp/oblas/usr/lib/x86_64-linux-gnu/openblas-pthread (nothing is installed system-wide).
    'torch-lib': { type: 'string' },
  },
});

const presets: Record<string, { B: number; M: number; Lq: number; Lc: number; shape: Partial<ModelShape> }> = {
  // The demo corpus: ~4 images per row, ~60 question and ~260 completion tokens (see bench/sft-demo.ts).
  demo: { B: 4, M: 4, Lq: 60, Lc: 260, shape: { dModel: 128, nLayers: 3, nHeads: 2, mlpHidden: 512, imageSize: 64, patchSize: 8 } },
  // The scratch reference: 3 layers, width 96, batch 32, 96 tokens (16 patches + 16 + 64).
  scratch: { B: 32, M: 1, Lq: 16, Lc: 64, shape: { dModel: 96, nLayers: 3, nHeads: 2, mlpHidden: 384, imageSize: 32, patchSize: 8 } },
};
const p = presets[a.preset!];
if (!p) throw new Error(`unknown preset ${a.preset}; one of ${Object.keys(presets).join(', ')}`);
const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
const B = num(a.B, p.B);
const M = num(a.M, p.M);
const Lq = num(a.Lq, p.Lq);
const Lc = num(a.Lc, p.Lc);
const shape: Partial<ModelShape> = { ...p.shape, maxImages: Math.max(6, M) };
if (a.d) shape.dModel = Number(a.d);
if (a.d) shape.mlpHidden = 4 * Number(a.d);
if (a.layers) shape.nLayers = Number(a.layers);
if (a.heads) shape.nHeads = Number(a.heads);
const steps = Number(a.steps);

const backend = await selectBackend({ prefer: a.backend as BackendName | undefined });
console.log(describeBackend(backend));
const cfg = makeModelConfig(shape, { vocabSize: 1473, coordBase: 264, coordMax: 1000 }, { maxPromptTokens: Math.max(80, Lq), maxTargetTokens: Math.max(420, Lc) });
const rng = new Rng(0);
const model = GroundingModel.init(cfg, rng.fork('init'));
const P = patchesPerImage(cfg);
const batch: ModelBatch = {
  B,
  M,
  Lq,
  Lc,
  patches: Float32Array.from({ length: B * M * P * patchDim(cfg) }, () => rng.uniform() * 2 - 1),
  imageMask: new Uint8Array(B * M).fill(1),
  qIds: Int32Array.from({ length: B * Lq }, () => 8 + rng.int(cfg.vocabSize - 8)),
  qMask: new Uint8Array(B * Lq).fill(1),
  cIn: Int32Array.from({ length: B * Lc }, () => 8 + rng.int(cfg.vocabSize - 8)),
  cTgt: Int32Array.from({ length: B * Lc }, () => 8 + rng.int(cfg.vocabSize - 8)),
  cMask: new Uint8Array(B * Lc).fill(1),
};
const T = M * P + Lq + Lc;
console.log(`shape: batch ${B} x ${T} tokens (${M} images x ${P} patches + ${Lq} question + ${Lc} completion), d=${cfg.dModel}, ${cfg.nLayers} layers, ${cfg.nHeads} heads; ${paramCount(cfg)} parameters`);

const opt = new AdamW();
const step = async () => {
  const { stats } = update(model, opt, [batch], { clip: 1, lr: 1e-3 });
  await stats.data();
  stats.dispose();
};
await step();
const times: number[] = [];
for (let i = 0; i < steps; i++) {
  const t0 = performance.now();
  await step();
  times.push((performance.now() - t0) / 1000);
}
times.sort((x, y) => x - y);
const ours = times[Math.floor(times.length / 2)]!;

if (a.profile) {
  const prof = await tf.profile(() => step());
  const byName = new Map<string, number>();
  for (const k of prof.kernels) byName.set(k.name, (byName.get(k.name) ?? 0) + Number(k.kernelTimeMs));
  console.log('kernel time by kernel (ms; custom-gradient wrappers also count their inner kernels):');
  for (const [k, v] of [...byName].sort((x, y) => y[1] - x[1]).slice(0, 12)) console.log(`  ${k.padEnd(20)} ${v.toFixed(1)}`);
}

const rows: Array<[string, number | null, string]> = [[`tfjs ${backend.name}`, ours, `${paramCount(cfg)} params`]];
if (!a['no-torch']) {
  const blasVariants: Array<[string, NodeJS.ProcessEnv]> = [['reference BLAS', {}]];
  if (a['torch-lib']) blasVariants.push(['OpenBLAS', { LD_LIBRARY_PATH: a['torch-lib'] }]);
  for (const [blas, env] of blasVariants)
    for (const threads of [1, 2]) {
      const spec = { config: cfg, B, M, Lq, Lc, steps, warmup: 1, seed: 0, threads };
      const r = spawnSync('/usr/bin/python3', [new URL('./train_step_torch.py', import.meta.url).pathname, JSON.stringify(spec)], {
        encoding: 'utf8',
        env: { ...process.env, ...env, OPENBLAS_NUM_THREADS: String(threads) },
      });
      if (r.status !== 0) {
        rows.push([`pytorch, ${blas} (${threads} threads)`, null, `failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`]);
        continue;
      }
      const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { version: string; threads: number; params: number; secondsPerStep: number };
      rows.push([`pytorch ${res.version}, ${blas} (${res.threads} thr)`, res.secondsPerStep, `${res.params} params${res.params !== paramCount(cfg) ? ' (MISMATCH)' : ''}`]);
    }
}
console.log('\nseconds per training step (median of ' + steps + '):');
for (const [name, s, note] of rows) console.log(`  ${name.padEnd(40)} ${s === null ? '   n/a' : s.toFixed(3).padStart(7)}  ${note}`);
for (const [name, s] of rows.slice(1)) if (s !== null) console.log(`tfjs / ${name}: ${(ours / s).toFixed(2)}x the time (${ours <= s ? 'at least as fast' : 'slower'})`);
