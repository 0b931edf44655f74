import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, TrainingError } from '../../src/errors.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { lrAt } from '../../src/train/optim.js';
import { isHeldOut } from '../../src/train/heldout.js';
import { trainSft, type EvalLog, type SftOptions, type StepLog } from '../../src/train/sft.js';
import { tempDir, TINY, tinyCorpus } from './helpers.js';

const tmp = tempDir('sft');
let data: string;
const quiet = () => undefined;
beforeAll(async () => {
  data = await tinyCorpus(join(tmp.dir, 'corpus'), 16);
});
afterAll(() => tmp.cleanup());

const base = (out: string): SftOptions => ({
  data: [data],
  out: join(tmp.dir, out),
  steps: 8,
  batch: 4,
  seed: 3,
  lr: 5e-3,
  warmup: 2,
  checkpointEvery: 4,
  evalEvery: 4,
  evalFraction: 0.25,
  model: TINY,
  backend: 'wasm',
  workers: 1,
  log: quiet,
});

const readLog = (out: string) =>
  readFileSync(join(tmp.dir, out, 'train-log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as StepLog | EvalLog);

describe('trainSft', () => {
  it('trains, logs every update as JSONL, evaluates on the held-out slice and checkpoints', async () => {
    const r = await trainSft(base('a'));
    expect(r.stopped).toBe('done');
    expect(r.step).toBe(8);
    expect(r.backend.name).toBe('wasm');
    expect(r.checkpoint).toBe(join(tmp.dir, 'a', 'checkpoints', 'step-000008'));
    const log = readLog('a');
    const steps = log.filter((l): l is StepLog => l.type === 'step');
    const evals = log.filter((l): l is EvalLog => l.type === 'eval');
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const s of steps) {
      expect(s.backend).toBe('wasm');
      expect(s.loss).toBeGreaterThan(0);
      expect(s.gradNorm).toBeGreaterThan(0);
      expect(s.tokensPerSec).toBeGreaterThan(0);
      expect(s.lr).toBeCloseTo(lrAt(s.step - 1, { lr: 5e-3, minLr: 5e-4, warmupSteps: 2, totalSteps: 8 }), 12);
    }
    expect(steps[7]!.loss).toBeLessThan(steps[0]!.loss);
    // Held-out loss before training, every 4 updates, and at the end.
    expect(evals.map((e) => e.step)).toEqual([0, 4, 8]);
    const expectedHeld = Array.from({ length: 16 }, (_, i) => `tiny-1-${i}`).filter((id) => isHeldOut(id, 0.25)).length;
    expect(expectedHeld).toBeGreaterThan(0);
    expect(evals[0]!.evalRows).toBe(expectedHeld);
    expect(evals[2]!.evalLoss!).toBeLessThan(evals[0]!.evalLoss!);
    // Training batches never contain held-out rows: at most 16 - held rows per epoch of 4 batches.
    expect(steps.slice(0, 4).reduce((n, s) => n + s.rows, 0)).toBe(16 - expectedHeld);
    const result = JSON.parse(readFileSync(join(tmp.dir, 'a', 'result.json'), 'utf8'));
    expect(result.backend.name).toBe('wasm');
    expect(result.backend.reasons).toBeDefined();
    expect(result.options.cot).toBe(true);
    expect(readFileSync(join(tmp.dir, 'a', 'loss-curve.svg'), 'utf8')).toMatch(/^<svg[\s\S]*train loss[\s\S]*held-out loss/);
    const ck = await readCheckpoint(r.out);
    expect(ck.state.step).toBe(8);
    expect(ck.state.backend.name).toBe('wasm');
    expect(ck.state.loader).toMatchObject({ seed: 3 });
    ck.model.dispose();
    // keepCheckpoints (3) keeps step 4 and 8 here.
    expect(existsSync(join(tmp.dir, 'a', 'checkpoints', 'step-000004'))).toBe(true);
  });

  it('stopped after k updates and resumed, ends with bit-identical weights and the same log', async () => {
    const full = await trainSft({ ...base('full'), evalFraction: 0 });
    const part = await trainSft({ ...base('part'), evalFraction: 0, stopAfter: 3 });
    expect(part.stopped).toBe('stopAfter');
    expect(part.step).toBe(3);
    const rest = await trainSft({ ...base('part'), evalFraction: 0, resume: true });
    expect(rest.resumedFrom).toBe(3);
    expect(rest.step).toBe(8);
    const a = readFileSync(join(full.checkpoint, 'weights.bin'));
    const b = readFileSync(join(rest.checkpoint, 'weights.bin'));
    expect(b.equals(a)).toBe(true);
    expect(readFileSync(join(rest.checkpoint, 'optimizer.bin')).equals(readFileSync(join(full.checkpoint, 'optimizer.bin')))).toBe(true);
    const losses = (out: string) => readLog(out).flatMap((l) => (l.type === 'step' ? [[l.step, l.loss]] : []));
    expect(losses('part')).toEqual(losses('full'));
  });

  it('--no-cot trains on <answer>...</answer> only', async () => {
    const r = await trainSft({ ...base('nocot'), cot: false, steps: 2 });
    const ck = await readCheckpoint(r.out);
    expect(ck.state.train.cot).toBe(false);
    // "<answer>" + "(a,b),(c,d)" (11 tokens) + "</answer>" + "<eos>".
    expect(ck.config.maxTargetTokens).toBe(14);
    ck.model.dispose();
  });

  it('refuses to overwrite a run, and to resume with options that change the result', async () => {
    await expect(trainSft(base('a'))).rejects.toThrow(/already has checkpoints .*--resume/);
    await expect(trainSft({ ...base('a'), resume: true, seed: 4 })).rejects.toThrow(ConfigError);
    await expect(trainSft({ ...base('a'), resume: true, seed: 4 })).rejects.toThrow(/seed was 3, now 4/);
    await expect(trainSft({ ...base('x'), steps: 0 })).rejects.toThrow(/steps must be a positive integer/);
    await expect(trainSft({ ...base('x'), data: [join(tmp.dir, 'missing')] })).rejects.toThrow(/no such file or directory/);
  });
});

describe('a diverging run', () => {
  it('ends with a TrainingError naming the update and the backend, not a checkpoint of NaN weights', async () => {
    // An absurd learning rate overflows the weights within a few updates.
    const o = { ...base('diverge'), lr: 1e30, warmup: 0, steps: 40, checkpointEvery: 1, evalEvery: 0 };
    const err = await trainSft(o).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TrainingError);
    expect((err as Error).message).toMatch(/^(loss|gradNorm) is (NaN|Infinity|-Infinity).* at update \d+ on backend wasm/);
    const step = Number(/at update (\d+)/.exec((err as Error).message)![1]);
    // Every checkpoint written holds finite weights, and none is from the update that diverged or later.
    const ck = await readCheckpoint(o.out);
    expect(ck.state.step).toBeLessThan(step);
    for (const v of (await ck.model.values()).values()) expect(v.every(Number.isFinite)).toBe(true);
    ck.model.dispose();
  });
});
