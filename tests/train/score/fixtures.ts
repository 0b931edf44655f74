/**
 * Fixtures for the scoring tests: the trainer's tiny SftRow corpus (real Parquet, PNG squares), a tiny
 * checkpoint fitted for a few dozen steps on it (so its sampled rollouts land near the squares some of
 * the time and the rewards are not all zero), and RlRow shards of the synthetic suite for the endpoint.
 */
import { join } from 'node:path';
import type { RecordOf } from '../../../src/schema/arrow.js';
import type { GroundingSample } from '../../../src/schema/records.js';
import { toRlRow } from '../../../src/stages/select.js';
import { generateSuite } from '../../../src/sources/synthetic/index.js';
import { writeShards } from '../../../src/store/index.js';
import { selectBackend } from '../../../src/train/backend.js';
import { exampleBatch, promptIds, stackBatches, targetIds } from '../../../src/train/batching.js';
import { saveCheckpoint } from '../../../src/train/checkpoint.js';
import { loadBench } from '../../../src/train/eval/evaluate.js';
import { decodeImage } from '../../../src/train/image.js';
import { GroundingModel, makeModelConfig } from '../../../src/train/model/index.js';
import { AdamW } from '../../../src/train/optim.js';
import { Rng } from '../../../src/train/rng.js';
import { update } from '../../../src/train/step.js';
import { buildTokenizer } from '../../../src/train/tokenizer.js';
import { tinyRows } from '../helpers.js';

/** A checkpoint (`<out>/checkpoints/step-000001`) of a tiny model fitted `steps` updates on `rows`. */
export async function tinyCheckpoint(out: string, rows: RecordOf<'SftRow'>[], steps = 40): Promise<string> {
  const backend = await selectBackend({ prefer: 'wasm', only: true });
  const tok = buildTokenizer(rows.flatMap((r) => [r.prompt, r.completion]), { minCount: 1 });
  const cfg = makeModelConfig(
    { dModel: 32, nLayers: 1, nHeads: 2, mlpHidden: 64, imageSize: 16, patchSize: 8, maxImages: 3, coordFreqs: 4 },
    { vocabSize: tok.vocabSize, coordBase: tok.coordId(0), coordMax: 1000 },
    { maxPromptTokens: 48, maxTargetTokens: 48 },
  );
  const parts = [];
  for (const r of rows) {
    const images = await Promise.all(r.images.map((im) => decodeImage(im.bytes!, { size: 16, fit: 'stretch' })));
    parts.push(exampleBatch(cfg, images, promptIds(tok, r.prompt), targetIds(tok, r.completion), tok.bos));
  }
  const batch = stackBatches(parts);
  const model = GroundingModel.init(cfg, new Rng('score-fixture'));
  const opt = new AdamW({ weightDecay: 0 });
  for (let i = 0; i < steps; i++) update(model, opt, [batch], { clip: 1, lr: 1e-2 });
  await saveCheckpoint(join(out, 'checkpoints', 'step-000001'), { model, tokenizer: tok, step: 1, backend, train: { convention: 'qwen2vl' } });
  model.dispose();
  return out;
}

/** Short completions (the tiny model has 48 target tokens): the answer box and a few words. */
export async function shortRows(n: number, seed: number): Promise<RecordOf<'SftRow'>[]> {
  return (await tinyRows(n, seed)).map((r) => ({ ...r, completion: `<think>square</think><answer>${r.answer}</answer>` }));
}

/** RlRows of `n` easy synthetic-suite samples, images by path relative to the returned root. */
export async function suiteRlRows(dir: string, n: number, seed = 5): Promise<{ root: string; rows: RecordOf<'RlRow'>[]; samples: GroundingSample[] }> {
  await generateSuite({ out: dir, samples: n, seed, difficulty: 'easy', testFraction: 0, concurrency: 2 });
  const bench = await loadBench(join(dir, 'all.json'), dir);
  const config = { judge: false, rlFraction: 1, trainingConvention: 'qwen2vl' as const, answerFrom: 'ground_truth' as const };
  const rows = bench.samples.map((s) => toRlRow(s, s.images.map((im) => ({ bytes: null, path: im.path })), config) as RecordOf<'RlRow'>);
  return { root: dir, rows, samples: bench.samples };
}

export async function writeRl(dir: string, rows: RecordOf<'RlRow'>[], count = 2): Promise<string> {
  await writeShards('RlRow', rows, { dir, count, rowGroupRows: 3 });
  return dir;
}

export async function writeSft(dir: string, rows: RecordOf<'SftRow'>[], count = 2): Promise<string> {
  await writeShards('SftRow', rows, { dir, count, rowGroupRows: 3 });
  return dir;
}
