/**
 * Where a GRPO step's time goes, per prompt: sampling G rollouts (decoded together from one prefix), the
 * reference model's log-probs, and the policy's loss + gradient. Also the decode cost per token by batch
 * rows. Default model: the demo shape (d 128, 3 layers, 64 px, 6 image slots), random weights and a
 * tokenizer from the fixture texts, so it runs on a fresh clone; --checkpoint uses a trained one (its
 * rollouts have realistic lengths).
 *
 *   npx tsx bench/grpo-step.ts
 *   npx tsx bench/grpo-step.ts --checkpoint runs/sft-demo/v2-sft-cot --tokens 300
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { describeBackend, selectBackend, type BackendName } from '../src/train/backend.js';
import { exampleBatch, stackBatches } from '../src/train/batching.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { GroundingModel, makeModelConfig } from '../src/train/model/index.js';
import { groupGradients } from '../src/train/rl/objective.js';
import { sampleGroup } from '../src/train/rl/rollout.js';
import { Rng } from '../src/train/rng.js';
import { buildTokenizer, type Tokenizer } from '../src/train/tokenizer.js';

const { values: a } = parseArgs({ options: { checkpoint: { type: 'string' }, tokens: { type: 'string', default: '200' }, images: { type: 'string', default: '4' }, backend: { type: 'string', default: 'wasm' } } });
const backend = await selectBackend({ prefer: a.backend as BackendName });
console.log(describeBackend(backend).split(';')[0]);
let model: GroundingModel;
let tok: Tokenizer;
if (a.checkpoint) {
  const ck = await readCheckpoint(a.checkpoint, { optimizer: false });
  model = ck.model;
  tok = ck.tokenizer;
} else {
  const texts = JSON.parse(readFileSync(new URL('../tests/train/fixtures/sft-texts.json', import.meta.url), 'utf8')) as Array<{ prompt: string; completion: string }>;
  tok = buildTokenizer(texts.flatMap((t) => [t.prompt, t.completion]), { minCount: 1 });
  const cfg = makeModelConfig({}, { vocabSize: tok.vocabSize, coordBase: tok.coordId(0), coordMax: 1000, boxTokens: tok.boxTokens() }, { maxPromptTokens: 128, maxTargetTokens: 512 });
  model = GroundingModel.init(cfg, new Rng('bench'));
}
const c = model.config;
const S = c.imageSize;
const rng = new Rng('pixels');
const images = Array.from({ length: Number(a.images) }, () => Float32Array.from({ length: S * S * 3 }, () => rng.uniform()));
const prompt = [tok.bos, ...tok.encode('<image>'.repeat(Number(a.images)) + 'Find the red circle in the second image.')];
const T = Number(a.tokens);
console.log(`model: d ${c.dModel}, ${c.nLayers} layers, vocab ${c.vocabSize}; ${images.length} images, prompt ${prompt.length} tokens, rollouts capped at ${T} tokens`);

console.log('\ndecode, ms per token step:');
for (const B of [1, 4, 8]) {
  const st = model.prefill(stackBatches(Array.from({ length: B }, () => exampleBatch(c, images, prompt, [], tok.bos))));
  const t = performance.now();
  for (let k = 0; k < 100; k++) model.decodeStep(st, new Int32Array(B).fill(tok.bos)).dispose();
  await st.box.data();
  console.log(`  ${B} row(s): ${((performance.now() - t) / 100).toFixed(1)} ms (${((performance.now() - t) / 100 / B).toFixed(1)} ms per row)`);
  model.disposeState(st);
}

console.log('\none prompt of a GRPO step:');
console.log('| G | mean rollout tokens | sample (s) | reference log-probs (s) | loss + gradient (s) | total per prompt (s) |');
console.log('|---:|---:|---:|---:|---:|---:|');
for (const G of [4, 8]) {
  let t = performance.now();
  const r = await sampleGroup(model, tok, images, prompt, { G, seed: 1, maxTokens: T });
  const ts = (performance.now() - t) / 1000;
  const batch = stackBatches(r.map((x) => exampleBatch(c, images, prompt, x.targetIds, tok.bos)));
  t = performance.now();
  const ref = await model.logProbValues(batch);
  const tr = (performance.now() - t) / 1000;
  t = performance.now();
  const { grads, stats } = groupGradients(model, { batch, advantages: r.map((_, i) => (i % 2 ? 1 : -1)), weight: 1, refLogProbs: ref, scale: 1 }, { beta: 0.04, epsilon: 0.2 });
  await stats.data();
  stats.dispose();
  for (const g of grads.values()) g.dispose();
  const tg = (performance.now() - t) / 1000;
  const len = r.reduce((n, x) => n + x.targetIds.length, 0) / G;
  console.log(`| ${G} | ${len.toFixed(0)} | ${ts.toFixed(2)} | ${tr.toFixed(2)} | ${tg.toFixed(2)} | ${(ts + tr + tg).toFixed(2)} |`);
}
