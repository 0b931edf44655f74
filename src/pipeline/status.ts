/** `univg status`: what a run directory holds, recomputed from its files. */
import { existsSync, readFileSync } from 'node:fs';
import { PipelineConfig } from '../schema/config.js';
import { readManifest } from '../store/manifest.js';
import { STANDARD_STAGES } from '../stages/index.js';
import { RunDir } from './run-dir.js';
import { resolveStages, findStale } from './runner.js';
import { stageStatuses } from './run-json.js';

export interface StageReport {
  stage: string;
  status: 'done' | 'partial' | 'pending';
  tasksDone: number;
  tasks: number;
  rows: Record<string, number | null>;
  quarantined: Record<string, number>;
  stale: string | null;
}

export interface RunStatus {
  runDir: string;
  name: string;
  startedAt: string | null;
  endedAt: string | null;
  stages: StageReport[];
  teacher: unknown;
}

export async function runStatus(dir: string): Promise<RunStatus> {
  const run = new RunDir(dir);
  const doc = JSON.parse(readFileSync(run.path('run.json'), 'utf8')) as Record<string, unknown>;
  const config = PipelineConfig.parse(doc.config);
  const stages = resolveStages(STANDARD_STAGES, config);
  const statuses = stageStatuses(run, stages, config);
  const stale = new Map(findStale(run, stages, config).map((s) => [s.stage, s.why]));
  const out: StageReport[] = [];
  for (const s of stages) {
    const rows: Record<string, number | null> = {};
    for (const o of s.outputs) rows[o.dir] = existsSync(run.manifestPath(o)) ? ((await readManifest(run.outputDir(o)))?.rows ?? null) : null;
    const quarantined: Record<string, number> = {};
    for (const f of run.quarantineFiles(s.name)) {
      for (const line of readFileSync(f, 'utf8').split('\n')) {
        if (!line) continue;
        const reason = (JSON.parse(line) as { reason?: string }).reason ?? 'unknown';
        quarantined[reason] = (quarantined[reason] ?? 0) + 1;
      }
    }
    const st = statuses[s.name]!;
    out.push({ stage: s.name, status: st.status, tasksDone: st.tasksDone, tasks: st.tasks, rows, quarantined, stale: stale.get(s.name) ?? null });
  }
  return {
    runDir: dir,
    name: String(doc.name ?? ''),
    startedAt: (doc.startedAt as string | undefined) ?? null,
    endedAt: (doc.endedAt as string | undefined) ?? null,
    stages: out,
    teacher: doc.teacher ?? null,
  };
}

export function formatStatus(s: RunStatus): string {
  const lines = [`run ${s.name} (${s.runDir})`, `started ${s.startedAt ?? '?'}${s.endedAt ? `, last ended ${s.endedAt}` : ', running or stopped'}`, ''];
  for (const st of s.stages) {
    const rows = Object.entries(st.rows).map(([d, n]) => `${d}: ${n ?? '-'} rows`).join(', ');
    const q = Object.entries(st.quarantined).map(([r, n]) => `${r} ${n}`).join(', ');
    lines.push(`${st.stage.padEnd(10)} ${st.status.padEnd(8)} tasks ${st.tasksDone}/${st.tasks}${rows ? `  ${rows}` : ''}${st.stale ? `  STALE: ${st.stale}` : ''}`);
    if (q) lines.push(`${''.padEnd(10)} quarantined: ${q}`);
  }
  const t = s.teacher as Record<string, unknown> | null;
  if (t) lines.push('', `teacher: ${JSON.stringify(t)}`);
  return `${lines.join('\n')}\n`;
}
