/** `univg status` of a run that ran with --executor queue: its jobs per stage (queued, running, failed, done), who holds each, and the workers. */
import { resolve } from 'node:path';
import type { Job } from 'bullmq';
import { openQueue } from './queue.js';
import { runIdOf } from './jobs.js';
import { REDIS_ENV, redactRedisUrl, redisUrlFrom } from './redis.js';

export interface QueueStageStatus {
  queued: number;
  running: number;
  failed: number;
  done: number;
  /** Running tasks and the worker that holds each. */
  holders: Array<{ task: number; worker: string | null }>;
  /** Failed tasks with the reason. */
  failures: Array<{ task: number; reason: string; worker: string | null }>;
}

export interface QueueStatus {
  redis: string;
  workers: string[];
  stages: Record<string, QueueStageStatus>;
}

/** The URL to ask: the flag, the environment, else the one run.json recorded (it has no password). */
export async function queueStatus(runDir: string, flag: string | undefined, recorded: string): Promise<QueueStatus> {
  const url = redisUrlFrom(flag ?? (process.env[REDIS_ENV] || recorded));
  const { queue, close } = await openQueue(url);
  try {
    const prefix = `${runIdOf(resolve(runDir))}.`;
    const stages: Record<string, QueueStageStatus> = {};
    const kinds = [
      ['queued', ['waiting', 'delayed', 'prioritized']],
      ['running', ['active']],
      ['failed', ['failed']],
      ['done', ['completed']],
    ] as const;
    for (const [what, types] of kinds) {
      const jobs = (await queue.getJobs([...types], 0, -1, true)) as Job[];
      for (const j of jobs) {
        if (!j?.id?.startsWith(prefix)) continue;
        const s = (stages[j.name] ??= { queued: 0, running: 0, failed: 0, done: 0, holders: [], failures: [] });
        s[what]++;
        const task = Number(j.data?.index);
        if (what === 'running') s.holders.push({ task, worker: j.processedBy ?? null });
        if (what === 'failed') s.failures.push({ task, reason: j.failedReason, worker: j.processedBy ?? null });
      }
    }
    // BullMQ names a worker's connection `<prefix>:<queue>:w:<worker name>`.
    const workers = (await queue.getWorkers()).map((w) => String(w.rawname ?? '').split(':w:')[1] ?? String(w.addr ?? '?')).sort();
    return { redis: redactRedisUrl(url), workers, stages };
  } finally {
    await close();
  }
}

export function formatQueueStatus(q: QueueStatus): string {
  const lines = ['', `job queue at ${q.redis}: ${q.workers.length} worker${q.workers.length === 1 ? '' : 's'} connected${q.workers.length ? ` (${q.workers.join(', ')})` : ''}`];
  for (const [stage, s] of Object.entries(q.stages)) {
    lines.push(`  ${stage}: ${s.queued} queued, ${s.running} running, ${s.failed} failed, ${s.done} done`);
    for (const h of s.holders) lines.push(`    task ${h.task} running on ${h.worker ?? '?'}`);
    for (const f of s.failures) lines.push(`    task ${f.task} failed${f.worker ? ` on ${f.worker}` : ''}: ${f.reason}`);
  }
  if (Object.keys(q.stages).length === 0) lines.push('  no jobs of this run in the queue');
  return `${lines.join('\n')}\n`;
}
