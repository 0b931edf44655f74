/**
 * The evaluation run: read a MIG-Bench-format file with ingest (so samples, target images and pixel boxes
 * are exactly ingest's), get a completion per sample (from a predictions file or a predictor), score each
 * one, aggregate, and write `predictions.jsonl` + `metrics.json`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { InputError, InterruptedError } from '../../errors.js';
import type { BoxConvention, GroundingSample, Prediction, QuarantineRecord } from '../../schema/records.js';
import { ingestMigBench } from '../../sources/index.js';
import { resolveUnderRoot } from '../../sources/images.js';
import { JsonlWriter } from '../../sources/jsonl-writer.js';
import { writeFileAtomic } from '../../store/fsutil.js';
import { aggregate, type EvalMetrics } from './metrics.js';
import { checkPredictionIds, type ExternalPrediction } from './predictions-file.js';
import { PredictionFailedError, type Predictor } from './predictor.js';
import { scoreCompletion, scoreMissing, toPrediction, type PixelBudget, type ScoredSample } from './score.js';

export interface Bench {
  file: string;
  imageRoot: string;
  samples: GroundingSample[];
  /** Bench items ingest refused (missing image, bad box...): not scored, reported. */
  quarantined: QuarantineRecord[];
}

/**
 * Read a MIG-Bench-format JSON (MIG-Bench, the synthetic suite's test.json) through ingest. With `only`,
 * just the items that become those samples (the rest are skipped unread: no image of theirs is opened).
 */
export async function loadBench(file: string, imageRoot: string, only?: ReadonlySet<string>): Promise<Bench> {
  const samples: GroundingSample[] = [];
  const quarantined: QuarantineRecord[] = [];
  for await (const e of ingestMigBench({ input: file, imageRoot, ...(only ? { only } : {}) })) {
    if (e.kind === 'sample') samples.push(e.sample);
    else quarantined.push(e.record);
  }
  return { file, imageRoot, samples, quarantined };
}

/** The bytes of a sample's images, read under the image root and checked against ingest's hashes. */
export async function loadImages(sample: GroundingSample, imageRoot: string): Promise<Buffer[]> {
  return Promise.all(
    sample.images.map(async (im, i) => {
      const where = resolveUnderRoot(imageRoot, im.path);
      if (!where.ok) throw new InputError(where.detail, { file: im.path, recordId: sample.id, field: `images[${i}]` });
      let buf: Buffer;
      try {
        buf = await readFile(where.path);
      } catch (err) {
        throw new InputError(`cannot read image (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file: where.path, recordId: sample.id }, { cause: err });
      }
      const sha = createHash('sha256').update(buf).digest('hex');
      if (sha !== im.sha256) throw new InputError('image changed since the bench was read (sha256 differs)', { file: where.path, recordId: sample.id });
      return buf;
    }),
  );
}

export type CompletionSource =
  | { kind: 'predictions'; file: string; predictions: ReadonlyMap<string, ExternalPrediction>; model?: string }
  | { kind: 'predictor'; predictor: Predictor };

export interface EvaluateOptions {
  bench: Bench;
  source: CompletionSource;
  /** Pixel budget for reading qwen25vl boxes. */
  budget?: PixelBudget;
  /** Called with every stored prediction, in bench order. */
  onPrediction?: (p: Prediction) => Promise<void> | void;
  /** After each sample (done, total). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface EvaluateResult {
  metrics: EvalMetrics;
  /** Name stored as Prediction.model. */
  model: string;
  convention: BoxConvention | 'per-line';
}

/** Score every bench sample once; a sample without a completion scores 0 and is counted. */
export async function evaluate(opts: EvaluateOptions): Promise<EvaluateResult> {
  const { bench, source } = opts;
  const samples = bench.samples;
  const budget = opts.budget ?? {};
  const scored: ScoredSample[] = [];
  const total = samples.length;
  let done = 0;
  const emit = async (s: ScoredSample, completion: string | null, convention: BoxConvention, model: string) => {
    scored.push(s);
    if (completion !== null && opts.onPrediction) await opts.onPrediction(toPrediction(s, completion, convention, model));
    opts.onProgress?.(++done, total);
  };

  if (source.kind === 'predictions') {
    const known = new Set(samples.map((s) => s.id));
    for (const q of bench.quarantined) if (q.recordId !== null) known.add(q.recordId);
    checkPredictionIds(source.predictions.keys(), known, source.file);
    // The label: --model, else the one model every line names, else "external".
    const named = new Set([...source.predictions.values()].map((p) => p.model));
    const model = source.model ?? (named.size === 1 ? [...named][0] : undefined) ?? 'external';
    const conventions = new Set([...source.predictions.values()].map((p) => p.convention));
    for (const sample of samples) {
      if (opts.signal?.aborted) throw new InterruptedError();
      const p = source.predictions.get(sample.id);
      if (p === undefined) await emit(scoreMissing(sample), null, 'qwen2vl', model);
      else await emit(scoreCompletion(sample, p.completion, p.convention, budget), p.completion ?? '', p.convention, model);
    }
    const only = conventions.size === 1 ? [...conventions][0]! : null;
    return { metrics: aggregate(scored), model, convention: only ?? 'per-line' };
  }

  const { predictor } = source;
  if (predictor.predictMany && (predictor.batch ?? 1) > 1) {
    // Consecutive groups, in bench order: each group is generated together.
    const size = predictor.batch!;
    for (let i = 0; i < samples.length; i += size) {
      if (opts.signal?.aborted) throw new InterruptedError();
      const group = samples.slice(i, i + size);
      const items = await Promise.all(group.map(async (sample) => ({ sample, images: predictor.needsImages !== false ? await loadImages(sample, bench.imageRoot) : [] })));
      const completions = await predictor.predictMany(items);
      for (let k = 0; k < group.length; k++) await emit(scoreCompletion(group[k]!, completions[k]!, predictor.convention, budget), completions[k]!, predictor.convention, predictor.name);
    }
    return { metrics: aggregate(scored), model: predictor.name, convention: predictor.convention };
  }
  const limit = pLimit(Math.max(1, predictor.concurrency ?? 1));
  const needsImages = predictor.needsImages !== false;
  type Outcome = { completion: string } | { failed: string };
  const jobs = samples.map((sample) =>
    limit(async (): Promise<Outcome> => {
      if (opts.signal?.aborted) throw new InterruptedError();
      const images = needsImages ? await loadImages(sample, bench.imageRoot) : [];
      try {
        return { completion: await predictor.predict(sample, images) };
      } catch (err) {
        if (err instanceof PredictionFailedError) return { failed: err.message };
        throw err;
      }
    }),
  );
  // Every job settles before anything is thrown, so no rejection is left unhandled.
  const settled = Promise.allSettled(jobs);
  try {
    for (let i = 0; i < samples.length; i++) {
      const sample = samples[i]!;
      const r = await jobs[i]!;
      if ('failed' in r) await emit(scoreMissing(sample, 'prediction_failed'), null, predictor.convention, predictor.name);
      else await emit(scoreCompletion(sample, r.completion, predictor.convention, budget), r.completion, predictor.convention, predictor.name);
    }
  } catch (err) {
    limit.clearQueue();
    await settled;
    throw err;
  }
  return { metrics: aggregate(scored), model: predictor.name, convention: predictor.convention };
}

/** What `metrics.json` holds. */
export interface EvalReport {
  format: 1;
  bench: { file: string; imageRoot: string; samples: number; quarantined: number; quarantineReasons: Record<string, number> };
  predictor: { model: string; source: 'predictions' | 'predictor'; convention: BoxConvention | 'per-line'; file?: string; info?: Record<string, unknown> };
  budget: PixelBudget;
  startedAt: string;
  finishedAt: string;
  seconds: number;
  /** How each scorer reads a box, in words (so the JSON is self-explaining). */
  scorers: { answer: string; paper: string };
  metrics: EvalMetrics;
}

export const SCORER_NOTES = {
  answer: 'box of the <answer> block (parseCompletion), read in the declared convention, converted to pixels of the target image; IoU with the ground truth in pixels; no usable answer box scores 0',
  paper:
    "UniVG-R1's MIG-Bench scorer: the first integer box anywhere in the output (extract_bbox; a box inside <think> wins), IoU in the 0-1000 space against the ground truth in 0-1000 integers (calculate_iou)",
} as const;

/** Reasons ingest gave, counted once per bench item (ingest writes one record per failing image). */
export function quarantineReasons(q: readonly QuarantineRecord[]): Record<string, number> {
  const seen = new Set<string>();
  const out: Record<string, number> = {};
  for (const r of q) {
    const key = `${r.reason}\0${r.recordId ?? ''}\0${r.row ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out[r.reason] = (out[r.reason] ?? 0) + 1;
  }
  return out;
}

/** Bench items ingest refused (several quarantine records can name the same item). */
export function quarantinedItems(q: readonly QuarantineRecord[]): number {
  return new Set(q.map((r) => `${r.recordId ?? ''}\0${r.row ?? ''}`)).size;
}

export interface RunEvalOptions extends Omit<EvaluateOptions, 'onPrediction'> {
  /** Directory for predictions.jsonl and metrics.json; nothing is written when absent. */
  out?: string;
}

/** evaluate() plus the output files (each written under a temp name, then renamed). */
export async function runEval(opts: RunEvalOptions): Promise<EvalReport> {
  const started = new Date();
  const t0 = performance.now();
  let writer: JsonlWriter | null = null;
  if (opts.out !== undefined) {
    await mkdir(opts.out, { recursive: true });
    writer = await JsonlWriter.create(join(opts.out, 'predictions.jsonl'));
  }
  let result: EvaluateResult;
  try {
    result = await evaluate({ ...opts, ...(writer ? { onPrediction: (p: Prediction) => writer.write(p) } : {}) });
    await writer?.commit();
  } catch (err) {
    await writer?.abort();
    throw err;
  }
  const src = opts.source;
  const report: EvalReport = {
    format: 1,
    bench: {
      file: opts.bench.file,
      imageRoot: opts.bench.imageRoot,
      samples: opts.bench.samples.length,
      quarantined: quarantinedItems(opts.bench.quarantined),
      quarantineReasons: quarantineReasons(opts.bench.quarantined),
    },
    predictor: {
      model: result.model,
      source: src.kind,
      convention: result.convention,
      ...(src.kind === 'predictions' ? { file: src.file } : src.predictor.info ? { info: src.predictor.info } : {}),
    },
    budget: opts.budget ?? {},
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    seconds: Math.round(performance.now() - t0) / 1000,
    scorers: SCORER_NOTES,
    metrics: result.metrics,
  };
  if (opts.out !== undefined) await writeFileAtomic(join(opts.out, 'metrics.json'), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}
