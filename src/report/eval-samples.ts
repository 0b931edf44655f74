/**
 * What each model drew: for each task of the benchmark, its first few evaluated samples by id, with the
 * ground-truth box and every evaluated model's `<answer>` box (Prediction.answerBox, in pixels of the
 * target image) for the page to draw over the target image.
 *
 * The cost does not grow with the benchmark: the samples are picked in SQL over eval/predictions/ and
 * only their rows are read; the benchmark file is streamed through ingest, which opens the images of
 * the chosen samples only.
 */
import { resolve } from 'node:path';
import { InputError } from '../errors.js';
import type { GroundingSample, QuarantineRecord } from '../schema/records.js';
import { loadBench } from '../train/eval/evaluate.js';
import { Duck, int, num, sqlString } from '../runview/duck.js';
import { Thumbnailer, type ExampleImage } from './thumbs.js';
import { readJson, TRAIN_LAYOUT, type EvalModelResult, type EvalResults } from './training.js';

/** Samples shown per task (ReportOptions.evalSamplesPerTask). */
export const EVAL_SAMPLES_PER_TASK = 2;
/** Characters of a completion shown when it has no usable answer box (what the model wrote instead). */
export const EXCERPT_CHARS = 160;

/**
 * One model's answer for one sample. `no-answer`: it wrote a completion without a usable `<answer>` box;
 * `no-prediction`: nothing was recorded for this sample (the model gave no completion, or none of its
 * predictions are in eval/predictions/).
 */
export interface ModelAnswer {
  model: string;
  label: string;
  kind: EvalModelResult['kind'];
  status: 'answered' | 'no-answer' | 'no-prediction';
  /** In pixels of the target image. */
  answerBox: [number, number, number, number] | null;
  iou: number | null;
  /** The start of the completion when it has no usable answer box. */
  excerpt: string | null;
}

export interface EvalSample {
  id: string;
  task: string;
  question: string | null;
  /** Ground truth in pixels of the target image; null when the benchmark sample could not be read. */
  targetBox: [number, number, number, number] | null;
  imageCount: number | null;
  /** The target image with its thumbnail (or why there is none). */
  image: ExampleImage | null;
  /** Why the benchmark sample is not shown. */
  problem: string | null;
  answers: ModelAnswer[];
}

export interface EvalSamples {
  perTask: number;
  /** Tasks in the order of the evaluation tables, each with its samples by id. */
  tasks: Array<{ task: string; samples: EvalSample[] }>;
  /** What the reader should know: no predictions table, a model without predictions, an unreadable benchmark. */
  notes: string[];
}

export interface EvalSampleOptions {
  perTask: number;
  /** Longest side of the thumbnails (px). */
  side?: number;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const box4 = (v: unknown): [number, number, number, number] | null =>
  Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v as [number, number, number, number]) : null;

/** The SQL that picks, per task, the first `perTask` evaluated sample ids. */
export function evalSamplePicksSql(perTask: number): string {
  return `SELECT task, id FROM (SELECT DISTINCT task, id FROM predictions)
    QUALIFY row_number() OVER (PARTITION BY task ORDER BY id) <= ${perTask}
    ORDER BY task, id`;
}

/** Where the benchmark's images are: results.json says; results written before it did, a model's metrics.json. */
async function benchImageRoot(root: string, results: EvalResults): Promise<string | null> {
  if (results.bench.imageRoot !== undefined) return resolve(root, results.bench.imageRoot);
  for (const m of results.models) {
    const doc = await readJson(resolve(root, TRAIN_LAYOUT.eval, m.name, 'metrics.json'));
    const bench = doc?.bench as Record<string, unknown> | undefined;
    if (bench && typeof bench.imageRoot === 'string') return resolve(root, bench.imageRoot);
  }
  return null;
}

interface BenchPart {
  samples: Map<string, GroundingSample>;
  /** The first quarantine record of each wanted id ingest set aside. */
  quarantined: Map<string, QuarantineRecord>;
  imageRoot: string | null;
  /** Why the benchmark could not be read at all. */
  problem: string | null;
}

/** The benchmark samples with these ids, and why any of them is not one. */
async function benchSamples(root: string, results: EvalResults, ids: ReadonlySet<string>): Promise<BenchPart> {
  const out: BenchPart = { samples: new Map(), quarantined: new Map(), imageRoot: null, problem: null };
  try {
    out.imageRoot = await benchImageRoot(root, results);
    if (out.imageRoot === null) {
      out.problem = 'its image root is not recorded (eval/results.json has no bench.imageRoot and no model\'s metrics.json names one)';
      return out;
    }
    const bench = await loadBench(resolve(root, results.bench.file), out.imageRoot, ids);
    for (const s of bench.samples) out.samples.set(s.id, s);
    for (const q of bench.quarantined) if (q.recordId !== null && !out.quarantined.has(q.recordId)) out.quarantined.set(q.recordId, q);
  } catch (err) {
    // The page is still worth having without the benchmark: say what could not be read, and where.
    if (!(err instanceof InputError)) throw err;
    out.problem = err.describe();
  }
  return out;
}

function sampleProblem(id: string, s: GroundingSample | null, bench: BenchPart): string | null {
  if (s) return s.images[s.targetImage] ? null : `target image ${s.targetImage + 1} is not among the sample's ${s.images.length} images`;
  if (bench.problem !== null) return 'the benchmark could not be read';
  const q = bench.quarantined.get(id);
  return q ? `ingest set the benchmark item aside: ${q.reason} (${q.detail})` : 'not found in the benchmark file';
}

/**
 * The samples "What each model drew" shows; null when eval did not run here (no results). Needs the
 * `predictions` view (createViews) when the run has eval/predictions/.
 */
export async function selectEvalSamples(duck: Duck, present: Set<string>, root: string, results: EvalResults | null, o: EvalSampleOptions): Promise<EvalSamples | null> {
  if (!results) return null;
  const notes: string[] = [];
  const empty = (note: string): EvalSamples => ({ perTask: o.perTask, tasks: [], notes: [...notes, note] });
  if (o.perTask === 0) return empty('No samples asked for (evalSamplesPerTask is 0).');
  if (!present.has('predictions')) return empty('No eval/predictions/ in this run: there are no predicted boxes to draw.');
  const counted = new Map((await duck.all(`SELECT model, count(*) AS n FROM predictions GROUP BY model`, [], 'counting predictions per model')).map((r) => [str(r.model) ?? '', int(r.n)]));
  for (const m of results.models) if (!counted.get(m.name)) notes.push(`${m.label}: no predictions in eval/predictions/, so none of its boxes is drawn.`);

  const picks = (await duck.all(evalSamplePicksSql(o.perTask), [], 'picking evaluation samples')).map((r) => ({ task: str(r.task) ?? '', id: str(r.id) ?? '' }));
  if (picks.length === 0) return empty('eval/predictions/ has no rows: there are no predicted boxes to draw.');
  const ids = new Set(picks.map((p) => p.id));
  const rows = await duck.all(
    `SELECT id, model, answerBox, iou, left(completion, ${EXCERPT_CHARS}) AS excerpt, length(completion) AS chars
     FROM predictions WHERE id IN (${[...ids].map(sqlString).join(', ')}) ORDER BY id, model, completion`,
    [],
    'reading the chosen predictions',
  );
  const byKey = new Map<string, (typeof rows)[number]>();
  for (const r of rows) {
    const key = `${str(r.id)}\0${str(r.model)}`;
    if (!byKey.has(key)) byKey.set(key, r);
  }

  const bench = await benchSamples(root, results, ids);
  if (bench.problem !== null) notes.push(`The benchmark ${results.bench.file} could not be read (${bench.problem}): ground truth and images cannot be shown.`);
  const thumbs = new Thumbnailer(root, bench.imageRoot);
  const side = o.side ?? 300;
  // Tasks in the order of the comparison table (first seen in the models' metrics), then any other by name.
  const order = [...new Set(results.models.flatMap((m) => m.metrics.tasks.map((t) => t.task)))];
  const rank = (t: string) => (order.includes(t) ? order.indexOf(t) : order.length);
  const tasks = [...new Set(picks.map((p) => p.task))].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));

  const out: EvalSamples['tasks'] = [];
  for (const task of tasks) {
    const list: EvalSample[] = [];
    for (const { id } of picks.filter((p) => p.task === task)) {
      const s = bench.samples.get(id) ?? null;
      const target = s?.images[s.targetImage];
      const answers: ModelAnswer[] = results.models.map((m) => {
        const r = byKey.get(`${id}\0${m.name}`);
        const base = { model: m.name, label: m.label, kind: m.kind };
        if (!r) return { ...base, status: 'no-prediction', answerBox: null, iou: null, excerpt: null };
        const answerBox = box4(r.answerBox);
        if (!answerBox) {
          const text = str(r.excerpt) ?? '';
          return { ...base, status: 'no-answer', answerBox: null, iou: null, excerpt: int(r.chars) > text.length ? `${text}…` : text };
        }
        return { ...base, status: 'answered', answerBox, iou: num(r.iou), excerpt: null };
      });
      list.push({
        id,
        task,
        question: s?.question ?? null,
        targetBox: s ? box4(s.targetBox) : null,
        imageCount: s ? s.images.length : null,
        image: s && target ? await thumbs.image(target, s.targetImage, true, side) : null,
        problem: sampleProblem(id, s, bench),
        answers,
      });
    }
    out.push({ task, samples: list });
  }
  return { perTask: o.perTask, tasks: out, notes };
}
