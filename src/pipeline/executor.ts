/**
 * What runs a planned run's tasks. Stages know nothing of it: the in-process executor (below) runs them
 * here, one after the other; the queue executor (src/queue) hands one job per (stage, task) to any number
 * of `univg worker` processes. Both plan with plan.ts and run tasks and finalise stages with execute.ts,
 * so the files they write are the same.
 */
import { ConfigError, EXIT, InterruptedError, StageFailedError, UnivgError, type TaskIncompleteError } from '../errors.js';
import { describeReasons, incompleteSummary, mergeFailures } from './failures.js';
import { beginStage, executeTask, finalizeOutputs, prepareTasks, type TaskEnv } from './execute.js';
import { tasksOf, type RunPlan } from './plan.js';
import type { Reporter } from './progress.js';
import { writeRunJson, type RunJsonUpdate } from './run-json.js';
import { createServices, type Services } from './services.js';
import type { Stage, TaskRef } from '../stages/stage.js';

export interface RunSummary {
  runDir: string;
  ran: string[];
  skipped: string[];
}

export interface ExecuteOptions {
  signal: AbortSignal;
  reporter: Reporter;
  /** How long a task process waits for a whole-run stage another process runs (ms). */
  waitTimeoutMs?: number;
  /**
   * Let go of the run directory's lock: an executor whose tasks run in other processes (the queue) calls
   * it once its planning writes are done, so its workers, not it, are the ones writing.
   */
  releaseLock?: () => void;
}

export interface Executor {
  /** Run the plan's selected stages (finished ones are skipped); the run directory is prepared and locked. */
  execute(plan: RunPlan, opts: ExecuteOptions): Promise<RunSummary>;
}

/** run.json from this process's point of view. */
export function runJsonWriter(plan: RunPlan, services: Services | null, owner: boolean, executor?: RunJsonUpdate['executor']) {
  const facts: Record<string, string> = {};
  return {
    facts,
    write: (event: 'start' | 'progress' | 'end') =>
      writeRunJson(plan.run, {
        config: plan.config,
        configText: plan.configText,
        configFile: plan.configFile,
        stages: plan.stages,
        event,
        owner,
        teacher: { key: services?.key ?? 'planner', summary: services?.teacherSummary() ?? null },
        facts,
        ...(executor ? { executor } : {}),
      }),
  };
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

/** The stage's summary when some tasks are not done: StageFailedError with the line users see. */
export function incompleteStageError(stage: Stage, incomplete: ReadonlyArray<{ error: TaskIncompleteError }>, notDone: number[], count: number, root: string): StageFailedError {
  const failures = mergeFailures(incomplete.map((x) => x.error.failures));
  const stopped = incomplete.find((x) => x.error.stop)?.error;
  const cause = stopped ? { message: stopped.message, fixFirst: stopped.exitCode === EXIT.usage } : undefined;
  return new StageFailedError(incompleteSummary(stage.name, failures, notDone, count, cause), { file: root }, { cause: stopped?.cause, exitCode: stopped?.exitCode ?? EXIT.failed });
}

/**
 * The in-process executor: every selected stage in order, its tasks one after another (or only this
 * process's task of a task array, `--task i/N`, waiting for stages other processes run).
 */
export const localExecutor: Executor = {
  async execute(plan, opts) {
    const { run, config, stages, selected, task: myTask } = plan;
    const { reporter, signal } = opts;
    const n = config.shards.tasks;
    const services = await createServices(config, run, reporter);
    const env: TaskEnv = { run, config, stages, services, signal, reporter };
    const ran: string[] = [];
    const skipped: string[] = [];
    // A task array's process 0 starts the run as a whole (see run-json.ts), as it clears forced stages.
    const json = runJsonWriter(plan, services, !myTask || myTask.index === 0);
    await json.write('start');
    try {
      for (const stage of selected) {
        if (signal.aborted) throw new InterruptedError();
        for (const input of stage.inputs) {
          const s = stages.find((x) => x.name === input)!;
          if (run.stageDone(s)) continue;
          if (myTask && selected.includes(s)) {
            await waitFor(() => run.stageDone(s), `stage ${input} (run by the other tasks)`, signal, opts.waitTimeoutMs ?? 24 * 3600_000, reporter);
          } else if (!selected.includes(s)) {
            throw new ConfigError(`stage ${stage.name} needs stage ${input}, which is not done: run it first (or drop --stages/--from)`);
          }
        }
        const whole = stage.mode === 'whole';
        // Only one process decides to rebuild a derived stage (the report); others would race it.
        if (!(await beginStage(env, stage, !myTask || myTask.index === 0))) {
          skipped.push(stage.name);
          reporter.stageSkipped(stage.name);
          continue;
        }
        if (whole && myTask && myTask.index !== 0) {
          await waitFor(() => run.stageDone(stage), `stage ${stage.name} (run by task 0)`, signal, opts.waitTimeoutMs ?? 24 * 3600_000, reporter);
          skipped.push(stage.name);
          continue;
        }
        const taskList: TaskRef[] = whole || !myTask ? tasksOf(stage, config) : [myTask];
        reporter.stageStart(stage.name, taskList.length);
        const totals: Record<string, number> = {};
        let tasksRun = 0;
        // Tasks whose work failed for reasons that can pass: not done; the others still run.
        const incomplete: Array<{ task: TaskRef; error: TaskIncompleteError }> = [];
        await prepareTasks(env, stage, taskList.filter((t) => whole || !run.taskDone(stage, t.index, n)), totals);
        for (const task of taskList) {
          if (!whole && run.taskDone(stage, task.index, n)) {
            reporter.taskSkipped(stage.name, task);
            continue;
          }
          if (signal.aborted) throw new InterruptedError();
          const outcome = await executeTask(env, stage, task);
          for (const [k, v] of Object.entries(outcome.totals)) totals[k] = (totals[k] ?? 0) + v;
          Object.assign(json.facts, outcome.facts);
          if (outcome.kind === 'incomplete') {
            const err = outcome.error;
            incomplete.push({ task, error: err });
            if (err.stop) break;
            reporter.log(`${stage.name}: task ${task.index}/${task.count} not done: ${err.failures.failed} of ${err.failures.total} ${err.failures.unit} failed (${describeReasons(err.failures)})`);
            continue;
          }
          reporter.taskDone(stage.name, task);
          tasksRun++;
        }
        if (incomplete.length) {
          const notDone = whole ? [0] : taskList.map((t) => t.index).filter((i) => !run.taskDone(stage, i, n));
          throw incompleteStageError(stage, incomplete, notDone, whole ? 1 : n, run.root);
        }
        const summary = tasksRun > 0 ? stage.summary?.(totals) : null;
        if (summary) reporter.log(`${stage.name}: ${summary}`);
        const finished = stage.outputs.length ? await finalizeOutputs(run, stage, stages, config) : run.stageDone(stage);
        reporter.stageEnd(stage.name, finished);
        ran.push(stage.name);
        // Later stages (the report) read run.json: keep it current after every stage.
        await json.write('progress');
      }
    } finally {
      await json.write('end');
      await services.close();
    }
    return { runDir: run.root, ran, skipped };
  },
};
