/**
 * The three steps every executor takes for a stage, whichever process takes them: begin it (record what
 * shapes it), run one of its tasks with atomic outputs, and finalise it (manifests once every part exists).
 * A task is done when its part files exist, a stage when its manifests exist, so any number of processes
 * (task arrays, queue workers) produce the same files one process would.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { InterruptedError, StageFailedError, TaskIncompleteError, UnivgError } from '../errors.js';
import { clearTaskFailures, describeReasons, recordTaskFailures } from './failures.js';
import type { PipelineConfig } from '../schema/config.js';
import type { QuarantineRecord, RecordKind } from '../schema/records.js';
import { sha256File } from '../store/fsutil.js';
import { readManifest, writeManifest, type ShardFileInfo } from '../store/manifest.js';
import { shardFileName, stableTaskOf } from '../store/names.js';
import { openParquet } from '../store/parquet.js';
import { readRows } from '../store/reader.js';
import { ShardWriter, defaultKeyOf } from '../store/writer.js';
import { hashOf } from './canonical.js';
import { derivedOutdated, inputHashes } from './plan.js';
import type { Reporter } from './progress.js';
import type { RunDir, StageState } from './run-dir.js';
import type { Services } from './services.js';
import type { RowSink, Stage, StageOutput, TaskContext, TaskRef, TaskSetupContext } from '../stages/stage.js';

/** What a process needs to run tasks of a run: the run, its stages, its services, how to report, when to stop. */
export interface TaskEnv {
  run: RunDir;
  config: PipelineConfig;
  /** Every stage of the run (inputs resolved), for reading inputs. */
  stages: readonly Stage[];
  services: Services;
  signal: AbortSignal;
  reporter: Reporter;
}

/** How one task ended: done (with its counters and facts), or not done for reasons that can pass. */
export type TaskOutcome =
  | { kind: 'done'; totals: Record<string, number>; facts: Record<string, string> }
  | { kind: 'incomplete'; error: TaskIncompleteError; totals: Record<string, number>; facts: Record<string, string> };

/** Quarantine records of a stage, by reason, with the first detail of each. */
export function quarantineCounts(run: RunDir, stage: string): { total: number; byReason: Record<string, number>; examples: Record<string, string> } {
  const out = { total: 0, byReason: {} as Record<string, number>, examples: {} as Record<string, string> };
  for (const f of run.quarantineFiles(stage)) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      if (!line) continue;
      const rec = JSON.parse(line) as { reason?: string; recordId?: string | null; detail?: string };
      const reason = rec.reason ?? 'unknown';
      out.total++;
      out.byReason[reason] = (out.byReason[reason] ?? 0) + 1;
      out.examples[reason] ??= `${rec.recordId ? `sample ${rec.recordId}: ` : ''}${rec.detail ?? ''}`;
    }
  }
  return out;
}

/**
 * Why a stage that set aside more of its input than its budget allows did not do its job, or null. The
 * runner then fails it instead of writing manifests that would let the next stages build a thin corpus
 * unnoticed; `univg status` shows the same line.
 */
export async function failureBudgetProblem(run: RunDir, stage: Stage, stages: readonly Stage[], config: PipelineConfig): Promise<string | null> {
  const budget = stage.failureBudget?.(config);
  if (!budget) return null;
  const q = quarantineCounts(run, stage.name);
  if (q.total === 0) return null;
  const input = stages.find((x) => x.name === stage.inputs[0])?.outputs[0];
  const rows = input ? ((await readManifest(run.outputDir(input)))?.rows ?? 0) : 0;
  const share = rows > 0 ? q.total / rows : 1;
  if (share <= budget.share) return null;
  const pct = (x: number) => `${(100 * x).toFixed(x < 0.01 ? 2 : 1)}%`;
  return (
    `${stage.name}: ${q.total} of ${rows} ${budget.unit} (${pct(share)}) were quarantined, above ${budget.field} (${pct(budget.share)}): ` +
    `${describeReasons({ byReason: q.byReason, examples: q.examples })}. Details in ${run.path('quarantine')}/${stage.name}-*.jsonl. ` +
    `Fix the cause and rerun with --force ${stage.name}, or raise ${budget.field} to keep the rest.`
  );
}

/** Describe a finished part file for the manifest (it may have been written by another process). */
async function describePart(dir: string, name: string): Promise<ShardFileInfo> {
  const path = join(dir, name);
  const { sha256, bytes } = await sha256File(path);
  const pq = await openParquet(path);
  try {
    return { file: name, rows: pq.footer.rows, bytes, sha256, rowGroups: pq.footer.rowGroupRows.length };
  } finally {
    pq.close();
  }
}

/**
 * Write the stage's manifests once every part of every output exists (false while some are missing).
 * Throws StageFailedError when the stage quarantined more than its budget allows. Idempotent: a stage
 * already finalised (by another process) is left as it is.
 */
export async function finalizeOutputs(run: RunDir, stage: Stage, stages: readonly Stage[], config: PipelineConfig): Promise<boolean> {
  const n = config.shards.tasks;
  if (run.stageDone(stage)) return true;
  for (const o of stage.outputs) {
    for (let i = 0; i < n; i++) if (!existsSync(run.partPath(o, i, n))) return false;
  }
  const problem = await failureBudgetProblem(run, stage, stages, config);
  if (problem !== null) throw new StageFailedError(problem, { file: run.root });
  const inputs = stage.inputs.flatMap((name) => {
    const s = stages.find((x) => x.name === name)!;
    return s.outputs.map((o) => ({ path: o.dir, kind: o.kind }));
  });
  // Files outside the stage graph the output depends on (audit labels, a benchmark): named with their checksum.
  const external = await Promise.all((stage.externalInputs?.(config) ?? []).map(async (x) => ({ name: x.name, file: resolve(x.file), sha256: (await sha256File(x.file)).sha256 })));
  for (const o of stage.outputs) {
    const dir = run.outputDir(o);
    const files: ShardFileInfo[] = [];
    for (let i = 0; i < n; i++) files.push(await describePart(dir, shardFileName(i, n)));
    await writeManifest(dir, files, {
      kind: o.kind,
      compression: config.shards.compression,
      lineage: {
        stage: stage.name,
        inputs: [...inputs, ...external.map((x) => ({ path: relative(resolve(dir), x.file) || '.', sha256: x.sha256, kind: x.name }))],
        params: { settingsHash: hashOf(stage.settings(config)), tasks: n, seed: config.seed },
      },
    });
  }
  return true;
}

/**
 * Begin a stage whose inputs are done: rebuild a derived stage whose inputs changed since it was built
 * (`rebuild`: this process may clear it, i.e. it is the only one deciding), and record what shapes the
 * stage (its settings and inputs) unless a record exists. Returns false when the stage is already done.
 */
export async function beginStage(env: Pick<TaskEnv, 'run' | 'config' | 'stages' | 'reporter'>, stage: Stage, rebuild: boolean): Promise<boolean> {
  const { run, config, stages, reporter } = env;
  if (run.stageDone(stage) && stage.derived && rebuild && derivedOutdated(run, stage, stages, config)) {
    reporter.log(`${stage.name}: rebuilding, its inputs or settings changed since it was built`);
    run.clearStage(stage);
  }
  if (run.stageDone(stage)) return false;
  if (!run.readState(stage.name)) {
    const state: StageState = { stage: stage.name, settingsHash: hashOf(stage.settings(config)), inputs: inputHashes(run, stage, stages, config) ?? {}, tasks: config.shards.tasks };
    await run.writeState(state);
  }
  return true;
}

/** Sinks for one task: part files for partitioned stages, N partitioned parts for whole-run sources. */
class TaskOutputs {
  private readonly writers = new Map<string, ShardWriter<RecordKind>[]>();

  constructor(
    private readonly run: RunDir,
    private readonly stage: Stage,
    private readonly task: TaskRef,
    private readonly config: PipelineConfig,
  ) {}

  private open(o: StageOutput): ShardWriter<RecordKind>[] {
    let ws = this.writers.get(o.name);
    if (!ws) {
      const dir = this.run.outputDir(o);
      mkdirSync(dir, { recursive: true });
      const n = this.config.shards.tasks;
      const common = { dir, kind: o.kind, count: n, rowGroupRows: this.config.shards.rowGroupSize, compression: this.config.shards.compression };
      ws = this.stage.mode === 'partitioned' ? [new ShardWriter({ ...common, index: this.task.index })] : Array.from({ length: n }, (_, index) => new ShardWriter({ ...common, index }));
      this.writers.set(o.name, ws);
    }
    return ws;
  }

  sink(name: string): RowSink {
    const o = this.stage.outputs.find((x) => x.name === name);
    if (!o) throw new UnivgError('stage', `stage ${this.stage.name} has no output ${JSON.stringify(name)}`);
    const ws = this.open(o);
    const key = defaultKeyOf(o.kind);
    const n = this.config.shards.tasks;
    return {
      write: async (row) => {
        const w = ws.length === 1 ? ws[0]! : ws[stableTaskOf(key(row), n)]!;
        await w.write(row as never);
      },
    };
  }

  /**
   * Quarantined inputs of this task go to a temp file renamed with the task's parts, so a task that is
   * redone after a crash does not list its rejects twice.
   */
  private quarantineTmp: string | null = null;

  get quarantineFile(): string {
    const base = this.stage.mode === 'whole' ? this.stage.name : `${this.stage.name}-${shardFileName(this.task.index, this.task.count).replace(/^part-|\.parquet$/g, '')}`;
    return this.run.path('quarantine', `${base}.jsonl`);
  }

  async quarantine(record: QuarantineRecord): Promise<void> {
    if (!this.quarantineTmp) {
      this.quarantineTmp = `${this.quarantineFile}.${process.pid}.tmp`;
      mkdirSync(dirname(this.quarantineTmp), { recursive: true });
      rmSync(this.quarantineTmp, { force: true });
    }
    await appendFile(this.quarantineTmp, `${JSON.stringify(record)}\n`);
  }

  /** Close every writer (temp -> final name); outputs never written still get their (empty) parts. */
  async commit(): Promise<void> {
    for (const o of this.stage.outputs) this.open(o);
    for (const ws of this.writers.values()) for (const w of ws) await w.close();
    if (this.quarantineTmp) renameSync(this.quarantineTmp, this.quarantineFile);
    else rmSync(this.quarantineFile, { force: true });
  }

  async abort(): Promise<void> {
    for (const ws of this.writers.values()) for (const w of ws) await w.abort();
    if (this.quarantineTmp) rmSync(this.quarantineTmp, { force: true });
  }
}

/** The output of an input stage a stage reads (it must declare that stage as an input). */
function inputOutput(stage: Stage, stages: readonly Stage[], stageName: string, output?: string): StageOutput {
  const s = stages.find((x) => x.name === stageName);
  if (!s || !stage.inputs.includes(stageName)) throw new UnivgError('stage', `stage ${stage.name} does not declare input ${stageName}`);
  const o = output ? s.outputs.find((x) => x.name === output) : s.outputs[0];
  if (!o) throw new UnivgError('stage', `stage ${stageName} has no output ${output ?? '(any)'}`);
  return o;
}

/** A task's inputs and the services, no outputs: what `Stage.beforeTasks` gets, and the base of a task's context. */
function setupContext(env: TaskEnv, stage: Stage, task: TaskRef, totals: Record<string, number>): TaskSetupContext {
  const { run, stages, config, services, signal, reporter } = env;
  return {
    runDir: run.root,
    config,
    task,
    signal,
    services,
    read: <T>(stageName: string, output?: string) => {
      const o = inputOutput(stage, stages, stageName, output);
      return readRows(o.kind, run.partPath(o, task.index, config.shards.tasks)) as AsyncIterable<T>;
    },
    inputRows: async (stageName: string, output?: string) => {
      const o = inputOutput(stage, stages, stageName, output);
      const name = shardFileName(task.index, config.shards.tasks);
      return (await readManifest(run.outputDir(o)))?.files.find((f) => f.file === name)?.rows ?? null;
    },
    log: (m: string) => reporter.log(`${stage.name}: ${m}`),
    tally: (counts) => {
      for (const [k, v] of Object.entries(counts)) totals[k] = (totals[k] ?? 0) + v;
    },
  };
}

function makeContext(env: TaskEnv, stage: Stage, task: TaskRef, outputs: TaskOutputs, totals: Record<string, number>, facts: Record<string, string>): TaskContext {
  const { run, stages } = env;
  return {
    ...setupContext(env, stage, task, totals),
    progress: env.reporter.task(stage.name, task),
    readAll: <T>(stageName: string, output?: string) => {
      const o = inputOutput(stage, stages, stageName, output);
      return readRows(o.kind, run.outputDir(o)) as AsyncIterable<T>;
    },
    output: <T>(name: string) => outputs.sink(name) as RowSink<T>,
    quarantine: (record: Omit<QuarantineRecord, 'stage'>) => outputs.quarantine({ stage: stage.name, ...record }),
    fact: (name, value) => {
      facts[name] = value;
    },
  };
}

/**
 * Call the stage's `beforeTasks` hook once, before this process runs `tasks` of it (those not done; none:
 * no call). Its tallies join the stage's counters (`totals`). Every executor calls it: the in-process one
 * with the tasks it is about to run, a queue worker with the task of the job it took.
 */
export async function prepareTasks(env: TaskEnv, stage: Stage, tasks: readonly TaskRef[], totals: Record<string, number>): Promise<void> {
  if (!stage.beforeTasks || tasks.length === 0) return;
  await stage.beforeTasks(tasks.map((t) => setupContext(env, stage, t, totals)));
}

/**
 * Run one task of a stage: its outputs appear atomically when it succeeds and not at all otherwise. A task
 * whose work failed for reasons that can pass is recorded in `_failed/` and returned as incomplete; an
 * interruption throws InterruptedError; anything else is thrown as it is. `beforeCommit` runs just before
 * the outputs are renamed into place (the queue executor checks there that the job is still its own).
 */
export async function executeTask(env: TaskEnv, stage: Stage, task: TaskRef, opts: { beforeCommit?: () => Promise<void> } = {}): Promise<TaskOutcome> {
  const { run, signal } = env;
  const totals: Record<string, number> = {};
  const facts: Record<string, string> = {};
  const outputs = new TaskOutputs(run, stage, task, env.config);
  const ctx = makeContext(env, stage, task, outputs, totals, facts);
  try {
    await stage.runTask(ctx);
    if (signal.aborted) throw new InterruptedError();
    await opts.beforeCommit?.();
    await outputs.commit();
    clearTaskFailures(run, stage.name, task.index, task.count);
    return { kind: 'done', totals, facts };
  } catch (err) {
    await outputs.abort();
    if (signal.aborted && !(err instanceof InterruptedError)) throw new InterruptedError();
    if (!(err instanceof TaskIncompleteError)) throw err;
    await recordTaskFailures(run, stage.name, task.index, task.count, err.failures);
    return { kind: 'incomplete', error: err, totals, facts };
  }
}
