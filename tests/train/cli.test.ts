import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSftOptions } from '../../src/cli/commands/train.js';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'univg.js');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

describe('univg train sft (command line)', () => {
  it('explains a missing or bad option in one line with exit code 2', () => {
    const noData = run('train', 'sft', '--out', '/tmp/x', '--steps', '3');
    expect(noData.status).toBe(2);
    expect(noData.stderr.trim()).toBe('univg: usage: missing required option --data <dir>');
    const badBackend = run('train', 'sft', '--data', 'd', '--out', 'o', '--steps', '3', '--backend', 'tpu');
    expect(badBackend.status).toBe(2);
    expect(badBackend.stderr).toMatch(/--backend must be one of node-gpu, webgpu, node, wasm, cpu/);
    const badSteps = run('train', 'sft', '--data', 'd', '--out', 'o', '--steps', 'many');
    expect(badSteps.status).toBe(2);
    expect(badSteps.stderr).toMatch(/--steps must be a positive integer, got "many"/);
    const missing = run('train', 'sft', '--data', '/nonexistent/corpus', '--out', '/tmp/univg-cli-x', '--steps', '3');
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/^backend /);
    expect(missing.stderr).toMatch(/univg: shard: no such file or directory \(\/nonexistent\/corpus\)/);
  });

  it('maps flags to training options', () => {
    const o = parseSftOptions({ data: ['a', 'b'], out: 'o', steps: '10', batch: '2', accum: '3', lr: '2e-3', cot: false, resume: true, dModel: '64', nLayers: '2', backend: 'cpu', evalFraction: '0.1' });
    expect(o).toMatchObject({ data: ['a', 'b'], out: 'o', steps: 10, batch: 2, accum: 3, lr: 2e-3, cot: false, resume: true, backend: 'cpu', evalFraction: 0.1, model: { dModel: 64, nLayers: 2 } });
    expect(parseSftOptions({ data: ['a'], out: 'o', steps: '1' })).toMatchObject({ batch: 8, cot: true, resume: false });
    expect(() => parseSftOptions({ data: ['a'], out: 'o', steps: '1', lr: 'fast' })).toThrow(/--lr must be a number/);
  });
});

describe('univg train parity (command line)', () => {
  it('checks a backend against cpu and prints the table; exit 0 when every check holds', () => {
    const r = run('train', 'parity', '--backend', 'wasm', '--fit-steps', '10');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^parity of wasm against cpu: OK in [\d.]+ s/);
    expect(r.stdout).toMatch(/ok {3}SFT gradients/);
    expect(r.stdout).toMatch(/ok {3}greedy generation: same tokens/);
  }, 180_000);

  it('says in one line why a backend cannot be checked here (no GPU adapter), exit 2', () => {
    const r = run('train', 'parity', '--backend', 'webgpu');
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n').pop()).toMatch(/^univg: config: no TensorFlow\.js backend could be started: webgpu: (no Vulkan loader|Dawn found no WebGPU adapter)/);
  });
});
