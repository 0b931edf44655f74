/**
 * The queue's jobs: one per (run, stage, task), named so that enqueueing a task twice is a no-op, and
 * carrying everything a worker on another machine needs to run it (the run directory and the config as
 * planned; the files themselves are on shared storage). What a worker hands back is data too.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { TaskFailures } from '../errors.js';

/** The queue every `univg run --executor queue` and `univg worker` use on one Redis (Redis key prefix `univg`). */
export const QUEUE_NAME = 'tasks';
export const QUEUE_PREFIX = 'univg';

export const JobData = z.object({
  /** Format of this record; a worker refuses others (a fleet of mixed versions). */
  format: z.literal(1),
  /** The run directory, absolute. */
  runDir: z.string().min(1),
  /** The directory `univg run` ran in: relative paths of the config (the source data) resolve against it. */
  cwd: z.string().min(1),
  configFile: z.string(),
  configText: z.string(),
  /** The pipeline config as planned (cache directory absolute, command-line overrides applied). */
  config: z.unknown(),
  stage: z.string().min(1),
  index: z.number().int().nonnegative(),
  count: z.number().int().positive(),
});
export type JobData = z.infer<typeof JobData>;

/** What a worker returns for a task it ran: done, or not done for reasons that can pass (TaskIncompleteError as data). */
export type JobResult =
  | { kind: 'done'; totals: Record<string, number>; facts: Record<string, string> }
  | { kind: 'incomplete'; message: string; failures: TaskFailures; stop: boolean; exitCode: number; totals: Record<string, number>; facts: Record<string, string> };

/** The run's id in job ids: a hash of its absolute directory. */
export function runIdOf(runDir: string): string {
  return createHash('sha256').update(runDir).digest('hex').slice(0, 16);
}

/** BullMQ job id of a task (no ':'; a custom id must not be a bare number). */
export function jobIdOf(runDir: string, stage: string, index: number): string {
  return `${runIdOf(runDir)}.${stage}.${index}`;
}

/** The budget's scope: processes calling one endpoint with one model share one budget and one breaker. */
export function teacherScope(baseUrl: string | undefined, model: string): string {
  return createHash('sha256').update(`${baseUrl ?? ''}\n${model}`).digest('hex').slice(0, 16);
}
