import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { announceBackend, describeBackend, selectBackend } from '../../src/train/backend.js';

const resolvable = (pkg: string) => {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
};
// Where libtensorflow cannot be downloaded (this machine) npm drops both optional packages.
const nativeInstalled = resolvable('@tensorflow/tfjs-node') || resolvable('@tensorflow/tfjs-node-gpu');

describe('selectBackend', () => {
  it('tries tfjs-node-gpu, WebGPU, tfjs-node, then WASM, and says why each passed-over one failed', async () => {
    const c = await selectBackend();
    if (nativeInstalled) {
      expect(['node-gpu', 'node']).toContain(c.name);
      expect(tf.getBackend()).toBe('tensorflow');
      return;
    }
    expect(c.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(c.reasons['node-gpu']).toMatch(/ERR_MODULE_NOT_FOUND.*@tensorflow\/tfjs-node-gpu.*optional dependency not installed/);
    expect(c.reasons.node).toMatch(/ERR_MODULE_NOT_FOUND.*@tensorflow\/tfjs-node'.*optional dependency not installed/);
    // No machine CI runs on has a GPU: Dawn is not even started without a Vulkan loader.
    expect(c.reasons.webgpu).toMatch(/no Vulkan loader \(libvulkan\.so\.1|Dawn found no WebGPU adapter/);
    expect(Object.keys(c.reasons)).toEqual(['node-gpu', 'webgpu', 'node']);
    expect(c.adapter).toBeNull();
    expect(c.detail.simd).toBe(true);
    expect(c.detail.threads).toBe(1);
    expect(String(c.detail.threadsNote)).toMatch(/#3830/);
    // Short by default (a pipeline prints it once); the reasons with verbose.
    expect(describeBackend(c, false)).toBe('backend wasm (simd, threads 1); passed over node-gpu, webgpu, node (UNIVG_VERBOSE=1 says why)');
    expect(describeBackend(c, true)).toMatch(/^backend wasm \(simd, threads 1\); node-gpu unavailable .*; webgpu unavailable \(.*\); node unavailable /);
  });

  it('takes a preferred backend first, and falls back only when allowed', async () => {
    const cpu = await selectBackend({ prefer: 'cpu' });
    expect(cpu.name).toBe('cpu');
    expect(cpu.reasons).toEqual({});
    expect(tf.getBackend()).toBe('cpu');
    if (nativeInstalled) return;
    const fallback = await selectBackend({ prefer: 'node' });
    expect(fallback.name).toBe('wasm');
    expect(Object.keys(fallback.reasons)).toEqual(['node', 'node-gpu', 'webgpu']);
    await expect(selectBackend({ prefer: 'node', only: true })).rejects.toThrow(/node: ERR_MODULE_NOT_FOUND/);
  });

  it('announces a backend once per process however many trainers select it', async () => {
    const c = await selectBackend({ prefer: 'cpu' });
    const first = announceBackend(c);
    expect(first === null || first === describeBackend(c)).toBe(true);
    expect(announceBackend(c)).toBeNull();
    expect(announceBackend(await selectBackend({ prefer: 'wasm' }))).toMatch(/^backend wasm/);
  });

  it('honours UNIVG_BACKEND and rejects an unknown name', async () => {
    process.env.UNIVG_BACKEND = 'cpu';
    try {
      expect((await selectBackend()).name).toBe('cpu');
      process.env.UNIVG_BACKEND = 'tpu';
      await expect(selectBackend()).rejects.toThrow(/UNIVG_BACKEND must be one of/);
    } finally {
      delete process.env.UNIVG_BACKEND;
    }
  });
});
