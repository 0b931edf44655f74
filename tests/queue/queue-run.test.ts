/**
 * The queue executor end to end, through the CLI as a fleet runs it: a real redis-server, the simulated
 * teacher over HTTP with a 600 requests/min limit, `univg run --executor queue` and three `univg worker`
 * processes, one of them SIGKILLed in the middle of a generate task and started again. The output must
 * be the bytes a single-process run writes, with no request paid twice and no 429.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startSimTeacher, type SimTeacher } from '../../src/teacher/sim/index.js';
import { freePort, startRedis, type TestRedis } from './redis-server.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'univg.js');
const work = mkdtempSync(join(tmpdir(), 'univg-queue-'));
const RPM = 600;
/** Requests one teacher client has in flight at most (teacher.concurrency). */
const CONCURRENCY = 2;

let redis: TestRedis;
let sim: SimTeacher;
const procs = new Set<ChildProcess>();

/** The demo pipeline, corpus stages only, against the shared simulated teacher (no faults: outputs must match). */
function pipeline(rpm = RPM, name = 'fleet'): string {
  const doc = parse(readFileSync(join(ROOT, 'pipelines', 'demo.yaml'), 'utf8'));
  doc.name = 'fleet';
  doc.source.samples = 40;
  delete doc.train;
  delete doc.teacher.simulated;
  doc.teacher.baseUrl = sim.url;
  doc.teacher.rpm = rpm;
  doc.teacher.concurrency = CONCURRENCY;
  doc.teacher.cacheDir = `cache-${name}`;
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

const env = () => ({ ...process.env, UNIVG_REDIS_URL: '', OPENAI_API_KEY: 'sk-test-fleet-key-0000' });

/** The CLI in a child process; asynchronous, as the simulated teacher answers from this one. */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: work, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    procs.add(p);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    p.once('close', (status) => {
      procs.delete(p);
      resolve({ status, stdout, stderr });
    });
  });
}

interface Worker {
  proc: ChildProcess;
  log: string[];
  exited: Promise<number | null>;
}

function startWorker(): Worker {
  const proc = spawn(process.execPath, [BIN, 'worker', '--redis', redis.url, '--lock-ms', '3000'], { cwd: work, env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
  procs.add(proc);
  const log: string[] = [];
  let rest = '';
  proc.stderr!.on('data', (b: Buffer) => {
    const lines = (rest + b.toString()).split('\n');
    rest = lines.pop()!;
    log.push(...lines);
  });
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => (procs.delete(proc), res(code))));
  return { proc, log, exited };
}

async function until(cond: () => boolean, what: string, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every file of the final outputs, by relative path (candidates carry measured latencies, so the verdicts stand for them). */
function finalOutputs(runDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of ['samples', 'verdicts', 'corpus/sft', 'corpus/rl']) {
    for (const f of readdirSync(join(runDir, d)).sort()) out[`${d}/${f}`] = readFileSync(join(runDir, d, f)).toString('base64');
  }
  return out;
}

async function query<T>(sql: string): Promise<T> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    return (await con.runAndReadAll(sql)).getRowObjects()[0] as T;
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

let file: string;
let local: { ok: number; rateLimited: number };

beforeAll(async () => {
  redis = await startRedis();
  sim = await startSimTeacher({ port: 0, seed: 7, rpm: RPM, latencyMs: 150 });
  file = pipeline();
  const r = await cli(['run', file, '--run-dir', join(work, 'local'), '--cache-dir', join(work, 'cache-local'), '--quiet']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  local = { ok: sim.stats().byOutcome.ok, rateLimited: sim.stats().byOutcome.rate_limited };
  sim.resetStats();
}, 240_000);

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await sim?.close();
  await redis?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('univg run --executor queue with univg worker processes', () => {
  it('3 workers, one SIGKILLed mid-generate and restarted: the same bytes as one process, no request paid twice, no 429', async () => {
    const workers = [startWorker(), startWorker(), startWorker()];
    const planner = spawn(process.execPath, [BIN, 'run', file, '--executor', 'queue', '--redis', redis.url, '--run-dir', join(work, 'fleet')], { cwd: work, env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    procs.add(planner);
    let plannerErr = '';
    planner.stderr!.on('data', (b: Buffer) => (plannerErr += b.toString()));
    const plannerExit = new Promise<number | null>((res) => planner.once('exit', res));

    // Kill the first worker once it is inside a generate task and the teacher has answered since.
    const victim = workers[0]!;
    let started = -1;
    await until(() => victim.log.some((l) => /^generate: task \d+\/4 .*started/.test(l)), 'worker 0 to start a generate task');
    started = Number(/^generate: task (\d+)/.exec(victim.log.find((l) => /^generate: task \d+\/4 .*started/.test(l))!)![1]);
    const okBefore = sim.stats().byOutcome.ok;
    await until(() => sim.stats().byOutcome.ok > okBefore, 'a teacher answer');
    expect(victim.log.some((l) => l.startsWith(`generate: task ${started}/4 done`))).toBe(false);
    victim.proc.kill('SIGKILL');
    await victim.exited;
    workers.push(startWorker());

    const code = await plannerExit;
    expect(code, plannerErr).toBe(0);
    expect(plannerErr).not.toContain('sk-test');

    // Another worker finished the killed worker's task.
    expect(workers.slice(1).some((w) => w.log.some((l) => l.startsWith(`generate: task ${started}/4 done`)))).toBe(true);
    expect(finalOutputs(join(work, 'fleet'))).toEqual(finalOutputs(join(work, 'local')));

    // Every request the candidates needed was paid once; only the killed worker's requests in flight may have
    // been sent again. Counted over all candidates: an answer the killed worker had already put in the shared
    // cache is replayed from it by the task's next owner (cached, paid once), so "not cached" may be one short.
    const { n } = await query<{ n: bigint }>(`select count(distinct requestHash) as n from read_parquet('${join(work, 'fleet', 'candidates')}/*.parquet')`);
    const stats = sim.stats();
    expect(Number(n)).toBe(local.ok);
    expect(stats.byOutcome.ok).toBeGreaterThanOrEqual(local.ok);
    expect(stats.byOutcome.ok - local.ok).toBeLessThanOrEqual(CONCURRENCY);
    expect(stats.byOutcome.rate_limited).toBe(0);
    expect(local.rateLimited).toBe(0);

    // `univg status` shows the queue: every job done, the workers connected.
    const st = await cli(['status', join(work, 'fleet'), '--redis', redis.url]);
    expect(st.status).toBe(0);
    expect(st.stdout).toMatch(/job queue at redis:\/\/127\.0\.0\.1:\d+: 3 workers connected/);
    expect(st.stdout).toContain('generate: 0 queued, 0 running, 0 failed, 4 done');
    const json = JSON.parse((await cli(['status', join(work, 'fleet'), '--json'])).stdout);
    expect(json.queue.stages.verify).toMatchObject({ queued: 0, running: 0, failed: 0, done: 4 });

    // A rerun has nothing left to do and enqueues nothing.
    const again = await cli(['run', file, '--executor', 'queue', '--redis', redis.url, '--run-dir', join(work, 'fleet')]);
    expect(again.status).toBe(0);
    expect(again.stderr).not.toMatch(/started \(\d+ tasks?\)/);

    // SIGTERM: a worker stops cleanly (exit 0).
    const survivors = workers.slice(1);
    for (const w of survivors) w.proc.kill('SIGTERM');
    expect(await Promise.all(survivors.map((w) => w.exited))).toEqual([0, 0, 0]);
  }, 240_000);

  it('a worker told to stop (SIGTERM) mid-task puts its job back; another worker finishes it, same bytes', async () => {
    // A slower budget (240 requests/min) so the task is still running when the signal comes.
    const slow = pipeline(240, 'term');
    const first = startWorker();
    const runDir = join(work, 'term');
    const planner = cli(['run', slow, '--executor', 'queue', '--redis', redis.url, '--run-dir', runDir]);
    await until(() => first.log.some((l) => /^generate: task \d+\/4 .*started/.test(l)), 'the worker to start a generate task');
    const task = Number(/^generate: task (\d+)/.exec(first.log.find((l) => /^generate: task \d+\/4 .*started/.test(l))!)![1]);
    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.log.some((l) => l.startsWith(`generate: task ${task}/4 done`))).toBe(false);
    const st = await cli(['status', runDir, '--redis', redis.url]);
    expect(st.stdout).toMatch(/generate: [1-9]\d* queued, 0 running, 0 failed/);
    const second = startWorker();
    const r = await planner;
    expect(r.status, r.stderr).toBe(0);
    expect(second.log.some((l) => l.startsWith(`generate: task ${task}/4 done`))).toBe(true);
    expect(finalOutputs(runDir)).toEqual(finalOutputs(join(work, 'local')));
    second.proc.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 240_000);

  it('an unreachable Redis is one line naming its host, never its password, exit 2', async () => {
    const port = await freePort();
    const url = `redis://:s3cret-pass@127.0.0.1:${port}`;
    for (const args of [['run', file, '--executor', 'queue', '--redis', url], ['worker', '--redis', url]]) {
      const r = await cli(args);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`cannot reach Redis at redis://127.0.0.1:${port}`);
      expect(r.stderr).not.toContain('s3cret');
    }
    const r = await cli(['run', file, '--executor', 'queue']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('UNIVG_REDIS_URL');
  });
});
