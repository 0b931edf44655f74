/**
 * `buildReport(runDir)`: survey the run directory, compute the figures with DuckDB, pick examples,
 * render the page and write `report/index.html` and `report/figures.json` atomically.
 */
import { mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { writeFileAtomic } from '../store/fsutil.js';
import { UNIVG_VERSION } from '../store/version.js';
import { Duck, type DuckOptions } from '../runview/duck.js';
import { createViews } from '../runview/views.js';
import { readRunFiles } from '../runview/run-files.js';
import { selectExamples } from './examples.js';
import { EVAL_SAMPLES_PER_TASK, selectEvalSamples, type EvalSamples } from './eval-samples.js';
import { computeFigures, type ReportFigures } from './figures.js';
import { renderReport } from './render.js';

export interface ReportOptions {
  /** Examples shown per rejection reason (default 3). */
  examplesPerReason?: number;
  /** Examples shown that passed every check (default 2). */
  passedExamples?: number;
  /** Test samples per task drawn with every evaluated model's box (default 2). */
  evalSamplesPerTask?: number;
  /** Where to find images that are not in the run's `images/` store; default the config's source imageRoot. */
  imageRoot?: string;
  /** Output directory; default `<runDir>/report`. */
  outDir?: string;
  duckdb?: DuckOptions;
}

export interface ReportResult {
  /** Path of the written index.html. */
  file: string;
  figures: ReportFigures;
}

function count(name: string, v: number | undefined, fallback: number): number {
  const n = v ?? fallback;
  if (!Number.isInteger(n) || n < 0 || n > 100) throw new ConfigError(`${name} must be an integer from 0 to 100, got ${n}`);
  return n;
}

/**
 * Build the run report. Throws InputError when `runDir` is missing or is not a run directory, and
 * ShardError when a shard contradicts its manifest or cannot be read.
 */
export async function buildReport(runDir: string, opts: ReportOptions = {}): Promise<ReportResult> {
  const perReason = count('examplesPerReason', opts.examplesPerReason, 3);
  const passed = count('passedExamples', opts.passedExamples, 2);
  const perTask = count('evalSamplesPerTask', opts.evalSamplesPerTask, EVAL_SAMPLES_PER_TASK);
  const root = resolve(runDir);
  const files = await readRunFiles(root);
  const duck = await Duck.open(opts.duckdb);
  let figures: ReportFigures;
  let examples;
  let evalSamples: EvalSamples | null;
  try {
    const present = await createViews(duck, files);
    figures = await computeFigures(duck, files, present);
    examples = await selectExamples(duck, present, root, { perReason, passed, imageRoot: opts.imageRoot ?? files.run?.imageRoot ?? null });
    evalSamples = await selectEvalSamples(duck, present, root, figures.training?.eval ?? null, { perTask });
  } finally {
    duck.close();
  }
  const page = await renderReport({
    figures,
    examples,
    evalSamples,
    teacherCounters: files.run?.teacher ?? null,
    runLabel: files.run?.name ?? basename(root),
    generator: `univg ${UNIVG_VERSION}`,
    perReason,
  });
  const outDir = opts.outDir ? resolve(opts.outDir) : join(root, 'report');
  await mkdir(outDir, { recursive: true });
  // figures.json first: index.html is the file people look for, and it lands last, whole.
  await writeFileAtomic(join(outDir, 'figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
  const file = join(outDir, 'index.html');
  await writeFileAtomic(file, page);
  return { file, figures };
}
