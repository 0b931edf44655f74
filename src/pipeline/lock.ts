/**
 * One process at a time per run directory, or per task of it: two runs writing the same parts and
 * manifests interleave their temp files and renames (once the second died in the Parquet codec). A run
 * holds `<run>/.lock`; a worker of a task array (`--task i/N`) holds `<run>/.lock.task-0000i-of-0000N`,
 * so N workers run side by side but never beside a full run or a second worker of the same task.
 *
 * A lock file says who holds it (pid, host, start time, command). A lock whose process is gone (same
 * host, pid not running, or running but started later: a reused pid) is stale: it is taken over, with a
 * line saying so. Creation is O_EXCL; a takeover renames the stale file away first and checks that what
 * it moved is what it judged stale, so two processes recovering the same lock cannot both win.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, linkSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EXIT, UnivgError, redactSecrets } from '../errors.js';
import { shardFileName } from '../store/names.js';

export interface LockHolder {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
  /** `i/N` for a task worker, null for a whole run. */
  task: string | null;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid from the holder. */
  procStart: string | null;
  token: string;
}

/** The run directory (or this task of it) is being written by another live process. */
export class RunLockedError extends UnivgError {
  constructor(message: string, readonly holder: LockHolder, file: string) {
    super('locked', message, { file }, { exitCode: EXIT.failed });
  }
}

const WHOLE = '.lock';
const TASK_PREFIX = '.lock.task-';

const taskLockName = (index: number, count: number) => `${TASK_PREFIX}${shardFileName(index, count).replace(/^part-|\.parquet$/g, '')}`;

/** Start time of a process (field 22 of /proc/<pid>/stat), or null where there is no /proc. */
function procStartOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its end.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the holder is certainly gone: same host, and its pid is not running (or is another process now). */
function isStale(h: LockHolder): boolean {
  if (h.host !== hostname()) return false;
  if (h.pid === process.pid) return h.procStart !== null && h.procStart !== procStartOf(process.pid);
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  const now = procStartOf(h.pid);
  return h.procStart !== null && now !== null && now !== h.procStart;
}

function readHolder(file: string): LockHolder | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
  } catch {
    return null;
  }
}

export function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} on ${h.host === hostname() ? 'this host' : `host ${h.host}`} since ${h.startedAt}${h.task ? ` (task ${h.task})` : ''}: ${h.command}`;
}

export interface RunLock {
  file: string;
  release(): void;
}

export interface LockOptions {
  /** The worker's task, for a task-array process. */
  task?: { index: number; count: number } | undefined;
  /** Shown to whoever finds the lock (default: this process's command line). */
  command?: string;
  /** Told when a stale lock is taken over. */
  log?: (message: string) => void;
}

/**
 * Take over a stale lock file: move it aside, and keep it removed only if what moved is the holder that
 * was judged stale (else it was a fresh lock created meanwhile: put it back).
 */
function takeOver(file: string, stale: LockHolder): void {
  const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(file, aside);
  } catch {
    return; // someone else took it over first
  }
  const moved = readHolder(aside);
  if (moved && moved.token !== stale.token) {
    try {
      linkSync(aside, file);
    } catch {
      // A third process holds `file` now; the lock we moved belongs to a process that will find out.
    }
  }
  rmSync(aside, { force: true });
}

/** Create `file` with O_EXCL, or return who holds it (null when the file vanished meanwhile). */
function tryCreate(file: string, me: LockHolder): { ok: true } | { ok: false; holder: LockHolder | null } {
  let fd: number;
  try {
    fd = openSync(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { ok: false, holder: readHolder(file) };
  }
  try {
    writeSync(fd, `${JSON.stringify(me, null, 2)}\n`);
  } finally {
    closeSync(fd);
  }
  return { ok: true };
}

/** Whoever is alive in `file`, after taking over a stale holder; null when the file is free or was stale. */
function liveHolder(file: string, log?: (m: string) => void): LockHolder | null {
  const h = existsSync(file) ? readHolder(file) : null;
  if (!h) return null;
  if (!isStale(h)) return h;
  takeOver(file, h);
  log?.(`took over a stale lock of this run directory: ${describeHolder(h)} is no longer running`);
  return null;
}

/**
 * Lock the run directory `root` (or one task of it) for this process. Throws RunLockedError naming the
 * holder when a live process has it, or has the whole run while we want a task (or the other way round).
 */
export function lockRun(root: string, opts: LockOptions = {}): RunLock {
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    startedAt: new Date().toISOString(),
    command: redactSecrets(opts.command ?? ['univg', ...process.argv.slice(2)].join(' ')),
    task: opts.task ? `${opts.task.index}/${opts.task.count}` : null,
    procStart: procStartOf(process.pid),
    token: randomBytes(8).toString('hex'),
  };
  const file = join(root, opts.task ? taskLockName(opts.task.index, opts.task.count) : WHOLE);
  const locked = (h: LockHolder, at: string) =>
    new RunLockedError(
      `run directory ${root} is in use by ${describeHolder(h)}. Wait for it to finish, or use another --run-dir` +
        (h.host === hostname() ? '' : `; if that process is gone (its machine crashed), delete ${at}`),
      h,
      at,
    );
  for (let attempt = 0; ; attempt++) {
    const r = tryCreate(file, me);
    if (r.ok) break;
    const h = r.holder ?? readHolder(file);
    if (h && !isStale(h)) throw locked(h, file);
    if (attempt >= 3) throw locked(h ?? me, file);
    if (h) {
      takeOver(file, h);
      opts.log?.(`took over a stale lock of this run directory: ${describeHolder(h)} is no longer running`);
    }
  }
  const release = () => {
    if (readHolder(file)?.token === me.token) rmSync(file, { force: true });
  };
  // A task worker must not run beside a whole run, nor a whole run beside any worker. Both sides create
  // their own lock first and then look for the other, so of two that start together at least one sees it.
  try {
    if (opts.task) {
      const h = liveHolder(join(root, WHOLE), opts.log);
      if (h) throw locked(h, join(root, WHOLE));
    } else {
      for (const f of readdirSync(root).filter((x) => x.startsWith(TASK_PREFIX) && !x.includes('.stale-')).sort()) {
        const h = liveHolder(join(root, f), opts.log);
        if (h) throw locked(h, join(root, f));
      }
    }
  } catch (err) {
    release();
    throw err;
  }
  return { file, release };
}
