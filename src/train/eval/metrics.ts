/**
 * MIG-Bench metrics as the paper reports them, from scored samples.
 *
 * Followed: AMAP-ML/UniVG-R1 (commit c79947e2) `eval/MIG_bench/MIG_bench_eval.py`, `compute_iou` (lines
 * 51-57): per task `IOU@0.7`, `IOU@0.5`, `IOU@0.3` count `iou >= t` (greater or equal), `AVE_IOU` sums the
 * IoU, and `post_processing` divides each by the task's `TOTAL` (every item scored, failures included as
 * IoU 0). The paper's AVG is the plain mean of the task scores (checked in reference §2d: Migician's row
 * averages to exactly 63.54), not a mean over samples; `pooled` below is the over-samples number, kept
 * apart and never called AVG.
 */
import { THRESHOLDS, UNSCORED_REASONS, type Hits, type ScoredSample, type Threshold, type UnscoredReason } from './score.js';

export { THRESHOLDS, type Threshold };
export type AccKey = 'acc@0.3' | 'acc@0.5' | 'acc@0.7';
const ACC_KEYS: Record<Threshold, AccKey> = { 0.3: 'acc@0.3', 0.5: 'acc@0.5', 0.7: 'acc@0.7' };

/** One scorer's numbers for one group of samples. Accuracies and mean IoU are fractions in [0, 1]. */
export interface ScorerNumbers {
  'acc@0.3': number;
  'acc@0.5': number;
  'acc@0.7': number;
  meanIou: number;
  /** Samples at or above each threshold (the counts behind the fractions). */
  hits: { 'acc@0.3': number; 'acc@0.5': number; 'acc@0.7': number };
}

export interface TaskMetrics {
  task: string;
  /** Bench samples of the task: the denominator. */
  n: number;
  /** Samples with a prediction. */
  predicted: number;
  /** Samples without one (scored IoU 0). */
  missing: number;
  /** Ours: the `<answer>` box in pixels. */
  answer: ScorerNumbers;
  /** The paper's scorer: the first box anywhere, 0-1000 space. */
  paper: ScorerNumbers;
  /** Samples that scored 0 for lack of a usable answer box, by reason. */
  unscored: Partial<Record<UnscoredReason, number>>;
}

export interface AverageNumbers {
  'acc@0.3': number;
  'acc@0.5': number;
  'acc@0.7': number;
  meanIou: number;
}

export interface EvalMetrics {
  /** In the paper's column order for MIG-Bench tasks, then any other task by name. */
  tasks: TaskMetrics[];
  /** The paper's AVG: the mean over tasks of each task's number. */
  average: { answer: AverageNumbers; paper: AverageNumbers };
  /**
   * By difficulty label, pooled over tasks, when samples carry one (the synthetic suite); empty otherwise.
   * Levels in the order easy, medium, hard, then others by name.
   */
  byDifficulty: Array<{ difficulty: string; n: number; answer: ScorerNumbers; paper: ScorerNumbers }>;
  /** Over all samples pooled (not the paper's AVG; differs when tasks differ in size). */
  pooled: { answer: AverageNumbers; paper: AverageNumbers };
  counts: {
    samples: number;
    predicted: number;
    missing: number;
    unscored: Partial<Record<UnscoredReason, number>>;
    /** parseCompletion problem codes over every prediction (one count per prediction and code). */
    problems: Record<string, number>;
    /** Predictions where the paper's scorer read a different box than the `<answer>` box. */
    boxesDiffer: number;
  };
  thresholds: readonly number[];
  /** How a threshold is applied: `iou >= t`, as the paper's compute_iou. */
  comparison: '>=';
}

/**
 * MIG-Bench task keys in the paper's column order (reference §2d / §4), with the column names of its
 * tables.
 */
export const MIG_TASKS: ReadonlyArray<{ key: string; label: string }> = [
  { key: 'diff', label: 'Static' },
  { key: 'view_diff', label: 'Robust' },
  { key: 'common_object', label: 'Common' },
  { key: 'object_tracking', label: 'OT' },
  { key: 'multi_view', label: 'MV' },
  { key: 'region', label: 'Region' },
  { key: 'refer_grounding', label: 'Refer' },
  { key: 'group_grounding', label: 'GG' },
  { key: 'reasoning', label: 'Reason' },
  { key: 'correspondence', label: 'Co-Re' },
];

/** The paper's column name for a task key, or the key itself. */
export function taskLabel(task: string): string {
  return MIG_TASKS.find((t) => t.key === task)?.label ?? task;
}

function taskOrder(a: string, b: string): number {
  const ia = MIG_TASKS.findIndex((t) => t.key === a);
  const ib = MIG_TASKS.findIndex((t) => t.key === b);
  if (ia >= 0 && ib >= 0) return ia - ib;
  if (ia >= 0) return -1;
  if (ib >= 0) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Mean IoU from the float IoUs; the accuracies from the exact threshold decisions. */
function numbers(values: ReadonlyArray<{ iou: number; hits: Hits }>): ScorerNumbers {
  const n = values.length;
  const hits = { 'acc@0.3': 0, 'acc@0.5': 0, 'acc@0.7': 0 };
  let sum = 0;
  for (const v of values) {
    THRESHOLDS.forEach((t, i) => {
      if (v.hits[i]) hits[ACC_KEYS[t]]++;
    });
    sum += v.iou;
  }
  const frac = (k: number) => (n === 0 ? 0 : k / n);
  return { 'acc@0.3': frac(hits['acc@0.3']), 'acc@0.5': frac(hits['acc@0.5']), 'acc@0.7': frac(hits['acc@0.7']), meanIou: n === 0 ? 0 : sum / n, hits };
}

function pick(x: ScorerNumbers): AverageNumbers {
  return { 'acc@0.3': x['acc@0.3'], 'acc@0.5': x['acc@0.5'], 'acc@0.7': x['acc@0.7'], meanIou: x.meanIou };
}

function meanOver(rows: readonly AverageNumbers[]): AverageNumbers {
  const n = rows.length;
  const m = (k: keyof AverageNumbers) => (n === 0 ? 0 : rows.reduce((s, r) => s + r[k], 0) / n);
  return { 'acc@0.3': m('acc@0.3'), 'acc@0.5': m('acc@0.5'), 'acc@0.7': m('acc@0.7'), meanIou: m('meanIou') };
}

function tally<K extends string>(into: Partial<Record<K, number>>, key: K): void {
  into[key] = (into[key] ?? 0) + 1;
}

/** Aggregate scored samples (every bench sample once, missing ones included) into the paper's metrics. */
export function aggregate(scored: Iterable<ScoredSample>): EvalMetrics {
  const byTask = new Map<string, ScoredSample[]>();
  const all: ScoredSample[] = [];
  for (const s of scored) {
    let list = byTask.get(s.task);
    if (!list) byTask.set(s.task, (list = []));
    list.push(s);
    all.push(s);
  }
  const tasks: TaskMetrics[] = [...byTask.keys()].sort(taskOrder).map((task) => {
    const list = byTask.get(task)!;
    const unscored: TaskMetrics['unscored'] = {};
    for (const s of list) if (s.reason !== null) tally(unscored, s.reason);
    const predicted = list.filter((s) => s.predicted).length;
    return {
      task,
      n: list.length,
      predicted,
      missing: list.length - predicted,
      answer: numbers(list.map((s) => ({ iou: s.iou, hits: s.hits.answer }))),
      paper: numbers(list.map((s) => ({ iou: s.paperIou, hits: s.hits.paper }))),
      unscored: reasonOrder(unscored),
    };
  });
  const unscored: EvalMetrics['counts']['unscored'] = {};
  const problems: Record<string, number> = {};
  let disagree = 0;
  for (const s of all) {
    if (s.reason !== null) tally(unscored, s.reason);
    for (const p of new Set(s.problems)) problems[p] = (problems[p] ?? 0) + 1;
    if (s.boxesDiffer) disagree++;
  }
  const predicted = all.filter((s) => s.predicted).length;
  const levels = [...new Set(all.map((s) => s.difficulty).filter((d): d is string => d !== null))].sort(levelOrder);
  const byDifficulty = levels.map((difficulty) => {
    const list = all.filter((s) => s.difficulty === difficulty);
    return { difficulty, n: list.length, answer: numbers(list.map((s) => ({ iou: s.iou, hits: s.hits.answer }))), paper: numbers(list.map((s) => ({ iou: s.paperIou, hits: s.hits.paper }))) };
  });
  return {
    tasks,
    average: { answer: meanOver(tasks.map((t) => pick(t.answer))), paper: meanOver(tasks.map((t) => pick(t.paper))) },
    byDifficulty,
    pooled: { answer: pick(numbers(all.map((s) => ({ iou: s.iou, hits: s.hits.answer })))), paper: pick(numbers(all.map((s) => ({ iou: s.paperIou, hits: s.hits.paper })))) },
    counts: { samples: all.length, predicted, missing: all.length - predicted, unscored: reasonOrder(unscored), problems: sortKeys(problems), boxesDiffer: disagree },
    thresholds: THRESHOLDS,
    comparison: '>=',
  };
}

/** Reason counts in the fixed order of UNSCORED_REASONS (same bytes whatever order samples came in). */
function reasonOrder(u: Partial<Record<UnscoredReason, number>>): Partial<Record<UnscoredReason, number>> {
  return Object.fromEntries(UNSCORED_REASONS.filter((r) => u[r] !== undefined).map((r) => [r, u[r]]));
}

const LEVELS = ['easy', 'medium', 'hard'];
function levelOrder(a: string, b: string): number {
  const ia = LEVELS.indexOf(a);
  const ib = LEVELS.indexOf(b);
  if (ia >= 0 || ib >= 0) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
