/**
 * The pipeline runner: plan the run (plan.ts), lock and prepare the run directory, and hand the plan to
 * an executor (executor.ts: in this process; src/queue: a job queue and any number of workers).
 *
 * Progress is the filesystem: a task is done when its part files exist, a stage when its manifests
 * exist. Any number of processes running `--task i/N` produce the same files one process would.
 */
import { localExecutor, type Executor, type RunSummary } from './executor.js';
import { lockRun } from './lock.js';
import { planRun, prepareRun, type PlanOptions } from './plan.js';
import type { Reporter } from './progress.js';

export { dependantsOf, resolveStages, findStale, type Staleness } from './plan.js';
export { failureBudgetProblem, quarantineCounts } from './execute.js';
export type { RunSummary } from './executor.js';

export interface RunOptions extends PlanOptions {
  signal?: AbortSignal;
  reporter: Reporter;
  /** How long a task process waits for a whole-run stage another process runs (ms). */
  waitTimeoutMs?: number;
  /** Who runs the tasks (default: this process). */
  executor?: Executor;
}

export async function runPipeline(opts: RunOptions): Promise<RunSummary> {
  const plan = planRun(opts);
  plan.run.ensure();
  // One process per run directory, or per task of it (--task i/N): see lock.ts.
  const lock = lockRun(plan.run.root, { task: opts.task, log: (m) => opts.reporter.log(m) });
  let held = true;
  const release = () => {
    if (held) lock.release();
    held = false;
  };
  try {
    prepareRun(plan);
    const executor = opts.executor ?? localExecutor;
    return await executor.execute(plan, {
      signal: opts.signal ?? new AbortController().signal,
      reporter: opts.reporter,
      releaseLock: release,
      ...(opts.waitTimeoutMs !== undefined ? { waitTimeoutMs: opts.waitTimeoutMs } : {}),
    });
  } finally {
    release();
  }
}
