/**
 * The paper's Table 4 comparisons at small scale, on the synthetic suite, for several seeds:
 *
 *   A. SFT without CoT                      (N updates)
 *   B. CoT-SFT                              (N updates)
 *   C. B + more CoT-SFT                     (M updates of P rows)
 *   D. B + GRPO                             (M steps of P prompts x G rollouts, phi none)
 *   E. B + GRPO with difficulty weighting   (same, phi exp)
 *
 * C, D and E see the same number of steps and samples. Every arm is evaluated on the same test samples
 * (Acc@0.5 per task, the average, mean IoU); the table gives mean ± std over seeds. Writes
 * <out>/ablation.md and ablation.json. Each run is skipped when its result exists, so a re-run continues.
 *
 *   npx tsx bench/ablation.ts                                     # seeds 0,1,2 on runs/sft-demo's corpus
 *   npx tsx bench/ablation.ts --seeds 0 --sft-steps 50 --rl-steps 2 --eval-per-task 2   # a quick look
 *   # issue 13's run: a pretrained tower, pointing, answers forced at the budget (BENCHMARKS.md "Ablation")
 *   npx tsx bench/ablation.ts --corpus runs/lab-corpus --vision runs/lab/vision-small --pointer --force-answer \
 *     --model '{"dModel":64,"nLayers":2,"nHeads":2,"mlpHidden":128}' --out runs/ablation-lab
 *
 * The corpus is a finished corpus run (corpus/sft, corpus/rl, source/test.json); by default the one
 * bench/sft-demo.ts builds (2,400 synthetic samples through the demo pipeline), built first when missing.
 * --vision names a pretrained tower (`univg train vision`) every SFT arm starts from, frozen; --pointer
 * makes coordinates point at its boxes; --force-answer forces answers at the token budget in GRPO rollouts
 * and in evaluation (the same for every arm). The mIoU buckets of Figure 3 (share of prompts whose G
 * rollouts reach mIoU < 0.3, 0.3-0.7, > 0.7) are tabulated per GRPO step and drawn to ablation-buckets.svg.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { miouBuckets, render, stacked } from '../src/charts/index.js';
import { readManifest } from '../src/store/index.js';
import { checkpointPredictor } from '../src/train/eval/checkpoint-predictor.js';
import { loadBench, runEval, type EvalReport } from '../src/train/eval/evaluate.js';
import { baselinePredictor, type Predictor } from '../src/train/eval/predictor.js';
import { trainRl, type RlOptions, type RlResult, type RlStepLog } from '../src/train/rl/train.js';
import { trainSft, type SftOptions, type SftResult } from '../src/train/sft.js';

const { values: a } = parseArgs({
  options: {
    corpus: { type: 'string', default: 'runs/sft-demo' },
    out: { type: 'string', default: 'runs/ablation' },
    seeds: { type: 'string', default: '0,1,2' },
    'sft-steps': { type: 'string', default: '250' },
    batch: { type: 'string', default: '4' },
    lr: { type: 'string', default: '2e-3' },
    'rl-steps': { type: 'string', default: '10' },
    prompts: { type: 'string', default: '4' },
    g: { type: 'string', default: '4' },
    'rl-lr': { type: 'string', default: '1e-4' },
    beta: { type: 'string', default: '0.04' },
    'eval-per-task': { type: 'string', default: '10' },
    vision: { type: 'string' },
    pointer: { type: 'boolean', default: false },
    model: { type: 'string' },
    'force-answer': { type: 'boolean', default: false },
    'max-tokens': { type: 'string' },
  },
});
const root = resolve(new URL('..', import.meta.url).pathname);
const corpus = resolve(a.corpus!);
const outDir = resolve(a.out!);
const seeds = a.seeds!.split(',').map(Number);
const N = Number(a['sft-steps']);
const M = Number(a['rl-steps']);
const P = Number(a.prompts);
const batch = Number(a.batch);
const vision = a.vision ? resolve(a.vision) : undefined;
// The decoder's shape; with a tower, the image side is the tower's.
const model = { ...(a.model ? (JSON.parse(a.model) as Record<string, number | boolean>) : {}), ...(a.pointer ? { pointer: true } : {}) };
const forceAnswer = a['force-answer']!;
const maxTokens = a['max-tokens'] !== undefined ? Number(a['max-tokens']) : undefined;
// Continued SFT resumes the CoT run (same batch) for M updates: it then sees the M x P rows GRPO sees.
if (P !== batch) throw new Error(`--prompts (${P}) must equal --batch (${batch}) so continued SFT and GRPO see the same samples`);
const log = (s: string) => process.stderr.write(`[ablation] ${s}\n`);
const t0 = performance.now();

// Corpus -------------------------------------------------------------------------------------------------
if (!(await readManifest(join(corpus, 'corpus', 'sft')).catch(() => null))) {
  log(`building the corpus in ${corpus}`);
  const r = spawnSync(process.execPath, [join(root, 'node_modules', '.bin', 'tsx'), join(root, 'bench', 'sft-demo.ts'), '--run-dir', corpus, '--corpus-only'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('building the corpus failed');
}
const sftData = join(corpus, 'corpus', 'sft');
const rlData = join(corpus, 'corpus', 'rl');
const rows = async (d: string) => (await readManifest(d))!.files.reduce((n, f) => n + f.rows, 0);
log(`corpus: ${await rows(sftData)} SFT rows, ${await rows(rlData)} RL rows`);

// Test samples: the first k of each task, the same for every arm and seed.
const bench = await loadBench(join(corpus, 'source', 'test.json'), join(corpus, 'source'));
const perTask = new Map<string, number>();
bench.samples = bench.samples.filter((s) => {
  const n = perTask.get(s.task) ?? 0;
  perTask.set(s.task, n + 1);
  return n < Number(a['eval-per-task']);
});
log(`evaluating on ${bench.samples.length} test samples (${a['eval-per-task']} per task)`);

const done = <T>(dir: string): T | null => (existsSync(join(dir, 'result.json')) ? (JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as T) : null);
const warmup = Math.min(100, Math.max(1, Math.floor(N / 10)));

function sftOpts(out: string, seed: number, extra: Partial<SftOptions> = {}): SftOptions {
  return {
    data: [sftData],
    dataRoot: corpus,
    out,
    steps: N,
    batch,
    seed,
    lr: Number(a.lr),
    warmup,
    checkpointEvery: 50,
    evalEvery: 0,
    workers: 1,
    backend: 'wasm',
    ...(Object.keys(model).length ? { model } : {}),
    ...(vision ? { vision } : {}),
    log: (l) => log(`${out.slice(outDir.length + 1)}: ${l}`),
    ...extra,
  };
}

async function sft(out: string, seed: number, extra: Partial<SftOptions> = {}): Promise<SftResult> {
  const r = done<SftResult & { steps: number }>(out);
  if (r && r.stopped === 'done') return r;
  return trainSft({ ...sftOpts(out, seed, extra), resume: existsSync(join(out, 'checkpoints')) });
}

async function rl(out: string, seed: number, init: string, phi: RlOptions['phi']): Promise<RlResult> {
  const r = done<RlResult>(out);
  if (r && r.stopped === 'done') return r;
  return trainRl({
    data: [rlData],
    dataRoot: corpus,
    init,
    out,
    steps: M,
    prompts: P,
    G: Number(a.g),
    lr: Number(a['rl-lr']),
    beta: Number(a.beta),
    phi,
    seed,
    forceAnswer,
    ...(maxTokens !== undefined ? { maxTokens } : {}),
    checkpointEvery: 5,
    workers: 1,
    backend: 'wasm',
    resume: existsSync(join(out, 'checkpoints')),
    log: (l) => log(`${out.slice(outDir.length + 1)}: ${l}`),
  });
}

async function evaluate(name: string, out: string, make: () => Promise<Predictor>): Promise<EvalReport> {
  if (existsSync(join(out, 'metrics.json'))) return JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as EvalReport;
  const predictor = await make();
  log(`eval ${name}`);
  try {
    return await runEval({ bench, source: { kind: 'predictor', predictor }, budget: {}, out });
  } finally {
    await predictor.close?.();
  }
}

const ARMS = ['SFT w/o CoT', 'CoT-SFT', 'CoT-SFT + SFT', 'CoT-SFT + GRPO', 'CoT-SFT + GRPO-Difficulty'] as const;
type Arm = (typeof ARMS)[number];
const results: Array<{ seed: number; arm: Arm; report: EvalReport; seconds: number; rlLog?: RlStepLog[] }> = [];
const centre = await evaluate('centre', join(outDir, 'eval-centre'), () => Promise.resolve(baselinePredictor('centre')));

for (const seed of seeds) {
  const dir = join(outDir, `seed-${seed}`);
  mkdirSync(dir, { recursive: true });
  const nocot = await sft(join(dir, 'sft-nocot'), seed, { cot: false });
  const cot = await sft(join(dir, 'sft-cot'), seed);
  // More SFT: the CoT run continued for M updates of P rows (the samples GRPO sees), at the end of its schedule.
  const moreDir = join(dir, 'sft-cot-more');
  if (!done<SftResult>(moreDir)) {
    if (!existsSync(join(moreDir, 'checkpoints'))) {
      rmSync(moreDir, { recursive: true, force: true });
      cpSync(join(dir, 'sft-cot'), moreDir, { recursive: true });
      rmSync(join(moreDir, 'result.json'));
    }
  }
  const more = await sft(moreDir, seed, { steps: N + M });
  const grpo = await rl(join(dir, 'grpo'), seed, cot.checkpoint, 'none');
  const grpoD = await rl(join(dir, 'grpo-difficulty'), seed, cot.checkpoint, 'exp');
  const runs: Array<[Arm, string, number, string | null]> = [
    ['SFT w/o CoT', nocot.checkpoint, nocot.seconds, null],
    ['CoT-SFT', cot.checkpoint, cot.seconds, null],
    ['CoT-SFT + SFT', more.checkpoint, more.seconds, null],
    ['CoT-SFT + GRPO', grpo.checkpoint, grpo.seconds, join(dir, 'grpo')],
    ['CoT-SFT + GRPO-Difficulty', grpoD.checkpoint, grpoD.seconds, join(dir, 'grpo-difficulty')],
  ];
  for (const [arm, ck, seconds, rlDir] of runs) {
    const report = await evaluate(`${arm} seed ${seed}`, join(dir, 'eval', arm.replace(/[^a-z0-9]+/gi, '-').toLowerCase()), () =>
      checkpointPredictor(ck, { backend: 'wasm', forceAnswer, ...(maxTokens !== undefined ? { maxTokens } : {}) }),
    );
    const rlLog = rlDir
      ? readFileSync(join(rlDir, 'rl-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RlStepLog)
      : undefined;
    results.push({ seed, arm, report, seconds, ...(rlLog ? { rlLog } : {}) });
  }
}

// Table ------------------------------------------------------------------------------------------------
const tasks = centre.metrics.tasks.map((t) => t.task);
const ms = (xs: number[]) => {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1)) : 0;
  return { m, sd };
};
const fmt = (xs: number[], scale = 100, digits = 1) => {
  const { m, sd } = ms(xs.map((x) => x * scale));
  return `${m.toFixed(digits)} ± ${sd.toFixed(digits)}`;
};
const lines: string[] = [];
lines.push(`| Acc@0.5 (%), mean ± std over seeds ${seeds.join(', ')} | ${tasks.join(' | ')} | AVG | mean IoU (%) | usable answer |`);
lines.push(`|---|${tasks.map(() => '---:').join('|')}|---:|---:|---:|`);
const cm = centre.metrics;
lines.push(`| centre box (baseline) | ${tasks.map((t) => (100 * cm.tasks.find((x) => x.task === t)!.answer['acc@0.5']).toFixed(1)).join(' | ')} | ${(100 * cm.average.answer['acc@0.5']).toFixed(1)} | ${(100 * cm.average.answer.meanIou).toFixed(1)} | - |`);
for (const arm of ARMS) {
  const rs = results.filter((r) => r.arm === arm);
  const task = (t: string) => fmt(rs.map((r) => r.report.metrics.tasks.find((x) => x.task === t)?.answer['acc@0.5'] ?? 0));
  const usable = rs.map((r) => {
    const c = r.report.metrics.counts;
    return (c.samples - Object.values(c.unscored).reduce((x, y) => x + (y ?? 0), 0)) / c.samples;
  });
  lines.push(`| ${arm} | ${tasks.map(task).join(' | ')} | ${fmt(rs.map((r) => r.report.metrics.average.answer['acc@0.5']))} | ${fmt(rs.map((r) => r.report.metrics.average.answer.meanIou))} | ${fmt(usable, 100, 0)}% |`);
}
lines.push('');
lines.push('GRPO training signals (mean over seeds, first step -> last step):', '');
lines.push('| arm | reward | IoU reward | format rate | mIoU < 0.3 share | weight | KL | completion tokens | s/step |', '|---|---|---|---|---|---|---|---|---:|');
for (const arm of ['CoT-SFT + GRPO', 'CoT-SFT + GRPO-Difficulty'] as const) {
  const logs = results.filter((r) => r.arm === arm && r.rlLog).map((r) => r.rlLog!);
  const at = (f: (l: RlStepLog) => number, i: 0 | -1) => ms(logs.map((l) => f(i === 0 ? l[0]! : l[l.length - 1]!))).m;
  const pair = (f: (l: RlStepLog) => number, d = 3) => `${at(f, 0).toFixed(d)} -> ${at(f, -1).toFixed(d)}`;
  const sps = ms(logs.flatMap((l) => l.map((s) => s.seconds))).m;
  lines.push(`| ${arm} | ${pair((l) => l.rewardMean)} | ${pair((l) => l.accuracyMean)} | ${pair((l) => l.formatRate, 2)} | ${pair((l) => l.buckets['lt0.3'], 2)} | ${pair((l) => l.weightMean, 2)} | ${pair((l) => l.kl, 4)} | ${pair((l) => l.completionLength, 0)} | ${sps.toFixed(1)} |`);
}
// Figure 3 over training: per GRPO step, the share of prompts in each mIoU bucket (mean over seeds).
const BUCKETS = ['lt0.3', '0.3-0.7', 'gt0.7'] as const;
const bucketCurves = (arm: Arm) => {
  const logs = results.filter((r) => r.arm === arm && r.rlLog).map((r) => r.rlLog!);
  const steps = logs[0]?.map((l) => l.step) ?? [];
  return Object.fromEntries(BUCKETS.map((b) => [b, steps.map((st, i) => [st, ms(logs.map((l) => l[i]?.buckets[b] ?? 0)).m] as [number, number])])) as Record<(typeof BUCKETS)[number], Array<[number, number]>>;
};
lines.push('', 'mIoU buckets of the GRPO prompts over training (Figure 3; share of each step\'s prompts, mean over seeds):', '');
lines.push('| step | ' + (['CoT-SFT + GRPO', 'CoT-SFT + GRPO-Difficulty'] as const).flatMap((arm) => BUCKETS.map((b) => `${arm === 'CoT-SFT + GRPO' ? 'GRPO' : 'GRPO-D'} ${b}`)).join(' | ') + ' |');
lines.push('|---:|' + Array(6).fill('---:').join('|') + '|');
const curves = { plain: bucketCurves('CoT-SFT + GRPO'), weighted: bucketCurves('CoT-SFT + GRPO-Difficulty') };
const every = Math.max(1, Math.ceil(M / 10));
curves.plain['lt0.3'].forEach(([st], i) => {
  if ((i + 1) % every !== 0 && i !== 0 && i !== M - 1) return;
  const cells = [curves.plain, curves.weighted].flatMap((c) => BUCKETS.map((b) => (100 * (c[b][i]?.[1] ?? 0)).toFixed(0) + '%'));
  lines.push(`| ${st} | ${cells.join(' | ')} |`);
});
const svg = await render(
  stacked(
    [miouBuckets(curves.plain, { title: 'CoT-SFT + GRPO (phi none)' }), miouBuckets(curves.weighted, { title: 'CoT-SFT + GRPO-Difficulty (phi exp)' })],
    `Prompts by mIoU bucket per GRPO step, mean over seeds ${seeds.join(', ')}`,
  ),
);
const backend = String(results[0]?.report.predictor.info?.backend ?? 'n/a');
const header = [
  '# Ablation (Table 4 at small scale)',
  '',
  `Command: \`npx tsx bench/ablation.ts ${process.argv.slice(2).join(' ')}\`; machine ${process.arch}, ${process.platform}, Node ${process.version}; backend ${backend}; total ${((performance.now() - t0) / 60000).toFixed(1)} min in this process.`,
  `SFT: ${N} updates x ${batch} rows, lr ${a.lr}${vision ? `, from the tower ${a.vision} (frozen)` : ''}${a.pointer ? ', pointing' : ''}${a.model ? `, decoder ${a.model}` : ''}. More SFT / GRPO: ${M} steps x ${P} prompts${' '}(GRPO: G = ${a.g}, lr ${a['rl-lr']}, beta ${a.beta}, epsilon 0.2, temperature 1${maxTokens !== undefined ? `, ${maxTokens} tokens` : ''}). Test: ${bench.samples.length} samples${forceAnswer ? '; answers forced at the token budget in rollouts and evaluation' : ''}.`,
  '',
  '',
];
const md = header.join('\n') + lines.join('\n') + '\n';
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'ablation.md'), md);
writeFileSync(join(outDir, 'ablation-buckets.svg'), svg.svg + '\n');
writeFileSync(
  join(outDir, 'ablation.json'),
  JSON.stringify({ seeds, N, M, P, G: Number(a.g), results: results.map((r) => ({ seed: r.seed, arm: r.arm, seconds: r.seconds, average: r.report.metrics.average, tasks: r.report.metrics.tasks })) }, null, 2) + '\n',
);
process.stdout.write(md);
