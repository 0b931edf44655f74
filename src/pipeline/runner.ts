/**
 * The pipeline runner: decides which stages and tasks are left, detects stale results, runs tasks with
 * atomic outputs, writes manifests once every part exists, and stops cleanly on interrupt.
 *
 * Progress is the filesystem: a task is done when its part files exist, a stage when its manifests
 * exist. Any number of processes running `--task i/N` produce the same files one process would.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { ConfigError, EXIT, InterruptedError, StageFailedError, TaskIncompleteError, UnivgError } from '../errors.js';
import { clearTaskFailures, describeReasons, incompleteSummary, mergeFailures, recordTaskFailures } from './failures.js';
import type { PipelineConfig } from '../schema/config.js';
import type { QuarantineRecord, RecordKind } from '../schema/records.js';
import { sha256File } from '../store/fsutil.js';
import { readManifest, writeManifest, type ShardFileInfo } from '../store/manifest.js';
import { shardFileName, stableTaskOf } from '../store/names.js';
import { openParquet } from '../store/parquet.js';
import { readRows } from '../store/reader.js';
import { ShardWriter, defaultKeyOf } from '../store/writer.js';
import { canonicalJson, hashOf, sha256Hex } from './canonical.js';
import type { Reporter } from './progress.js';
import { RunDir, type StageState } from './run-dir.js';
import { createServices, type Services } from './services.js';
import type { RowSink, Stage, StageOutput, TaskContext, TaskRef, TaskSetupContext } from '../stages/stage.js';
import { writeRunJson } from './run-json.js';
import { lockRun } from './lock.js';

export interface RunOptions {
  config: PipelineConfig;
  /** The pipeline file's text, stored in run.json as the config as run. */
  configText: string;
  configFile: string;
  stages: readonly Stage[];
  runDir?: string;
  /** Only these stages (still in pipeline order). */
  only?: readonly string[];
  /** This stage and every later one. */
  from?: string;
  task?: TaskRef;
  /** Redo these stages and every stage that depends on them. */
  force?: readonly string[];
  signal?: AbortSignal;
  reporter: Reporter;
  /** How long a task process waits for a whole-run stage another process runs (ms). */
  waitTimeoutMs?: number;
}

export interface RunSummary {
  runDir: string;
  ran: string[];
  skipped: string[];
}

/** Stages in pipeline order that `names` need, including themselves (by their declared inputs). */
export function dependantsOf(stages: readonly Stage[], names: readonly string[]): Stage[] {
  const out = new Set(names);
  for (const s of stages) if (s.inputs.some((i) => out.has(i))) out.add(s.name);
  return stages.filter((s) => out.has(s.name));
}

/** Why a stage is left out under this config (its own reason, or an input left out), or null. */
function leftOut(s: Stage, config: PipelineConfig, out: ReadonlyMap<string, string>): string | null {
  const own = s.disabled?.(config) ?? null;
  if (own !== null) return own;
  const i = s.inputs.find((x) => out.has(x));
  return i === undefined ? null : `its input stage ${i} does not run (${out.get(i)})`;
}

export function resolveStages(allStages: readonly Stage[], config: PipelineConfig): Stage[] {
  // Inputs that depend on the config (training stages) are fixed here, once, for everything downstream.
  const all = allStages.map((s) => (s.inputsFor ? { ...s, inputs: s.inputsFor(config) } : s));
  const out = new Map<string, string>();
  for (const s of all) {
    const why = leftOut(s, config, out);
    if (why !== null) out.set(s.name, why);
  }
  if (!config.stages) return all.filter((s) => !out.has(s.name));
  const byName = new Map(all.map((s) => [s.name, s]));
  const picked: Stage[] = [];
  for (const n of config.stages) {
    const s = byName.get(n);
    if (!s) throw new ConfigError(`unknown stage ${JSON.stringify(n)}; stages are: ${all.map((x) => x.name).join(', ')}`, { field: 'stages' });
    if (out.has(n)) throw new ConfigError(`stage ${n} is listed but cannot run: ${out.get(n)}`, { field: 'stages' });
    picked.push(s);
  }
  for (const s of picked) {
    for (const i of s.inputs) {
      if (!picked.some((p) => p.name === i)) throw new ConfigError(`stage ${s.name} needs stage ${i}, which the pipeline does not list`, { field: 'stages' });
    }
  }
  return all.filter((s) => picked.includes(s));
}

/** Key of an external input in StageState.inputs (never a stage name: those have no colon). */
const EXTERNAL = 'external:';

/**
 * Hash of the inputs' manifests (or done files), and of the files outside the run the stage reads: an
 * upstream rerun, or another run's corpus rebuilt, makes downstream results stale.
 */
function inputHashes(run: RunDir, stage: Stage, stages: readonly Stage[], config: PipelineConfig): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (const name of stage.inputs) {
    const s = stages.find((x) => x.name === name)!;
    const files = s.outputs.length ? s.outputs.map((o) => run.manifestPath(o)) : [run.path(s.doneFile!)];
    if (!files.every((f) => existsSync(f))) return null;
    out[name] = hashOf(files.map((f) => readFileSync(f, 'utf8')));
  }
  for (const x of stage.externalInputs?.(config) ?? []) {
    if (!existsSync(x.file)) return null;
    out[`${EXTERNAL}${x.name}`] = contentHash(readFileSync(x.file));
  }
  return out;
}

/**
 * Hash of an external input's contents. Text files hash as they always did; a file that is not UTF-8
 * (a Parquet export) hashes its bytes, since decoding would map different invalid bytes to the same text.
 */
function contentHash(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return Buffer.byteLength(text, 'utf8') === bytes.length && Buffer.from(text, 'utf8').equals(bytes) ? hashOf([text]) : `bytes:${sha256Hex(bytes).slice(0, 16)}`;
}

const recordedInputs = (state: StageState): string[] => Object.keys(state.inputs).filter((k) => !k.startsWith(EXTERNAL)).sort();

/** A finished stage that would now read another set of stages (a training section was added): its result is stale. */
function inputSetChanged(state: StageState, s: Stage): boolean {
  if (Object.keys(state.inputs).length === 0) return false;
  return canonicalJson(recordedInputs(state)) !== canonicalJson([...s.inputs].sort());
}

/** A finished derived stage whose inputs or settings differ from when it was built (or with no record of them). */
function derivedOutdated(run: RunDir, stage: Stage, stages: readonly Stage[], config: PipelineConfig): boolean {
  const state = run.readState(stage.name);
  if (!state) return true;
  const now = inputHashes(run, stage, stages, config);
  return state.settingsHash !== hashOf(stage.settings(config)) || (now !== null && canonicalJson(now) !== canonicalJson(state.inputs));
}

export interface Staleness {
  stage: string;
  why: string;
}

/** Stages whose recorded settings or inputs differ from what a run now would use. */
export function findStale(run: RunDir, stages: readonly Stage[], config: PipelineConfig): Staleness[] {
  const stale: Staleness[] = [];
  for (const s of stages) {
    const state = run.readState(s.name);
    // A derived stage (the report) is rebuilt instead of being called stale (see derivedOutdated).
    if (!state || s.derived) continue;
    if (state.settingsHash !== hashOf(s.settings(config))) stale.push({ stage: s.name, why: 'its settings in the pipeline changed' });
    else if (state.tasks !== config.shards.tasks && s.mode === 'partitioned') stale.push({ stage: s.name, why: `shards.tasks changed from ${state.tasks} to ${config.shards.tasks}` });
    else if (inputSetChanged(state, s)) {
      stale.push({ stage: s.name, why: `its input stages changed from [${recordedInputs(state).join(', ')}] to [${[...s.inputs].sort().join(', ')}]` });
    } else {
      const now = inputHashes(run, s, stages, config);
      if (now && canonicalJson(now) !== canonicalJson(state.inputs)) {
        const ext = Object.keys(now).find((k) => k.startsWith(EXTERNAL) && now[k] !== state.inputs[k]);
        stale.push({ stage: s.name, why: ext ? `${ext.slice(EXTERNAL.length)}, read from outside this run, changed since` : 'an input stage was redone since' });
      }
    }
  }
  return stale;
}

function keyOfKind(kind: RecordKind): (row: Record<string, unknown>) => string {
  return defaultKeyOf(kind);
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

async function checkFailureBudget(run: RunDir, stage: Stage, stages: readonly Stage[], config: PipelineConfig): Promise<void> {
  const problem = await failureBudgetProblem(run, stage, stages, config);
  if (problem !== null) throw new StageFailedError(problem, { file: run.root });
}

async function finalizeOutputs(run: RunDir, stage: Stage, stages: readonly Stage[], config: PipelineConfig): Promise<boolean> {
  const n = config.shards.tasks;
  for (const o of stage.outputs) {
    for (let i = 0; i < n; i++) if (!existsSync(run.partPath(o, i, n))) return false;
  }
  await checkFailureBudget(run, stage, stages, config);
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

async function waitFor(cond: () => boolean, what: string, signal: AbortSignal, timeoutMs: number, reporter: Reporter): Promise<void> {
  const start = Date.now();
  let told = false;
  while (!cond()) {
    if (signal.aborted) throw new InterruptedError();
    if (Date.now() - start > timeoutMs) throw new UnivgError('timeout', `gave up waiting for ${what} after ${Math.round(timeoutMs / 1000)} s`);
    if (!told) {
      reporter.log(`waiting for ${what}`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
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
    const key = keyOfKind(o.kind);
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

function setupContext(run: RunDir, stage: Stage, stages: readonly Stage[], task: TaskRef, config: PipelineConfig, services: Services, signal: AbortSignal, reporter: Reporter, totals: Record<string, number>): TaskSetupContext {
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
    log: (m: string) => reporter.log(`${stage.name}: ${m}`),
    tally: (counts) => {
      for (const [k, v] of Object.entries(counts)) totals[k] = (totals[k] ?? 0) + v;
    },
  };
}

function inputOutput(stage: Stage, stages: readonly Stage[], stageName: string, output?: string): StageOutput {
  const s = stages.find((x) => x.name === stageName);
  if (!s || !stage.inputs.includes(stageName)) throw new UnivgError('stage', `stage ${stage.name} does not declare input ${stageName}`);
  const o = output ? s.outputs.find((x) => x.name === output) : s.outputs[0];
  if (!o) throw new UnivgError('stage', `stage ${stageName} has no output ${output ?? '(any)'}`);
  return o;
}

function makeContext(run: RunDir, stage: Stage, stages: readonly Stage[], task: TaskRef, config: PipelineConfig, services: Services, signal: AbortSignal, reporter: Reporter, outputs: TaskOutputs, totals: Record<string, number>): TaskContext {
  return {
    ...setupContext(run, stage, stages, task, config, services, signal, reporter, totals),
    progress: reporter.task(stage.name, task),
    readAll: <T>(stageName: string, output?: string) => {
      const o = inputOutput(stage, stages, stageName, output);
      return readRows(o.kind, run.outputDir(o)) as AsyncIterable<T>;
    },
    output: <T>(name: string) => outputs.sink(name) as RowSink<T>,
    quarantine: (record: Omit<QuarantineRecord, 'stage'>) => outputs.quarantine({ stage: stage.name, ...record }),
  };
}

export async function runPipeline(opts: RunOptions): Promise<RunSummary> {
  const { config, reporter } = opts;
  const stages = resolveStages(opts.stages, config);
  const names = stages.map((s) => s.name);
  for (const n of [...(opts.only ?? []), ...(opts.force ?? []), ...(opts.from ? [opts.from] : [])]) {
    if (!names.includes(n)) throw new ConfigError(`unknown stage ${JSON.stringify(n)}; this pipeline's stages are: ${names.join(', ')}`);
  }
  const n = config.shards.tasks;
  if (opts.task && (opts.task.count !== n || opts.task.index < 0 || opts.task.index >= n)) {
    throw new ConfigError(`--task ${opts.task.index}/${opts.task.count} does not fit this pipeline: shards.tasks is ${n}, so use --task i/${n} with 0 <= i < ${n}`);
  }
  let selected = stages;
  if (opts.from) selected = selected.slice(names.indexOf(opts.from));
  if (opts.only?.length) selected = selected.filter((s) => opts.only!.includes(s.name));

  const run = new RunDir(opts.runDir ?? config.runDir ?? join('runs', config.name));
  run.ensure();
  // One process per run directory, or per task of it (--task i/N): see lock.ts.
  const lock = lockRun(run.root, { task: opts.task, log: (m) => reporter.log(m) });
  try {
    return await runLocked(opts, run, stages, selected);
  } finally {
    lock.release();
  }
}

/** The run itself, once this process holds the run directory (or its task of it). */
async function runLocked(opts: RunOptions, run: RunDir, stages: Stage[], selected: Stage[]): Promise<RunSummary> {
  const { config, reporter } = opts;
  const signal = opts.signal ?? new AbortController().signal;
  const n = config.shards.tasks;

  const forced = opts.force?.length ? dependantsOf(stages, opts.force) : [];
  // Only the first process of a task array clears forced stages; the others would race it.
  if (!opts.task || opts.task.index === 0) for (const s of forced) run.clearStage(s);

  const stale = findStale(run, stages, config).filter((x) => !forced.some((f) => f.name === x.stage));
  if (stale.length) {
    const first = stale[0]!.stage;
    const redo = dependantsOf(stages, [first]).map((s) => s.name);
    throw new ConfigError(
      `results are stale: ${stale.map((s) => `${s.stage} (${s.why})`).join('; ')}. ` +
        `Nothing was mixed. Rerun with --force ${first} to redo ${redo.join(', ')}, or use another --run-dir.`,
      { file: run.root },
    );
  }

  for (const s of selected) if (!run.stageDone(s)) s.preflight?.(config);

  const services = await createServices(config, run, reporter);
  const ran: string[] = [];
  const skipped: string[] = [];
  await writeRunJson(run, { config, configText: opts.configText, configFile: opts.configFile, stages, event: 'start', services });
  try {
    for (const stage of selected) {
      if (signal.aborted) throw new InterruptedError();
      for (const input of stage.inputs) {
        const s = stages.find((x) => x.name === input)!;
        if (run.stageDone(s)) continue;
        if (opts.task && selected.includes(s)) {
          await waitFor(() => run.stageDone(s), `stage ${input} (run by the other tasks)`, signal, opts.waitTimeoutMs ?? 24 * 3600_000, reporter);
        } else if (!selected.includes(s)) {
          throw new ConfigError(`stage ${stage.name} needs stage ${input}, which is not done: run it first (or drop --stages/--from)`);
        }
      }
      if (run.stageDone(stage) && stage.derived && (!opts.task || opts.task.index === 0) && derivedOutdated(run, stage, stages, config)) {
        reporter.log(`${stage.name}: rebuilding, its inputs or settings changed since it was built`);
        run.clearStage(stage);
      }
      if (run.stageDone(stage)) {
        skipped.push(stage.name);
        reporter.stageSkipped(stage.name);
        continue;
      }
      const state: StageState = { stage: stage.name, settingsHash: hashOf(stage.settings(config)), inputs: inputHashes(run, stage, stages, config) ?? {}, tasks: n };
      if (!run.readState(stage.name)) await run.writeState(state);

      const whole = stage.mode === 'whole';
      if (whole && opts.task && opts.task.index !== 0) {
        await waitFor(() => run.stageDone(stage), `stage ${stage.name} (run by task 0)`, signal, opts.waitTimeoutMs ?? 24 * 3600_000, reporter);
        skipped.push(stage.name);
        continue;
      }
      const taskList: TaskRef[] = whole ? [{ index: 0, count: 1 }] : opts.task ? [opts.task] : Array.from({ length: n }, (_, index) => ({ index, count: n }));
      reporter.stageStart(stage.name, taskList.length);
      const totals: Record<string, number> = {};
      let tasksRun = 0;
      // Tasks whose work failed for reasons that can pass: not done; the others still run.
      const incomplete: Array<{ task: TaskRef; error: TaskIncompleteError }> = [];
      const pending = taskList.filter((t) => whole || !run.taskDone(stage, t.index, n));
      if (stage.beforeTasks && pending.length > 0) await stage.beforeTasks(pending.map((t) => setupContext(run, stage, stages, t, config, services, signal, reporter, totals)));
      for (const task of taskList) {
        if (!whole && run.taskDone(stage, task.index, n)) {
          reporter.taskSkipped(stage.name, task);
          continue;
        }
        if (signal.aborted) throw new InterruptedError();
        const outputs = new TaskOutputs(run, stage, task, config);
        const ctx = makeContext(run, stage, stages, task, config, services, signal, reporter, outputs, totals);
        try {
          await stage.runTask(ctx);
          if (signal.aborted) throw new InterruptedError();
          await outputs.commit();
          clearTaskFailures(run, stage.name, task.index, task.count);
        } catch (err) {
          await outputs.abort();
          if (signal.aborted && !(err instanceof InterruptedError)) throw new InterruptedError();
          if (!(err instanceof TaskIncompleteError)) throw err;
          await recordTaskFailures(run, stage.name, task.index, task.count, err.failures);
          incomplete.push({ task, error: err });
          if (err.stop) break;
          reporter.log(`${stage.name}: task ${task.index}/${task.count} not done: ${err.failures.failed} of ${err.failures.total} ${err.failures.unit} failed (${describeReasons(err.failures)})`);
        }
        if (!incomplete.some((x) => x.task === task)) {
          reporter.taskDone(stage.name, task);
          tasksRun++;
        }
      }
      if (incomplete.length) {
        const failures = mergeFailures(incomplete.map((x) => x.error.failures));
        const stopped = incomplete.find((x) => x.error.stop)?.error;
        const notDone = whole ? [0] : taskList.map((t) => t.index).filter((i) => !run.taskDone(stage, i, n));
        const cause = stopped ? { message: stopped.message, fixFirst: stopped.exitCode === EXIT.usage } : undefined;
        throw new StageFailedError(incompleteSummary(stage.name, failures, notDone, whole ? 1 : n, cause), { file: run.root }, { cause: stopped?.cause, exitCode: stopped?.exitCode ?? EXIT.failed });
      }
      const summary = tasksRun > 0 ? stage.summary?.(totals) : null;
      if (summary) reporter.log(`${stage.name}: ${summary}`);
      const finished = stage.outputs.length ? await finalizeOutputs(run, stage, stages, config) : run.stageDone(stage);
      reporter.stageEnd(stage.name, finished);
      ran.push(stage.name);
      // Later stages (the report) read run.json: keep it current after every stage.
      await writeRunJson(run, { config, configText: opts.configText, configFile: opts.configFile, stages, event: 'progress', services });
    }
  } finally {
    await writeRunJson(run, { config, configText: opts.configText, configFile: opts.configFile, stages, event: 'end', services });
    await services.close();
  }
  return { runDir: run.root, ran, skipped };
}
