/**
 * Backend parity (src/train/parity.ts): one SFT update, one GRPO update and greedy generation from the
 * same weights and batch match the pure-JS cpu backend within the stated fp32 tolerances. WASM runs here
 * and in CI; WebGPU runs wherever an adapter exists and is skipped, with the reason, where none does.
 */
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/train/backend.js';
import { backendParity, compareGradients, compareUpdates, formatParity, relativeCheck } from '../../src/train/parity.js';

describe('backend parity against cpu', () => {
  it('wasm: one SFT update, one GRPO update and greedy generation match cpu', async () => {
    const r = await backendParity({ backend: 'wasm' });
    const text = formatParity(r);
    expect(r.checks.map((c) => c.name)).toEqual([
      'SFT loss',
      'SFT gradient norm',
      'SFT gradients (max |diff| / max |g|)',
      'SFT parameters after AdamW (max |diff| / lr)',
      'GRPO loss',
      'GRPO KL',
      'GRPO clip fraction',
      'GRPO gradient norm',
      'GRPO parameters after AdamW (max |diff| / lr)',
      'greedy generation: same tokens',
      'greedy generation: logits (max |diff| / max |logit|)',
    ]);
    for (const c of r.checks) expect(c.ok, `${c.name}: ${c.value} > ${c.tolerance} (${c.detail})\n${text}`).toBe(true);
    expect(r.ok).toBe(true);
  }, 180_000);

  it('webgpu: the same checks, where a WebGPU adapter exists', async (ctx) => {
    const probe = await selectBackend({ prefer: 'webgpu' });
    ctx.skip(probe.name !== 'webgpu', `no WebGPU adapter here: ${probe.reasons.webgpu ?? 'not tried'}`);
    const r = await backendParity({ backend: 'webgpu' });
    for (const c of r.checks) expect(c.ok, `${c.name}: ${c.value} > ${c.tolerance} (${c.detail})\n${formatParity(r)}`).toBe(true);
  }, 300_000);

  it('the comparisons fail on a wrong loss, a wrong gradient or a wrong update', () => {
    expect(relativeCheck('loss', 1.0002, 1, 1e-4).ok).toBe(false);
    expect(relativeCheck('loss', 1.00001, 1, 1e-4).ok).toBe(true);
    const g = new Map([['w', Float32Array.from([0.5, -0.25, 1e-9])]]);
    expect(compareGradients(new Map([['w', Float32Array.from([0.5, -0.249, 1e-9])]]), g).ok).toBe(false);
    expect(compareGradients(new Map([['w', Float32Array.from([0.5, -0.25, 2e-9])]]), g).ok).toBe(true);
    const lr = 1e-3;
    const before = new Map([['w', Float32Array.from([1, 1, 1])]]);
    const want = new Map([['w', Float32Array.from([1 - lr, 1 + lr, 1 - lr])]]);
    // The third gradient is fp32 noise: a flipped sign there is allowed, a wrong update elsewhere is not.
    expect(compareUpdates('u', before, new Map([['w', Float32Array.from([1 - lr, 1 + lr, 1 + lr])]]), want, g, lr).ok).toBe(true);
    expect(compareUpdates('u', before, new Map([['w', Float32Array.from([1 - lr, 1 + 0.9 * lr, 1 - lr])]]), want, g, lr).ok).toBe(false);
    expect(compareUpdates('u', before, new Map([['w', Float32Array.from([1 - 3 * lr, 1 + lr, 1 - lr])]]), want, g, lr).ok).toBe(false);
  });
});
