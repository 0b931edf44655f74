/**
 * Planning a run: which stages the config turns on and what each reads, which of them this invocation
 * runs (--stages, --from), whether finished results are stale, and what --force clears. Pure apart from
 * reading the run directory; it runs nothing, so every executor (in process, the job queue) plans the
 * same way and the files they produce cannot differ.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import type { PipelineConfig } from '../schema/config.js';
import type { Stage, TaskRef } from '../stages/stage.js';
import { canonicalJson, hashOf, sha256Hex } from './canonical.js';
import { RunDir, type StageState } from './run-dir.js';

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
export function inputHashes(run: RunDir, stage: Stage, stages: readonly Stage[], config: PipelineConfig): Record<string, string> | null {
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
export function derivedOutdated(run: RunDir, stage: Stage, stages: readonly Stage[], config: PipelineConfig): boolean {
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

/** What a run is made of, once the config and the command line are checked; the same for every executor. */
export interface RunPlan {
  config: PipelineConfig;
  /** The pipeline file's text, stored in run.json as the config as run. */
  configText: string;
  configFile: string;
  run: RunDir;
  /** Every stage the config turns on, in pipeline order, inputs resolved. */
  stages: Stage[];
  /** The stages this invocation runs (--stages, --from), in pipeline order. */
  selected: Stage[];
  /** This process's task of a task array (`--task i/N`), if it is one. */
  task?: TaskRef;
  /** Stages --force redoes (with everything that depends on them). */
  forced: Stage[];
}

export interface PlanOptions {
  config: PipelineConfig;
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
}

/** Check the command line against the pipeline and decide what this invocation runs. Touches no file. */
export function planRun(opts: PlanOptions): RunPlan {
  const { config } = opts;
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
  return {
    config,
    configText: opts.configText,
    configFile: opts.configFile,
    run: new RunDir(opts.runDir ?? config.runDir ?? join('runs', config.name)),
    stages,
    selected,
    ...(opts.task ? { task: opts.task } : {}),
    forced: opts.force?.length ? dependantsOf(stages, opts.force) : [],
  };
}

/**
 * Make the run directory ready for the plan, under its lock: clear what --force redoes (only the first
 * process of a task array does), refuse stale results, and run the selected stages' cheap checks.
 */
export function prepareRun(plan: RunPlan): void {
  const { run, stages, config, task, forced, selected } = plan;
  run.ensure();
  // Only the first process of a task array clears forced stages; the others would race it.
  if (!task || task.index === 0) for (const s of forced) run.clearStage(s);

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
}

/** The tasks of a stage: one for a whole-run stage, N (shards.tasks) for a partitioned one. */
export function tasksOf(stage: Stage, config: PipelineConfig): TaskRef[] {
  const n = config.shards.tasks;
  return stage.mode === 'whole' ? [{ index: 0, count: 1 }] : Array.from({ length: n }, (_, index) => ({ index, count: n }));
}
