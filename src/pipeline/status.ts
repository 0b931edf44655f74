/**
 * `univg status`: what a run directory holds, recomputed from its files: per stage the tasks done, the
 * rows written, the work that failed (and why) and the inputs quarantined (and why); the teacher's cost
 * spent by the last run and what the response cache replayed instead of paying again.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { PipelineConfig } from '../schema/config.js';
import { readManifest } from '../store/manifest.js';
import { STANDARD_STAGES } from '../stages/index.js';
import { readRunBatches } from '../stages/generate-stage.js';
import { batchPrice, costOf } from '../teacher/cost.js';
import { describeReasons, mergeFailures, readStageFailures, oneLine } from './failures.js';
import { RunDir } from './run-dir.js';
import { failureBudgetProblem, quarantineCounts } from './execute.js';
import { resolveStages, findStale } from './plan.js';
import { stageStatuses, type RunJsonUpdate } from './run-json.js';

export interface StageReport {
  stage: string;
  status: 'done' | 'partial' | 'pending';
  tasksDone: number;
  tasks: number;
  rows: Record<string, number | null>;
  /** Work that failed in tasks left undone (null: none), by reason, with an example message per reason. */
  failed: { total: number; of: number; unit: string; tasks: number[]; byReason: Record<string, number>; examples: Record<string, string>; endpoint: string | null } | null;
  quarantined: Record<string, number>;
  /** Every task is done but the stage quarantined more than its budget allows: why (it is not done). */
  overBudget: string | null;
  stale: string | null;
}

export interface RunCost {
  /** Requests the last run sent and what they cost (null: it opened no teacher). */
  requests: number | null;
  spentUsd: number | null;
  /** Candidates on disk answered from the response cache, and what they had cost when first paid. */
  replayedCandidates: number;
  replayedUsd: number;
}

/** One batch of the Batch API a generate task recorded (teacher.api batch). */
export interface BatchStatus {
  task: string;
  batchId: string | null;
  status: string;
  lines: number;
  completed: number;
  failed: number;
  createdAt: string;
  /** Seconds since the batch was made, when its status was last checked. */
  ageSeconds: number;
  /** What its answers cost at the batch price, and what the same tokens cost online (null: no teacher.price). */
  costUsd: number | null;
  onlineUsd: number | null;
}

export interface RunStatus {
  runDir: string;
  name: string;
  startedAt: string | null;
  endedAt: string | null;
  stages: StageReport[];
  cost: RunCost;
  teacher: unknown;
  /** Who ran the tasks, when not the `univg run` process itself (a job queue: its Redis, without credentials). */
  executor: RunJsonUpdate['executor'] | null;
  batches: BatchStatus[];
}

/** What the candidates on disk (finished parts) say about the cache: rows and cost replayed. */
async function replayed(run: RunDir): Promise<{ rows: number; usd: number }> {
  const dir = run.path('candidates');
  const parts = existsSync(dir) ? run.partsPresent({ name: 'candidates', dir: 'candidates', kind: 'TeacherCandidate' }) : [];
  if (parts.length === 0) return { rows: 0, usd: 0 };
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    const glob = join(dir, 'part-*.parquet').replace(/'/g, "''");
    const r = (await con.runAndReadAll(`SELECT count(*) FILTER (WHERE cached) AS n, coalesce(sum(costUsd) FILTER (WHERE cached), 0) AS usd FROM read_parquet('${glob}')`)).getRowObjects()[0]!;
    return { rows: Number(r.n), usd: Number(r.usd) };
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

export async function runStatus(dir: string): Promise<RunStatus> {
  const run = new RunDir(dir);
  const doc = JSON.parse(readFileSync(run.path('run.json'), 'utf8')) as Record<string, unknown>;
  const config = PipelineConfig.parse(doc.config);
  const stages = resolveStages(STANDARD_STAGES, config);
  const statuses = stageStatuses(run, stages, config);
  const stale = new Map(findStale(run, stages, config).map((s) => [s.stage, s.why]));
  const out: StageReport[] = [];
  for (const s of stages) {
    const rows: Record<string, number | null> = {};
    for (const o of s.outputs) rows[o.dir] = existsSync(run.manifestPath(o)) ? ((await readManifest(run.outputDir(o)))?.rows ?? null) : null;
    const st = statuses[s.name]!;
    // A failure record of a task that is done since (another process redid it) no longer counts.
    const records = readStageFailures(run, s.name).filter((f) => !run.taskDone(s, f.task, f.tasks) || (s.outputs.length === 0 && !run.stageDone(s)));
    const merged = records.length ? mergeFailures(records) : null;
    out.push({
      stage: s.name,
      status: st.status,
      tasksDone: st.tasksDone,
      tasks: st.tasks,
      rows,
      failed: merged ? { total: merged.failed, of: merged.total, unit: merged.unit, tasks: records.map((r) => r.task), byReason: merged.byReason, examples: merged.examples, endpoint: merged.endpoint ?? null } : null,
      quarantined: quarantineCounts(run, s.name).byReason,
      overBudget: st.status !== 'done' && st.tasksDone === st.tasks ? await failureBudgetProblem(run, s, stages, config) : null,
      stale: stale.get(s.name) ?? null,
    });
  }
  const teacher = (doc.teacher ?? null) as { requests?: number; costUsd?: number } | null;
  const rep = await replayed(run);
  const batches: BatchStatus[] = [];
  for (const t of await readRunBatches(dir)) {
    for (const b of t.batches) {
      const tokens = { promptTokens: b.tokens.prompt, completionTokens: b.tokens.completion };
      const seen = Date.parse(b.checkedAt ?? b.createdAt);
      batches.push({
        task: t.task, batchId: b.batchId, status: b.status, lines: b.lines, completed: b.counts.completed, failed: b.counts.failed, createdAt: b.createdAt,
        ageSeconds: Math.max(0, Math.round((seen - Date.parse(b.createdAt)) / 1000)),
        costUsd: config.teacher?.price ? costOf(tokens, batchPrice(config.teacher)) : null,
        onlineUsd: config.teacher?.price ? costOf(tokens, config.teacher.price) : null,
      });
    }
  }
  return {
    runDir: dir,
    name: String(doc.name ?? ''),
    startedAt: (doc.startedAt as string | undefined) ?? null,
    endedAt: (doc.endedAt as string | undefined) ?? null,
    stages: out,
    cost: { requests: teacher?.requests ?? null, spentUsd: teacher?.costUsd ?? null, replayedCandidates: rep.rows, replayedUsd: rep.usd },
    teacher,
    executor: (doc.executor as RunJsonUpdate['executor'] | undefined) ?? null,
    batches,
  };
}

const usd = (x: number) => `$${x.toFixed(4)}`;

/** Rows of cells as aligned columns (numbers right-aligned). */
function table(head: string[], body: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const right = head.map((_, i) => body.every((r) => /^[\d,/.-]*$/.test(r[i]!)));
  const line = (cells: string[]) => cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

export function formatStatus(s: RunStatus): string {
  const lines = [`run ${s.name} (${s.runDir})`, `started ${s.startedAt ?? '?'}${s.endedAt ? `, last ended ${s.endedAt}` : ', running or stopped'}`, ''];
  const body = s.stages.map((st) => {
    const rows = Object.values(st.rows);
    return [
      st.stage,
      st.stale ? 'stale' : st.overBudget ? 'failed' : st.status,
      `${st.tasksDone}/${st.tasks}`,
      rows.length === 0 ? '-' : rows.map((n) => (n === null ? '-' : String(n))).join('/'),
      st.failed ? String(st.failed.total) : '0',
      String(sum(st.quarantined)),
    ];
  });
  lines.push(...table(['stage', 'status', 'tasks', 'rows', 'failed', 'quarantined'], body));
  const notes: string[] = [];
  for (const st of s.stages) {
    if (st.failed) {
      const f = st.failed;
      notes.push(`${st.stage}: ${f.total} of ${f.of} ${f.unit} failed in task${f.tasks.length === 1 ? '' : 's'} ${f.tasks.join(', ')} (not done; rerun to retry them): ${oneLine(describeReasons(f), 300)}${f.endpoint ? ` at ${f.endpoint}` : ''}`);
    }
    const q = Object.entries(st.quarantined).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (q.length) notes.push(`${st.stage}: quarantined ${q.map(([r, n]) => `${r} ${n}`).join(', ')} (see quarantine/${st.stage}*.jsonl)`);
    if (st.overBudget) notes.push(`${oneLine(st.overBudget, 400)}`);
    if (st.stale) notes.push(`${st.stage}: stale, ${st.stale}`);
  }
  if (notes.length) lines.push('', ...notes);
  const c = s.cost;
  if (c.spentUsd !== null || c.replayedCandidates > 0) {
    lines.push(
      '',
      `teacher cost: ${c.spentUsd !== null ? `${usd(c.spentUsd)} spent by the last run (${c.requests ?? 0} request${c.requests === 1 ? '' : 's'})` : 'no request by the last run'}; ` +
        `${usd(c.replayedUsd)} saved by the cache (${c.replayedCandidates} candidate${c.replayedCandidates === 1 ? '' : 's'} on disk replayed, not paid again)`,
    );
  }
  if (s.batches.length) lines.push('', ...formatBatches(s.batches));
  return `${lines.join('\n')}\n`;
}

function age(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

/** The Batch API's batches: state, counts, age, and their cost at the batch price next to the online price. */
function formatBatches(batches: BatchStatus[]): string[] {
  const body = batches.map((b) => [b.task, b.batchId ?? '(not created)', b.status, String(b.lines), String(b.completed), String(b.failed), age(b.ageSeconds), b.costUsd === null ? '-' : usd(b.costUsd), b.onlineUsd === null ? '-' : usd(b.onlineUsd)]);
  const out = ['batches (teacher.api batch; age as of the last status check):', ...table(['task', 'batch', 'status', 'lines', 'done', 'failed', 'age', 'cost', 'online'], body)];
  const cost = batches.reduce((a, b) => a + (b.costUsd ?? 0), 0);
  const online = batches.reduce((a, b) => a + (b.onlineUsd ?? 0), 0);
  if (batches.some((b) => b.costUsd !== null)) out.push(`batch answers cost ${usd(cost)}; the same tokens online: ${usd(online)} (saved ${usd(online - cost)})`);
  return out;
}
