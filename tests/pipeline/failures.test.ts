/**
 * Failures that must not look like success, through the CLI as a user meets them: a teacher endpoint
 * that is down (a closed port), one that fails some requests after their retries, one that refuses every
 * request (400), a sample whose image cannot be encoded, and a source PNG cut in half. Each run goes
 * through the real openai client over HTTP to the simulated teacher (a separate server the test starts
 * and stops), and its outputs are real Parquet read back byte for byte.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startSimTeacher, type SimTeacher } from '../../src/teacher/sim/index.js';
import { cli, freePort } from './cli-run.js';

const ROOT = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'univg-failures-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A fresh working directory with a pipeline whose teacher is the endpoint at `port`. */
function project(name: string, port: number, teacher: Record<string, unknown> = {}, samples = 24): string {
  const cwd = join(work, name);
  mkdirSync(cwd, { recursive: true });
  const doc = {
    name: 'p',
    seed: 7,
    source: { format: 'synthetic', samples, seed: 7, testFraction: 0.2 },
    teacher: { model: 'univg-sim', baseUrl: `http://127.0.0.1:${port}/v1`, candidates: 3, concurrency: 4, timeoutMs: 20_000, price: { inputPerMTok: 0.4, outputPerMTok: 1.2 }, ...teacher },
    shards: { tasks: 2, embedImages: true },
  };
  writeFileSync(join(cwd, 'p.yaml'), stringify(doc));
  return cwd;
}

const sims: SimTeacher[] = [];
afterAll(async () => Promise.all(sims.splice(0).map((s) => s.close())));
async function sim(port: number, faults: Record<string, number> = {}): Promise<SimTeacher> {
  const s = await startSimTeacher({ port, seed: 5, convention: 'qwen2vl', faults, retryAfterSeconds: 0.05 });
  sims.push(s);
  return s;
}

/**
 * Every output file of the corpus stages, by relative path, and what each candidate says. Candidate
 * files themselves differ by design between a run that paid and one the cache served (their `cached`,
 * `attempts` and `latencyMs` columns); their answers may not.
 */
async function outputs(runDir: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const d of ['samples', 'verdicts', 'corpus/sft', 'corpus/rl']) {
    for (const f of readdirSync(join(runDir, d)).sort()) out[`${d}/${f}`] = readFileSync(join(runDir, d, f)).toString('base64');
  }
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  out.candidates = (await con.runAndReadAll(`select filename, sampleId, candidateIndex, requestHash, completion, finishReason, error, promptTokens, completionTokens, costUsd from read_parquet('${runDir}/candidates/*.parquet', filename = true)`)).getRowObjects().map((r) => ({ ...r, filename: String(r.filename).slice(runDir.length) }));
  con.closeSync();
  return out;
}

const parts = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.parquet')) : []);
const lastLine = (s: string) => s.trim().split('\n').at(-1) ?? '';

/** A clean run against a fresh simulated teacher: the bytes every other run must end with. */
let reference: Record<string, unknown> | null = null;
async function referenceOutputs(): Promise<Record<string, unknown>> {
  if (reference) return reference;
  const port = await freePort();
  const s = await sim(port);
  const cwd = project('reference', port);
  const r = await cli(['run', 'p.yaml', '--quiet'], cwd);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  await s.close();
  reference = await outputs(join(cwd, 'runs', 'p'));
  return reference;
}

describe('a teacher endpoint that is down', () => {
  it('a closed port: exit 1 in seconds with ECONNREFUSED and the endpoint, no task marked done; once it is up a rerun finishes byte-identical to a clean run', async () => {
    const ref = await referenceOutputs();
    const port = await freePort();
    const cwd = project('closed', port);
    const run = join(cwd, 'runs', 'p');
    // Before: every candidate failed, tasks were marked done, the run exited 0 after minutes (13 min here).
    const down = await cli(['run', 'p.yaml'], cwd, { timeoutMs: 120_000 });
    expect(down.status).toBe(1);
    const line = lastLine(down.stderr);
    expect(line).toMatch(/^univg: /);
    expect(line).toContain('ECONNREFUSED');
    expect(line).toContain(`http://127.0.0.1:${port}/v1`);
    expect(line).toMatch(/tasks 0, 1 of 2 not done/);
    expect(down.stderr).toMatch(/circuit breaker open at .*connection refused/);
    expect(parts(join(run, 'candidates'))).toEqual([]);
    expect(existsSync(join(run, 'verdicts'))).toBe(false);
    // status says what failed, and why.
    const st = await cli(['status', 'runs/p', '--json'], cwd);
    const gen = JSON.parse(st.stdout).stages.find((x: { stage: string }) => x.stage === 'generate');
    expect(gen).toMatchObject({ status: 'pending', tasksDone: 0 });
    expect(gen.failed.total).toBeGreaterThan(0);
    expect(Object.keys(gen.failed.byReason)).toEqual(['teacher_unavailable']);
    // The table a person reads says the same: the generate row with its failed count, and a note why.
    const table = (await cli(['status', 'runs/p'], cwd)).stdout;
    expect(table).toMatch(new RegExp(`^generate\\s+pending\\s+0/2\\s+\\S+\\s+${gen.failed.total}\\s+0\\s*$`, 'm'));
    expect(table, table).toMatch(new RegExp(`^generate: ${gen.failed.total} of \\d+ candidates failed in tasks? [\\d, ]+ \\(not done; rerun to retry them\\): teacher_unavailable ${gen.failed.total} \\(.*ECONNREFUSED`, 'm'));
    expect(table).toContain(`http://127.0.0.1:${port}/v1`);

    const s = await sim(port);
    const up = await cli(['run', 'p.yaml', '--quiet'], cwd);
    expect(up.stderr).toBe('');
    expect(up.status).toBe(0);
    expect(await outputs(run)).toEqual(ref);
    expect(existsSync(join(run, '_failed')) ? readdirSync(join(run, '_failed')) : []).toEqual([]);
    await s.close();
  }, 400_000);

  it('requests failing after their retries (5xx): the run fails with how many, why and where; a rerun asks for exactly the failed ones and ends byte-identical', async () => {
    const ref = await referenceOutputs();
    const port = await freePort();
    // maxRetries 0 and a breaker that tolerates it: 30% of requests fail for good, the rest are answered.
    const cwd = project('flaky', port, { maxRetries: 0, breakerFailureRate: 1, breakerConsecutiveFailures: 1000 });
    const run = join(cwd, 'runs', 'p');
    const flaky = await sim(port, { server_error: 0.3 });
    const first = await cli(['run', 'p.yaml'], cwd);
    expect(first.status).toBe(1);
    const line = lastLine(first.stderr);
    const m = /generate: (\d+) of (\d+) candidates failed \(server_error \d+ \(.*HTTP 500.*\)\) at http:\/\/127\.0\.0\.1:\d+\/v1; tasks? [\d, ]+ of 2 not done/.exec(line);
    expect(m, line).not.toBeNull();
    const failedCandidates = Number(m![1]);
    expect(failedCandidates % 3).toBe(0);
    const failedRequests = flaky.stats().byOutcome.server_error;
    expect(failedCandidates / 3).toBe(failedRequests);
    // No candidate of a task with a failure is kept: its part file does not exist.
    expect(parts(join(run, 'candidates')).length).toBeLessThan(2);
    await flaky.close();

    // The endpoint recovers: only the failed requests go out again, and the corpus is the clean one.
    const fine = await sim(port);
    const second = await cli(['run', 'p.yaml', '--quiet'], cwd);
    expect(second.stderr).toBe('');
    expect(second.status).toBe(0);
    expect(fine.stats().byModel['univg-sim']).toBe(failedRequests);
    expect(await outputs(run)).toEqual(ref);
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const rows = (await con.runAndReadAll(`select count(*)::int as n, count(*) filter (where error is not null)::int as failed from read_parquet('${run}/candidates/*.parquet')`)).getRowObjects()[0]!;
    expect(rows).toEqual({ n: 3 * JSON.parse(readFileSync(join(run, 'samples', '_manifest.json'), 'utf8')).rows, failed: 0 });
    con.closeSync();
    await fine.close();
  }, 400_000);

  it('a 400 for every call stops the run at once with exit 2 and the provider\'s message, the key never shown', async () => {
    const port = await freePort();
    const s = await sim(port);
    const cwd = project('bad400', port, { candidates: 200 });
    const key = 'sk-univgtest-0123456789abcdefXYZ';
    const r = await cli(['run', 'p.yaml'], cwd, { env: { OPENAI_API_KEY: key } });
    expect(r.status).toBe(2);
    const line = lastLine(r.stderr);
    expect(line).toContain('HTTP 400');
    expect(line).toContain("Invalid 'n'");
    expect(line).toContain(`http://127.0.0.1:${port}/v1`);
    expect(r.stderr + r.stdout).not.toContain(key);
    // Before: a 400 was retried into the breaker's cooldowns for minutes. Now: what was in flight, one.
    expect(s.stats().requests).toBeLessThanOrEqual(4);
    expect(parts(join(cwd, 'runs', 'p', 'candidates'))).toEqual([]);
    await s.close();
  }, 200_000);
});

describe('an endpoint that refuses the request itself', () => {
  // A real HTTP server answering every call as a provider does for a bad key, a forbidden model or a wrong
  // path: nothing to retry, so the run stops at once with the provider's words and exit 2.
  it.each([
    [401, 'Incorrect API key provided: sk-univ*****************XYZ.'],
    [403, 'You are not allowed to sample from this model'],
    [404, 'The model `univg-sim` does not exist or you do not have access to it.'],
  ])('HTTP %i: exit 2 at once, the provider\'s message and the endpoint, no retries, no key', async (code, message) => {
    const port = await freePort();
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      req.resume();
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message, type: 'invalid_request_error', code: null } }));
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      const cwd = project(`refused${code}`, port);
      await cli(['run', 'p.yaml', '--stages', 'ingest', '--quiet'], cwd);
      const key = 'sk-univgtest-0123456789abcdefXYZ';
      const r = await cli(['run', 'p.yaml'], cwd, { env: { OPENAI_API_KEY: key }, timeoutMs: 120_000 });
      expect(r.status).toBe(2);
      const line = lastLine(r.stderr);
      expect(line).toMatch(/^univg: /);
      expect(line).toContain(`HTTP ${code}`);
      expect(line).toContain(message.slice(0, 30));
      expect(line).toContain(`http://127.0.0.1:${port}/v1`);
      expect(r.stderr + r.stdout).not.toContain(key);
      // No retries: at most what was in flight when the first answer came (concurrency 4).
      expect(requests).toBeLessThanOrEqual(4);
      expect(parts(join(cwd, 'runs', 'p', 'candidates'))).toEqual([]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 200_000);
});

describe('samples that are the problem', () => {
  it('an image that cannot be encoded quarantines its samples with their ids; above teacher.maxFailureShare the run fails, raised it finishes without them', async () => {
    const port = await freePort();
    const s = await sim(port);
    const cwd = project('badimage', port);
    const run = join(cwd, 'runs', 'p');
    expect((await cli(['run', 'p.yaml', '--stages', 'ingest', '--quiet'], cwd)).status).toBe(0);
    // Bit rot in the run's image store after ingest: one image's bytes no longer decode.
    const images = join(run, 'images');
    const first = readdirSync(images).filter((d) => !d.startsWith('.')).sort()[0]!;
    const file = join(images, first, readdirSync(join(images, first))[0]!);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const sha = readdirSync(join(images, first))[0]!.replace(/\..*$/, '');

    const r = await cli(['run', 'p.yaml'], cwd);
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(/internal error/);
    const line = lastLine(r.stderr);
    expect(line).toMatch(/generate: \d+ of \d+ samples \([\d.]+%\) were quarantined, above teacher\.maxFailureShare \(1\.0%\): image_unreadable \d+/);
    expect(existsSync(join(run, 'candidates', '_manifest.json'))).toBe(false);
    const q = readdirSync(join(run, 'quarantine')).filter((f) => f.startsWith('generate-')).flatMap((f) => readFileSync(join(run, 'quarantine', f), 'utf8').trim().split('\n').map((l) => JSON.parse(l)));
    expect(q.length).toBeGreaterThan(0);
    const samples = new Map<string, string[]>();
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    for (const row of (await con.runAndReadAll(`select id, list_transform(images, x -> x.sha256) as shas from read_parquet('${run}/samples/*.parquet')`)).getRowObjects()) {
      samples.set(String(row.id), (row.shas as { items: string[] }).items);
    }
    con.closeSync();
    const hit = [...samples].filter(([, shas]) => shas.includes(sha)).map(([id]) => id).sort();
    expect(q.map((x) => x.recordId).sort()).toEqual(hit);
    expect(q.every((x) => x.reason === 'image_unreadable' && x.stage === 'generate')).toBe(true);

    // The user accepts the loss: the rest of the corpus is built, the quarantined samples are not in it.
    const doc = readFileSync(join(cwd, 'p.yaml'), 'utf8').replace('candidates: 3', 'candidates: 3\n  maxFailureShare: 0.5');
    writeFileSync(join(cwd, 'p.yaml'), doc);
    const ok = await cli(['run', 'p.yaml', '--quiet'], cwd);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const db2 = await DuckDBInstance.create(':memory:');
    const con2 = await db2.connect();
    const ids = (await con2.runAndReadAll(`select distinct sampleId from read_parquet('${run}/candidates/*.parquet')`)).getRowObjects().map((x) => String(x.sampleId));
    con2.closeSync();
    expect(ids.filter((id) => hit.includes(id))).toEqual([]);
    expect(ids.length).toBe(samples.size - hit.length);
    await s.close();
  }, 300_000);

  it('a source PNG cut in half is quarantined by ingest as image_unreadable with its path, and the run goes on', async () => {
    const cwd = join(work, 'halfpng');
    cpSync(join(ROOT, 'datasets', 'fixtures', 'migbench'), join(cwd, 'data'), { recursive: true });
    const victim = 'MIG-Bench/images/common/c_2.png';
    const path = join(cwd, 'data', victim);
    const size = statSync(path).size;
    writeFileSync(path, readFileSync(path).subarray(0, Math.floor(size / 2)));
    writeFileSync(
      join(cwd, 'p.yaml'),
      stringify({ name: 'half', source: { format: 'migbench', input: 'data/MIG_data.json', imageRoot: 'data' }, teacher: { model: 'sim', simulated: { seed: 1 } }, shards: { tasks: 2 } }),
    );
    // Before: ingest quarantined nothing and generate died with "internal error ... vips2png".
    const r = await cli(['run', 'p.yaml', '--quiet'], cwd);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const q = readFileSync(join(cwd, 'runs', 'half', 'quarantine', 'ingest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // The fixture's own defects are there too; the cut PNG is refused for every record that uses it.
    const bad = q.filter((x) => x.reason === 'image_unreadable' && x.detail.includes('c_2.png'));
    expect(bad.map((x) => [x.recordId, x.field])).toEqual([
      ['common_object-0', 'images[1]'],
      ['group_grounding-5', 'images[1]'],
    ]);
    expect(existsSync(join(cwd, 'runs', 'half', 'corpus', 'sft', '_manifest.json'))).toBe(true);
  }, 200_000);
});
