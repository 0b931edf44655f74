/**
 * Progress for people and for scripts: bars redrawn in place on a terminal (rate, ETA, spend), periodic
 * plain lines in logs and CI, JSON lines with --json, nothing but errors with --quiet.
 */
import type { TaskProgress, TaskRef } from '../stages/stage.js';

export interface Reporter {
  log(message: string): void;
  stageStart(stage: string, tasks: number): void;
  stageSkipped(stage: string): void;
  stageEnd(stage: string, complete: boolean): void;
  task(stage: string, task: TaskRef): TaskProgress;
  taskSkipped(stage: string, task: TaskRef): void;
  taskDone(stage: string, task: TaskRef): void;
  close(): void;
}

export type ReporterMode = 'tty' | 'plain' | 'json' | 'quiet';

export function pickReporterMode(opts: { json?: boolean; quiet?: boolean }, stream: NodeJS.WriteStream = process.stderr): ReporterMode {
  if (opts.json) return 'json';
  if (opts.quiet) return 'quiet';
  return stream.isTTY ? 'tty' : 'plain';
}

interface Bar {
  label: string;
  total: number | null;
  done: number;
  started: number;
  notes: Record<string, string | number>;
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function describeBar(b: Bar, now = Date.now(), width = 24): string {
  const secs = Math.max(1e-3, (now - b.started) / 1000);
  const rate = b.done / secs;
  const notes = Object.entries(b.notes).map(([k, v]) => `${k} ${v}`).join('  ');
  if (b.total === null || b.total === 0) return `${b.label}  ${b.done} done  ${rate.toFixed(1)}/s  ${notes}`.trimEnd();
  const frac = Math.min(1, b.done / b.total);
  const fill = Math.round(frac * width);
  const eta = rate > 0 ? (b.total - b.done) / rate : Number.NaN;
  return `${b.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${b.done}/${b.total} ${(frac * 100).toFixed(0)}%  ${rate.toFixed(1)}/s  eta ${fmtDuration(eta)}  ${notes}`.trimEnd();
}

export function createReporter(mode: ReporterMode, out: NodeJS.WritableStream = process.stderr, intervalMs = mode === 'tty' ? 200 : 10_000): Reporter {
  const bars = new Map<string, Bar>();
  let drawn = 0;
  let timer: NodeJS.Timeout | null = null;
  const write = (s: string) => out.write(s);

  const redraw = () => {
    if (mode === 'tty') {
      if (drawn) write(`\x1b[${drawn}A`);
      for (const b of bars.values()) write(`\x1b[2K${describeBar(b)}\n`);
      drawn = bars.size;
    } else if (mode === 'plain') {
      for (const b of bars.values()) write(`${new Date().toISOString()} ${describeBar(b)}\n`);
    }
  };
  const ensureTimer = () => {
    if (!timer && (mode === 'tty' || mode === 'plain')) {
      timer = setInterval(redraw, intervalMs);
      timer.unref();
    }
  };
  const line = (s: string) => {
    if (mode === 'quiet') return;
    if (mode === 'json') return void write(`${JSON.stringify({ event: 'log', message: s })}\n`);
    if (mode === 'tty' && drawn) {
      write(`\x1b[${drawn}A\x1b[J`);
      drawn = 0;
    }
    write(`${s}\n`);
    if (mode === 'tty') redraw();
  };
  const event = (e: Record<string, unknown>, text: string) => {
    if (mode === 'json') write(`${JSON.stringify(e)}\n`);
    else line(text);
  };
  return {
    log: line,
    stageStart: (stage, tasks) => event({ event: 'stage_start', stage, tasks }, `${stage}: started (${tasks} task${tasks === 1 ? '' : 's'})`),
    stageSkipped: (stage) => event({ event: 'stage_skipped', stage }, `${stage}: already done, skipped`),
    stageEnd: (stage, complete) => event({ event: 'stage_end', stage, complete }, complete ? `${stage}: done` : `${stage}: this process's tasks done; other tasks still pending`),
    taskSkipped: (stage, t) => event({ event: 'task_skipped', stage, task: t.index }, `${stage}: task ${t.index}/${t.count} already done`),
    taskDone: (stage, t) => {
      const key = `${stage}#${t.index}`;
      const b = bars.get(key);
      bars.delete(key);
      if (mode === 'tty' && drawn) {
        write(`\x1b[${drawn}A\x1b[J`);
        drawn = 0;
      }
      const suffix = b ? ` (${b.done} items in ${fmtDuration((Date.now() - b.started) / 1000)})` : '';
      event({ event: 'task_done', stage, task: t.index, items: b?.done ?? null }, `${stage}: task ${t.index}/${t.count} done${suffix}`);
    },
    task: (stage, t) => {
      const bar: Bar = { label: t.count > 1 ? `${stage} ${t.index + 1}/${t.count}` : stage, total: null, done: 0, started: Date.now(), notes: {} };
      bars.set(`${stage}#${t.index}`, bar);
      ensureTimer();
      return {
        setTotal: (n) => void (bar.total = n),
        advance: (k = 1) => void (bar.done += k),
        note: (fields) => void Object.assign(bar.notes, fields),
      };
    },
    close: () => {
      if (timer) clearInterval(timer);
      timer = null;
      if (mode === 'tty' && drawn) {
        write(`\x1b[${drawn}A\x1b[J`);
        drawn = 0;
      }
    },
  };
}
