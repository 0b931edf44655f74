/**
 * What a stage is: a small declarative object (name, inputs, outputs, the settings that shape its
 * output) around a task function. The runner owns scheduling, resume, staleness and atomic outputs;
 * the stage owns only the transformation of one task's rows.
 */
import type { PipelineConfig } from '../schema/config.js';
import type { QuarantineRecord, RecordKind } from '../schema/records.js';
import type { ImageStore } from '../store/images.js';

export interface StageOutput {
  /** Name the stage writes to, e.g. `sft`. */
  name: string;
  /** Directory relative to the run directory, e.g. `corpus/sft`. */
  dir: string;
  kind: RecordKind;
}

export interface TaskRef {
  index: number;
  count: number;
}

/** A sink for rows of one output of one task: the runner turns it into a part file, atomically. */
export interface RowSink<T = Record<string, unknown>> {
  write(row: T): Promise<void>;
}

export interface TaskProgress {
  /** Items this task will process, when known (drives rate and ETA). */
  setTotal(n: number): void;
  advance(n?: number): void;
  /** Extra figures shown next to the bar, e.g. spend. */
  note(fields: Record<string, string | number>): void;
}

/** What stages may use besides their inputs; created once per process by the runner. */
export interface StageServices {
  /** The run's content-addressed image store. */
  images: ImageStore;
  /** The teacher (client, cache, resolved config), created on first use; the simulated one is started if configured. */
  teacher(): Promise<TeacherHandle>;
}

/** Whatever the generate stage needs to call the teacher; defined by src/teacher. */
export type TeacherHandle = import('../teacher/handle.js').TeacherHandle;

export interface TaskContext {
  /** The run directory. */
  runDir: string;
  config: PipelineConfig;
  task: TaskRef;
  signal: AbortSignal;
  services: StageServices;
  progress: TaskProgress;
  /** Rows of this task's part of an input stage's output. */
  read<T = Record<string, unknown>>(stage: string, output?: string): AsyncIterable<T>;
  /** Rows of every part of an input stage's output (for whole-run stages such as report). */
  readAll<T = Record<string, unknown>>(stage: string, output?: string): AsyncIterable<T>;
  /** Rows in this task's part of an input stage's output, from its manifest (null when unknown). */
  inputRows(stage: string, output?: string): Promise<number | null>;
  /** The sink for one of this stage's outputs (this task's part). */
  output<T = Record<string, unknown>>(name: string): RowSink<T>;
  quarantine(record: Omit<QuarantineRecord, 'stage'>): Promise<void>;
  log(message: string): void;
  /** Add to the stage's counters for this process (summed over its tasks and shown by `Stage.summary`). */
  tally(counts: Readonly<Record<string, number>>): void;
  /** A fact about how the run ran, kept in run.json (`tfjsBackend`: the TensorFlow.js backend training used). */
  fact(name: 'tfjsBackend', value: string): void;
}

/** What `Stage.beforeTasks` gets per task: its inputs and the services, no outputs. */
export type TaskSetupContext = Pick<TaskContext, 'runDir' | 'config' | 'task' | 'signal' | 'services' | 'read' | 'inputRows' | 'log' | 'tally'>;

export interface Stage {
  name: string;
  description: string;
  /** Stages whose outputs this one reads. */
  inputs: readonly string[];
  /** Parquet outputs. A stage without outputs (report) declares a `doneFile` instead. */
  outputs: readonly StageOutput[];
  /** Relative path whose presence means a stage without Parquet outputs is done. */
  doneFile?: string;
  /**
   * `partitioned`: N tasks, task i reads part i of its inputs and writes part i of its outputs.
   * `whole`: one task that sees everything (a source that writes all N parts itself, or the report).
   */
  mode: 'partitioned' | 'whole';
  /** The part of the config that shapes this stage's output: hashed to detect stale results. */
  settings(config: PipelineConfig): unknown;
  runTask(ctx: TaskContext): Promise<void>;
  /**
   * Called once per process before the tasks of this stage it is about to run (those not done), one
   * context per task: a stage whose tasks wait on something slow elsewhere (generate's Batch API batches,
   * answered within 24 h) starts it for every task here, so they wait side by side instead of one after
   * another. Best effort: what fails here is met again, and reported, by the task itself. A queue worker
   * calls it once per job it takes, with that job's one task.
   */
  beforeTasks?(tasks: TaskSetupContext[]): Promise<void>;
  /**
   * Why this pipeline leaves the stage out (e.g. "no train.rl section"), or null to run it. Absent: always
   * runs. A stage whose input stage is left out is left out too.
   */
  disabled?(config: PipelineConfig): string | null;
  /** Input stages under this config, when they depend on it (default `inputs`). */
  inputsFor?(config: PipelineConfig): readonly string[];
  /**
   * Files outside the run directory the stage reads (another run's manifests, a benchmark file), by a
   * stable name: their contents join the input hashes, so a change there marks the stage stale.
   */
  externalInputs?(config: PipelineConfig): ReadonlyArray<{ name: string; file: string }>;
  /**
   * A cheap view of its inputs (the report): never reported stale; rebuilt when an input stage or its
   * settings changed since it was built (e.g. a training section was added to a finished corpus run).
   */
  derived?: boolean;
  /**
   * The largest share of the stage's input rows it may quarantine (`field` names the config option, for
   * the message): above it the runner fails the stage instead of writing its manifests. Absent: no limit.
   */
  failureBudget?(config: PipelineConfig): { share: number; field: string; unit: string } | null;
  /** A directory (relative to the run) the stage owns besides its outputs, e.g. checkpoints: `--force` removes it. */
  workDir?: string;
  /**
   * One line for the console once this process has run the stage's tasks, from the summed `tally`
   * counters (e.g. generate: requests sent, spend, answers replayed from the cache); null for none.
   */
  summary?(totals: Readonly<Record<string, number>>): string | null;
  /**
   * Cheap checks before anything runs (input files exist, an API key is set), so a mistake costs one
   * clear line instead of a half-finished run. Throws ConfigError or InputError.
   */
  preflight?(config: PipelineConfig): void;
}
