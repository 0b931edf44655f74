/**
 * `teacher.api: batch` through the CLI as a user runs it: the generate stage sends its requests through
 * the Batch API of the simulated teacher (a separate server the test starts, so a killed run's batches
 * outlive it, as OpenAI's do) with the real openai client, and the corpus is the one an online run
 * makes. The server's own counters prove what was paid for: batches created, lines run, lines answered
 * twice. Runs killed with SIGKILL after submission, expired batches, line errors, a truncated output
 * file and the spend cap each end in a clear state and a rerun that asks only for what is missing.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { BatchStateFile } from '../../src/teacher/batch.js';
import { startSimTeacher, type SimTeacher } from '../../src/teacher/sim/index.js';
import { cli, freePort } from './cli-run.js';
const work = mkdtempSync(join(tmpdir(), 'univg-batch-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PRICE = { inputPerMTok: 0.4, outputPerMTok: 1.2 };

/** A fresh working directory with a pipeline whose teacher is the endpoint at `port`; one task (one batch per round) unless said. */
function project(name: string, port: number, teacher: Record<string, unknown> = {}, tasks = 1): string {
  const cwd = join(work, name);
  mkdirSync(cwd, { recursive: true });
  const doc = {
    name: 'p',
    seed: 7,
    source: { format: 'synthetic', samples: 16, seed: 7, testFraction: 0.2 },
    teacher: { model: 'univg-sim', baseUrl: `http://127.0.0.1:${port}/v1`, candidates: 3, concurrency: 4, timeoutMs: 20_000, price: PRICE, ...teacher },
    shards: { tasks, embedImages: true },
  };
  writeFileSync(join(cwd, 'p.yaml'), stringify(doc));
  return cwd;
}
const batchTeacher = (batch: Record<string, unknown> = {}, more: Record<string, unknown> = {}) => ({ api: 'batch', batch: { pollMs: 20, maxPollMs: 200, ...batch }, ...more });

const sims: SimTeacher[] = [];
afterAll(async () => Promise.all(sims.splice(0).map((s) => s.close())));
async function sim(port: number, faults: Record<string, number> = {}, batch: Record<string, number> = {}): Promise<SimTeacher> {
  const s = await startSimTeacher({ port, seed: 5, convention: 'qwen2vl', faults, batch: { validatingMs: 30, lineMs: 1, finalizingMs: 30, ...batch } });
  sims.push(s);
  return s;
}

const stateFile = (cwd: string) => join(cwd, 'runs', 'p', 'batches', 'generate-00000-of-00001', 'state.json');
const readState = (cwd: string): BatchStateFile | null => (existsSync(stateFile(cwd)) ? (JSON.parse(readFileSync(stateFile(cwd), 'utf8')) as BatchStateFile) : null);
const lastLine = (s: string) => s.trim().split('\n').at(-1) ?? '';

/**
 * What a run produced: the downstream stage files byte for byte, and every candidate's answer. Cost is
 * kept apart: a batch answer costs half (the point of the mode), so it is compared on its own.
 */
async function outputs(runDir: string): Promise<{ files: Record<string, string>; candidates: Record<string, unknown>[]; cost: number[] }> {
  const files: Record<string, string> = {};
  for (const d of ['samples', 'verdicts', 'corpus/sft', 'corpus/rl']) {
    for (const f of readdirSync(join(runDir, d)).sort()) files[`${d}/${f}`] = readFileSync(join(runDir, d, f)).toString('base64');
  }
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const rows = (await con.runAndReadAll(`select sampleId, candidateIndex, requestHash, completion, finishReason, error, promptTokens, completionTokens, costUsd from read_parquet('${runDir}/candidates/*.parquet') order by sampleId, candidateIndex`)).getRowObjects();
  con.closeSync();
  return { files, candidates: rows.map(({ costUsd: _c, ...r }) => r), cost: rows.map((r) => Number(r.costUsd)) };
}

/** An online run against a fresh simulated teacher: what every batch run must end with. */
let reference: Awaited<ReturnType<typeof outputs>> | null = null;
async function referenceOutputs() {
  if (reference) return reference;
  const port = await freePort();
  const s = await sim(port);
  const cwd = project('online', port);
  const r = await cli(['run', 'p.yaml', '--quiet'], cwd);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(s.stats().batch.created).toBe(0);
  await s.close();
  reference = await outputs(join(cwd, 'runs', 'p'));
  return reference;
}

/** The same corpus as the online run, every answer at half the online price. */
async function expectSameAsOnline(cwd: string): Promise<void> {
  const ref = await referenceOutputs();
  const got = await outputs(join(cwd, 'runs', 'p'));
  expect(got.files).toEqual(ref.files);
  expect(got.candidates).toEqual(ref.candidates);
  got.cost.forEach((c, i) => expect(c).toBeCloseTo(ref.cost[i]! / 2, 12));
}

describe('teacher.api: batch', () => {
  it('sends every request in one batch through the openai client and ends with the online run\'s corpus at half the price', async () => {
    const port = await freePort();
    const s = await sim(port);
    const cwd = project('batch', port, batchTeacher());
    const r = await cli(['run', 'p.yaml'], cwd);
    expect(r.status, r.stderr).toBe(0);
    const st = s.stats();
    // No chat completion went online: every answer came through the Batch API, in one batch.
    expect(st.byModel['univg-sim'] ?? 0).toBe(0);
    expect(st.batch.created).toBe(1);
    expect(st.batch.paidTwice).toBe(0);
    const state = readState(cwd)!;
    expect(state.batches).toHaveLength(1);
    expect(state.batches[0]).toMatchObject({ status: 'completed', ingested: true, lineErrors: 0, corruptLines: 0 });
    expect(state.batches[0]!.answered).toBe(st.batch.lines);
    // Input files hold every image again: gone once their answers are in the cache.
    expect(readdirSync(join(cwd, 'runs', 'p', 'batches', 'generate-00000-of-00001'))).toEqual(['state.json']);
    expect(r.stderr).toMatch(new RegExp(`batch ${state.batches[0]!.batchId}: completed, ${st.batch.lines}/${st.batch.lines} done`));
    const summary = new RegExp(`generate: ${st.batch.lines} requests sent, \\$([\\d.]+) spent by this run, 0 of \\d+ candidates replayed from the cache; Batch API: 1 batch submitted, 0 resumed, \\$([\\d.]+) at the batch price \\(\\$([\\d.]+) online\\)`).exec(r.stderr);
    expect(summary, r.stderr).not.toBeNull();
    expect(summary![2]).toBe(summary![1]);
    expect(Number(summary![3])).toBeCloseTo(2 * Number(summary![2]), 3);
    await expectSameAsOnline(cwd);

    // `univg status`: each batch's state, counts and age, and its cost at both prices from the one price table.
    const status = await cli(['status', 'runs/p'], cwd);
    expect(status.status, status.stderr).toBe(0);
    const row = status.stdout.split('\n').find((l) => l.includes(state.batches[0]!.batchId!));
    expect(row).toMatch(new RegExp(`^generate-00000-of-00001 +batch_\\w+ +completed +${st.batch.lines} +${st.batch.lines} +0 +\\d+[smh]`));
    expect(status.stdout).toMatch(new RegExp(`teacher cost: \\$[\\d.]+ spent by the last run \\(${st.batch.lines} requests\\)`));
    const online = (await referenceOutputs()).cost.reduce((a, c) => a + c, 0);
    const paid = (await outputs(join(cwd, 'runs', 'p'))).cost.reduce((a, c) => a + c, 0);
    const totals = /batch answers cost \$([\d.]+); the same tokens online: \$([\d.]+)/.exec(status.stdout);
    expect(totals, status.stdout).not.toBeNull();
    expect(Number(totals![1])).toBeCloseTo(paid, 4);
    expect(Number(totals![2])).toBeCloseTo(online, 4);

    // A rerun finds everything it needs in its cache: no batch, no request.
    const again = await cli(['run', 'p.yaml', '--force', 'generate', '--quiet'], cwd);
    expect(again.status, again.stderr).toBe(0);
    expect(s.stats().batch.created).toBe(1);

    // --dry-run prices the same requests both ways, marking the api the pipeline uses.
    rmSync(join(cwd, 'cache'), { recursive: true, force: true });
    const dry = await cli(['run', 'p.yaml', '--dry-run', '--run-dir', 'runs/dry'], cwd);
    expect(dry.status, dry.stderr).toBe(0);
    const m = /cost +\$([\d.]+) online, \$([\d.]+) with the Batch API <- teacher.api/.exec(dry.stdout);
    expect(m, dry.stdout).not.toBeNull();
    expect(dry.stdout).toMatch(/time +up to 24 h \(the Batch API's completion window; online: [\d.]+ min\)/);
    const est = JSON.parse((await cli(['run', 'p.yaml', '--dry-run', '--run-dir', 'runs/dry', '--json', '--quiet'], cwd)).stdout.trim().split('\n').at(-1)!);
    expect(est.event).toBe('estimate');
    expect(est.costUsd).toBeGreaterThan(0);
    expect(est.batchCostUsd).toBeCloseTo(est.costUsd / 2, 12);

    await s.close();
  }, 300_000);

  it('with several tasks, every task\'s batch is submitted before any is waited on, so they run side by side', async () => {
    const port = await freePort();
    const s = await sim(port);
    const cwd = project('tasks', port, batchTeacher(), 3);
    const r = await cli(['run', 'p.yaml'], cwd);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stderr.split('\n');
    const submitted = lines.flatMap((l, i) => (/generate: batch: submitted 1 batch of \d+ requests \(first round\)/.test(l) ? [i] : []));
    const polled = lines.findIndex((l) => /generate: batch batch_\w+: /.test(l));
    expect(submitted).toHaveLength(3);
    expect(polled).toBeGreaterThan(submitted.at(-1)!);
    expect(r.stderr).toContain('Batch API: 3 batches submitted, 0 resumed');
    const st = s.stats();
    expect(st.batch.created).toBe(3);
    expect(st.batch.paidTwice).toBe(0);
    expect(st.byModel['univg-sim'] ?? 0).toBe(0);
    // Sharded otherwise, the same candidates as the online run.
    expect((await outputs(join(cwd, 'runs', 'p'))).candidates).toEqual((await referenceOutputs()).candidates);
    await s.close();
  }, 300_000);

  it('SIGKILLed after its batch was submitted, a rerun polls that batch and submits none: one batch paid, the same corpus', async () => {
    const port = await freePort();
    // A batch that validates for a while, so the run is certainly killed while it waits on it.
    const s = await sim(port, {}, { validatingMs: 1500 });
    const cwd = project('killed', port, batchTeacher());
    const first = await cli(['run', 'p.yaml', '--quiet'], cwd, { killWhen: () => (readState(cwd)?.batches[0]?.batchId ?? null) !== null });
    expect(first.signal).toBe('SIGKILL');
    const recorded = readState(cwd)!.batches[0]!;
    expect(recorded.ingested).toBe(false);
    expect(s.stats().batch.created).toBe(1);
    // What a user sees meanwhile: the batch, its state as last checked, its lines.
    const status = await cli(['status', 'runs/p'], cwd);
    expect(status.stdout).toMatch(new RegExp(`^generate-00000-of-00001 +${recorded.batchId} +${recorded.status} +${recorded.lines} +0 +0 `, 'm'));

    const second = await cli(['run', 'p.yaml'], cwd);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr).toContain('batch: resuming 1 batch recorded in state.json (polled, not submitted again)');
    const st = s.stats();
    expect(st.batch.created).toBe(1);
    expect(st.batch.files).toBe(1);
    expect(st.batch.paidTwice).toBe(0);
    expect(st.byModel['univg-sim'] ?? 0).toBe(0);
    const state = readState(cwd)!;
    expect(state.batches).toHaveLength(1);
    expect(state.batches[0]).toMatchObject({ batchId: recorded.batchId, status: 'completed', ingested: true });
    await expectSameAsOnline(cwd);
    await s.close();
  }, 300_000);

  it('Ctrl-C while a batch runs: exit 130, the batch stays recorded, and the next run picks it up', async () => {
    const port = await freePort();
    const s = await sim(port, {}, { validatingMs: 1500 });
    const cwd = project('sigint', port, batchTeacher());
    const first = await cli(['run', 'p.yaml', '--quiet'], cwd, { killWhen: () => (readState(cwd)?.batches[0]?.batchId ?? null) !== null, killSignal: 'SIGINT' });
    expect(first.status).toBe(130);
    expect(readState(cwd)!.batches[0]).toMatchObject({ ingested: false });
    const second = await cli(['run', 'p.yaml'], cwd);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr).toContain('batch: resuming 1 batch recorded in state.json');
    expect(s.stats().batch.created).toBe(1);
    await expectSameAsOnline(cwd);
    await s.close();
  }, 300_000);

  it('an expired batch keeps the lines it answered and a follow-up batch carries only the rest; still unanswered, the run fails and a rerun asks for exactly those', async () => {
    const port = await freePort();
    const expiring = await sim(port, { batch_expire: 1 });
    const cwd = project('expired', port, batchTeacher({ maxRetries: 1 }));
    const first = await cli(['run', 'p.yaml'], cwd);
    expect(first.status).toBe(1);
    const st = expiring.stats().batch;
    expect(st.created).toBe(2);
    expect(st.byStatus.expired).toBe(2);
    expect(st.paidTwice).toBe(0);
    const [a, b] = readState(cwd)!.batches;
    // The follow-up carried exactly the lines the first batch did not answer.
    expect(a!.answered).toBeGreaterThan(0);
    expect(b!.lines).toBe(a!.lines - a!.answered);
    expect(b!.round).toBe(1);
    const missing = b!.lines - b!.answered;
    expect(missing).toBeGreaterThan(0);
    const m = /generate: (\d+) of (\d+) candidates failed \(timeout \d+ \(timeout \(batch_expired\) in batch (batch_\w+): .*\)\)/.exec(lastLine(first.stderr));
    expect(m, lastLine(first.stderr)).not.toBeNull();
    expect(Number(m![1])).toBe(3 * missing);
    expect(m![3]).toBe(b!.batchId);
    expect(existsSync(join(cwd, 'runs', 'p', 'candidates', 'part-00000-of-00001.parquet'))).toBe(false);
    await expiring.close();

    const fine = await sim(port);
    const second = await cli(['run', 'p.yaml', '--quiet'], cwd);
    expect(second.status, second.stderr).toBe(0);
    expect(fine.stats().batch.created).toBe(1);
    expect(fine.stats().batch.lines).toBe(missing);
    expect(fine.stats().byModel['univg-sim'] ?? 0).toBe(0);
    await fine.close();
    const ref = await referenceOutputs();
    const got = await outputs(join(cwd, 'runs', 'p'));
    expect(got.files).toEqual(ref.files);
    expect(got.candidates).toEqual(ref.candidates);
  }, 300_000);

  it('lines answered with an error are retried in follow-up batches; a retried line is never paid twice', async () => {
    const port = await freePort();
    const s = await sim(port, { line_error: 0.4 });
    const cwd = project('line-errors', port, batchTeacher({ maxRetries: 6 }));
    const r = await cli(['run', 'p.yaml', '--quiet'], cwd);
    expect(r.status, r.stderr).toBe(0);
    const st = s.stats().batch;
    const batches = readState(cwd)!.batches;
    expect(st.errored).toBeGreaterThan(0);
    expect(batches.length).toBeGreaterThan(1);
    // Each follow-up carries exactly the previous batch's errors.
    for (let i = 1; i < batches.length; i++) expect(batches[i]!.lines).toBe(batches[i - 1]!.lineErrors);
    expect(st.paidTwice).toBe(0);
    await expectSameAsOnline(cwd);
    await s.close();
  }, 300_000);

  it('line errors left after the follow-ups are failed candidates by the usual rules: the run exits 1 naming the reason and the batch', async () => {
    const port = await freePort();
    const s = await sim(port, { line_error: 0.4 });
    const cwd = project('line-errors-fail', port, batchTeacher({ maxRetries: 0 }));
    const r = await cli(['run', 'p.yaml'], cwd);
    expect(r.status).toBe(1);
    const errored = s.stats().batch.errored;
    expect(errored).toBeGreaterThan(0);
    const batchId = readState(cwd)!.batches[0]!.batchId!;
    const line = lastLine(r.stderr);
    expect(line).toContain(`generate: ${3 * errored} of `);
    expect(line).toContain(`server_error (HTTP 500) in batch ${batchId}`);
    await s.close();
  }, 300_000);

  it('teacher.batch.retryOnline: requests no batch answered are asked online, at the online price', async () => {
    const port = await freePort();
    const s = await sim(port, { line_error: 1 });
    const cwd = project('retry-online', port, batchTeacher({ maxRetries: 0, retryOnline: true }));
    const r = await cli(['run', 'p.yaml', '--quiet'], cwd);
    expect(r.status, r.stderr).toBe(0);
    const st = s.stats();
    expect(st.batch.created).toBe(1);
    expect(st.batch.errored).toBe(st.batch.lines);
    expect(st.byModel['univg-sim']).toBe(st.batch.lines);
    const ref = await referenceOutputs();
    const got = await outputs(join(cwd, 'runs', 'p'));
    expect(got.files).toEqual(ref.files);
    expect(got.candidates).toEqual(ref.candidates);
    expect(got.cost).toEqual(ref.cost);
    await s.close();
  }, 300_000);

  it('a truncated output file is an error naming the batch and its file; the answers it held are kept and a rerun asks only for the cut line', async () => {
    const port = await freePort();
    const cutting = await sim(port, { batch_corrupt: 1 });
    const cwd = project('corrupt', port, batchTeacher({ maxRetries: 0 }));
    const first = await cli(['run', 'p.yaml'], cwd);
    expect(first.status).toBe(1);
    const rec = readState(cwd)!.batches[0]!;
    expect(rec.corruptLines).toBe(1);
    expect(rec.answered).toBe(rec.lines - 1);
    expect(first.stderr).toContain(`batch ${rec.batchId}: line ${rec.lines} of output file ${rec.outputFileId} is not JSON`);
    expect(lastLine(first.stderr)).toContain(`the output file ${rec.outputFileId} of batch ${rec.batchId} is truncated or corrupt`);
    await cutting.close();

    const fine = await sim(port);
    const second = await cli(['run', 'p.yaml', '--quiet'], cwd);
    expect(second.status, second.stderr).toBe(0);
    expect(fine.stats().batch.created).toBe(1);
    expect(fine.stats().batch.lines).toBe(1);
    await fine.close();
    await expectSameAsOnline(cwd);
  }, 300_000);

  it('a sample whose image cannot be encoded is quarantined with its id, as online; its requests never go into a batch', async () => {
    const port = await freePort();
    const s = await sim(port);
    const cwd = project('badimage', port, batchTeacher());
    const run = join(cwd, 'runs', 'p');
    expect((await cli(['run', 'p.yaml', '--stages', 'ingest', '--quiet'], cwd)).status).toBe(0);
    // Bit rot in the run's image store after ingest: one image's bytes no longer decode.
    const images = join(run, 'images');
    const first = readdirSync(images).filter((d) => !d.startsWith('.')).sort()[0]!;
    const file = join(images, first, readdirSync(join(images, first))[0]!);
    writeFileSync(file, readFileSync(file).subarray(0, 100));
    const r = await cli(['run', 'p.yaml'], cwd);
    expect(r.status).toBe(1);
    expect(lastLine(r.stderr)).toMatch(/generate: (\d+) of (\d+) samples \([\d.]+%\) were quarantined, above teacher\.maxFailureShare \(1\.0%\): image_unreadable \1/);
    const q = readFileSync(join(run, 'quarantine', 'generate-00000-of-00001.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { recordId: string; reason: string });
    expect(q.length).toBeGreaterThan(0);
    expect(q.every((x) => x.reason === 'image_unreadable')).toBe(true);
    const total = JSON.parse(readFileSync(join(run, 'samples', '_manifest.json'), 'utf8')).rows as number;
    // One request per sample (n mode): the batch carried every sample but the quarantined ones.
    expect(s.stats().batch.lines).toBe(total - q.length);
    expect(s.stats().batch.created).toBe(1);
    await s.close();
  }, 300_000);

  it('the spend cap applies before a batch is submitted: over the cap, nothing is uploaded', async () => {
    const port = await freePort();
    const s = await sim(port);
    const cwd = project('capped', port, batchTeacher({}, { maxCostUsd: 0.000001 }));
    const r = await cli(['run', 'p.yaml'], cwd);
    expect(r.status).not.toBe(0);
    expect(lastLine(r.stderr)).toContain('cost cap reached');
    expect(s.stats().batch.files).toBe(0);
    expect(s.stats().batch.created).toBe(0);
    await s.close();
  }, 300_000);
});
