/**
 * The real SFT run on this machine: build a demo corpus (a copy of pipelines/demo.yaml with more
 * samples, images kept in the run's image store), train CoT-SFT for a time budget, train the no-CoT
 * ablation for the same number of updates, and score on the suite's test split with `univg eval`'s code:
 * the untrained model, the centre-box baseline, CoT-SFT and no-CoT SFT (Acc@0.5 per task, answer-box
 * scorer). Writes <run-dir>/sft-demo.md and sft-demo.json.
 *
 *   npx tsx bench/sft-demo.ts                                   # 2400 samples, ~12 minutes of CoT-SFT
 *   npx tsx bench/sft-demo.ts --minutes 15 --batch 4 --seed 0
 *   npx tsx bench/sft-demo.ts --steps 600 --skip-eval           # fixed number of updates
 *
 * Every phase is skipped when its output exists, so a re-run continues where it stopped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { readManifest } from '../src/store/index.js';
import { checkpointPredictor } from '../src/train/eval/checkpoint-predictor.js';
import { loadBench, runEval, type EvalReport } from '../src/train/eval/evaluate.js';
import { baselinePredictor, type Predictor } from '../src/train/eval/predictor.js';
import { trainSft, type SftOptions, type SftResult } from '../src/train/sft.js';

const { values: a } = parseArgs({
  options: {
    'run-dir': { type: 'string', default: 'runs/sft-demo' },
    samples: { type: 'string', default: '2400' },
    'test-fraction': { type: 'string', default: '0.05' },
    minutes: { type: 'string', default: '12' },
    steps: { type: 'string' },
    batch: { type: 'string', default: '4' },
    lr: { type: 'string', default: '2e-3' },
    seed: { type: 'string', default: '0' },
    'eval-limit': { type: 'string' },
    'skip-eval': { type: 'boolean', default: false },
    'skip-nocot': { type: 'boolean', default: false },
    'corpus-only': { type: 'boolean', default: false },
    // Outputs go to <run-dir>/<tag>sft-cot, <tag>eval/... so several variants share one corpus.
    tag: { type: 'string', default: '' },
  },
});
const root = resolve(new URL('..', import.meta.url).pathname);
const runDir = resolve(a['run-dir']!);
const log = (s: string) => process.stderr.write(`[sft-demo] ${s}\n`);
const seed = Number(a.seed);
const batch = Number(a.batch);

// 1. Corpus ------------------------------------------------------------------------------------------
const sftDir = join(runDir, 'corpus', 'sft');
let corpusSeconds: number | null = null;
if (!(await readManifest(sftDir).catch(() => null))) {
  const cfg = parseYaml(readFileSync(join(root, 'pipelines', 'demo.yaml'), 'utf8'));
  cfg.name = 'sft-demo';
  // Only the corpus: this script trains and evaluates itself (the demo's train section is a short run).
  delete cfg.train;
  cfg.source.samples = Number(a.samples);
  cfg.source.testFraction = Number(a['test-fraction']);
  // Most selected samples to SFT; images stay in the run's image store (rows reference them by path).
  cfg.select.rlFraction = 0.1;
  cfg.shards.embedImages = false;
  mkdirSync(runDir, { recursive: true });
  const yamlFile = join(runDir, 'sft-demo.yaml');
  writeFileSync(yamlFile, stringifyYaml(cfg));
  log(`building the corpus: ${a.samples} synthetic samples (${yamlFile})`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(root, 'bin', 'univg.js'), 'run', yamlFile, '--run-dir', runDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`univg run failed (exit ${r.status})`);
  corpusSeconds = (performance.now() - t0) / 1000;
}
const manifest = (await readManifest(sftDir))!;
const sftRows = manifest.files.reduce((n, f) => n + f.rows, 0);
log(`corpus: ${sftRows} SFT rows in ${sftDir}`);
if (a['corpus-only']) process.exit(0);

// 2. Training --------------------------------------------------------------------------------------------
const common = (out: string): SftOptions => ({
  data: [sftDir],
  dataRoot: runDir,
  out: join(runDir, out),
  steps: 1,
  batch,
  seed,
  lr: Number(a.lr),
  checkpointEvery: 50,
  evalEvery: 50,
  workers: 1,
  log: (l) => log(`${out}: ${l}`),
});
const tag = a.tag!;
const resultOf = (out: string): SftResult | null => (existsSync(join(runDir, out, 'result.json')) ? (JSON.parse(readFileSync(join(runDir, out, 'result.json'), 'utf8')) as SftResult) : null);

let steps = a.steps ? Number(a.steps) : 0;
if (!steps) {
  const prior = resultOf(`${tag}sft-cot`);
  if (prior) steps = prior.steps;
  else {
    // Time a few updates (after the first, which pays for setup) to fit the budget.
    const probe = join(runDir, 'probe');
    rmSync(probe, { recursive: true, force: true });
    const r = await trainSft({ ...common('probe'), steps: 1000, stopAfter: 8, evalFraction: 0, log: () => undefined });
    const lines = readFileSync(join(probe, 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const perStep = lines.filter((l) => l.type === 'step' && l.step > 1).reduce((s, l, _, all) => s + l.seconds / all.length, 0);
    steps = Math.max(10, Math.floor((Number(a.minutes) * 60) / (perStep * 1.05)));
    log(`probe: ${perStep.toFixed(2)} s/update on ${r.backend.name}: ${steps} updates fit ${a.minutes} minutes`);
    rmSync(probe, { recursive: true, force: true });
  }
}

async function train(out: string, extra: Partial<SftOptions>): Promise<SftResult> {
  const done = resultOf(out);
  if (done && done.stopped === 'done' && done.step === done.steps) return done;
  return trainSft({ ...common(out), steps, resume: existsSync(join(runDir, out, 'checkpoints')), ...extra });
}
const untrained = await train(`${tag}untrained`, { stopAfter: 0 });
const cot = await train(`${tag}sft-cot`, {});
const nocot = a['skip-nocot'] ? null : await train(`${tag}sft-nocot`, { cot: false });

// 3. Evaluation ----------------------------------------------------------------------------------------
interface Scored {
  name: string;
  report: EvalReport;
}
const scored: Scored[] = [];
if (!a['skip-eval']) {
  const benchFile = join(runDir, 'source', 'test.json');
  const bench = await loadBench(benchFile, join(runDir, 'source'));
  if (a['eval-limit']) bench.samples = bench.samples.slice(0, Number(a['eval-limit']));
  const sources: Array<[string, () => Promise<Predictor>]> = [
    ['untrained', () => checkpointPredictor(untrained.checkpoint)],
    ['centre baseline', () => Promise.resolve(baselinePredictor('centre'))],
    ['CoT-SFT', () => checkpointPredictor(cot.checkpoint)],
    ...(nocot ? ([['no-CoT SFT', () => checkpointPredictor(nocot.checkpoint)]] as Array<[string, () => Promise<Predictor>]>) : []),
  ];
  for (const [name, make] of sources) {
    const out = join(runDir, `${tag}eval`, name.replace(/[^a-z0-9]+/gi, '-').toLowerCase());
    let report: EvalReport;
    if (existsSync(join(out, 'metrics.json'))) report = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as EvalReport;
    else {
      const predictor = await make();
      log(`eval ${name} on ${bench.samples.length} test samples`);
      try {
        report = await runEval({ bench, source: { kind: 'predictor', predictor }, budget: {}, out });
      } finally {
        await predictor.close?.();
      }
    }
    scored.push({ name, report });
  }
}

// 4. Report ---------------------------------------------------------------------------------------------
const pct = (x: number) => (100 * x).toFixed(1);
const tasks = [...new Set(scored.flatMap((s) => s.report.metrics.tasks.map((t) => t.task)))];
const lines: string[] = [];
lines.push('# SFT demo', '');
lines.push(`Command: \`npx tsx bench/sft-demo.ts ${process.argv.slice(2).join(' ')}\` (seed ${seed}), machine: ${process.arch}, Node ${process.version}.`, '');
lines.push(`Corpus: ${sftRows} SFT rows (${a.samples} synthetic samples${corpusSeconds ? `, built in ${corpusSeconds.toFixed(0)} s` : ''}).`);
for (const r of [cot, nocot].filter((x): x is SftResult => x !== null))
  lines.push(
    `- ${r.out.endsWith('nocot') ? 'no-CoT' : 'CoT'} SFT: ${r.step} updates x ${batch} rows, backend ${r.backend.name}, ${r.seconds.toFixed(0)} s, final train loss ${r.finalLoss?.toFixed(3)}, held-out loss ${r.finalEvalLoss?.toFixed(3)}; loss curve ${join(r.out, 'loss-curve.svg')}`,
  );
if (scored.length) {
  lines.push('', '| Acc@0.5 (%) | ' + tasks.join(' | ') + ' | AVG | mean IoU | format ok |', '|---|' + tasks.map(() => '---:').join('|') + '|---:|---:|---:|');
  for (const s of scored) {
    const m = s.report.metrics;
    const byTask = new Map(m.tasks.map((t) => [t.task, t]));
    const noAnswer = Object.values(m.counts.unscored).reduce((x, y) => x + (y ?? 0), 0);
    lines.push(
      `| ${s.name} | ${tasks.map((t) => (byTask.get(t) ? pct(byTask.get(t)!.answer['acc@0.5']) : '-')).join(' | ')} | ${pct(m.average.answer['acc@0.5'])} | ${m.average.answer.meanIou.toFixed(3)} | ${m.counts.samples - noAnswer}/${m.counts.samples} |`,
    );
  }
}
const md = lines.join('\n') + '\n';
writeFileSync(join(runDir, `${tag}sft-demo.md`), md);
writeFileSync(
  join(runDir, `${tag}sft-demo.json`),
  JSON.stringify({ sftRows, steps, batch, seed, cot, nocot, eval: scored.map((s) => ({ name: s.name, seconds: s.report.seconds, average: s.report.metrics.average, tasks: s.report.metrics.tasks })) }, null, 2) + '\n',
);
process.stdout.write(md);
