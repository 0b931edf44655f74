/**
 * The GPU check, bundled by bench/gpu/check.sh and run on a GPU host that has no Node and no network:
 *
 *   1. the WebGPU adapter (or why there is none);
 *   2. backend parity: one SFT update, one GRPO update and greedy generation on webgpu against cpu;
 *   3. the SFT and GRPO step per preset on webgpu, and the same shapes in PyTorch on CUDA beside it;
 *   4. `univg train sft --backend webgpu` and `univg train rl --backend webgpu` on a real corpus.
 *
 * Every part is timed and caught on its own; the JSON result is rewritten after each part, so a run cut
 * short still leaves what it measured. Here (no GPU) it runs on the cpu path: `npx tsx bench/gpu/check.ts
 * --backend cpu --presets scratch --skip-cli`.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend, selectBackend, type BackendName } from '../../src/train/backend.js';
import { backendParity, formatParity } from '../../src/train/parity.js';
import { PRESETS, timeSteps, torchSpec } from '../lib/step-bench.js';

const { values: a } = parseArgs({
  options: {
    out: { type: 'string', default: '.' },
    backend: { type: 'string', default: 'webgpu' },
    presets: { type: 'string', default: 'scratch,demo,lab' },
    steps: { type: 'string', default: '5' },
    'grpo-steps': { type: 'string', default: '2' },
    python: { type: 'string', default: 'python3' },
    'torch-device': { type: 'string', default: 'cuda' },
    'torch-script': { type: 'string' },
    // The CLI part: a univg bundle, a corpus of SftRow shards, and how long to train.
    univg: { type: 'string' },
    corpus: { type: 'string' },
    'sft-steps': { type: 'string', default: '100' },
    'rl-steps': { type: 'string', default: '4' },
    // Extra `train sft` flags (e.g. a smaller model where the backend is the pure-JS cpu one).
    'sft-args': { type: 'string', default: '' },
    'fit-steps': { type: 'string', default: '60' },
    'skip-parity': { type: 'boolean', default: false },
    'skip-cli': { type: 'boolean', default: false },
  },
});

const backend = a.backend as BackendName;
mkdirSync(a.out!, { recursive: true });
const resultFile = join(a.out!, 'gpu-check.json');
const result: Record<string, unknown> = { started: new Date().toISOString(), node: process.version, backendAsked: backend, parts: {} };
const parts = result.parts as Record<string, unknown>;
const save = () => writeFileSync(resultFile, JSON.stringify(result, null, 2) + '\n');

async function part(name: string, f: () => Promise<unknown>): Promise<void> {
  const t = performance.now();
  console.log(`\n== ${name}`);
  try {
    parts[name] = { ok: true, seconds: 0, value: await f() };
  } catch (err) {
    const e = err as Error;
    console.log(`${name} FAILED: ${e.message}`);
    parts[name] = { ok: false, seconds: 0, error: `${e.name}: ${e.message}`, stack: e.stack?.split('\n').slice(0, 8).join('\n') };
  }
  (parts[name] as { seconds: number }).seconds = (performance.now() - t) / 1000;
  save();
}

const sh = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
};
result.gpus = sh('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader']);
save();

await part('backend', async () => {
  const c = await selectBackend({ prefer: backend, only: true });
  console.log(describeBackend(c, true));
  return { name: c.name, adapter: c.adapter, reasons: c.reasons };
});

if (!a['skip-parity'])
  await part('parity', async () => {
    const r = await backendParity({ backend, fitSteps: Number(a['fit-steps']), log: (l) => console.log(l) });
    console.log(formatParity(r));
    if (!r.ok) throw new Error(`parity failed:\n${formatParity(r)}`);
    return r;
  });

const o = { steps: Number(a.steps), grpoSteps: Number(a['grpo-steps']) };
const presets = a.presets!.split(',').map((n) => PRESETS[n] ?? (() => { throw new Error(`unknown preset ${n}`); })());
for (const p of presets) {
  await part(`steps:${p.name}:${backend}`, async () => {
    await selectBackend({ prefer: backend, only: true });
    const t = await timeSteps(p, o);
    console.log(`${p.name} on ${backend}: SFT ${t.sftSeconds.toFixed(4)} s/step; GRPO ${t.grpo ? `${t.grpo.seconds.toFixed(3)} s/step (rollouts ${t.grpo.rolloutSeconds.toFixed(3)}, reference ${t.grpo.referenceSeconds.toFixed(3)}, update ${t.grpo.updateSeconds.toFixed(3)})` : `FAILED: ${t.grpoError}`}`);
    return t;
  });
  const script = a['torch-script'] ?? new URL('../train_step_torch.py', import.meta.url).pathname;
  if (existsSync(script))
    await part(`steps:${p.name}:pytorch-${a['torch-device']}`, async () => {
      const r = spawnSync(a.python!, [script, JSON.stringify(torchSpec(p, { ...o, device: a['torch-device']! }))], { encoding: 'utf8', timeout: 300_000 });
      if (r.status !== 0) throw new Error(`PyTorch failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`);
      const t = JSON.parse(r.stdout.trim().split('\n').pop()!) as { secondsPerStep: number; grpo: { seconds: number } | null };
      console.log(`${p.name} in PyTorch (${a['torch-device']}): SFT ${t.secondsPerStep.toFixed(4)} s/step; GRPO ${t.grpo?.seconds.toFixed(3)} s/step`);
      return t;
    });
}

// tfjs-backend-webgpu batches this many command buffers per queue submit (default 15): does more help?
if (backend === 'webgpu' && presets.some((p) => p.name === 'demo'))
  await part('steps:demo:webgpu-submit-batch-64', async () => {
    tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 64);
    try {
      const t = await timeSteps(PRESETS.demo!, { steps: o.steps, grpoSteps: 0 });
      console.log(`demo on webgpu, 64 command buffers per submit: SFT ${t.sftSeconds.toFixed(4)} s/step`);
      return t;
    } finally {
      tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 15);
    }
  });

if (!a['skip-cli'] && a.univg && a.corpus) {
  const run = (args: string[]) => {
    console.log(`$ univg ${args.join(' ')}`);
    const r = spawnSync(process.execPath, [a.univg!, ...args], { encoding: 'utf8', timeout: 400_000, env: { ...process.env, UNIVG_VERBOSE: '1' } });
    const tail = (r.stderr ?? '').trim().split('\n').slice(-12).join('\n');
    console.log(tail);
    if (r.status !== 0) throw new Error(`exit ${r.status}${r.signal ? ` (${r.signal})` : ''}: ${tail}`);
    return tail;
  };
  // Checkpoints stay out of --out (what comes back from a GPU host is a few small files); the logs and
  // results are copied there.
  const out = join(tmpdir(), 'univg-gpu-cli');
  rmSync(out, { recursive: true, force: true });
  const keep = (from: string, to: string) => existsSync(from) && copyFileSync(from, join(a.out!, to));
  await part('cli:train-sft', async () => {
    try {
      return run(['train', 'sft', '--data', a.corpus!, '--out', join(out, 'sft'), '--steps', a['sft-steps']!, '--batch', '8', '--backend', backend, '--eval-every', '50', '--checkpoint-every', '50', ...a['sft-args']!.split(' ').filter(Boolean)]);
    } finally {
      keep(join(out, 'sft', 'train-log.jsonl'), 'sft-train-log.jsonl');
      keep(join(out, 'sft', 'result.json'), 'sft-result.json');
    }
  });
  await part('cli:train-rl', async () => {
    try {
      return run(['train', 'rl', '--init', join(out, 'sft'), '--data', a.corpus!, '--out', join(out, 'rl'), '--steps', a['rl-steps']!, '--backend', backend, '--prompts', '4', '--g', '4', '--max-tokens', '96']);
    } finally {
      keep(join(out, 'rl', 'rl-log.jsonl'), 'rl-log.jsonl');
      keep(join(out, 'rl', 'result.json'), 'rl-result.json');
    }
  });
}

result.finished = new Date().toISOString();
save();
console.log(`\nwrote ${resultFile}`);
const failed = Object.entries(parts).filter(([, v]) => !(v as { ok: boolean }).ok).map(([k]) => k);
console.log(failed.length ? `FAILED parts: ${failed.join(', ')}` : 'all parts ok');
process.exitCode = failed.length ? 1 : 0;
