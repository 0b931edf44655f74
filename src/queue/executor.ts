/**
 * The queue executor: `univg run --executor queue` plans the run as the in-process executor does, then
 * hands each selected stage's tasks to BullMQ as jobs, one per (stage, task), and waits for `univg
 * worker` processes (any number, on any machine over the same shared run directory) to run them. Stages
 * go in dependency order: a stage's jobs are enqueued once its inputs' manifests exist, and the planner
 * writes a stage's manifests once every task's part files are there (finalising is idempotent and cheap).
 *
 * Everything lives in the run directory and Redis, not in this process: if it stops (Ctrl-C, a lost
 * machine), queued jobs stay queued and running ones finish; running it again re-plans, skips what is
 * done, and waits for the rest without enqueueing any task twice.
 */
import { resolve } from 'node:path';
import type { Job, Queue } from 'bullmq';
import { InterruptedError, StageFailedError, TaskIncompleteError, ConfigError } from '../errors.js';
import { beginStage, finalizeOutputs } from '../pipeline/execute.js';
import { incompleteStageError, runJsonWriter, type Executor } from '../pipeline/executor.js';
import { describeReasons } from '../pipeline/failures.js';
import { tasksOf, type RunPlan } from '../pipeline/plan.js';
import type { Reporter } from '../pipeline/progress.js';
import type { Stage, TaskRef } from '../stages/stage.js';
import { jobIdOf, type JobData, type JobResult } from './jobs.js';
import { openQueue } from './queue.js';
import { redactRedisUrl } from './redis.js';

export interface QueueExecutorOptions {
  redisUrl: string;
  /** How often the planner looks at its jobs (ms). */
  pollMs?: number;
}

/** Enqueue a task unless it is queued or running; a finished job of an earlier attempt (its part was cleared, or it failed) is replaced. */
async function ensureJob(queue: Queue, id: string, data: JobData): Promise<void> {
  const existing = await queue.getJob(id);
  if (existing) {
    const state = await existing.getState();
    if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return;
    await existing.remove();
  }
  await queue.add(data.stage, data, { jobId: id, attempts: 1, removeOnComplete: false, removeOnFail: false });
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** Wait for every job of a stage; the results by task, in task order. A job that failed stops the run with its reason and worker. */
async function awaitJobs(queue: Queue, stage: Stage, ids: Map<number, string>, signal: AbortSignal, reporter: Reporter, pollMs: number): Promise<Map<number, JobResult>> {
  const results = new Map<number, JobResult>();
  const count = ids.size;
  while (results.size < count) {
    if (signal.aborted) throw new InterruptedError('interrupted: the queued tasks stay queued and running ones finish; run the same command again to wait for them');
    for (const [index, id] of ids) {
      if (results.has(index)) continue;
      // The state first, then the job: a job read before it completed has no return value yet.
      const state = await queue.getJobState(id);
      if (state === 'unknown') throw new StageFailedError(`${stage.name}: job ${id} disappeared from the queue (removed by hand?); run again to enqueue it`);
      if (state !== 'completed' && state !== 'failed') continue;
      const job: Job | undefined = await queue.getJob(id);
      if (!job) continue;
      if (state === 'completed') {
        results.set(index, job.returnvalue as JobResult);
        reporter.taskDone(stage.name, { index, count: Number(job.data.count) });
      } else {
        const who = job.processedBy ? ` on ${job.processedBy}` : '';
        throw new StageFailedError(`${stage.name}: task ${index} failed${who}: ${job.failedReason}. Fix the cause and run again (finished tasks are kept).`);
      }
    }
    if (results.size < count) await sleep(pollMs, signal);
  }
  return results;
}

export function queueExecutor(o: QueueExecutorOptions): Executor {
  return {
    async execute(plan: RunPlan, opts) {
      const { run, config, stages, selected } = plan;
      const { reporter, signal } = opts;
      if (plan.task) throw new ConfigError('--task and --executor queue do not go together: the queue hands every task to the workers');
      const n = config.shards.tasks;
      // Jobs name the run by its absolute directory: workers may start elsewhere, and one id per task.
      const root = resolve(run.root);
      const { queue, close } = await openQueue(o.redisUrl);
      const json = runJsonWriter(plan, null, true, { kind: 'queue', redis: redactRedisUrl(o.redisUrl) });
      const env = { run, config, stages, reporter };
      const ran: string[] = [];
      const skipped: string[] = [];
      await json.write('start');
      try {
        const workers = await queue.getWorkersCount();
        reporter.log(`queue at ${redactRedisUrl(o.redisUrl)}: ${workers} worker${workers === 1 ? '' : 's'} connected${workers === 0 ? ' (start them with `univg worker --redis URL`)' : ''}`);
        for (const stage of selected) {
          if (signal.aborted) throw new InterruptedError();
          for (const input of stage.inputs) {
            const s = stages.find((x) => x.name === input)!;
            if (!run.stageDone(s) && !selected.includes(s)) throw new ConfigError(`stage ${stage.name} needs stage ${input}, which is not done: run it first (or drop --stages/--from)`);
          }
          if (!(await beginStage(env, stage, true))) {
            skipped.push(stage.name);
            reporter.stageSkipped(stage.name);
            continue;
          }
          const whole = stage.mode === 'whole';
          const taskList: TaskRef[] = tasksOf(stage, config).filter((t) => whole || !run.taskDone(stage, t.index, n));
          reporter.stageStart(stage.name, taskList.length);
          const ids = new Map<number, string>();
          for (const t of taskList) {
            const id = jobIdOf(root, stage.name, t.index);
            const data: JobData = { format: 1, runDir: root, cwd: process.cwd(), configFile: plan.configFile, configText: plan.configText, config, stage: stage.name, index: t.index, count: t.count };
            await ensureJob(queue, id, data);
            ids.set(t.index, id);
          }
          const results = await awaitJobs(queue, stage, ids, signal, reporter, o.pollMs ?? 250);
          const totals: Record<string, number> = {};
          const incomplete: Array<{ error: TaskIncompleteError }> = [];
          for (const [index, r] of [...results].sort((a, b) => a[0] - b[0])) {
            for (const [k, v] of Object.entries(r.totals)) totals[k] = (totals[k] ?? 0) + v;
            Object.assign(json.facts, r.facts);
            if (r.kind === 'incomplete') {
              incomplete.push({ error: new TaskIncompleteError(r.message, r.failures, { stop: r.stop, exitCode: r.exitCode }) });
              reporter.log(`${stage.name}: task ${index} not done: ${r.failures.failed} of ${r.failures.total} ${r.failures.unit} failed (${describeReasons(r.failures)})`);
            }
          }
          if (incomplete.length) {
            const notDone = whole ? [0] : taskList.map((t) => t.index).filter((i) => !run.taskDone(stage, i, n));
            throw incompleteStageError(stage, incomplete, notDone, whole ? 1 : n, run.root);
          }
          const summary = taskList.length > 0 ? stage.summary?.(totals) : null;
          if (summary) reporter.log(`${stage.name}: ${summary}`);
          const finished = stage.outputs.length ? await finalizeOutputs(run, stage, stages, config) : run.stageDone(stage);
          if (!finished) throw new StageFailedError(`${stage.name}: every job finished but some part files are missing (removed meanwhile?); run again to redo them`, { file: run.root });
          reporter.stageEnd(stage.name, finished);
          ran.push(stage.name);
          await json.write('progress');
        }
      } finally {
        await json.write('end');
        await close();
      }
      return { runDir: run.root, ran, skipped };
    },
  };
}
