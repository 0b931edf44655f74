/**
 * `trainRl` end to end on a tiny real corpus: from an SFT checkpoint written by `trainSft`, GRPO steps
 * with logs, checkpoints and exact resume; and the errors a user meets first.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accuracyReward } from '../../../src/completion/index.js';
import { readCheckpoint } from '../../../src/train/checkpoint.js';
import { createLoader } from '../../../src/train/loader/index.js';
import { rewardGroundTruth, trainRl, type RlOptions, type RlStepLog } from '../../../src/train/rl/train.js';
import { trainSft } from '../../../src/train/sft.js';
import { tempDir, tinyCorpus, tinyRows, TINY } from '../helpers.js';

const tmp = tempDir('rl');
let data: string;
let sft: string;
const quiet = () => {};

beforeAll(async () => {
  data = await tinyCorpus(join(tmp.dir, 'corpus'), 12, 4);
  sft = join(tmp.dir, 'sft');
  await trainSft({ data: [data], out: sft, steps: 30, batch: 4, lr: 3e-3, seed: 1, model: TINY, evalEvery: 0, evalFraction: 0, backend: 'wasm', workers: 1, log: quiet });
}, 120_000);
afterAll(() => tmp.cleanup());

const base = (out: string, extra: Partial<RlOptions> = {}): RlOptions => ({
  data: [data],
  init: sft,
  out,
  steps: 4,
  prompts: 2,
  G: 4,
  lr: 1e-3,
  maxTokens: 24,
  seed: 3,
  checkpointEvery: 2,
  backend: 'wasm',
  workers: 1,
  log: quiet,
  ...extra,
});

const readLog = (out: string) =>
  readFileSync(join(out, 'rl-log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as RlStepLog);

describe('trainRl', () => {
  it('runs GRPO steps from the SFT checkpoint and logs every metric the paper plots', async () => {
    const out = join(tmp.dir, 'rl-a');
    const r = await trainRl(base(out));
    expect(r.step).toBe(4);
    expect(r.stopped).toBe('done');
    expect(r.backend.name).toBe('wasm');
    const log = readLog(out);
    expect(log.map((l) => l.step)).toEqual([1, 2, 3, 4]);
    for (const l of log) {
      expect(l.prompts).toBe(2);
      expect(l.rollouts).toBe(8);
      expect(l.buckets['lt0.3'] + l.buckets['0.3-0.7'] + l.buckets['gt0.7']).toBeCloseTo(1, 9);
      expect(l.rewardMean).toBeCloseTo(l.accuracyMean + l.formatRate, 9);
      expect(l.weightMean).toBeGreaterThanOrEqual(1);
      expect(l.weightMean).toBeLessThanOrEqual(Math.E);
      expect(l.kl).toBeGreaterThanOrEqual(0);
      expect(l.clipFraction).toBe(0); // on-policy: the ratio is exactly 1
      expect(l.completionLength).toBeGreaterThan(0);
      expect(l.completionLength).toBeLessThanOrEqual(25);
    }
    // The first step starts at the reference: its KL is 0; later steps have moved away.
    expect(log[0]!.kl).toBeLessThan(1e-9);
    expect(log[3]!.kl).toBeGreaterThan(0);
    // The policy changed; the SFT checkpoint it started from did not.
    const before = await readCheckpoint(sft, { optimizer: false });
    const after = await readCheckpoint(out, { optimizer: false });
    expect(after.state.weights.sha256).not.toBe(before.state.weights.sha256);
    expect(after.state.train.initWeights).toBe(before.state.weights.sha256);
    expect(readFileSync(join(out, 'rl-curves.svg'), 'utf8')).toContain('mIoU &lt; 0.3');
    expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')).options.phi).toBe('exp');
  }, 120_000);

  it('resumes exactly: stopped after 2 steps and continued, it ends with the same weights as one run', async () => {
    const whole = join(tmp.dir, 'rl-whole');
    const split = join(tmp.dir, 'rl-split');
    await trainRl(base(whole, { phi: 'log' }));
    const first = await trainRl(base(split, { phi: 'log', stopAfter: 2 }));
    expect(first.stopped).toBe('stopAfter');
    expect(first.step).toBe(2);
    const second = await trainRl(base(split, { phi: 'log', resume: true }));
    expect(second.resumedFrom).toBe(2);
    const a = await readCheckpoint(whole, { optimizer: true });
    const b = await readCheckpoint(split, { optimizer: true });
    expect(b.state.step).toBe(4);
    expect(b.state.weights.sha256).toBe(a.state.weights.sha256);
    expect(b.state.optimizer!.sha256).toBe(a.state.optimizer!.sha256);
    expect(readLog(split).map((l) => l.rewardMean)).toEqual(readLog(whole).map((l) => l.rewardMean));
  }, 180_000);

  it('refuses to resume with different settings, and to start over existing checkpoints', async () => {
    const out = join(tmp.dir, 'rl-a');
    await expect(trainRl(base(out, { phi: 'none', resume: true }))).rejects.toThrow(/cannot resume exactly: phi was "exp", now "none"/);
    await expect(trainRl(base(out))).rejects.toThrow(/already has checkpoints.*--resume/);
  });

  it('says what is wrong with bad options and a bad --init', async () => {
    await expect(trainRl(base(join(tmp.dir, 'bad1'), { G: 1 }))).rejects.toThrow(/G must be an integer >= 2/);
    await expect(trainRl(base(join(tmp.dir, 'bad2'), { epsilon: 1.5 }))).rejects.toThrow(/epsilon must be a number > 0 and < 1, got 1.5/);
    await expect(trainRl(base(join(tmp.dir, 'bad3'), { init: data }))).rejects.toThrow(/checkpoint/i);
    expect(existsSync(join(tmp.dir, 'bad3', 'checkpoints'))).toBe(false);
  });

  it("rewards read the ground truth in the paper's 0-1000 frame of the target image", async () => {
    const rows = await tinyRows(12, 4);
    const loader = await createLoader({ dirs: [data], kind: 'SftRow', batchSize: 4, seed: 0, imageSize: 16, maxImages: 3, maxPromptTokens: 8, maxTargetTokens: 1, workers: 1, epochs: 1 });
    const b = (await loader.next())!;
    await loader.close();
    for (let i = 0; i < b.size; i++) {
      const row = rows.find((r) => r.id === b.ids[i])!;
      const gt = rewardGroundTruth(b, i);
      // The row's answer text is that box rounded: the reward of the answer itself is close to 1.
      expect(accuracyReward(`<think>x</think><answer>${row.answer}</answer>`, gt)).toBeGreaterThan(0.85);
      // Integers, as Qwen2-VL writes them (and the paper's solutions hold).
      expect(gt.every(Number.isInteger)).toBe(true);
      expect(Math.abs(gt[0] - (row.targetBox[0] / 40) * 1000)).toBeLessThanOrEqual(0.5);
      expect(Math.abs(gt[3] - (row.targetBox[3] / 30) * 1000)).toBeLessThanOrEqual(0.5);
    }
  });
});
