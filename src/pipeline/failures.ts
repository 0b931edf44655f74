/**
 * Failed work, as the run directory records it: one small JSON file per task that ended incomplete
 * (`_failed/<stage>-<part>.json`, removed when the task is done), and the stage's quarantine files. The
 * summary line the run ends with and `univg status` are both computed from these files.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskFailures } from '../errors.js';
import { writeFileAtomic } from '../store/fsutil.js';
import { shardFileName } from '../store/names.js';
import type { RunDir } from './run-dir.js';

export interface TaskFailureRecord extends TaskFailures {
  stage: string;
  task: number;
  tasks: number;
  at: string;
}

const DIR = '_failed';

const fileOf = (run: RunDir, stage: string, task: number, tasks: number) => run.path(DIR, `${stage}-${shardFileName(task, tasks).replace(/^part-|\.parquet$/g, '')}.json`);

export async function recordTaskFailures(run: RunDir, stage: string, task: number, tasks: number, f: TaskFailures): Promise<void> {
  const rec: TaskFailureRecord = { stage, task, tasks, at: new Date().toISOString(), ...f };
  mkdirSync(run.path(DIR), { recursive: true });
  await writeFileAtomic(fileOf(run, stage, task, tasks), `${JSON.stringify(rec, null, 2)}\n`);
}

export function clearTaskFailures(run: RunDir, stage: string, task: number, tasks: number): void {
  rmSync(fileOf(run, stage, task, tasks), { force: true });
}

export function clearStageFailures(run: RunDir, stage: string): void {
  const dir = run.path(DIR);
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) if (f.startsWith(`${stage}-`) && f.endsWith('.json')) rmSync(join(dir, f), { force: true });
}

/** Every failure record of a stage's tasks (of the current split into `tasks`). */
export function readStageFailures(run: RunDir, stage: string): TaskFailureRecord[] {
  const dir = run.path(DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.startsWith(`${stage}-`) && f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as TaskFailureRecord);
}

/** Failures of several tasks added up. */
export function mergeFailures(list: readonly TaskFailures[]): TaskFailures {
  const out: TaskFailures = { failed: 0, total: 0, unit: list[0]?.unit ?? 'items', byReason: {}, examples: {} };
  for (const f of list) {
    out.failed += f.failed;
    out.total += f.total;
    for (const [r, n] of Object.entries(f.byReason)) out.byReason[r] = (out.byReason[r] ?? 0) + n;
    for (const [r, m] of Object.entries(f.examples)) out.examples[r] ??= m;
    if (f.endpoint && !out.endpoint) out.endpoint = f.endpoint;
  }
  return out;
}

/** `connection 27 (connection refused (connect ECONNREFUSED 127.0.0.1:9)), timeout 3`: the first reason with its message. */
export function describeReasons(f: Pick<TaskFailures, 'byReason' | 'examples'>, withExample = true): string {
  const entries = Object.entries(f.byReason).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return entries
    .map(([r, n], i) => {
      const ex = withExample && i === 0 ? f.examples[r] : undefined;
      return `${r} ${n}${ex ? ` (${oneLine(ex, 200)})` : ''}`;
    })
    .join(', ');
}

export function oneLine(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** Task numbers as `0, 2, 3 of 4`. */
export function describeTasks(tasks: readonly number[], count: number): string {
  return `${tasks.length === 1 ? 'task' : 'tasks'} ${[...tasks].sort((a, b) => a - b).join(', ')} of ${count}`;
}

/**
 * The line a run ends with when a stage has work left undone: how many failed, why, where, which
 * tasks, and what to do. `cause`: the error that stopped the stage, when one did; `fixFirst` when
 * rerunning as it is cannot help (a refusal that needs a config or key change).
 */
export function incompleteSummary(stage: string, f: TaskFailures, tasks: readonly number[], count: number, cause?: { message: string; fixFirst: boolean }): string {
  const where = f.endpoint ? ` at ${f.endpoint}` : '';
  const todo = `${describeTasks(tasks, count)} not done.`;
  if (cause) {
    const what = f.failed > 0 ? ` ${f.failed} of ${f.total} ${f.unit} not generated; ` : ' ';
    const next = cause.fixFirst
      ? 'Fix the cause and rerun; answers already received are cached and are not paid for again.'
      : 'Rerun the same command when the cause is gone; answers already received are cached and are not paid for again.';
    return `${stage} stopped: ${oneLine(cause.message, 400).replace(/\.+$/, '')}.${what}${todo} ${next}`;
  }
  return `${stage}: ${f.failed} of ${f.total} ${f.unit} failed (${describeReasons(f)})${where}; ${todo} Rerun the same command to retry exactly the failed ${f.unit}; answers already received are cached and are not paid for again.`;
}
