/** `univg run`, `univg demo` and `univg status`: the pipeline runner from the command line. */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, EXIT } from '../../errors.js';
import type { GroundingSample } from '../../schema/records.js';
import { z } from 'zod';
import { action } from '../action.js';
import { schemaFlags } from '../flags.js';

/**
 * The runner and its stages (DuckDB, sharp, parquet-wasm, the teacher) load only when a command runs
 * them: `univg --help` or a config error should not wait a second and a half for modules it never uses.
 */
async function runtime() {
  const [progress, runner, stages] = await Promise.all([
    import('../../pipeline/progress.js'),
    import('../../pipeline/runner.js'),
    import('../../stages/index.js'),
  ]);
  return { ...progress, ...runner, STANDARD_STAGES: stages.STANDARD_STAGES };
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** `univg run` and `univg demo`'s flags. */
export const RunFlagsSchema = z.object({
  runDir: z.string().min(1).optional().describe('run directory (default: runs/<pipeline name>); may be anywhere, unlike runDir in a pipeline file'),
  cacheDir: z.string().min(1).optional().describe('teacher response cache (default: teacher.cacheDir), e.g. on shared storage; may be anywhere, unlike cacheDir in a pipeline file'),
  stages: z.array(z.string().min(1)).optional().describe('run only these stages (their inputs must be done)'),
  from: z.string().min(1).optional().describe('run this stage and every later one'),
  task: z
    .string()
    .regex(/^\d+\/\d+$/, 'must look like i/N (e.g. 3/16)')
    .optional()
    .describe('run only task i of N in partitioned stages (N = shards.tasks), as one worker of a job array'),
  force: z.array(z.string().min(1)).optional().describe('redo these stages and every stage that depends on them'),
  executor: z.enum(['local', 'queue']).default('local').describe('who runs the tasks: this process, or `univg worker` processes through a Redis job queue (see --redis)'),
  redis: z.string().min(1).optional().describe('Redis of the job queue, redis://[user:password@]host:port[/db] (default: $UNIVG_REDIS_URL); with --executor queue'),
  dryRun: z.boolean().default(false).describe("estimate the teacher's tokens, cost and time (ingests locally; sends no request)"),
  quiet: z.boolean().default(false).describe('print only errors'),
  json: z.boolean().default(false).describe('print progress as JSON lines (for scripts)'),
});
export const RUN_FLAGS = schemaFlags(RunFlagsSchema, { placeholders: { stages: '<name>', from: '<name>', task: '<i/N>', force: '<name>', redis: '<url>' } });
type RunFlags = z.output<typeof RunFlagsSchema>;

function parseTask(v: string | undefined): { index: number; count: number } | undefined {
  if (v === undefined) return undefined;
  const [index, count] = v.split('/').map(Number) as [number, number];
  return { index, count };
}

/**
 * The pipeline file, with the directories it names for writing checked (a file may not write outside
 * the working directory) and the command line's --cache-dir applied.
 */
async function loadForRun(file: string, flags: RunFlags) {
  const [{ loadPipelineConfig }, { checkWritePaths }] = await Promise.all([import('../../pipeline/load-config.js'), import('../../pipeline/config-paths.js')]);
  const loaded = loadPipelineConfig(file);
  const overridden = new Set([...(flags.runDir !== undefined ? ['--run-dir'] : []), ...(flags.cacheDir !== undefined ? ['--cache-dir'] : [])]);
  checkWritePaths(loaded.config, loaded.text, loaded.file, overridden);
  if (flags.cacheDir !== undefined) {
    const c = loaded.config;
    if (c.teacher) c.teacher.cacheDir = flags.cacheDir;
    if (c.train?.score?.endpoint) c.train.score.endpoint.cacheDir = flags.cacheDir;
  }
  return loaded;
}

/**
 * `--dry-run`: ingest (local, free, and reused by the real run), then estimate the teacher's tokens, cost
 * and time from up to 200 samples, counting responses already in the cache as free. No request is sent.
 */
async function dryRun(file: string, flags: RunFlags): Promise<number> {
  const { createReporter, pickReporterMode, runPipeline, STANDARD_STAGES } = await runtime();
  const [{ readManifest }, { readRows }, { ResponseCache }, { estimateRun }] = await Promise.all([
    import('../../store/manifest.js'),
    import('../../store/reader.js'),
    import('../../teacher/cache.js'),
    import('../../teacher/cost.js'),
  ]);
  const loaded = await loadForRun(file, flags);
  const teacher = loaded.config.teacher;
  if (!teacher) throw new ConfigError('nothing to estimate: the pipeline has no teacher section', { file, field: 'teacher' });
  const reporter = createReporter(pickReporterMode(flags), flags.json ? process.stdout : process.stderr);
  try {
    const summary = await runPipeline({
      config: loaded.config, configText: loaded.text, configFile: loaded.file, stages: STANDARD_STAGES,
      runDir: flags.runDir, only: ['ingest'], reporter,
    });
    const dir = join(summary.runDir, 'samples');
    const total = (await readManifest(dir))?.rows ?? 0;
    const sample: GroundingSample[] = [];
    for await (const s of readRows('GroundingSample', dir)) {
      sample.push(s);
      if (sample.length >= 200) break;
    }
    const cacheDir = resolve(teacher.cacheDir);
    const cache = existsSync(cacheDir) ? await ResponseCache.open(cacheDir) : null;
    try {
      const est = estimateRun(sample, teacher, { totalSamples: total, ...(cache ? { has: (h: string) => cache.has(h) } : {}) });
      if (flags.json) process.stdout.write(`${JSON.stringify({ event: 'estimate', ...est })}\n`);
      else {
        const usd = (x: number | null) => (x === null ? 'unknown (no teacher.price in the pipeline)' : `$${x.toFixed(2)}`);
        // Both prices side by side: the Batch API's is the same requests at its discount, answered within 24 h.
        const pick = (api: string) => (teacher.api === api ? ' <- teacher.api' : '');
        const cost = est.costUsd === null && est.batchCostUsd === null ? usd(null) : `${usd(est.costUsd)} online${pick('online')}, ${usd(est.batchCostUsd)} with the Batch API${pick('batch')}`;
        process.stdout.write(
          `estimate for ${est.totalSamples} samples (from ${est.sampled}), model ${teacher.model}:\n` +
            `  requests ${est.requests} (${est.cachedRequests} already in the cache)\n` +
            `  tokens   ${est.promptTokens} prompt + ${est.completionTokens} completion\n` +
            `  cost     ${cost}\n` +
            (teacher.api === 'batch' ? `  time     up to 24 h (the Batch API's completion window; online: ${est.minutes.toFixed(1)} min)\n` : `  time     ${est.minutes.toFixed(1)} min (limited by ${est.bottleneck})\n`) +
            `  assumes  ${est.assumptions.completionTokensPerChoice} completion tokens per choice, ${est.assumptions.latencyMs} ms per request\n`,
        );
      }
    } finally {
      await cache?.close();
    }
    return EXIT.ok;
  } finally {
    reporter.close();
  }
}

/** The queue executor when asked for (Redis checked before anything is planned), else the default. */
async function executorFor(flags: RunFlags) {
  if (flags.executor !== 'queue') {
    if (flags.redis !== undefined) throw new ConfigError('--redis is for --executor queue');
    return undefined;
  }
  const [{ queueExecutor }, { redisUrlFrom, connectRedis }] = await Promise.all([import('../../queue/executor.js'), import('../../queue/redis.js')]);
  const redisUrl = redisUrlFrom(flags.redis);
  (await connectRedis(redisUrl)).disconnect();
  return queueExecutor({ redisUrl });
}

/** Run a pipeline with Ctrl-C handled: the first stops cleanly (exit 130), the second exits at once. */
async function runWithSignals(file: string, flags: RunFlags): Promise<number> {
  const { createReporter, pickReporterMode, runPipeline, STANDARD_STAGES } = await runtime();
  const loaded = await loadForRun(file, flags);
  const executor = await executorFor(flags);
  const reporter = createReporter(pickReporterMode(flags), flags.json ? process.stdout : process.stderr);
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts === 1) {
      reporter.log('stopping: finishing in-flight work, nothing half-written is kept (Ctrl-C again to exit now)');
      controller.abort();
    } else process.exit(EXIT.interrupted);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const summary = await runPipeline({
      config: loaded.config,
      configText: loaded.text,
      configFile: loaded.file,
      stages: STANDARD_STAGES,
      runDir: flags.runDir,
      only: flags.stages,
      from: flags.from,
      task: parseTask(flags.task),
      force: flags.force,
      signal: controller.signal,
      reporter,
      ...(executor ? { executor } : {}),
    });
    if (flags.json) process.stdout.write(`${JSON.stringify({ event: 'run_end', ...summary })}\n`);
    else if (!flags.quiet) process.stderr.write(`run directory: ${summary.runDir}\n`);
    return EXIT.ok;
  } finally {
    reporter.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function runOptions(cmd: Command): Command {
  return RUN_FLAGS.addTo(cmd);
}

export function register(program: Command): void {
  runOptions(
    program
      .command('run')
      .argument('<pipeline>', 'pipeline YAML file (see pipelines/)')
      .description('run a pipeline; re-running skips finished work and resumes the rest')
      .addHelpText(
        'after',
        `
Examples:
  univg run pipelines/demo.yaml
  univg run pipelines/cot-corpus.yaml --run-dir /shared/runs/cot --cache-dir /shared/cache --task 3/16   # one worker of 16
  univg run pipelines/demo.yaml --force verify                                    # redo verify, select, report
  univg run pipelines/cot-corpus.yaml --dry-run                                   # tokens, cost, time; no request sent

Exit codes: 0 done, 1 failed, 2 bad usage or config, 130 interrupted (rerun to resume).`,
      ),
  ).action(
    action(async (file: string, values: Record<string, unknown>) => {
      const flags = RUN_FLAGS.parse(values);
      return flags.dryRun ? dryRun(file, flags) : runWithSignals(file, flags);
    }),
  );

  runOptions(
    program
      .command('demo')
      .description('run the offline demo pipeline (pipelines/demo.yaml): synthetic suite, simulated teacher, shards, a small vision tower, a short SFT -> scoring -> GRPO -> eval, report')
      .addHelpText('after', '\nExample:\n  univg demo --run-dir runs/demo'),
  ).action(
    action(async (values: Record<string, unknown>) => {
      const flags = RUN_FLAGS.parse(values);
      const file = join(REPO, 'pipelines', 'demo.yaml');
      return flags.dryRun ? dryRun(file, flags) : runWithSignals(file, flags);
    }),
  );

  program
    .command('status')
    .argument('<run-dir>', 'a run directory (runs/<name>)')
    .option('--json', 'print as JSON')
    .option('--redis <url>', "Redis of the run's job queue, when it ran with --executor queue (default: $UNIVG_REDIS_URL, else the URL in run.json, which has no password)")
    .description('show a run: stages, tasks done, rows, cost, errors; for a queue run, its jobs and workers')
    .addHelpText('after', '\nExamples:\n  univg status runs/demo\n  univg status /shared/runs/cot --redis redis://queue-host:6379')
    .action(
      action(async (dir: string, flags: { json?: boolean; redis?: string }) => {
        if (!existsSync(join(dir, 'run.json'))) throw new ConfigError('not a run directory (no run.json)', { file: dir });
        const { runStatus, formatStatus } = await import('../../pipeline/status.js');
        const status = await runStatus(dir);
        const queue = status.executor?.kind === 'queue' ? await (await import('../../queue/status.js')).queueStatus(dir, flags.redis, status.executor.redis) : null;
        if (flags.json) process.stdout.write(`${JSON.stringify(queue ? { ...status, queue } : status, null, 2)}\n`);
        else process.stdout.write(formatStatus(status) + (queue ? (await import('../../queue/status.js')).formatQueueStatus(queue) : ''));
      }),
    );
}
