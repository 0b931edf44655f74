/**
 * CPU seconds per SFT update at the demo shape on wasm, for one source tree: compares the trainer before and
 * after a change without trusting wall time on a shared machine (BENCHMARKS.md, "Training step per backend").
 *
 *   npx tsx bench/cpu-step-compare.ts /path/to/old-checkout old   # a tree before the model split (src/train/model.ts)
 *   npx tsx bench/cpu-step-compare.ts . new                       # this tree
 * Run them alternately several times; compare medians.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = pathToFileURL(resolve(process.argv[2]!)).href;
const isNew = process.argv[3] === 'new';
const { selectBackend } = await import(`${root}/src/train/backend.js`);
const m = await import(isNew ? `${root}/src/train/model/index.js` : `${root}/src/train/model.js`);
const { AdamW } = await import(`${root}/src/train/optim.js`);
const { update } = await import(`${root}/src/train/step.js`);
const { Rng } = await import(`${root}/src/train/rng.js`);
await selectBackend({ prefer: 'wasm', only: true });
const B = 4, M = 4, Lq = 60, Lc = 260;
const cfg = m.makeModelConfig({ dModel: 128, nLayers: 3, nHeads: 2, mlpHidden: 512, imageSize: 64, patchSize: 8, maxImages: 6 }, { vocabSize: 1473, coordBase: 264, coordMax: 1000 }, { maxPromptTokens: 80, maxTargetTokens: 420 });
const rng = new Rng(0);
const model = m.GroundingModel.init(cfg, rng.fork('init'));
const P = m.patchesPerImage(cfg);
const id = () => 8 + rng.int(cfg.vocabSize - 8);
const batch = { B, M, Lq, Lc, patches: Float32Array.from({ length: B * M * P * m.patchDim(cfg) }, () => rng.uniform() * 2 - 1), imageMask: new Uint8Array(B * M).fill(1), qIds: Int32Array.from({ length: B * Lq }, id), qMask: new Uint8Array(B * Lq).fill(1), cIn: Int32Array.from({ length: B * Lc }, id), cTgt: Int32Array.from({ length: B * Lc }, id), cMask: new Uint8Array(B * Lc).fill(1) };
const opt = new AdamW();
const step = async () => { const r = update(model, opt, [batch], { clip: 1, lr: 1e-3 }); if (isNew) { await r.stats.data(); r.stats.dispose(); } };
await step();
const cpu: number[] = [];
for (let i = 0; i < 6; i++) { const c = process.cpuUsage(); await step(); const d = process.cpuUsage(c); cpu.push((d.user + d.system) / 1e6); }
cpu.sort((a, b) => a - b);
console.log(`${isNew ? 'new' : 'old'} cpu s/step median ${cpu[3]!.toFixed(3)} min ${cpu[0]!.toFixed(3)}`);
