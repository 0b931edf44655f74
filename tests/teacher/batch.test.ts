/**
 * The Batch API runner against the simulated teacher through the openai client, below the pipeline:
 * input files split at the API's limits, a request too large for any batch, a batch that fails
 * validation, and a process that died between creating a batch and recording its id (the batch is found
 * by its input file, not created again).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TeacherConfig } from '../../src/schema/config.js';
import { BatchRunner, readBatchState, type BatchRequest, type BatchRunOptions } from '../../src/teacher/batch.js';
import { ResponseCache } from '../../src/teacher/cache.js';
import type { ChatBody } from '../../src/teacher/client.js';
import { CostTracker } from '../../src/teacher/cost.js';
import { TeacherRequestError } from '../../src/teacher/errors.js';
import { sha256Hex } from '../../src/teacher/request.js';
import { startSimTeacher, type SimTeacher } from '../../src/teacher/sim/index.js';
import { TokenEstimator } from '../../src/teacher/tokens.js';
import { dataUrl, renderTestImage } from './sim/scenes.js';

const root = mkdtempSync(join(tmpdir(), 'univg-batch-runner-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let image: string;
beforeAll(async () => {
  image = dataUrl(await renderTestImage({ width: 448, height: 448, shapes: [{ shape: 'circle', color: 'red', cx: 120, cy: 140, r: 40 }] }, 3));
});

const servers: SimTeacher[] = [];
afterEach(async () => Promise.all(servers.splice(0).map((s) => s.close())));
async function sim(faults: Record<string, number> = {}): Promise<SimTeacher> {
  const s = await startSimTeacher({ seed: 2, faults, batch: { validatingMs: 10, lineMs: 1, finalizingMs: 10 } });
  servers.push(s);
  return s;
}

/** `n` distinct requests (the question differs); their key is the sha256 of their body, as good as any for these tests. */
function requests(n: number): BatchRequest[] {
  return Array.from({ length: n }, (_, i) => {
    const body: ChatBody = { model: 'univg-sim', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: image } }, { type: 'text', text: `Locate the red circle in the first image. (${i})` }] }], temperature: 0, max_tokens: 256 };
    return { hash: sha256Hex(JSON.stringify(body)), requestModel: 'univg-sim', promptVersion: 'v-test', params: { temperature: 0 }, rawPromptTokens: 300, choices: 1, body: async () => body };
  });
}

let seq = 0;
async function runner(s: SimTeacher, reqs: BatchRequest[], batch: Record<string, unknown> = {}, openai?: OpenAI): Promise<{ run: BatchRunner; opts: BatchRunOptions }> {
  const dir = join(root, `t${seq++}`);
  const config = TeacherConfig.parse({ model: 'univg-sim', api: 'batch', price: { inputPerMTok: 1, outputPerMTok: 2 }, batch: { pollMs: 10, maxPollMs: 50, ...batch } });
  const opts: BatchRunOptions = {
    openai: openai ?? new OpenAI({ baseURL: s.url, apiKey: 'sk-test-batch-runner', maxRetries: 0 }),
    cache: await ResponseCache.open(join(dir, 'cache')),
    config,
    cost: new CostTracker(config.price, undefined),
    estimator: new TokenEstimator('qwen', 128, 256),
    stateFile: join(dir, 'batches', 'state.json'),
    label: 'test',
    requests: async function* () {
      yield* reqs;
    },
  };
  return { run: new BatchRunner(opts), opts };
}

describe('BatchRunner', () => {
  it('splits a round into input files at the line and byte limits; every request is answered once', async () => {
    const s = await sim();
    const reqs = requests(7);
    const lineBytes = Buffer.byteLength(`${JSON.stringify({ custom_id: reqs[0]!.hash, method: 'POST', url: '/v1/chat/completions', body: await reqs[0]!.body() })}\n`);
    // Three lines fit under the line limit but only two under the byte limit.
    const { opts } = await runner(s, reqs, { maxRequestsPerBatch: 3, maxBytesPerBatch: Math.floor(lineBytes * 2.5) });
    // Each input file is submitted (and its local copy deleted) before the next is written: one on disk at a time.
    let most = 0;
    const dir = dirname(opts.stateFile);
    const run = new BatchRunner({ ...opts, onState: () => (most = Math.max(most, readdirSync(dir).filter((f) => f.endsWith('.jsonl')).length)) });
    const r = await run.run();
    expect(most).toBe(1);
    expect(readdirSync(dir)).toEqual(['state.json']);
    const state = await readBatchState(opts.stateFile);
    expect(state.batches.map((b) => b.lines)).toEqual([2, 2, 2, 1]);
    for (const b of state.batches) expect(b.bytes).toBeLessThanOrEqual(Math.floor(lineBytes * 2.5));
    expect(s.stats().batch.created).toBe(4);
    expect(r.failures.size).toBe(0);
    expect([...r.fresh].sort()).toEqual(reqs.map((q) => q.hash).sort());
    for (const q of reqs) expect(opts.cache.has(q.hash)).toBe(true);
    const byLines = await runner(s, reqs, { maxRequestsPerBatch: 3 });
    await byLines.run.run();
    expect((await readBatchState(byLines.opts.stateFile)).batches.map((b) => b.lines)).toEqual([3, 3, 1]);
    await Promise.all([opts.cache.close(), byLines.opts.cache.close()]);
  });

  it('a request larger than a batch file may be is a failure of its own, not a stuck round', async () => {
    const s = await sim();
    const reqs = requests(2);
    const { run, opts } = await runner(s, reqs, { maxBytesPerBatch: 1000 });
    const r = await run.run();
    expect(s.stats().batch.files).toBe(0);
    expect(r.failures.size).toBe(2);
    const e = r.failures.get(reqs[0]!.hash) as TeacherRequestError;
    expect(e.outcome).toBe('client_error');
    expect(e.message).toMatch(/more than a batch input file may hold \(1000\)/);
    await opts.cache.close();
  });

  it('a batch that fails validation is retried as a follow-up, then its requests fail with the batch and its reason', async () => {
    const s = await sim({ batch_fail: 1 });
    const reqs = requests(3);
    const { run, opts } = await runner(s, reqs, { maxRetries: 1 });
    const r = await run.run();
    const state = await readBatchState(opts.stateFile);
    expect(state.batches.map((b) => [b.status, b.round, b.lines])).toEqual([
      ['failed', 0, 3],
      ['failed', 1, 3],
    ]);
    expect(r.fresh.size).toBe(0);
    const e = r.failures.get(reqs[2]!.hash) as TeacherRequestError;
    expect(e.outcome).toBe('server_error');
    expect(e.message).toContain(`batch ${state.batches[1]!.batchId} failed: token_limit_exceeded`);
    await opts.cache.close();
  });

  it('a recorded batch the endpoint does not know (HTTP 404, e.g. a restarted simulated teacher) is recorded as lost and its requests asked again', async () => {
    const gone = await sim({ batch_slow: 1 });
    const reqs = requests(2);
    const first = await runner(gone, reqs);
    // Stopped once its batch is recorded (the slow batch is still running), as a killed run would be.
    const stopped = new AbortController();
    const own = new BatchRunner({ ...first.opts, signal: stopped.signal, onState: (st) => st.batches[0]?.batchId && stopped.abort() });
    await expect(own.run()).rejects.toThrow(/interrupted while batches run/);
    await gone.close();

    const fresh = await sim();
    const again = new BatchRunner({ ...first.opts, openai: new OpenAI({ baseURL: fresh.url, apiKey: 'sk-test-batch-runner', maxRetries: 0 }) });
    const r = await again.run();
    expect(r.fresh.size).toBe(2);
    const state = (await readBatchState(first.opts.stateFile)).batches;
    expect(state[0]).toMatchObject({ status: 'lost', ingested: true, errors: `the endpoint does not know batch ${state[0]!.batchId} (HTTP 404)` });
    expect(state.at(-1)).toMatchObject({ status: 'completed', answered: 2, round: 1 });
    expect(fresh.stats().batch.created).toBe(1);
    await first.opts.cache.close();
  });

  it('a process that died after creating a batch but before recording its id: the next one finds the batch by its input file and creates none', async () => {
    const s = await sim();
    const reqs = requests(3);
    const real = new OpenAI({ baseURL: s.url, apiKey: 'sk-test-batch-runner', maxRetries: 0 });
    // The create call reaches the server; the process "dies" before its answer is recorded.
    const dying = new Proxy(real, {
      get(target, prop, recv) {
        if (prop !== 'batches') return Reflect.get(target, prop, recv);
        return new Proxy(target.batches, {
          get(b, p, r) {
            if (p !== 'create') return Reflect.get(b, p, r);
            return async (...args: Parameters<typeof b.create>) => {
              await b.create(...args);
              throw new Error('killed');
            };
          },
        });
      },
    });
    const first = await runner(s, reqs, {}, dying);
    await expect(first.run.run()).rejects.toThrow(/the Batch API failed: killed/);
    const left = (await readBatchState(first.opts.stateFile)).batches;
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ status: 'creating', batchId: null });
    expect(left[0]!.inputFileId).not.toBeNull();
    expect(s.stats().batch.created).toBe(1);

    const again = new BatchRunner({ ...first.opts, openai: real });
    const r = await again.run();
    expect(s.stats().batch.created).toBe(1);
    expect(s.stats().batch.files).toBe(1);
    expect(r.resumed).toBe(0);
    expect(r.submitted).toBe(0);
    expect(r.fresh.size).toBe(3);
    const state = (await readBatchState(first.opts.stateFile)).batches;
    expect(state).toHaveLength(1);
    expect(state[0]).toMatchObject({ status: 'completed', ingested: true, answered: 3 });
    await first.opts.cache.close();
  });
});
