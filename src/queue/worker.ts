/**
 * `univg worker`: takes (stage, task) jobs from the queue and runs them with the same code the in-process
 * executor uses (execute.ts), so the part files are the same bytes. What it shares with the other workers
 * goes through Redis: the teacher's rate budget, breaker and request claims (coordination.ts).
 *
 * A worker that dies loses nothing: BullMQ's lock on its job lapses after `lockMs` and another worker
 * takes the job; its half-written files are temp files, never part files; the responses it paid for are
 * in the shared cache, and its request claims lapse too. A worker told to stop (SIGTERM, Ctrl-C) stops
 * its tasks and puts their jobs back in the queue.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { Worker, WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { ConfigError, InterruptedError, UnivgError } from '../errors.js';
import { executeTask, prepareTasks, type TaskEnv } from '../pipeline/execute.js';
import { runJsonWriter } from '../pipeline/executor.js';
import { planRun, type RunPlan } from '../pipeline/plan.js';
import type { Reporter } from '../pipeline/progress.js';
import { createServices, type Services } from '../pipeline/services.js';
import { hashOf } from '../pipeline/canonical.js';
import { PipelineConfig } from '../schema/config.js';
import type { Stage } from '../stages/stage.js';
import { redisCoordination, type RedisCoordination } from './coordination.js';
import { JobData, QUEUE_NAME, QUEUE_PREFIX, teacherScope, type JobResult } from './jobs.js';
import { connectRedis, redactRedisUrl } from './redis.js';

export interface QueueWorkerOptions {
  redisUrl: string;
  stages: readonly Stage[];
  /** Jobs this process runs at once. */
  concurrency: number;
  /** How long a job whose worker stopped answering waits before another worker takes it (ms); also the request claims' expiry. */
  lockMs: number;
  reporter: Reporter;
  /** Stop: running tasks are interrupted and their jobs go back to the queue. */
  signal: AbortSignal;
}

/** What a worker keeps per run it serves: the plan (stages resolved), its services and its run.json figures. */
interface RunContext {
  plan: RunPlan;
  services: Services;
  json: ReturnType<typeof runJsonWriter>;
  coordinations: RedisCoordination[];
}

export async function runWorker(o: QueueWorkerOptions): Promise<void> {
  const { reporter } = o;
  const name = `${hostname()}:${process.pid}`;
  const redis: Redis = await connectRedis(o.redisUrl, { name: `univg-worker-${name}` });
  const contexts = new Map<string, Promise<RunContext>>();
  const running = new Set<AbortController>();

  const contextOf = (data: JobData): Promise<RunContext> => {
    const key = `${data.runDir}\n${hashOf([data.configText, JSON.stringify(data.config)])}`;
    let c = contexts.get(key);
    if (!c) {
      c = (async () => {
        const config = PipelineConfig.parse(data.config);
        const plan = planRun({ config, configText: data.configText, configFile: data.configFile, stages: o.stages, runDir: data.runDir });
        const coordinations: RedisCoordination[] = [];
        const services = await createServices(config, plan.run, reporter, {
          coordination: (t) => {
            const c = redisCoordination(redis, teacherScope(t.baseUrl ?? process.env.OPENAI_BASE_URL, t.model), { rpm: t.rpm, tpm: t.tpm }, { claimTtlMs: o.lockMs });
            coordinations.push(c);
            return c.coordination;
          },
        });
        return { plan, services, json: runJsonWriter(plan, services, false), coordinations };
      })();
      contexts.set(key, c);
      c.catch(() => contexts.delete(key));
    }
    return c;
  };

  const processor = async (job: Job, token?: string): Promise<JobResult> => {
    const parsed = JobData.safeParse(job.data);
    if (!parsed.success) throw new UnivgError('queue_job', `job ${job.id} is not a univg task of this version (${parsed.error.issues[0]?.message ?? 'bad data'})`);
    const data = parsed.data;
    if (process.cwd() !== data.cwd) {
      if (!existsSync(data.cwd)) throw new ConfigError(`this worker cannot see ${data.cwd}, where \`univg run\` ran: workers need the same paths (shared storage)`);
      process.chdir(data.cwd);
    }
    const ctx = await contextOf(data);
    const stage = ctx.plan.stages.find((s) => s.name === data.stage);
    if (!stage) throw new UnivgError('queue_job', `job ${job.id}: the pipeline has no stage ${data.stage}`);
    const task = { index: data.index, count: data.count };
    const stop = new AbortController();
    running.add(stop);
    reporter.log(`${stage.name}: task ${task.index}/${task.count} of ${data.runDir} started`);
    try {
      const env: TaskEnv = { run: ctx.plan.run, config: ctx.plan.config, stages: ctx.plan.stages, services: ctx.services, signal: stop.signal, reporter };
      // The same setup the in-process executor gives a stage's tasks (generate in batch mode), for this job's one task.
      const setupTotals: Record<string, number> = {};
      await prepareTasks(env, stage, [task], setupTotals);
      const outcome = await executeTask(env, stage, task, {
        // Another worker took the job over (this one stalled past its lock): its files are the same bytes, but let it write them.
        beforeCommit: async () => {
          if (token && (await job.extendLock(token, o.lockMs)) !== 1) throw new UnivgError('queue_job_lost', `${stage.name}: task ${task.index}/${task.count}: another worker took this job over`);
        },
      });
      for (const [k, v] of Object.entries(setupTotals)) outcome.totals[k] = (outcome.totals[k] ?? 0) + v;
      Object.assign(ctx.json.facts, outcome.facts);
      await ctx.json.write('progress');
      reporter.log(`${stage.name}: task ${task.index}/${task.count} ${outcome.kind === 'done' ? 'done' : 'not done'}`);
      if (outcome.kind === 'done') return { kind: 'done', totals: outcome.totals, facts: outcome.facts };
      const e = outcome.error;
      return { kind: 'incomplete', message: e.message, failures: e.failures, stop: e.stop, exitCode: e.exitCode, totals: outcome.totals, facts: outcome.facts };
    } catch (err) {
      // Stopped, not failed: the job goes back to the queue for another worker.
      if (err instanceof InterruptedError && stop.signal.aborted && token) {
        await job.moveToWait(token);
        throw new WaitingError();
      }
      throw err;
    } finally {
      running.delete(stop);
    }
  };

  const worker = new Worker(QUEUE_NAME, processor, {
    connection: redis,
    prefix: QUEUE_PREFIX,
    concurrency: o.concurrency,
    lockDuration: o.lockMs,
    stalledInterval: o.lockMs,
    // A job is retried after every worker that took it died; it fails only if that keeps happening.
    maxStalledCount: 10,
    name,
  });
  worker.on('error', (err) => reporter.log(`queue: ${err.message}`));
  reporter.log(`worker ${name} waiting for jobs at ${redactRedisUrl(o.redisUrl)} (concurrency ${o.concurrency})`);
  await new Promise<void>((resolve) => {
    if (o.signal.aborted) return resolve();
    o.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  reporter.log(`worker ${name} stopping: running tasks go back to the queue`);
  for (const c of running) c.abort();
  await worker.close();
  for (const c of contexts.values()) {
    const ctx = await c.catch(() => null);
    if (!ctx) continue;
    // run.json has this worker's figures from its last job; a write now could land after the planner's last one.
    await ctx.services.close();
    for (const k of ctx.coordinations) k.close();
  }
  redis.disconnect();
}
