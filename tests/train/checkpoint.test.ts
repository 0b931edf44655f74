import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { describeBackend, deviceField, selectBackend, type BackendChoice } from '../../src/train/backend.js';
import { exampleBatch } from '../../src/train/batching.js';
import { listCheckpoints, readCheckpoint, removeTempCheckpoints, resolveCheckpointDir, saveCheckpoint } from '../../src/train/checkpoint.js';
import { GroundingModel, makeModelConfig } from '../../src/train/model/index.js';
import { AdamW } from '../../src/train/optim.js';
import { Rng } from '../../src/train/rng.js';
import { update } from '../../src/train/step.js';
import { buildTokenizer } from '../../src/train/tokenizer.js';
import { tempDir, TINY } from './helpers.js';

const tmp = tempDir('ckpt');
let backend: BackendChoice;
beforeAll(async () => {
  backend = await selectBackend({ prefer: 'wasm', only: true });
});
afterAll(() => tmp.cleanup());

const tok = buildTokenizer(['<think>the box</think><answer>(1,2),(3,4)</answer>', '<image>Where is the box?']);
const cfg = makeModelConfig(TINY, { vocabSize: tok.vocabSize, coordBase: tok.coordId(0), coordMax: 1000 }, { maxPromptTokens: 16, maxTargetTokens: 24 });

function trained(seed: string) {
  const rng = new Rng(seed);
  const model = GroundingModel.init(cfg, rng.fork('init'));
  const opt = new AdamW();
  const img = Float32Array.from({ length: 16 * 16 * 3 }, () => rng.uniform());
  const b = exampleBatch(cfg, [img], [tok.bos, ...tok.encode('<image>Where is the box?')], [...tok.encode('<answer>(1,2),(3,4)</answer>'), tok.eos], tok.bos);
  for (let i = 0; i < 3; i++) update(model, opt, [b], { clip: 1, lr: 1e-2 });
  return { model, opt, rng, b };
}

describe('checkpoints', () => {
  it('record the GPU adapter the run trained on, and log lines name the device', async () => {
    const { model } = trained('ck-adapter');
    // The choice a WebGPU run makes (this machine has no adapter; the record is data all the same).
    const adapter = { vendor: 'nvidia', architecture: 'hopper', device: '0x2335', description: 'NVIDIA H200 (driver 570.124.06)' };
    const gpu: BackendChoice = { ...backend, name: 'webgpu', tfBackend: 'webgpu', adapter, detail: { ...adapter } };
    const dir = join(tmp.dir, 'gpu', 'checkpoints', 'step-000001');
    await saveCheckpoint(dir, { model, tokenizer: tok, step: 1, backend: gpu, train: {} });
    const ck = await readCheckpoint(dir);
    expect(ck.state.backend.adapter).toEqual(adapter);
    expect(deviceField(gpu)).toEqual({ device: 'NVIDIA H200 (driver 570.124.06)' });
    expect(deviceField(backend)).toEqual({});
    expect(describeBackend(gpu, false)).toMatch(/^backend webgpu \(NVIDIA H200 \(driver 570\.124\.06\)\)/);
    ck.model.dispose();
    model.dispose();
  });

  it('save and load weights, optimizer, tokenizer, config and state exactly', async () => {
    const { model, opt, rng, b } = trained('ck1');
    const dir = join(tmp.dir, 'run1', 'checkpoints', 'step-000003');
    await saveCheckpoint(dir, {
      model,
      tokenizer: tok,
      step: 3,
      backend,
      train: { seed: 1, lr: 0.01 },
      optimizer: { state: await opt.state(), config: opt.cfg },
      rng: rng.state(),
      loader: { epoch: 0, position: 3 },
      metrics: { loss: 1.5 },
    });
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'optimizer.bin', 'state.json', 'tokenizer.json', 'weights.bin']);
    const ck = await readCheckpoint(join(tmp.dir, 'run1'), { optimizer: true });
    expect(ck.dir).toBe(dir);
    expect(ck.state.step).toBe(3);
    expect(ck.state.backend.name).toBe('wasm');
    expect(ck.state.loader).toEqual({ epoch: 0, position: 3 });
    expect(ck.state.rng).toEqual(rng.state());
    expect(ck.config).toEqual(cfg);
    expect(ck.tokenizer.toJSON()).toEqual(tok.toJSON());
    const loadedValues = await ck.model.values();
    for (const [k, v] of await model.values()) expect(loadedValues.get(k)).toEqual(v);
    const saved = await opt.state();
    expect(ck.optimizer!.t).toBe(saved.t);
    for (const [k, v] of saved.m) expect(ck.optimizer!.m.get(k)).toEqual(v);
    for (const [k, v] of saved.v) expect(ck.optimizer!.v.get(k)).toEqual(v);
    expect(ck.model.logits(b).dataSync()).toEqual(model.logits(b).dataSync());
    ck.model.dispose();
    model.dispose();
  });

  it('refuses a corrupted or truncated weights file, naming it', async () => {
    const { model } = trained('ck2');
    const dir = join(tmp.dir, 'run2', 'checkpoints', 'step-000001');
    await saveCheckpoint(dir, { model, tokenizer: tok, step: 1, backend, train: {} });
    const w = join(dir, 'weights.bin');
    const bytes = readFileSync(w);
    bytes[10] = bytes[10]! ^ 0xff;
    writeFileSync(w, bytes);
    await expect(readCheckpoint(dir)).rejects.toThrow(InputError);
    await expect(readCheckpoint(dir)).rejects.toThrow(/sha256 does not match/);
    writeFileSync(w, bytes.subarray(0, 100));
    await expect(readCheckpoint(dir)).rejects.toThrow(/100 bytes, expected/);
    await expect(resolveCheckpointDir(join(tmp.dir, 'nothing-here'))).rejects.toThrow(/no checkpoint here/);
    model.dispose();
  });

  it('replaces a checkpoint of the same step atomically and ignores temp leftovers of a killed write', async () => {
    const { model } = trained('ck3');
    const out = join(tmp.dir, 'run3');
    await saveCheckpoint(join(out, 'checkpoints', 'step-000002'), { model, tokenizer: tok, step: 2, backend, train: { v: 1 } });
    await saveCheckpoint(join(out, 'checkpoints', 'step-000002'), { model, tokenizer: tok, step: 2, backend, train: { v: 2 } });
    // A killed write leaves a dot-named temp directory, never a step-* one.
    mkdirSync(join(out, 'checkpoints', '.step-000004.tmp-123-456'), { recursive: true });
    expect((await listCheckpoints(out)).map((c) => c.step)).toEqual([2]);
    expect((await readCheckpoint(out)).state.train).toEqual({ v: 2 });
    expect(await removeTempCheckpoints(out)).toBe(1);
    expect(readdirSync(join(out, 'checkpoints'))).toEqual(['step-000002']);
    model.dispose();
  });
});
