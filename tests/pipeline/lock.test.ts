/**
 * Runs that collide: one process per run directory (or per task of it), who holds it, and the lock a
 * crashed run leaves behind. The library's rules first, then two real `univg run` processes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { lockRun, RunLockedError, type LockHolder } from '../../src/pipeline/lock.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'univg.js');
const work = mkdtempSync(join(tmpdir(), 'univg-lock-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const dir = () => {
  const d = join(work, `run-${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

/** A pid that certainly belonged to a process on this host and is not running any more. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

const holder = (over: Partial<LockHolder>): LockHolder => ({ pid: 1, host: hostname(), startedAt: '2026-01-01T00:00:00.000Z', command: 'univg run p.yaml', task: null, procStart: null, token: 'f'.repeat(16), ...over });

describe('lockRun', () => {
  it('one holder per run directory; the refusal says who holds it (pid, host, start, command); release frees it', () => {
    const d = dir();
    const a = lockRun(d, { command: 'univg run pipelines/demo.yaml' });
    const err = (() => {
      try {
        lockRun(d);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(RunLockedError);
    const msg = (err as Error).message;
    expect(msg).toContain(`pid ${process.pid}`);
    expect(msg).toContain('this host');
    expect(msg).toContain('univg run pipelines/demo.yaml');
    expect(msg).toMatch(/since \d{4}-\d\d-\d\dT/);
    expect((err as RunLockedError).exitCode).toBe(1);
    a.release();
    lockRun(d).release();
    expect(readdirSync(d)).toEqual([]);
  });

  it('task workers lock their own task: different tasks run side by side, never beside a whole run or a twin', () => {
    const d = dir();
    const t0 = lockRun(d, { task: { index: 0, count: 2 } });
    const t1 = lockRun(d, { task: { index: 1, count: 2 } });
    expect(() => lockRun(d, { task: { index: 1, count: 2 } })).toThrow(/task 1\/2/);
    expect(() => lockRun(d)).toThrow(RunLockedError);
    t0.release();
    t1.release();
    const whole = lockRun(d);
    expect(() => lockRun(d, { task: { index: 0, count: 2 } })).toThrow(RunLockedError);
    whole.release();
    expect(readdirSync(d)).toEqual([]);
  });

  it('a lock left by a process that died on this host is taken over, and says so', () => {
    const d = dir();
    const pid = deadPid();
    writeFileSync(join(d, '.lock'), JSON.stringify(holder({ pid })));
    const logs: string[] = [];
    const l = lockRun(d, { log: (m) => logs.push(m) });
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain(`pid ${pid}`);
    expect(logs[0]).toMatch(/no longer running/);
    expect(JSON.parse(readFileSync(join(d, '.lock'), 'utf8')).pid).toBe(process.pid);
    l.release();
    // A dead task worker's lock does not block a whole run either.
    writeFileSync(join(d, '.lock.task-00001-of-00002'), JSON.stringify(holder({ pid, task: '1/2' })));
    lockRun(d).release();
    expect(readdirSync(d)).toEqual([]);
  });

  it('a live pid that is another process now (started after the lock was written) does not hold it', () => {
    const d = dir();
    // This very process, but with a start time that is not its own: the pid was reused.
    writeFileSync(join(d, '.lock'), JSON.stringify(holder({ pid: process.pid, procStart: '1' })));
    if (!existsSync('/proc/self/stat')) return; // no way to tell without /proc
    lockRun(d).release();
  });

  it('a lock held on another host is never taken over: the message says how to clear it if that machine is gone', () => {
    const d = dir();
    writeFileSync(join(d, '.lock'), JSON.stringify(holder({ pid: deadPid(), host: 'gpu-node-17' })));
    expect(() => lockRun(d)).toThrow(/host gpu-node-17.*delete .*\.lock/);
  });
});

describe('two univg processes on one run directory', () => {
  it('the second is refused at once, naming the first; the first finishes; after a SIGKILL the next run takes the stale lock over', async () => {
    const cwd = join(work, 'cli');
    mkdirSync(cwd, { recursive: true });
    // Slow enough to overlap: every teacher answer takes 300 ms.
    writeFileSync(
      join(cwd, 'p.yaml'),
      stringify({ name: 'p', source: { format: 'synthetic', samples: 24, seed: 3 }, teacher: { model: 'sim', simulated: { seed: 1, latencyMs: 300 }, concurrency: 2 }, shards: { tasks: 2 } }),
    );
    const start = () => {
      const child = spawn(process.execPath, [BIN, 'run', 'p.yaml'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const done = new Promise<{ code: number | null; stderr: string }>((r) => child.on('close', (code) => r({ code, stderr })));
      return { child, done };
    };
    const lock = join(cwd, 'runs', 'p', '.lock');
    const waitFor = async (cond: () => boolean) => {
      for (let i = 0; i < 600 && !cond(); i++) await new Promise((r) => setTimeout(r, 100));
      expect(cond()).toBe(true);
    };

    const first = start();
    await waitFor(() => existsSync(lock));
    const second = await start().done;
    // Before: both ran and wrote the same parts (once the second died in the Parquet codec).
    expect(second.code).toBe(1);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toContain(`in use by pid ${first.child.pid} on this host`);
    expect(second.stderr).toContain('univg run p.yaml');
    const a = await first.done;
    expect(a.code).toBe(0);
    expect(existsSync(lock)).toBe(false);

    // A run killed mid-way leaves its lock behind; the next one takes it over and finishes the work.
    const forced = spawn(process.execPath, [BIN, 'run', 'p.yaml', '--force', 'generate'], { cwd, stdio: 'ignore' });
    await waitFor(() => existsSync(lock) && existsSync(join(cwd, 'runs', 'p', '_stages', 'generate.json')));
    const killedPid = forced.pid;
    forced.kill('SIGKILL');
    await new Promise((r) => forced.once('exit', r));
    expect(existsSync(lock)).toBe(true);
    const resumed = await start().done;
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain(`took over a stale lock of this run directory: pid ${killedPid} on this host`);
    expect(existsSync(join(cwd, 'runs', 'p', 'corpus', 'sft', '_manifest.json'))).toBe(true);
  }, 300_000);
});
