/**
 * run.json: the config as run, its hash, the package version, times and per-stage status. Status is
 * recomputed from the files every time it is written, so it can never claim more than the disk holds.
 *
 * Any number of processes update it (a task array, queue workers on several machines): each update is a
 * read-modify-write under `run.json.lock` (created with O_EXCL, taken over when older than a few seconds:
 * its writer died), and each process keeps its own teacher figures in `teacherByProcess`, so one
 * process's update never drops another's. `teacher` is their sum.
 */
import { existsSync, openSync, closeSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import type { PipelineConfig } from '../schema/config.js';
import { writeFileAtomic } from '../store/fsutil.js';
import { UNIVG_VERSION } from '../store/version.js';
import { mergeTeacherSummaries } from '../teacher/metrics.js';
import { hashOf, sha256Hex } from './canonical.js';
import type { RunDir } from './run-dir.js';
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

export interface RunJsonUpdate {
  config: PipelineConfig;
  configText: string;
  configFile: string;
  stages: readonly Stage[];
  event: 'start' | 'progress' | 'end';
  /**
   * This process starts the run as a whole (one process, or the queue's planner): the teacher figures of
   * earlier processes belong to an earlier run and are dropped. A task worker or a queue worker adds its own.
   */
  owner: boolean;
  /** This process's teacher figures for this run, under its own key (null: it opened no teacher). */
  teacher: { key: string; summary: Record<string, unknown> | null };
  /** Facts tasks reported (ctx.fact): the tfjs backend training used. */
  facts?: Readonly<Record<string, string>>;
  /** Who runs the tasks, when not this process alone: the queue and its Redis (URL without credentials), for `univg status`. */
  executor?: { kind: 'queue'; redis: string };
}

/** A lock older than this was left by a writer that died between its read and its rename. */
const STALE_LOCK_MS = 10_000;

/** Hold `<file>.lock` for `fn` (a few milliseconds); waits for another writer, takes over a dead one's. */
async function withFileLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, `${hostname()} ${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      if (age > STALE_LOCK_MS) rmSync(lock, { force: true });
      else await new Promise((r) => setTimeout(r, Math.min(100, 5 + attempt * 5)));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Write this process's update to run.json without losing another process's. */
export async function writeRunJson(run: RunDir, a: RunJsonUpdate): Promise<void> {
  const file = run.path('run.json');
  await withFileLock(file, async () => {
    let prev: Record<string, unknown> = {};
    if (existsSync(file)) {
      try {
        prev = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      } catch {
        prev = {}; // unreadable (written by hand?): rewritten whole from what the disk holds
      }
    }
    const now = new Date().toISOString();
    const byProcess: Record<string, Record<string, unknown>> = a.owner && a.event === 'start' ? {} : { ...((prev.teacherByProcess as Record<string, Record<string, unknown>> | undefined) ?? {}) };
    if (a.teacher.summary) byProcess[a.teacher.key] = a.teacher.summary;
    const keys = Object.keys(byProcess).sort();
    const doc = {
      name: a.config.name,
      configFile: a.configFile,
      configHash: sha256Hex(a.configText),
      config: a.config,
      configText: a.configText,
      version: UNIVG_VERSION,
      node: process.version,
      tfjsBackend: a.facts?.tfjsBackend ?? (prev.tfjsBackend as string | null | undefined) ?? null,
      startedAt: (prev.startedAt as string | undefined) ?? now,
      lastStartedAt: a.event === 'start' ? now : (prev.lastStartedAt ?? now),
      endedAt: a.event === 'end' ? now : null,
      stages: stageStatuses(run, a.stages, a.config),
      teacher: mergeTeacherSummaries(keys.map((k) => byProcess[k]!)),
      teacherByProcess: byProcess,
      executor: a.executor ?? (a.owner && a.event === 'start' ? null : ((prev.executor as RunJsonUpdate['executor'] | undefined) ?? null)),
    };
    await writeFileAtomic(file, `${JSON.stringify(doc, null, 2)}\n`);
  });
}
