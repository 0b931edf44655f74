/**
 * One SFT step and one GRPO step (rollouts + update) of the grounding model per tfjs backend, with the
 * same shapes in PyTorch beside it (bench/train_step_torch.py). Prints seconds per step (median).
 *
 *   npx tsx bench/train-step.ts                                   # demo shape, best backend, PyTorch on CPU
 *   npx tsx bench/train-step.ts --backends wasm,cpu --presets demo,scratch --grpo-steps 1
 *   npx tsx bench/train-step.ts --torch-device cuda                # on a GPU host (see bench/gpu/check.ts)
 *
 * Results and the machines they were taken on: BENCHMARKS.md, "Training step".
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BACKEND_ORDER, describeBackend, selectBackend, type BackendName } from '../src/train/backend.js';
import { PRESETS, timeSteps, torchSpec, type StepTiming } from './lib/step-bench.js';

const { values: a } = parseArgs({
  options: {
    presets: { type: 'string', default: 'demo' },
    backends: { type: 'string' },
    steps: { type: 'string', default: '3' },
    'grpo-steps': { type: 'string', default: '1' },
    python: { type: 'string', default: 'python3' },
    'torch-device': { type: 'string', default: 'cpu' },
    'no-torch': { type: 'boolean', default: false },
    // Debian's python3-torch links the reference BLAS; pass an OpenBLAS directory to time it with OpenBLAS too.
    'torch-lib': { type: 'string' },
    json: { type: 'string' },
  },
});

const presets = a.presets!.split(',').map((n) => {
  const p = PRESETS[n];
  if (!p) throw new Error(`unknown preset ${n}; one of ${Object.keys(PRESETS).join(', ')}`);
  return p;
});
const backends = (a.backends ? a.backends.split(',') : [undefined]) as Array<BackendName | undefined>;
for (const b of backends) if (b && !(BACKEND_ORDER as readonly string[]).includes(b)) throw new Error(`unknown backend ${b}`);
const o = { steps: Number(a.steps), grpoSteps: Number(a['grpo-steps']) };

export interface Row {
  preset: string;
  engine: string;
  params: number;
  sftSeconds: number | null;
  grpo: StepTiming['grpo'];
  note?: string;
}
const rows: Row[] = [];
for (const name of backends) {
  const choice = await selectBackend(name ? { prefer: name, only: true } : {});
  console.log(describeBackend(choice));
  for (const p of presets) {
    const t = await timeSteps(p, o);
    rows.push({ preset: p.name, engine: `tfjs ${choice.name}`, params: t.params, sftSeconds: t.sftSeconds, grpo: t.grpo });
    console.log(`  ${p.name}: SFT ${t.sftSeconds.toFixed(3)} s/step${t.grpo ? `, GRPO ${t.grpo.seconds.toFixed(2)} s/step` : ''}`);
  }
}
if (!a['no-torch'])
  for (const [blas, env] of [['', {}], ...(a['torch-lib'] ? [[' + OpenBLAS', { LD_LIBRARY_PATH: a['torch-lib'] }]] : [])] as Array<[string, NodeJS.ProcessEnv]>)
    for (const p of presets) {
      const r = spawnSync(a.python!, [new URL('./train_step_torch.py', import.meta.url).pathname, JSON.stringify(torchSpec(p, { ...o, device: a['torch-device']! }))], { encoding: 'utf8', env: { ...process.env, ...env } });
      if (r.status !== 0) {
        rows.push({ preset: p.name, engine: `pytorch${blas}`, params: 0, sftSeconds: null, grpo: null, note: `failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` });
        continue;
      }
      const t = JSON.parse(r.stdout.trim().split('\n').pop()!) as { version: string; device: string; threads: number; params: number; secondsPerStep: number; grpo: StepTiming['grpo'] };
      rows.push({ preset: p.name, engine: `pytorch ${t.version} ${t.device}${blas} (${t.threads} thr)`, params: t.params, sftSeconds: t.secondsPerStep, grpo: t.grpo });
    }

const f = (s: number | null | undefined, d = 3) => (s == null ? 'n/a' : s.toFixed(d));
console.log('\n| shape | engine | params | SFT s/step | GRPO s/step | rollouts | reference | update |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.preset} | ${r.engine} | ${r.params} | ${f(r.sftSeconds)} | ${f(r.grpo?.seconds, 2)} | ${f(r.grpo?.rolloutSeconds, 2)} | ${f(r.grpo?.referenceSeconds, 2)} | ${f(r.grpo?.updateSeconds, 2)} |${r.note ? ` ${r.note}` : ''}`);
if (a.json) writeFileSync(a.json, JSON.stringify(rows, null, 2) + '\n');
