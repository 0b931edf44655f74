/**
 * `teacher.api: batch` under the queue executor: `univg worker` processes run generate tasks through the
 * simulated teacher's Batch API (with the same stage setup the in-process executor gives them), each
 * task's batch recorded in the shared run directory, and the corpus is the bytes an in-process batch run
 * writes, with no line paid twice and no request sent online.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { BatchStateFile } from '../../src/teacher/batch.js';
import { startSimTeacher, type SimTeacher } from '../../src/teacher/sim/index.js';
import { BIN, cli } from '../pipeline/cli-run.js';
import { freePort, startRedis, type TestRedis } from './redis-server.js';

const work = mkdtempSync(join(tmpdir(), 'univg-queue-batch-'));
const env = { UNIVG_REDIS_URL: '', OPENAI_API_KEY: 'sk-test-batch-fleet-0000' };
let redis: TestRedis;
let sim: SimTeacher;
let port: number;
/** The simulated teacher, fresh: it remembers what its batches answered, to count lines paid twice. */
const startSim = () => startSimTeacher({ port, seed: 5, convention: 'qwen2vl', batch: { validatingMs: 30, lineMs: 1, finalizingMs: 30 } });
const procs = new Set<ChildProcess>();

beforeAll(async () => {
  redis = await startRedis();
  port = await freePort();
  sim = await startSim();
  const doc = {
    name: 'p',
    seed: 7,
    source: { format: 'synthetic', samples: 16, seed: 7, testFraction: 0.2 },
    teacher: { model: 'univg-sim', baseUrl: `http://127.0.0.1:${port}/v1`, candidates: 3, concurrency: 4, timeoutMs: 20_000, api: 'batch', batch: { pollMs: 20, maxPollMs: 200 } },
    shards: { tasks: 2, embedImages: true },
  };
  writeFileSync(join(work, 'p.yaml'), stringify(doc));
}, 60_000);

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await sim?.close();
  await redis?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** The stage files byte for byte, and every candidate's answer (latencies left out: measured, not derived). */
async function outputs(runDir: string): Promise<{ files: Record<string, string>; candidates: Record<string, unknown>[] }> {
  const files: Record<string, string> = {};
  for (const d of ['samples', 'verdicts', 'corpus/sft', 'corpus/rl']) {
    for (const f of readdirSync(join(runDir, d)).sort()) files[`${d}/${f}`] = readFileSync(join(runDir, d, f)).toString('base64');
  }
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const rows = (await con.runAndReadAll(`select sampleId, candidateIndex, requestHash, completion, finishReason, error, costUsd from read_parquet('${runDir}/candidates/*.parquet') order by sampleId, candidateIndex`)).getRowObjects();
  con.closeSync();
  db.closeSync();
  return { files, candidates: rows };
}

describe('teacher.api batch with --executor queue', () => {
  it('workers run each generate task through the Batch API: one batch per task, none paid twice, the in-process run\'s bytes', async () => {
    const local = await cli(['run', 'p.yaml', '--run-dir', 'runs/local', '--cache-dir', 'cache-local', '--quiet'], work, { env });
    expect(local.status, local.stderr).toBe(0);
    expect(sim.stats().batch.created).toBe(2);
    // The fleet's own cache is empty, so it asks the same lines again: of a teacher that has not seen them.
    await sim.close();
    sim = await startSim();

    const worker = spawn(process.execPath, [BIN, 'worker', '--redis', redis.url], { cwd: work, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    procs.add(worker);
    let log = '';
    worker.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    const exited = new Promise<number | null>((res) => worker.once('exit', res));
    const r = await cli(['run', 'p.yaml', '--executor', 'queue', '--redis', redis.url, '--run-dir', 'runs/fleet', '--cache-dir', 'cache-fleet'], work, { env });
    expect(r.status, `${r.stderr}\n${log}`).toBe(0);

    const st = sim.stats();
    expect(st.batch.created).toBe(2);
    expect(st.batch.paidTwice).toBe(0);
    // Every answer came through the Batch API: no chat completion went online.
    expect(st.byModel['univg-sim'] ?? 0).toBe(0);
    for (const task of ['generate-00000-of-00002', 'generate-00001-of-00002']) {
      const file = join(work, 'runs', 'fleet', 'batches', task, 'state.json');
      expect(existsSync(file), task).toBe(true);
      const state = JSON.parse(readFileSync(file, 'utf8')) as BatchStateFile;
      expect(state.batches).toHaveLength(1);
      expect(state.batches[0]).toMatchObject({ status: 'completed', ingested: true, lineErrors: 0 });
    }
    expect(log).toMatch(/generate: task 0\/2 .*done/);
    expect(log).toMatch(/generate: task 1\/2 .*done/);
    expect(await outputs(join(work, 'runs', 'fleet'))).toEqual(await outputs(join(work, 'runs', 'local')));

    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 300_000);
});
