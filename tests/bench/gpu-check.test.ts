/**
 * The GPU check travels as bundles (bench/gpu/check.sh): they must run where there is no node_modules
 * but the few native packages carried beside them. Here the bundles are built exactly as the kit builds
 * them and run on the cpu path: the check's parts (backend, parity, step timings) and the bundled CLI
 * training a model. Where a GPU host runs them, only --backend changes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, tinyCorpus } from '../train/helpers.js';

const root = join(import.meta.dirname, '..', '..');
const tmp = tempDir('gpu-check');
// Inside the repository, so the bundles find the carried packages (sharp, parquet-wasm) in node_modules
// the way they find them beside themselves on a GPU host.
const dir = join(root, '.tmp', `gpu-check-bundle-${process.pid}`);
let corpus: string;
beforeAll(async () => {
  const r = spawnSync('bash', [join(root, 'bench', 'gpu', 'check.sh'), 'bundle', dir], { encoding: 'utf8', cwd: root });
  expect(r.status, r.stderr).toBe(0);
  corpus = await tinyCorpus(join(tmp.dir, 'corpus'), 8);
}, 120_000);
afterAll(() => {
  tmp.cleanup();
  spawnSync('rm', ['-rf', dir]);
});

describe('the GPU check bundles', () => {
  it('run the check on the cpu path: backend, parity and step timings, into one JSON', () => {
    const out = join(tmp.dir, 'out');
    const r = spawnSync(process.execPath, [join(dir, 'check.mjs'), '--backend', 'cpu', '--presets', 'tiny', '--steps', '1', '--grpo-steps', '1', '--fit-steps', '5', '--out', out, '--torch-script', join(tmp.dir, 'none.py'), '--skip-cli'], { encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const result = JSON.parse(readFileSync(join(out, 'gpu-check.json'), 'utf8')) as { parts: Record<string, { ok: boolean; value: unknown }> };
    expect(Object.keys(result.parts)).toEqual(['backend', 'parity', 'steps:tiny:cpu']);
    for (const [k, v] of Object.entries(result.parts)) expect(v.ok, k).toBe(true);
    const t = result.parts['steps:tiny:cpu']!.value as { sftSeconds: number; grpo: { seconds: number } };
    expect(t.sftSeconds).toBeGreaterThan(0);
    expect(t.grpo.seconds).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/parity of cpu against cpu: OK/);
  }, 240_000);

  it('the bundled univg CLI trains (images decoded by sharp in worker threads, shards read by parquet-wasm)', () => {
    const out = join(tmp.dir, 'sft');
    const r = spawnSync(process.execPath, [join(dir, 'univg.mjs'), 'train', 'sft', '--data', corpus, '--out', out, '--steps', '2', '--batch', '4', '--backend', 'cpu', '--d-model', '16', '--n-layers', '1', '--mlp-hidden', '32', '--image-size', '16', '--max-images', '3', '--workers', '1'], { encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^backend cpu/);
    expect(existsSync(join(out, 'checkpoints', 'step-000002', 'weights.bin'))).toBe(true);
  }, 240_000);
});
