/**
 * Per-process services stages share: the run's image store and the teacher (opened on first use, the
 * simulated one started in-process when configured). Closed once when the runner finishes.
 */
import { ConfigError } from '../errors.js';
import type { PipelineConfig } from '../schema/config.js';
import type { StageServices } from '../stages/stage.js';
import { ImageStore } from '../store/images.js';
import type { TeacherEvent } from '../teacher/client.js';
import { openTeacher, type TeacherHandle } from '../teacher/handle.js';
import type { Reporter } from './progress.js';
import type { RunDir } from './run-dir.js';

export interface Services extends StageServices {
  /** Teacher figures for run.json and `univg status` (null when no teacher was opened). */
  teacherSummary(): Record<string, unknown> | null;
  close(): Promise<void>;
}

function describeEvent(e: TeacherEvent): string | null {
  switch (e.type) {
    case 'breaker':
      return `teacher circuit breaker ${e.state} (failure rate ${(e.failureRate * 100).toFixed(0)}%, cooldown ${Math.round(e.cooldownMs / 1000)} s)`;
    case 'cost_cap':
      return `cost cap reached: $${e.spentUsd.toFixed(2)} of $${e.capUsd.toFixed(2)}; no new requests are sent`;
    case 'fatal':
      return `teacher error: ${e.message}`;
    case 'limits':
      return `teacher limits from headers: ${e.rpm ?? '?'} requests/min, ${e.tpm ?? '?'} tokens/min`;
    default:
      return null;
  }
}

export async function createServices(config: PipelineConfig, run: RunDir, reporter: Reporter): Promise<Services> {
  let teacher: Promise<TeacherHandle> | null = null;
  let opened: TeacherHandle | null = null;
  const images = new ImageStore(run.path('images'));
  return {
    images,
    teacher() {
      if (!config.teacher) throw new ConfigError('the generate stage needs a teacher section in the pipeline', { field: 'teacher' });
      teacher ??= openTeacher(config.teacher, {
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
