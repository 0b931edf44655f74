/**
 * Difficulty scoring throughput (`univg score`), both sources, on synthetic-suite RL rows:
 * - checkpoint: rollouts/s and generated tokens/s of an (untrained, so it writes to its token limit)
 *   in-repo model, G rollouts per row decoded together by sampleGroup, including image decode and Parquet;
 * - endpoint: requests/s against the simulated teacher over HTTP (fresh cache), then the same run again
 *   answered entirely from the response cache.
 *
 *   npx tsx bench/score.ts [--rows 16] [--G 8] [--shape demo|tiny] [--max-tokens 64] [--backend wasm]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateSuite } from '../src/sources/synthetic/index.js';
import { toRlRow } from '../src/stages/select.js';
import { writeShards } from '../src/store/index.js';
import { startSimTeacher } from '../src/teacher/sim/index.js';
import { selectBackend, type BackendName } from '../src/train/backend.js';
import { saveCheckpoint } from '../src/train/checkpoint.js';
import { loadBench } from '../src/train/eval/evaluate.js';
import { DEFAULT_SHAPE, GroundingModel, makeModelConfig, type ModelShape } from '../src/train/model/index.js';
import { Rng } from '../src/train/rng.js';
import { scoreCorpus } from '../src/train/score/index.js';
import { buildTokenizer } from '../src/train/tokenizer.js';

const { values: a } = parseArgs({
  options: {
    rows: { type: 'string', default: '16' },
    G: { type: 'string', default: '8' },
    shape: { type: 'string', default: 'demo' },
    'max-tokens': { type: 'string', default: '64' },
    backend: { type: 'string' },
  },
});
const ROWS = Number(a.rows);
const G = Number(a.G);
const MAX_TOKENS = Number(a['max-tokens']);
const SHAPES: Record<string, Partial<ModelShape>> = {
  demo: DEFAULT_SHAPE,
  tiny: { dModel: 32, nLayers: 1, nHeads: 2, mlpHidden: 64, imageSize: 16, patchSize: 8, maxImages: 6, coordFreqs: 4 },
};
const shape = SHAPES[a.shape!];
if (!shape) throw new Error(`--shape: one of ${Object.keys(SHAPES).join(', ')}`);

const dir = mkdtempSync(join(tmpdir(), 'univg-bench-score-'));
try {
  // Data: synthetic-suite samples as RlRows, images by path under the suite directory.
  const suite = join(dir, 'suite');
  await generateSuite({ out: suite, samples: ROWS, seed: 3, difficulty: 'medium', testFraction: 0, concurrency: 2 });
  const bench = await loadBench(join(suite, 'all.json'), suite);
  const config = { judge: false, rlFraction: 1, trainingConvention: 'qwen2vl' as const, answerFrom: 'ground_truth' as const };
  const rows = bench.samples.map((s) => toRlRow(s, s.images.map((im) => ({ bytes: null, path: im.path })), config));
  await writeShards('RlRow', rows as never, { dir: join(dir, 'rl'), count: 2 });
  const maxImages = Math.max(...rows.map((r) => r.images.length));

  // Checkpoint: an untrained model (so every rollout runs to --max-tokens: a fixed amount of work).
  const backend = await selectBackend(a.backend ? { prefer: a.backend as BackendName } : {});
  const tok = buildTokenizer(rows.flatMap((r) => [r.prompt, `<think>the target is here</think><answer>${r.answer}</answer>`]), { minCount: 1 });
  const cfg = makeModelConfig({ ...shape, maxImages: Math.max(maxImages, shape.maxImages ?? 1) }, { vocabSize: tok.vocabSize, coordBase: tok.coordId(0), coordMax: 1000 }, { maxPromptTokens: 96, maxTargetTokens: MAX_TOKENS });
  const model = GroundingModel.init(cfg, new Rng('bench-score'));
  await saveCheckpoint(join(dir, 'ckpt', 'checkpoints', 'step-000001'), { model, tokenizer: tok, step: 1, backend, train: { convention: 'qwen2vl' } });
  model.dispose();
  const ck = await scoreCorpus({ data: [join(dir, 'rl')], dataRoot: suite, out: join(dir, 'out-ckpt'), model: { checkpoint: join(dir, 'ckpt'), ...(a.backend ? { backend: a.backend as BackendName } : {}) }, G });
  const tokens = ck.counters.tokens ?? 0;
  console.log(`checkpoint (${a.shape}: d${cfg.dModel} L${cfg.nLayers}, ${cfg.imageSize}px, backend ${backend.name}): ${ck.scored} rows x G ${G} in ${ck.seconds.toFixed(2)} s = ${((ck.scored * G) / ck.seconds).toFixed(1)} rollouts/s, ${(tokens / ck.seconds).toFixed(0)} tokens/s (${(tokens / Math.max(1, ck.scored * G)).toFixed(1)} tokens/rollout)`);

  // Endpoint: the simulated teacher over HTTP, fresh cache; then the same run from the cache.
  const sim = await startSimTeacher({ seed: 0, convention: 'qwen2vl' });
  try {
    const run = (out: string) =>
      scoreCorpus({ data: [join(dir, 'rl')], dataRoot: suite, out: join(dir, out), model: { endpoint: { baseUrl: sim.url, model: 'univg-sim', cacheDir: join(dir, 'cache'), maxTokens: 1024, concurrency: 16 } }, G });
    const fresh = await run('out-endpoint');
    console.log(`endpoint (simulated teacher, concurrency 16): ${fresh.counters.requests} requests in ${fresh.seconds.toFixed(2)} s = ${((fresh.counters.requests ?? 0) / fresh.seconds).toFixed(1)} requests/s; mean mIoU ${fresh.meanDifficulty.toFixed(3)}`);
    const cached = await run('out-endpoint-2');
    console.log(`endpoint, all from the cache: ${cached.counters.cached} rollouts in ${cached.seconds.toFixed(2)} s = ${((cached.counters.cached ?? 0) / cached.seconds).toFixed(0)} rollouts/s (${cached.counters.requests} requests)`);
  } finally {
    await sim.close();
  }
  console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
