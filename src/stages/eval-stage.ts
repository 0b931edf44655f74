/**
 * The eval stage: MIG-Bench metrics of each model on the benchmark (default: the corpus run's synthetic
 * test split): the untrained model (the SFT initialisation, step 0), baselines (centre box...), the SFT
 * and the GRPO checkpoints. Writes eval/<model>/{metrics.json, predictions.jsonl} with `univg eval`'s
 * code, eval/results.json for the report, and every prediction as Prediction shards (eval/predictions/)
 * for DuckDB. A model already scored (its metrics.json exists) is not scored again when a killed stage
 * is rerun.
 */
import { createReadStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { ConfigError, InputError, InterruptedError } from '../errors.js';
import type { EvalModel, PipelineConfig } from '../schema/config.js';
import type { Prediction } from '../schema/records.js';
import { writeFileAtomic } from '../store/fsutil.js';
import { EVAL_RESULTS, TRAIN_LAYOUT, type EvalModelResult, type EvalResults } from '../report/training.js';
import type { EvalReport } from '../train/eval/evaluate.js';
import type { Predictor } from '../train/eval/predictor.js';
import type { Stage, TaskContext } from './stage.js';
import { benchOf, evalModels, readDone, seedOf, sftOptions } from './train-plan.js';

/** Step-0 checkpoint of the SFT setup: "the untrained model" (same tokenizer, shape and seed). */
const UNTRAINED_DIR = `${TRAIN_LAYOUT.eval}/untrained-init`;

const LABELS: Record<EvalModel, string> = {
  untrained: 'untrained (SFT init)',
  centre: 'centre-box baseline',
  random: 'random-box baseline',
  'whole-image': 'whole-image baseline',
  sft: 'SFT',
  rl: 'SFT + GRPO',
};

function needsDefaultBench(c: PipelineConfig): boolean {
  return c.train?.eval?.bench === undefined && c.train?.from === undefined;
}

function evalInputs(c: PipelineConfig): string[] {
  if (!c.train?.eval) return [];
  const models = evalModels(c);
  const out: string[] = [];
  // The default bench is the test split ingest renders into this run.
  if (needsDefaultBench(c)) out.push('ingest');
  if (models.includes('untrained') || models.includes('sft')) out.push('train-sft');
  if (models.includes('rl')) out.push('train-rl');
  return out;
}

function evalSettings(c: PipelineConfig): unknown {
  const e = c.train?.eval;
  if (!e) return null;
  return {
    bench: e.bench ?? { testSplitOf: c.train?.from ?? '(this run)' },
    models: evalModels(c),
    limit: e.limit ?? null,
    maxTokens: e.maxTokens ?? null,
    temperature: e.temperature,
    ...(e.forceAnswer ? { forceAnswer: true } : {}),
    seed: seedOf(c, e.seed),
  };
}

async function ensureUntrained(ctx: TaskContext): Promise<string> {
  const out = join(ctx.runDir, UNTRAINED_DIR);
  const ck = join(out, 'checkpoints', 'step-000000');
  if (existsSync(join(ck, 'state.json'))) return ck;
  const { trainSft } = await import('../train/sft.js');
  // stopAfter 0: build the tokenizer and initialise exactly as train-sft did, save step 0, train nothing.
  const r = await trainSft({ ...sftOptions(ctx.config, ctx.runDir), out, resume: true, stopAfter: 0, evalEvery: 0, signal: ctx.signal, log: (l) => ctx.log(`untrained: ${l}`) });
  return r.checkpoint;
}

async function predictorFor(ctx: TaskContext, model: EvalModel): Promise<{ predictor: Predictor; checkpoint: string | null; step: number | null }> {
  const e = ctx.config.train!.eval!;
  const seed = seedOf(ctx.config, e.seed);
  if (model === 'centre' || model === 'random' || model === 'whole-image') {
    const { baselinePredictor } = await import('../train/eval/predictor.js');
    return { predictor: baselinePredictor(model, { seed }), checkpoint: null, step: null };
  }
  const dir =
    model === 'untrained'
      ? await ensureUntrained(ctx)
      : (await readDone(ctx.runDir, model === 'sft' ? TRAIN_LAYOUT.sft : TRAIN_LAYOUT.rl)).path;
  const { checkpointPredictor } = await import('../train/eval/checkpoint-predictor.js');
  const backend = ctx.config.train?.backend;
  const predictor = await checkpointPredictor(dir, {
    ...(backend ? { backend } : {}),
    ...(e.maxTokens !== undefined ? { maxTokens: e.maxTokens } : {}),
    temperature: e.temperature,
    forceAnswer: e.forceAnswer,
    seed,
  });
  const step = typeof predictor.info?.step === 'number' ? predictor.info.step : null;
  return { predictor, checkpoint: inRun(ctx.runDir, dir), step };
}

/** A path relative to the run when it lies inside it (results stay the same wherever the run is moved). */
function inRun(runDir: string, file: string): string {
  const rel = relative(resolve(runDir), resolve(file));
  return rel.startsWith('..') ? resolve(file) : rel;
}

async function* jsonLines<T>(file: string): AsyncGenerator<T> {
  const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let row = 0;
  for await (const line of rl) {
    row++;
    if (line.trim() === '') continue;
    try {
      yield JSON.parse(line) as T;
    } catch (err) {
      throw new InputError('prediction line is not valid JSON', { file, row }, { cause: err });
    }
  }
}

export const evalStage: Stage = {
  name: 'eval',
  description: 'score each model (untrained, baselines, SFT, GRPO) on the benchmark: Acc@0.3/0.5/0.7 and mean IoU per task, AVG',
  // Every stage it may read; inputsFor picks those this config uses.
  inputs: ['ingest', 'train-sft', 'train-rl'],
  inputsFor: evalInputs,
  outputs: [{ name: 'predictions', dir: TRAIN_LAYOUT.predictions, kind: 'Prediction' }],
  workDir: TRAIN_LAYOUT.eval,
  mode: 'whole',
  disabled: (c) => (c.train?.eval ? null : 'no train.eval section'),
  externalInputs: (c) => {
    if (!c.train?.eval || needsDefaultBench(c)) return [];
    const b = benchOf(c, '.');
    return b ? [{ name: 'bench', file: b.file }] : [];
  },
  settings: evalSettings,
  preflight(c) {
    evalModels(c);
    const b = benchOf(c, '.');
    if (!b)
      throw new ConfigError('train.eval needs a bench (train.eval.bench: {file, imageRoot}): only the synthetic source renders a test split into the run', { field: 'train.eval.bench' });
    if (!needsDefaultBench(c) && !existsSync(b.file)) throw new InputError('benchmark file not found', { file: b.file, field: 'train.eval.bench' });
  },
  async runTask(ctx) {
    const e = ctx.config.train!.eval!;
    const b = benchOf(ctx.config, ctx.runDir)!;
    const { loadBench, runEval, quarantinedItems } = await import('../train/eval/evaluate.js');
    const bench = await loadBench(b.file, b.imageRoot);
    if (e.limit !== undefined) bench.samples = bench.samples.slice(0, e.limit);
    if (bench.samples.length === 0) throw new InputError('the benchmark has no usable samples', { file: b.file });
    const models = evalModels(ctx.config);
    ctx.progress.setTotal(models.length * bench.samples.length);
    const results: EvalModelResult[] = [];
    for (const model of models) {
      if (ctx.signal.aborted) throw new InterruptedError();
      const out = join(ctx.runDir, TRAIN_LAYOUT.eval, model);
      const metricsFile = join(out, 'metrics.json');
      let report: EvalReport;
      let checkpoint: string | null = null;
      let step: number | null = null;
      if (existsSync(metricsFile)) {
        report = JSON.parse(await readFile(metricsFile, 'utf8')) as EvalReport;
        const info = report.predictor.info ?? {};
        checkpoint = typeof info.checkpoint === 'string' ? inRun(ctx.runDir, info.checkpoint) : null;
        step = typeof info.step === 'number' ? info.step : null;
        ctx.progress.advance(bench.samples.length);
        ctx.log(`${model}: scored before (${relative(ctx.runDir, metricsFile)})`);
      } else {
        const made = await predictorFor(ctx, model);
        ({ checkpoint, step } = made);
        // Stored as Prediction.model: the model's role here, not a machine-specific path.
        const predictor: Predictor = { ...made.predictor, name: model };
        try {
          report = await runEval({ bench, source: { kind: 'predictor', predictor }, out, signal: ctx.signal, onProgress: () => ctx.progress.advance() });
        } finally {
          await made.predictor.close?.();
        }
        const avg = report.metrics.average.answer;
        ctx.log(`${model}: Acc@0.5 ${(100 * avg['acc@0.5']).toFixed(2)}%, mean IoU ${avg.meanIou.toFixed(3)} on ${bench.samples.length} samples (${report.seconds.toFixed(1)} s)`);
      }
      results.push({ name: model, label: LABELS[model], kind: checkpoint === null ? 'baseline' : 'checkpoint', checkpoint, step, seconds: report.seconds, metrics: report.metrics });
    }
    const sink = ctx.output<Prediction>('predictions');
    for (const model of models) for await (const p of jsonLines<Prediction>(join(ctx.runDir, TRAIN_LAYOUT.eval, model, 'predictions.jsonl'))) await sink.write(p);
    const doc: EvalResults = {
      format: 1,
      bench: { file: inRun(ctx.runDir, b.file), imageRoot: inRun(ctx.runDir, b.imageRoot), samples: bench.samples.length, quarantined: quarantinedItems(bench.quarantined), limit: e.limit ?? null },
      models: results,
    };
    await writeFileAtomic(join(ctx.runDir, EVAL_RESULTS), `${JSON.stringify(doc, null, 2)}\n`);
  },
};
