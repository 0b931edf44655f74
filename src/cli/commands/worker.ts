/**
 * `univg worker`: one worker of a fleet that runs `univg run --executor queue` jobs from a Redis queue,
 * until stopped (Ctrl-C or SIGTERM puts its running tasks back in the queue).
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { EXIT } from '../../errors.js';
import { action } from '../action.js';
import { schemaFlags } from '../flags.js';

export const WorkerFlags = z.object({
  redis: z.string().min(1).optional().describe('Redis of the job queue, redis://[user:password@]host:port[/db] (default: $UNIVG_REDIS_URL)'),
  concurrency: z.number().int().min(1).max(64).default(1).describe('tasks this process runs at once (each runs its own teacher requests in parallel)'),
  lockMs: z.number().int().min(1000).default(30_000).describe('how long the task of a worker that died (or stopped answering) waits before another worker takes it, in milliseconds'),
  quiet: z.boolean().default(false).describe('print only errors'),
  json: z.boolean().default(false).describe('print progress as JSON lines (for scripts)'),
});
export const WORKER_FLAGS = schemaFlags(WorkerFlags, { placeholders: { redis: '<url>' } });

export function register(program: Command): void {
  WORKER_FLAGS.addTo(
    program
      .command('worker')
      .description('run tasks of `univg run --executor queue` from a Redis job queue until stopped; start any number, on any machine that sees the run directory')
      .addHelpText(
        'after',
        `
Examples:
  univg worker --redis redis://queue-host:6379 --concurrency 2
  UNIVG_REDIS_URL=redis://:secret@queue-host:6379 univg worker

Ctrl-C or SIGTERM stops it: its running tasks go back to the queue. A worker killed outright loses
nothing: another worker takes its task after --lock-ms.`,
      ),
  ).action(
    action(async (values: Record<string, unknown>) => {
      const flags = WORKER_FLAGS.parse(values);
      const [{ runWorker }, { redisUrlFrom }, { createReporter, pickReporterMode }, { STANDARD_STAGES }] = await Promise.all([
        import('../../queue/worker.js'),
        import('../../queue/redis.js'),
        import('../../pipeline/progress.js'),
        import('../../stages/index.js'),
      ]);
      const redisUrl = redisUrlFrom(flags.redis);
      const reporter = createReporter(pickReporterMode(flags), flags.json ? process.stdout : process.stderr);
      const controller = new AbortController();
      let signals = 0;
      const onSignal = () => {
        if (++signals === 1) controller.abort();
        else process.exit(EXIT.interrupted);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await runWorker({ redisUrl, stages: STANDARD_STAGES, concurrency: flags.concurrency, lockMs: flags.lockMs, reporter, signal: controller.signal });
        return EXIT.ok;
      } finally {
        reporter.close();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    }),
  );
}
