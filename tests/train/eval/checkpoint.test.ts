/**
 * `--checkpoint`: a real (tiny, untrained) checkpoint of the in-repo model written with saveCheckpoint,
 * evaluated on a synthetic suite through checkpointPredictor and through the CLI.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prediction } from '../../../src/schema/records.js';
import { generateSuite } from '../../../src/sources/synthetic/index.js';
import { selectBackend } from '../../../src/train/backend.js';
import { saveCheckpoint } from '../../../src/train/checkpoint.js';
import { GroundingModel, initParamValues, makeModelConfig } from '../../../src/train/model/index.js';
import { Rng } from '../../../src/train/rng.js';
import { buildTokenizer } from '../../../src/train/tokenizer.js';
import { checkpointPredictor } from '../../../src/train/eval/checkpoint-predictor.js';
import { loadBench, runEval, type Bench, type EvalReport } from '../../../src/train/eval/index.js';

const BIN = fileURLToPath(new URL('../../../bin/univg.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'univg-eval-ckpt-'));
const suite = join(dir, 'suite');
const ckpt = join(dir, 'run', 'checkpoints', 'step-000000');
let bench: Bench;

beforeAll(async () => {
  await generateSuite({ out: suite, samples: 6, seed: 2, concurrency: 2 });
  bench = await loadBench(join(suite, 'all.json'), suite);
  const backend = await selectBackend();
  const tok = buildTokenizer([...bench.samples.map((s) => s.question), '<think>the object is in image 2</think><answer>(10,20),(300,400)</answer>']);
  const cfg = makeModelConfig(
    { dModel: 32, nLayers: 1, nHeads: 2, mlpHidden: 64, imageSize: 32, patchSize: 8, maxImages: 6, coordFreqs: 4 },
    { vocabSize: tok.vocabSize, coordBase: tok.json.coordBase, coordMax: tok.json.coordMax },
    { maxPromptTokens: 96, maxTargetTokens: 16 },
  );
  const model = new GroundingModel(cfg, initParamValues(cfg, new Rng(1)));
  await saveCheckpoint(ckpt, { model, tokenizer: tok, step: 0, backend, train: {} });
  model.dispose();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('checkpointPredictor', () => {
  it('answers every sample, greedy and repeatable, and records the backend and step', async () => {
    const outs: string[] = [];
    for (const name of ['a', 'b']) {
      const p = await checkpointPredictor(join(dir, 'run'));
      try {
        const r = await runEval({ bench, source: { kind: 'predictor', predictor: p }, out: join(dir, name) });
        expect(r.metrics.counts).toMatchObject({ samples: 6, predicted: 6, missing: 0 });
        expect(r.predictor.info).toMatchObject({ kind: 'checkpoint', checkpoint: ckpt, step: 0, temperature: 0, maxTokens: 16 });
        expect(typeof r.predictor.info!.backend).toBe('string');
        expect(r.predictor.convention).toBe('qwen2vl');
      } finally {
        await p.close!();
      }
      outs.push(readFileSync(join(dir, name, 'predictions.jsonl'), 'utf8'));
    }
    expect(outs[0]).toBe(outs[1]);
    const preds = outs[0]!.trim().split('\n').map((l) => Prediction.parse(JSON.parse(l)));
    expect(preds.map((p) => p.id)).toEqual(bench.samples.map((s) => s.id));
    expect(preds.every((p) => p.completion.length > 0)).toBe(true);
  });

  it('univg eval --checkpoint runs end to end and says which backend it used', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, 'eval', '--bench', join(suite, 'all.json'), '--checkpoint', ckpt, '--backend', 'cpu', '--json']);
    const report = JSON.parse(stdout) as EvalReport;
    expect(report.predictor.info).toMatchObject({ kind: 'checkpoint', backend: 'cpu', step: 0 });
    expect(report.metrics.counts.samples).toBe(6);
    expect(stderr).toMatch(/step 0\) on backend cpu/);
  });
});
