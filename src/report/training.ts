/**
 * The training part of a run: where the training stages write (one layout shared by the stages and the
 * report), and the report's figures from those files: the SFT log (train-log.jsonl), the scored RL pool
 * (Parquet, via DuckDB), the GRPO log (rl-log.jsonl) and the evaluation results (eval/results.json).
 *
 * Logs can be long (thousands of updates): curves keep at most MAX_POINTS points each, picked by a fixed
 * stride so equal logs give equal figures.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { readManifest } from '../store/manifest.js';
import { isNotFound } from '../store/fsutil.js';
import type { EvalMetrics } from '../train/eval/metrics.js';
import { Duck, int, num, sqlString } from '../runview/duck.js';
import { parquetSource } from '../runview/views.js';
import type { Bin } from '../charts/index.js';
import { MIOU_BUCKET_NAMES } from '../schema/config.js';

/** A count per key (a task, a bucket, a reason), in a fixed order. */
export interface CountBy {
  key: string;
  count: number;
}

/** Directories (relative to the run) the training stages own. */
export const TRAIN_LAYOUT = {
  /** trainVision's out: the pretrained tower's checkpoints/, vision-log.jsonl, result.json; done.json when finished. */
  vision: 'train/vision',
  /** trainSft's out: checkpoints/, train-log.jsonl, result.json, loss-curve.svg; done.json when the stage finished. */
  sft: 'train/sft',
  /** scoreCorpus's out: RlRow shards with difficulty, weight and bucket, and _manifest.json. */
  scored: 'train/scored',
  /** trainRl's out: checkpoints/, rl-log.jsonl, result.json; done.json when the stage finished. */
  rl: 'train/rl',
  /** Evaluation: <model>/metrics.json + predictions.jsonl, untrained-init/ (step-0 checkpoint), results.json. */
  eval: 'eval',
  /** Every model's scored predictions as Prediction shards (the eval stage's Parquet output). */
  predictions: 'eval/predictions',
} as const;

/** Written by a training stage when it finished (never by an interrupted one). */
export const DONE_FILE = 'done.json';
export const EVAL_RESULTS = 'eval/results.json';

/** What done.json of train-sft / train-rl says. Deterministic for equal training (no times). */
export interface TrainDone {
  format: 1;
  /** Final checkpoint, relative to the run directory. */
  checkpoint: string;
  step: number;
  /** sha256 of the final weights (state.json), so a redo that gives equal weights leaves dependants fresh. */
  weightsSha256: string;
}

/** One model's entry in eval/results.json. */
export interface EvalModelResult {
  /** untrained | centre | random | whole-image | sft | rl */
  name: string;
  label: string;
  kind: 'checkpoint' | 'baseline';
  /** Checkpoint relative to the run directory, for checkpoint models. */
  checkpoint: string | null;
  step: number | null;
  seconds: number;
  metrics: EvalMetrics;
}

export interface EvalResults {
  format: 1;
  /**
   * `file` and `imageRoot` relative to the run when inside it; `imageRoot` is absent from results written
   * before the report drew the models' boxes (each model's metrics.json has it too).
   */
  bench: { file: string; imageRoot?: string; samples: number; quarantined: number; limit: number | null };
  models: EvalModelResult[];
}

export const MAX_POINTS = 400;
export type Point = [number, number];

/** At most `max` points: every k-th, and always the last (the final value is the one people read). */
export function thin(points: readonly Point[], max = MAX_POINTS): Point[] {
  if (points.length <= max) return points.map((p) => [p[0], p[1]]);
  const k = Math.ceil(points.length / max);
  const out: Point[] = [];
  for (let i = 0; i < points.length; i += k) out.push([points[i]![0], points[i]![1]]);
  const last = points[points.length - 1]!;
  if (out[out.length - 1]![0] !== last[0]) out.push([last[0], last[1]]);
  return out;
}

export interface SftFigures {
  /** Updates logged (the last step in the log). */
  steps: number;
  /** Updates planned (result.json), null while running or killed before the end. */
  stepsPlanned: number | null;
  finished: boolean;
  backend: string | null;
  params: number | null;
  finalLoss: number | null;
  finalEvalLoss: number | null;
  /** Median over updates (the first, which pays for setup, left out when there are more). */
  tokensPerSec: number | null;
  seconds: number | null;
  curves: { loss: Point[]; evalLoss: Point[]; lr: Point[]; tokensPerSec: Point[] };
}

/** The per-step metrics of GRPO shown as curves, in display order. */
export const RL_METRICS = ['rewardMean', 'rewardStd', 'accuracyMean', 'formatRate', 'weightMean', 'kl', 'clipFraction', 'completionLength', 'loss'] as const;
export type RlMetric = (typeof RL_METRICS)[number];
export const RL_BUCKETS = MIOU_BUCKET_NAMES;

export interface RlFigures {
  steps: number;
  stepsPlanned: number | null;
  finished: boolean;
  backend: string | null;
  seconds: number | null;
  /** The last step's values. */
  last: Record<RlMetric, number | null>;
  curves: Record<RlMetric, Point[]>;
  /** Share of the step's prompts in each mIoU bucket. */
  buckets: Record<(typeof RL_BUCKETS)[number], Point[]>;
}

export interface ScoredFigures {
  rows: number;
  scored: number;
  meanDifficulty: number | null;
  meanWeight: number | null;
  byBucket: CountBy[];
  /** mIoU of the scored rows, ten bins over [0, 1]. */
  histogram: Bin[];
}

export interface TrainingFigures {
  /** The corpus run the training read (train.from), null when it is this run. */
  from: string | null;
  sft: SftFigures | null;
  scored: ScoredFigures | null;
  rl: RlFigures | null;
  eval: EvalResults | null;
}

async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (isNotFound(err)) return null;
    throw new InputError(`cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file }, { cause: err });
  }
}

/** A JSON file's object, null when the file does not exist; InputError when it is not JSON. */
export async function readJson(file: string): Promise<Record<string, unknown> | null> {
  const text = await readText(file);
  if (text === null) return null;
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new InputError('not valid JSON (truncated?)', { file }, { cause: err });
  }
}

/**
 * The lines of a JSONL log. A last line cut off by a kill is dropped (the trainer rewrites the log on
 * resume); a bad line anywhere else is an error.
 */
export async function readJsonl(file: string): Promise<Array<Record<string, unknown>> | null> {
  const text = await readText(file);
  if (text === null) return null;
  const lines = text.split('\n');
  const out: Array<Record<string, unknown>> = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.trim() === '') continue;
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch (err) {
      if (i === lines.length - 1) break;
      throw new InputError(`line ${i + 1} is not valid JSON`, { file, row: i + 1 }, { cause: err });
    }
  }
  return out;
}

const n = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const s = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
}

function series(rows: ReadonlyArray<Record<string, unknown>>, key: string): Point[] {
  const out: Point[] = [];
  for (const r of rows) {
    const x = n(r.step);
    const y = n(r[key]);
    if (x !== null && y !== null) out.push([x, y]);
  }
  return thin(out);
}

/** SFT figures from train/sft (null when train-sft never started here). Pure on the parsed files. */
export function sftFigures(log: ReadonlyArray<Record<string, unknown>>, result: Record<string, unknown> | null, finished: boolean): SftFigures {
  const steps = log.filter((l) => l.type === 'step');
  const evals = log.filter((l) => l.type === 'eval');
  const tps = steps.map((l) => n(l.tokensPerSec)).filter((x): x is number => x !== null);
  const last = steps[steps.length - 1];
  const lastEval = [...evals].reverse().find((e) => n(e.evalLoss) !== null);
  return {
    steps: last ? (n(last.step) ?? 0) : 0,
    stepsPlanned: result ? n(result.steps) : null,
    finished,
    backend: result && typeof result.backend === 'object' && result.backend !== null ? s((result.backend as Record<string, unknown>).name) : last ? s(last.backend) : null,
    params: result ? n(result.params) : null,
    finalLoss: last ? n(last.loss) : null,
    finalEvalLoss: lastEval ? n(lastEval.evalLoss) : null,
    tokensPerSec: median(tps.length > 1 ? tps.slice(1) : tps),
    seconds: result ? n(result.seconds) : null,
    curves: { loss: series(steps, 'loss'), evalLoss: series(evals, 'evalLoss'), lr: series(steps, 'lr'), tokensPerSec: series(steps, 'tokensPerSec') },
  };
}

/** GRPO figures from rl-log.jsonl lines ({type: 'rl-step', ...}). */
export function rlFigures(log: ReadonlyArray<Record<string, unknown>>, result: Record<string, unknown> | null, finished: boolean): RlFigures {
  const steps = log.filter((l) => l.type === 'rl-step');
  const last = steps[steps.length - 1];
  const curves = {} as Record<RlMetric, Point[]>;
  const lastVals = {} as Record<RlMetric, number | null>;
  for (const m of RL_METRICS) {
    curves[m] = series(steps, m);
    lastVals[m] = last ? n(last[m]) : null;
  }
  const buckets = {} as RlFigures['buckets'];
  for (const b of RL_BUCKETS) {
    const pts: Point[] = [];
    for (const r of steps) {
      const x = n(r.step);
      const y = r.buckets && typeof r.buckets === 'object' ? n((r.buckets as Record<string, unknown>)[b]) : null;
      if (x !== null && y !== null) pts.push([x, y]);
    }
    buckets[b] = thin(pts);
  }
  return {
    steps: last ? (n(last.step) ?? 0) : 0,
    stepsPlanned: result ? n(result.steps) : null,
    finished,
    backend: result && typeof result.backend === 'object' && result.backend !== null ? s((result.backend as Record<string, unknown>).name) : last ? s(last.backend) : null,
    seconds: result ? n(result.seconds) : null,
    last: lastVals,
    curves,
    buckets,
  };
}

/** The bucket of an RL row that has no difficulty (yet). */
export const NOT_SCORED = '(not scored)';
/** mIoU buckets in the paper's order, then rows without one, then anything else by name (SQL ORDER BY on `key`). */
export const BUCKET_ORDER = `CASE key WHEN 'lt0.3' THEN 0 WHEN '0.3-0.7' THEN 1 WHEN 'gt0.7' THEN 2 WHEN ${sqlString(NOT_SCORED)} THEN 4 ELSE 3 END, key`;

/** Creates the view `scored` over train/scored/ when it exists (the corpus figures read it too). */
async function scoredFigures(duck: Duck, root: string): Promise<ScoredFigures | null> {
  const dir = join(root, TRAIN_LAYOUT.scored);
  const manifest = await readManifest(dir);
  if (!manifest) return null;
  const files = manifest.files.map((f) => join(dir, f.file));
  if (files.length === 0) return { rows: 0, scored: 0, meanDifficulty: null, meanWeight: null, byBucket: [], histogram: [] };
  await duck.exec(`CREATE OR REPLACE VIEW scored AS SELECT * FROM ${parquetSource(files)}`, 'scored RL pool view');
  const t = await duck.one(`SELECT count(*) AS n, count(difficulty) AS scored, avg(difficulty) AS d, avg(weight) AS w FROM scored`);
  const byBucket = (await duck.all(`SELECT coalesce(bucket, ${sqlString(NOT_SCORED)}) AS key, count(*) AS n FROM scored GROUP BY 1 ORDER BY ${BUCKET_ORDER}`)).map(
    (r) => ({ key: String(r.key), count: int(r.n) }),
  );
  const bins = await duck.all(`SELECT least(floor(difficulty * 10), 9)::int AS b, count(*) AS n FROM scored WHERE difficulty IS NOT NULL GROUP BY 1 ORDER BY 1`);
  const histogram: Bin[] = Array.from({ length: 10 }, (_, i) => ({ lo: i / 10, hi: (i + 1) / 10, count: 0 }));
  for (const r of bins) {
    const b = int(r.b);
    if (b >= 0 && b < 10) histogram[b]!.count = int(r.n);
  }
  return { rows: int(t.n), scored: int(t.scored), meanDifficulty: num(t.d), meanWeight: num(t.w), byBucket, histogram };
}

/** The training figures of a run; null when it has no training output at all. */
export async function trainingFigures(duck: Duck, root: string, from: string | null): Promise<TrainingFigures | null> {
  const sftDir = join(root, TRAIN_LAYOUT.sft);
  const rlDir = join(root, TRAIN_LAYOUT.rl);
  const sftLog = await readJsonl(join(sftDir, 'train-log.jsonl'));
  const rlLog = await readJsonl(join(rlDir, 'rl-log.jsonl'));
  const sftDone = (await readText(join(sftDir, DONE_FILE))) !== null;
  const rlDone = (await readText(join(rlDir, DONE_FILE))) !== null;
  const sft = sftLog ? sftFigures(sftLog, await readJson(join(sftDir, 'result.json')), sftDone) : null;
  const rl = rlLog ? rlFigures(rlLog, await readJson(join(rlDir, 'result.json')), rlDone) : null;
  const scored = await scoredFigures(duck, root);
  const evalDoc = await readJson(join(root, EVAL_RESULTS));
  const ev = evalDoc && evalDoc.format === 1 && Array.isArray(evalDoc.models) ? (evalDoc as unknown as EvalResults) : null;
  if (!sft && !rl && !scored && !ev) return null;
  return { from, sft, scored, rl, eval: ev };
}
