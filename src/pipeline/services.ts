/**
 * Per-process services stages share: the run's image store and the teacher (opened on first use, the
 * simulated one started in-process when configured). Closed once when the runner finishes.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError } from '../errors.js';
import type { PipelineConfig } from '../schema/config.js';
import type { StageServices } from '../stages/stage.js';
import { ImageStore } from '../store/images.js';
import type { TeacherEvent } from '../teacher/client.js';
import { openTeacher, type TeacherHandle } from '../teacher/handle.js';
import type { TeacherCoordination } from '../teacher/shared.js';
import type { Reporter } from './progress.js';
import type { RunDir } from './run-dir.js';

export interface Services extends StageServices {
  /** This process's key in run.json's per-process figures (host, pid and a random part). */
  readonly key: string;
  /** Teacher figures for run.json and `univg status` (null when no teacher was opened). */
  teacherSummary(): Record<string, unknown> | null;
  close(): Promise<void>;
}

function describeEvent(e: TeacherEvent): string | null {
  switch (e.type) {
    case 'breaker': {
      const why = e.reason ? `: ${e.reason}` : '';
      if (e.state === 'open') return `teacher circuit breaker open at ${e.endpoint}${why}; requests wait, next probe in ${Math.round(e.cooldownMs / 1000)} s`;
      if (e.state === 'closed') return `teacher circuit breaker closed: ${e.endpoint} answers again`;
      if (e.state === 'half-open') return `teacher circuit breaker half-open: probing ${e.endpoint}`;
      return `teacher circuit breaker gave up on ${e.endpoint}${why}`;
    }
    case 'cost_cap':
      return `cost cap reached: $${e.spentUsd.toFixed(2)} of $${e.capUsd.toFixed(2)}; no new requests are sent`;
    case 'fatal':
      return `teacher error: ${e.message}`;
    case 'limits':
      return `teacher limits from headers: ${[e.rpm !== null ? `${e.rpm} requests/min` : null, e.tpm !== null ? `${e.tpm} tokens/min` : null].filter(Boolean).join(', ')}`;
    default:
      return null;
  }
}

export interface ServicesOptions {
  /**
   * What the teacher shares with other processes (the queue executor's Redis: one rate budget, one
   * breaker, request claims); absent: this process has the endpoint to itself.
   */
  coordination?: (config: NonNullable<PipelineConfig['teacher']>) => TeacherCoordination;
}

export async function createServices(config: PipelineConfig, run: RunDir, reporter: Reporter, opts: ServicesOptions = {}): Promise<Services> {
  let teacher: Promise<TeacherHandle> | null = null;
  let opened: TeacherHandle | null = null;
  const images = new ImageStore(run.path('images'));
  return {
    key: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`,
    images,
    teacher() {
      const t = config.teacher;
      if (!t) throw new ConfigError('the generate stage needs a teacher section in the pipeline', { field: 'teacher' });
      teacher ??= openTeacher(t, {
        ...(opts.coordination ? { coordination: opts.coordination(t) } : {}),
        log: (e) => {
          const line = describeEvent(e);
          if (line) reporter.log(line);
        },
      }).then((h) => (opened = h));
      return teacher;
    },
    teacherSummary() {
      if (!opened) return null;
      return { ...opened.client.counters(), cache: opened.cache.stats() } as unknown as Record<string, unknown>;
    },
    async close() {
      if (teacher) await (await teacher).close();
    },
  };
}
