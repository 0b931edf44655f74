/**
 * run.json: the config as run, its hash, the package version, times and per-stage status. Status is
 * recomputed from the files every time it is written, so it can never claim more than the disk holds.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { PipelineConfig } from '../schema/config.js';
import { writeFileAtomic } from '../store/fsutil.js';
import { UNIVG_VERSION } from '../store/version.js';
import { hashOf, sha256Hex } from './canonical.js';
import type { RunDir } from './run-dir.js';
import type { Services } from './services.js';
import type { Stage } from '../stages/stage.js';

export interface StageStatus {
  status: 'done' | 'partial' | 'pending';
  tasksDone: number;
  tasks: number;
  settingsHash: string;
}

export function stageStatuses(run: RunDir, stages: readonly Stage[], config: PipelineConfig): Record<string, StageStatus> {
  const n = config.shards.tasks;
  const out: Record<string, StageStatus> = {};
  for (const s of stages) {
    const tasks = s.mode === 'partitioned' ? n : 1;
    const done = run.stageDone(s);
    let tasksDone = done ? tasks : 0;
    if (!done && s.mode === 'partitioned') for (let i = 0; i < n; i++) if (run.taskDone(s, i, n)) tasksDone++;
    out[s.name] = { status: done ? 'done' : tasksDone > 0 ? 'partial' : 'pending', tasksDone, tasks, settingsHash: hashOf(s.settings(config)) };
  }
  return out;
}

export async function writeRunJson(
  run: RunDir,
  a: { config: PipelineConfig; configText: string; configFile: string; stages: readonly Stage[]; event: 'start' | 'progress' | 'end'; services: Services },
): Promise<void> {
  const file = run.path('run.json');
  const prev = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  const now = new Date().toISOString();
  const doc = {
    name: a.config.name,
    configFile: a.configFile,
    configHash: sha256Hex(a.configText),
    config: a.config,
    configText: a.configText,
    version: UNIVG_VERSION,
    node: process.version,
    tfjsBackend: a.services.backend ?? null,
    startedAt: (prev.startedAt as string | undefined) ?? now,
    lastStartedAt: a.event === 'start' ? now : (prev.lastStartedAt ?? now),
    endedAt: a.event === 'end' ? now : null,
    stages: stageStatuses(run, a.stages, a.config),
    teacher: a.services.teacherSummary(),
  };
  await writeFileAtomic(file, `${JSON.stringify(doc, null, 2)}\n`);
}
