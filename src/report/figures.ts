/**
 * The report's numbers, computed with SQL over the run's shards (DuckDB reads the Parquet files in
 * place). Every figure is plain JSON and comes back in a fixed order, so `figures.json` is byte-stable.
 */
import { VERDICT_REASONS } from '../schema/records.js';
import { Duck, int, num, sqlString, type Row } from '../runview/duck.js';
import { CORPUS_TABLES, type CorpusTable, type RunFiles, type RunInfo } from '../runview/run-files.js';
import type { Bin } from '../charts/index.js';
import { BUCKET_ORDER, NOT_SCORED, trainingFigures, type CountBy, type TrainingFigures } from './training.js';

export type { CountBy };

export interface FunnelStep {
  key: string;
  label: string;
  unit: 'samples' | 'candidates' | 'rows';
  count: number;
}

/** Verification quality of one group of candidates (a task, a difficulty, or all). */
export interface QualityRow {
  key: string;
  samples: number;
  samplesWithPass: number;
  candidates: number;
  passed: number;
  passRate: number | null;
  /** Candidates whose answer box parsed (IoU defined). */
  withBox: number;
  meanIou: number | null;
  medianIou: number | null;
  /** Share of candidates with IoU >= 0.5 (no box counts as a miss), MIG-Bench's Acc@0.5. */
  acc50: number | null;
}

export interface IouHistogram {
  key: string;
  /** Ten bins of width 0.1 over [0, 1]; IoU 1 falls in the last. */
  bins: Bin[];
  /** Candidates with no answer box (IoU undefined). */
  noBox: number;
}

export interface AccCurve {
  key: string;
  /** Share of candidates with IoU >= each of `thresholds`. */
  shares: number[];
}

export interface TeacherFigures {
  candidates: number;
  samples: number;
  answered: number;
  failed: number;
  cached: number;
  /** Candidates that made a request this run (not served from the cache). */
  requested: number;
  promptTokens: number;
  completionTokens: number;
  /** What every answer cost when it was paid for: spentUsd + replayedUsd. */
  costUsd: number;
  /** Paid by this run: answers requested from the endpoint (not served from the cache). */
  spentUsd: number;
  /** Answers replayed from the response cache: paid by an earlier run, not paid again. */
  replayedUsd: number;
  /** costUsd divided by samples that kept a passing candidate; null without verdicts or none kept. */
  costPerKeptSample: number | null;
  latencyMs: { count: number; p50: number | null; p90: number | null; p99: number | null; mean: number | null; max: number | null };
  latencyHistogram: Bin[];
  attempts: { total: number; mean: number | null; max: number; retried: number; byCount: CountBy[] };
  finishReasons: CountBy[];
  errors: CountBy[];
  models: CountBy[];
}

export interface RejectionFigure {
  reason: string;
  /** Candidates that failed this check (a candidate can fail several). */
  count: number;
  /** Candidates for which this was the only failed check. */
  only: number;
  shareOfFailed: number | null;
}

export interface QuarantineFigure {
  stage: string;
  reason: string;
  count: number;
  exampleIds: string[];
}

export interface TableFigure {
  state: 'complete' | 'partial' | 'absent';
  files: number;
  rows: number;
}

export interface ReportFigures {
  figuresVersion: 1;
  run: Pick<RunInfo, 'name' | 'version' | 'configHash' | 'startedAt' | 'endedAt' | 'stages'> | null;
  tables: Record<CorpusTable, TableFigure>;
  quarantineFiles: string[];
  funnel: FunnelStep[];
  samples: { total: number; byTask: CountBy[]; byDifficulty: CountBy[]; multiImage: number } | null;
  quality: {
    overall: QualityRow;
    byTask: QualityRow[];
    byDifficulty: QualityRow[];
    iou: { overall: IouHistogram; byTask: IouHistogram[]; byDifficulty: IouHistogram[] };
    accCurve: { thresholds: number[]; byTask: AccCurve[]; byDifficulty: AccCurve[] };
  } | null;
  teacher: TeacherFigures | null;
  rejections: { failed: number; byReason: RejectionFigure[] } | null;
  quarantine: { total: number; byReason: QuarantineFigure[] } | null;
  corpus: {
    sft: { rows: number; byTask: CountBy[]; meanIou: number | null } | null;
    rl: { rows: number; byTask: CountBy[]; byBucket: CountBy[] } | null;
  };
  /** SFT, scoring, GRPO and evaluation (null when the run trained nothing). */
  training: TrainingFigures | null;
}

/** Difficulty groups use this key when a sample has none. */
export const NO_DIFFICULTY = '(none)';
/**
 * Difficulty groups read easy, medium, hard, then none (any other value between, by name).
 */
const DIFFICULTY_ORDER = `CASE key WHEN 'easy' THEN 0 WHEN 'medium' THEN 1 WHEN 'hard' THEN 2 WHEN ${sqlString(NO_DIFFICULTY)} THEN 4 ELSE 3 END, key`;
/** Thresholds of the accuracy curve: 0, 0.05, …, 1. */
export const ACC_THRESHOLDS = Array.from({ length: 21 }, (_, i) => i / 20);
/** Upper bounds (ms) of the latency histogram's bins; the teacher client buckets the same way. */
export const LATENCY_EDGES_MS = [25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000] as const;
/** Reason codes of the checks, in the order the verifier runs them; unknown codes sort after, by name. */
export function orderReasons(reasons: readonly string[]): string[] {
  const known = VERDICT_REASONS as readonly string[];
  const rank = (r: string) => (known.includes(r) ? known.indexOf(r) : known.length);
  return [...reasons].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** Checks that together mean "the answer parsed and the format is right" in the funnel. */
const PARSE_REASONS = ['request_failed', 'refusal', 'format', 'answer_unparsable'];

const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
const countBy = (rows: Row[]): CountBy[] => rows.map((r) => ({ key: str(r.key), count: int(r.n) }));
const share = (a: number, b: number): number | null => (b > 0 ? a / b : null);

const qualitySelect = `
  count(DISTINCT sampleId) AS samples,
  count(DISTINCT sampleId) FILTER (WHERE pass) AS samples_with_pass,
  count(*) AS candidates,
  count(*) FILTER (WHERE pass) AS passed,
  count(iou) AS with_box,
  avg(iou) AS mean_iou,
  quantile_cont(iou, 0.5) AS median_iou,
  count(*) FILTER (WHERE iou >= 0.5) AS acc50`;

function qualityRow(key: string, r: Row): QualityRow {
  const candidates = int(r.candidates);
  const passed = int(r.passed);
  return {
    key,
    samples: int(r.samples),
    samplesWithPass: int(r.samples_with_pass),
    candidates,
    passed,
    passRate: share(passed, candidates),
    withBox: int(r.with_box),
    meanIou: num(r.mean_iou),
    medianIou: num(r.median_iou),
    acc50: share(int(r.acc50), candidates),
  };
}

async function quality(duck: Duck): Promise<NonNullable<ReportFigures['quality']>> {
  const diff = `coalesce(difficulty, ${sqlString(NO_DIFFICULTY)})`;
  const overall = qualityRow('all', await duck.one(`SELECT ${qualitySelect} FROM verdicts`));
  const byTask = (await duck.all(`SELECT task AS key, ${qualitySelect} FROM verdicts GROUP BY task ORDER BY task`)).map((r) => qualityRow(str(r.key), r));
  const byDifficulty = (await duck.all(`SELECT ${diff} AS key, ${qualitySelect} FROM verdicts GROUP BY key ORDER BY ${DIFFICULTY_ORDER}`)).map((r) => qualityRow(str(r.key), r));

  const bin = `least(greatest(floor(iou * 10), 0), 9)::INTEGER`;
  const hist = async (keyExpr: string, order: string): Promise<IouHistogram[]> => {
    const rows = await duck.all(`SELECT ${keyExpr} AS key, ${bin} AS bin, count(*) AS n FROM verdicts WHERE iou IS NOT NULL GROUP BY key, bin`);
    const noBox = await duck.all(`SELECT ${keyExpr} AS key, count(*) FILTER (WHERE iou IS NULL) AS n FROM verdicts GROUP BY key ORDER BY ${order}`);
    return noBox.map((nb) => {
      const key = str(nb.key);
      const bins: Bin[] = Array.from({ length: 10 }, (_, i) => ({ lo: i / 10, hi: (i + 1) / 10, count: 0 }));
      for (const r of rows) if (str(r.key) === key) bins[int(r.bin)]!.count = int(r.n);
      return { key, bins, noBox: int(nb.n) };
    });
  };
  const accExprs = ACC_THRESHOLDS.map((t, i) => `count(*) FILTER (WHERE iou >= ${t}) AS a${i}`).join(', ');
  const curve = async (keyExpr: string, order: string): Promise<AccCurve[]> =>
    (await duck.all(`SELECT ${keyExpr} AS key, count(*) AS n, ${accExprs} FROM verdicts GROUP BY key ORDER BY ${order}`)).map((r) => ({
      key: str(r.key),
      shares: ACC_THRESHOLDS.map((_, i) => share(int(r[`a${i}`]), int(r.n)) ?? 0),
    }));
  const emptyHist: IouHistogram = { key: 'all', bins: Array.from({ length: 10 }, (_, i) => ({ lo: i / 10, hi: (i + 1) / 10, count: 0 })), noBox: 0 };
  const [overallHist = emptyHist] = await hist(`'all'`, 'key');
  return {
    overall,
    byTask,
    byDifficulty,
    iou: { overall: overallHist, byTask: await hist('task', 'key'), byDifficulty: await hist(diff, DIFFICULTY_ORDER) },
    accCurve: { thresholds: ACC_THRESHOLDS, byTask: await curve('task', 'key'), byDifficulty: await curve(diff, DIFFICULTY_ORDER) },
  };
}

async function teacher(duck: Duck, keptSamples: number | null): Promise<TeacherFigures> {
  const t = await duck.one(`SELECT
      count(*) AS candidates,
      count(DISTINCT sampleId) AS samples,
      count(*) FILTER (WHERE error IS NULL AND completion IS NOT NULL) AS answered,
      count(*) FILTER (WHERE cached) AS cached,
      coalesce(sum(promptTokens), 0) AS prompt_tokens,
      coalesce(sum(completionTokens), 0) AS completion_tokens,
      coalesce(sum(costUsd), 0) AS cost,
      coalesce(sum(costUsd) FILTER (WHERE NOT cached), 0) AS spent,
      coalesce(sum(costUsd) FILTER (WHERE cached), 0) AS replayed,
      coalesce(sum(attempts), 0) AS attempts,
      avg(attempts) AS mean_attempts,
      coalesce(max(attempts), 0) AS max_attempts,
      count(*) FILTER (WHERE attempts > 1) AS retried
    FROM candidates`);
  // Latency of requests made this run; a cache hit costs no time and would drag every quantile down.
  const lat = await duck.one(`SELECT count(latencyMs) AS n,
      quantile_cont(latencyMs, 0.5) AS p50, quantile_cont(latencyMs, 0.9) AS p90, quantile_cont(latencyMs, 0.99) AS p99,
      avg(latencyMs) AS mean, max(latencyMs) AS max
    FROM candidates WHERE NOT cached`);
  const edges = [0, ...LATENCY_EDGES_MS];
  const bucket = `CASE ${LATENCY_EDGES_MS.map((e, i) => `WHEN latencyMs <= ${e} THEN ${i}`).join(' ')} ELSE ${LATENCY_EDGES_MS.length} END`;
  const latRows = await duck.all(`SELECT ${bucket} AS b, count(*) AS n FROM candidates WHERE NOT cached GROUP BY b ORDER BY b`);
  const latencyHistogram: Bin[] = edges.map((lo, i) => ({ lo, hi: LATENCY_EDGES_MS[i] ?? Infinity, count: 0 }));
  for (const r of latRows) latencyHistogram[int(r.b)]!.count = int(r.n);
  // An open last bin is kept only when something fell in it; JSON has no Infinity, so it ends at the max.
  const last = latencyHistogram[latencyHistogram.length - 1]!;
  if (last.count === 0) latencyHistogram.pop();
  else last.hi = Math.max(num(lat.max) ?? last.lo, last.lo);
  while (latencyHistogram.length > 1 && latencyHistogram[latencyHistogram.length - 1]!.count === 0) latencyHistogram.pop();

  const candidates = int(t.candidates);
  const answered = int(t.answered);
  const cached = int(t.cached);
  const cost = int(t.cost);
  return {
    candidates,
    samples: int(t.samples),
    answered,
    failed: candidates - answered,
    cached,
    requested: candidates - cached,
    promptTokens: int(t.prompt_tokens),
    completionTokens: int(t.completion_tokens),
    costUsd: cost,
    spentUsd: int(t.spent),
    replayedUsd: int(t.replayed),
    costPerKeptSample: keptSamples ? cost / keptSamples : null,
    latencyMs: { count: int(lat.n), p50: num(lat.p50), p90: num(lat.p90), p99: num(lat.p99), mean: num(lat.mean), max: num(lat.max) },
    latencyHistogram,
    attempts: {
      total: int(t.attempts),
      mean: num(t.mean_attempts),
      max: int(t.max_attempts),
      retried: int(t.retried),
      byCount: countBy(await duck.all(`SELECT attempts::VARCHAR AS key, count(*) AS n FROM candidates GROUP BY attempts ORDER BY attempts`)),
    },
    finishReasons: countBy(await duck.all(`SELECT coalesce(finishReason, '(none)') AS key, count(*) AS n FROM candidates GROUP BY key ORDER BY n DESC, key`)),
    // Error texts can be long and unique (they quote the server); the first 160 characters group them.
    errors: countBy(await duck.all(`SELECT left(error, 160) AS key, count(*) AS n FROM candidates WHERE error IS NOT NULL GROUP BY key ORDER BY n DESC, key LIMIT 10`)),
    models: countBy(await duck.all(`SELECT model AS key, count(*) AS n FROM candidates GROUP BY model ORDER BY n DESC, key`)),
  };
}

async function rejections(duck: Duck): Promise<NonNullable<ReportFigures['rejections']>> {
  const failed = int((await duck.one(`SELECT count(*) AS n FROM verdicts WHERE NOT pass`)).n);
  const rows = await duck.all(`SELECT r AS reason, count(*) AS n, count(*) FILTER (WHERE len(reasons) = 1) AS only
    FROM (SELECT reasons, unnest(reasons) AS r FROM verdicts) GROUP BY r ORDER BY r`);
  const byCode = new Map(rows.map((r) => [str(r.reason), r]));
  return {
    failed,
    byReason: orderReasons([...byCode.keys()]).map((reason) => {
      const r = byCode.get(reason)!;
      return { reason, count: int(r.n), only: int(r.only), shareOfFailed: share(int(r.n), failed) };
    }),
  };
}

/** The funnel: samples in, candidates, answered, parsed, each later check passed (cumulative), kept, rows out. */
async function funnel(duck: Duck, present: Set<string>, reasonsSeen: readonly string[]): Promise<FunnelStep[]> {
  const steps: FunnelStep[] = [];
  const count = async (sql: string) => int((await duck.one(sql)).n);
  if (present.has('samples')) steps.push({ key: 'samples', label: 'Samples in', unit: 'samples', count: await count(`SELECT count(*) AS n FROM samples`) });
  if (present.has('candidates')) {
    steps.push({ key: 'candidates', label: 'Candidates requested', unit: 'candidates', count: await count(`SELECT count(*) AS n FROM candidates`) });
    steps.push({
      key: 'answered',
      label: 'Answered by the teacher',
      unit: 'candidates',
      count: await count(`SELECT count(*) AS n FROM candidates WHERE error IS NULL AND completion IS NOT NULL`),
    });
  }
  if (present.has('verdicts')) {
    if (!present.has('candidates')) steps.push({ key: 'verified', label: 'Candidates verified', unit: 'candidates', count: await count(`SELECT count(*) AS n FROM verdicts`) });
    // Cumulative: a step counts candidates that failed none of the checks up to and including it.
    const excluded = [...PARSE_REASONS];
    const none = (codes: string[]) => `NOT list_has_any(reasons, [${codes.map(sqlString).join(', ')}]::VARCHAR[])`;
    steps.push({ key: 'parsed', label: 'Parsed, format ok', unit: 'candidates', count: await count(`SELECT count(*) AS n FROM verdicts WHERE ${none(excluded)}`) });
    for (const reason of orderReasons(reasonsSeen)) {
      if (PARSE_REASONS.includes(reason)) continue;
      excluded.push(reason);
      steps.push({ key: `check:${reason}`, label: `Passed ${reasonLabel(reason)}`, unit: 'candidates', count: await count(`SELECT count(*) AS n FROM verdicts WHERE ${none(excluded)}`) });
    }
    steps.push({ key: 'passed', label: 'Passed every check', unit: 'candidates', count: await count(`SELECT count(*) AS n FROM verdicts WHERE pass`) });
    steps.push({ key: 'kept', label: 'Samples with a passing candidate', unit: 'samples', count: await count(`SELECT count(DISTINCT sampleId) AS n FROM verdicts WHERE pass`) });
  }
  if (present.has('sft')) steps.push({ key: 'sft', label: 'Selected: SFT rows', unit: 'rows', count: await count(`SELECT count(*) AS n FROM sft`) });
  if (present.has('rl')) steps.push({ key: 'rl', label: 'Selected: RL rows', unit: 'rows', count: await count(`SELECT count(*) AS n FROM rl`) });
  return steps;
}

const REASON_LABELS: Record<string, string> = {
  request_failed: 'request succeeded',
  refusal: 'no refusal',
  truncated: 'not truncated',
  format: 'format',
  answer_unparsable: 'answer parsed',
  answer_out_of_range: 'answer box in range',
  iou_below_threshold: 'IoU at threshold',
  think_answer_disagree: 'think box agrees',
  target_image_not_named: 'target image named',
  hint_leak: 'no hint leak',
  think_too_short: 'think long enough',
  think_too_long: 'think short enough',
  repetitive: 'not repetitive',
  text_after_answer: 'nothing after answer',
};

/** The check a reason code fails, phrased as what passing means ("Passed <label>" in the funnel). */
export function reasonLabel(reason: string): string {
  return REASON_LABELS[reason] ?? reason;
}

async function quarantine(duck: Duck): Promise<NonNullable<ReportFigures['quarantine']>> {
  const total = int((await duck.one(`SELECT count(*) AS n FROM quarantine`)).n);
  const rows = await duck.all(`SELECT coalesce(stage, '(unknown)') AS stage, coalesce(reason, '(unknown)') AS reason, count(*) AS n FROM quarantine GROUP BY ALL ORDER BY n DESC, stage, reason`);
  // The first five ids of each reason in file order (file name, then line), so the examples are stable.
  const ex = await duck.all(`SELECT stage, reason, id FROM (
      SELECT coalesce(stage, '(unknown)') AS stage, coalesce(reason, '(unknown)') AS reason,
        coalesce(recordId, '(no id) ' || parse_filename(filename) || CASE WHEN "row" IS NULL THEN '' ELSE ' row ' || "row" END) AS id,
        row_number() OVER (PARTITION BY stage, reason ORDER BY filename, "row" NULLS LAST, recordId) AS k
      FROM quarantine)
    WHERE k <= 5 ORDER BY stage, reason, k`);
  return {
    total,
    byReason: rows.map((r) => ({
      stage: str(r.stage),
      reason: str(r.reason),
      count: int(r.n),
      exampleIds: ex.filter((e) => e.stage === r.stage && e.reason === r.reason).map((e) => str(e.id)),
    })),
  };
}

async function samples(duck: Duck): Promise<NonNullable<ReportFigures['samples']>> {
  const total = await duck.one(`SELECT count(*) AS n, count(*) FILTER (WHERE len(images) > 1) AS multi FROM samples`);
  return {
    total: int(total.n),
    multiImage: int(total.multi),
    byTask: countBy(await duck.all(`SELECT task AS key, count(*) AS n FROM samples GROUP BY task ORDER BY task`)),
    byDifficulty: countBy(await duck.all(`SELECT coalesce(difficulty, ${sqlString(NO_DIFFICULTY)}) AS key, count(*) AS n FROM samples GROUP BY key ORDER BY ${DIFFICULTY_ORDER}`)),
  };
}

/**
 * RL rows by mIoU bucket. Select writes the RL pool unscored; the score stage writes the scored rows to
 * train/scored/. With a scored pool (`view`), a row's bucket is its scored one, so the corpus's "not
 * scored" count is the rows scoring did not reach and agrees with the Scoring section.
 */
export function rlBucketSql(view: string | null): string {
  const source = view
    ? `rl LEFT JOIN (SELECT id, any_value(bucket) AS scored_bucket FROM ${view} WHERE difficulty IS NOT NULL GROUP BY id) s USING (id)`
    : 'rl';
  const bucket = view ? 's.scored_bucket' : 'bucket';
  return `SELECT coalesce(${bucket}, ${sqlString(NOT_SCORED)}) AS key, count(*) AS n FROM ${source} GROUP BY key ORDER BY ${BUCKET_ORDER}`;
}

/** Compute every figure from the run's files (views must exist: see createViews). */
export async function computeFigures(duck: Duck, files: RunFiles, present: Set<string>): Promise<ReportFigures> {
  const tables = {} as Record<CorpusTable, TableFigure>;
  for (const name of CORPUS_TABLES) {
    const t = files.tables[name];
    tables[name] = { state: t.state, files: t.files.length, rows: present.has(name) ? int((await duck.one(`SELECT count(*) AS n FROM ${name}`)).n) : 0 };
  }
  // Before the corpus figures: it creates the view of the scored RL pool they read.
  const training = await trainingFigures(duck, files.root, files.run?.trainFrom ?? null);
  const rej = present.has('verdicts') ? await rejections(duck) : null;
  const qual = present.has('verdicts') ? await quality(duck) : null;
  const run = files.run;
  return {
    figuresVersion: 1,
    run: run && { name: run.name, version: run.version, configHash: run.configHash, startedAt: run.startedAt, endedAt: run.endedAt, stages: run.stages },
    tables,
    quarantineFiles: files.quarantine.map((f) => f.slice(files.root.length).replace(/^[\\/]+/, '')),
    funnel: await funnel(duck, present, rej?.byReason.map((r) => r.reason) ?? []),
    samples: present.has('samples') ? await samples(duck) : null,
    quality: qual,
    teacher: present.has('candidates') ? await teacher(duck, qual ? qual.overall.samplesWithPass : null) : null,
    rejections: rej,
    quarantine: present.has('quarantine') ? await quarantine(duck) : null,
    corpus: {
      sft: present.has('sft')
        ? {
            rows: tables.sft.rows,
            byTask: countBy(await duck.all(`SELECT task AS key, count(*) AS n FROM sft GROUP BY task ORDER BY task`)),
            meanIou: num((await duck.one(`SELECT avg(iou) AS m FROM sft`)).m),
          }
        : null,
      rl: present.has('rl')
        ? {
            rows: tables.rl.rows,
            byTask: countBy(await duck.all(`SELECT task AS key, count(*) AS n FROM rl GROUP BY task ORDER BY task`)),
            byBucket: countBy(await duck.all(rlBucketSql(training?.scored?.rows && !run?.trainFrom ? 'scored' : null))),
          }
        : null,
    },
    training,
  };
}
