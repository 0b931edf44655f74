/**
 * The queue executor against a 600 requests/min teacher (`npx tsx bench/queue-fleet.ts [--samples 700]
 * [--workers 1,2,4]`): 1, 2 and 4 `univg worker` processes share one Redis budget; the simulated teacher
 * (`univg teacher serve --rpm 600 --log`, its own process) enforces the limit and logs every request with
 * its duration; this script dates each request's arrival as (when the line came) - (its duration).
 *
 * `--workers 0` is the baseline: the same run in one process with the in-process executor (no queue, no Redis
 * budget), to tell the queue's cost from the machine's.
 *
 * Per fleet size: the answered rate over the generate stage (first to last answer), the most answers in
 * any 60 s window (the aggregate must not exceed the limit), the share of 429s, and the queue's overhead
 * per job: how long a job waited from enqueue to a worker starting it, on single-job stages (ingest,
 * report), where a worker is always idle. The samples are ingested once; each fleet starts from a copy
 * of that run with an empty response cache, so every request is paid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { parse, stringify } from 'yaml';
import { QUEUE_NAME, QUEUE_PREFIX, runIdOf } from '../src/queue/jobs.js';
import { freePort, startRedis } from '../tests/queue/redis-server.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const SAMPLES = Number(arg('samples', '700'));
const FLEETS = arg('workers', '1,2,4').split(',').map(Number);
const RPM = 600;
const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'univg.js');
const work = mkdtempSync(join(tmpdir(), 'univg-fleet-bench-'));
const procs = new Set<ChildProcess>();

function run(argv: string[]): Promise<{ code: number | null; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...argv], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    p.once('close', (code) => resolve({ code, stderr, ms: Date.now() - t0 }));
  });
}

function startProc(argv: string[]): ChildProcess {
  const p = spawn(process.execPath, [BIN, ...argv], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.add(p);
  p.once('exit', () => procs.delete(p));
  return p;
}

function maxInWindow(t: number[], ms: number): number {
  let best = 0;
  let j = 0;
  for (let i = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

async function main() {
  const redis = await startRedis();
  const simPort = await freePort();
  // The teacher: its own process, every request logged on stderr and timestamped here.
  const sim = startProc(['teacher', 'serve', '--port', String(simPort), '--seed', '7', '--rpm', String(RPM), '--latency-ms', '300', '--log']);
  const events: Array<{ at: number; outcome: string }> = [];
  createInterface({ input: sim.stderr! }).on('line', (line) => {
    // Counted at arrival (now minus the time the server spent on it), as a provider counts requests.
    const m = /^POST \/v1\/chat\/completions \d+ (\S+) ([\d.]+)ms/.exec(line);
    if (m) events.push({ at: Date.now() - Number(m[2]), outcome: m[1]! });
  });
  await new Promise((r) => setTimeout(r, 3000));

  const doc = parse(readFileSync(join(ROOT, 'pipelines', 'demo.yaml'), 'utf8'));
  doc.name = 'fleet-bench';
  doc.source.samples = SAMPLES;
  delete doc.train;
  delete doc.teacher.simulated;
  doc.teacher.baseUrl = `http://127.0.0.1:${simPort}/v1`;
  doc.teacher.rpm = RPM;
  doc.teacher.concurrency = 8;
  doc.teacher.cacheDir = 'cache';
  writeFileSync(join(work, 'fleet.yaml'), stringify(doc));
  const ingest = await run(['run', 'fleet.yaml', '--run-dir', 'base', '--stages', 'ingest', '--quiet']);
  if (ingest.code !== 0) throw new Error(ingest.stderr);

  const rows: string[] = [];
  for (const n of FLEETS) {
    const dir = join(work, `fleet-${n}`);
    cpSync(join(work, 'base'), dir, { recursive: true });
    const workers = Array.from({ length: n }, () => startProc(['worker', '--redis', redis.url, '--quiet']));
    if (n > 0) await new Promise((r) => setTimeout(r, 4000));
    events.length = 0;
    const queued = n > 0 ? ['--executor', 'queue', '--redis', redis.url] : [];
    const r = await run(['run', 'fleet.yaml', ...queued, '--run-dir', dir, '--cache-dir', join(work, `cache-${n}`), '--quiet']);
    if (r.code !== 0) throw new Error(`fleet of ${n}: ${r.stderr}`);
    const ok = events.filter((e) => e.outcome === 'ok').map((e) => e.at).sort((a, b) => a - b);
    const limited = events.filter((e) => e.outcome === 'rate_limited').length;
    const spanMin = (ok[ok.length - 1]! - ok[0]!) / 60_000;
    const rate = (ok.length - 1) / spanMin;
    // Pickup latency of single-job stages (a worker is idle when they are enqueued).
    const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAME, { connection: conn, prefix: QUEUE_PREFIX });
    const jobs = (await queue.getJobs(['completed'], 0, -1)).filter((j) => j?.id?.startsWith(runIdOf(dir)));
    const pickup = jobs.filter((j) => j.name === 'report').map((j) => (j.processedOn ?? NaN) - j.timestamp);
    const runTimes = jobs.map((j) => (j.finishedOn ?? NaN) - (j.processedOn ?? NaN));
    await queue.close();
    conn.disconnect();
    rows.push(
      `| ${n || 'none (in-process)'} | ${ok.length} | ${rate.toFixed(0)} (${((100 * rate) / RPM).toFixed(1)}%) | ${maxInWindow(ok, 60_000)} | ${limited} (${((100 * limited) / Math.max(1, events.length)).toFixed(2)}%) | ${median(pickup).toFixed(0)} ms | ${median(runTimes).toFixed(0)} ms | ${(r.ms / 1000).toFixed(1)} s |`,
    );
    console.log(rows[rows.length - 1]);
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => new Promise((res) => (w.exitCode !== null ? res(null) : w.once('exit', res)))));
  }
  console.log(`\nmachine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}; ${SAMPLES} samples, teacher limit ${RPM} requests/min, latency 300 ms`);
  console.log('| workers | requests answered | answered/min over generate | most in any 60 s | 429s | job pickup (report) | median job run time | planner wall time |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
  for (const p of procs) p.kill('SIGTERM');
  await redis.stop();
  rmSync(work, { recursive: true, force: true });
}

main().catch(async (err) => {
  console.error(err);
  for (const p of procs) p.kill('SIGKILL');
  process.exit(1);
});
