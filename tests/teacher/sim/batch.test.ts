/**
 * The simulated teacher's Batch API through the official openai client: files up and down, a batch's
 * status transitions, output and error files in OpenAI's line format, answers equal to the online ones,
 * validation failures with line numbers, cancel with partial results, listing with cursors, and the
 * seeded batch faults (expire with part of the lines done, fail, lines that error).
 */
import OpenAI, { NotFoundError, BadRequestError, toFile } from 'openai';
import type { ChatCompletionContentPart, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import type { Batch } from 'openai/resources/batches';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimTeacher, type SimTeacher } from '../../../src/teacher/sim/index.js';
import type { SimTeacherOptions } from '../../../src/teacher/sim/options.js';
import { dataUrl, renderTestImage, type TestShape } from './scenes.js';

const A: TestShape[] = [
  { shape: 'circle', color: 'red', cx: 100, cy: 100, r: 40 },
  { shape: 'square', color: 'blue', cx: 300, cy: 300, r: 45 },
];
const B: TestShape[] = [{ shape: 'triangle', color: 'green', cx: 120, cy: 120, r: 30 }, { shape: 'diamond', color: 'yellow', cx: 300, cy: 330, r: 50 }];
let pngA: Buffer;
let pngB: Buffer;
beforeAll(async () => {
  pngA = await renderTestImage({ width: 448, height: 448, shapes: A }, 21);
  pngB = await renderTestImage({ width: 448, height: 448, shapes: B }, 22);
});

const servers: SimTeacher[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function sim(opts: SimTeacherOptions = {}): Promise<SimTeacher> {
  const s = await startSimTeacher({ seed: 4, ...opts, batch: { validatingMs: 20, lineMs: 1, finalizingMs: 20, cancellingMs: 20, ...opts.batch } });
  servers.push(s);
  return s;
}
const client = (s: SimTeacher) => new OpenAI({ baseURL: s.url, apiKey: 'sk-sim-batch-test', maxRetries: 0 });

const QUESTIONS = ['Locate the red circle in the first image.', 'Locate the blue square in the first image.', 'Locate the green triangle in the second image.', 'Locate the yellow diamond in the second image.'];

function body(text: string, extra: Partial<ChatCompletionCreateParamsNonStreaming> = {}): ChatCompletionCreateParamsNonStreaming {
  const content: ChatCompletionContentPart[] = [pngA, pngB].map((b) => ({ type: 'image_url' as const, image_url: { url: dataUrl(b) } }));
  content.push({ type: 'text', text });
  return { model: 'univg-sim', messages: [{ role: 'user', content }], temperature: 0, max_tokens: 512, ...extra };
}

/** `n` lines (questions cycled, seeds differing) as a batch input file's text. */
function input(n: number): { text: string; bodies: Map<string, ChatCompletionCreateParamsNonStreaming> } {
  const bodies = new Map<string, ChatCompletionCreateParamsNonStreaming>();
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const b = body(QUESTIONS[i % QUESTIONS.length]!, { seed: i });
    bodies.set(`req-${i}`, b);
    lines.push(JSON.stringify({ custom_id: `req-${i}`, method: 'POST', url: '/v1/chat/completions', body: b }));
  }
  return { text: `${lines.join('\n')}\n`, bodies };
}

async function upload(c: OpenAI, text: string, name = 'in.jsonl') {
  return c.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'batch' });
}

/** Poll until the batch is final, recording every status seen. */
async function waitFinal(c: OpenAI, id: string, seen: string[] = []): Promise<Batch> {
  for (;;) {
    const b = await c.batches.retrieve(id);
    if (seen.at(-1) !== b.status) seen.push(b.status);
    if (['completed', 'failed', 'expired', 'cancelled'].includes(b.status)) return b;
    await new Promise((r) => setTimeout(r, 3));
  }
}

interface OutLine {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}
async function lines(c: OpenAI, fileId: string | null | undefined): Promise<OutLine[]> {
  if (!fileId) return [];
  const text = await (await c.files.content(fileId)).text();
  expect(text.endsWith('\n')).toBe(true);
  return text.trim().split('\n').map((l) => JSON.parse(l) as OutLine);
}

describe('simulated teacher: Batch API through the openai client', () => {
  it('a batch goes validating -> in_progress -> finalizing -> completed; every line is answered once, as the online endpoint answers its body', async () => {
    const s = await sim({ batch: { lineMs: 5, concurrency: 3, validatingMs: 150, finalizingMs: 150 } });
    const c = client(s);
    const { text, bodies } = input(8);
    const f = await upload(c, text);
    expect(f).toMatchObject({ object: 'file', purpose: 'batch', filename: 'in.jsonl', bytes: Buffer.byteLength(text) });
    const created = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { run: 'test' } });
    expect(created).toMatchObject({ object: 'batch', status: 'validating', input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { run: 'test' } });
    expect(created.expires_at! - created.created_at).toBe(24 * 3600);
    const seen: string[] = [];
    const b = await waitFinal(c, created.id, seen);
    expect(seen).toEqual(['validating', 'in_progress', 'finalizing', 'completed']);
    expect(b.request_counts).toEqual({ total: 8, completed: 8, failed: 0 });
    expect(b.error_file_id).toBeNull();
    expect(b.in_progress_at).not.toBeNull();
    expect(b.completed_at).not.toBeNull();
    const out = await lines(c, b.output_file_id);
    expect(out.map((l) => l.custom_id).sort()).toEqual([...bodies.keys()].sort());
    // Lines come out in the order they finish, not the input order: a client must match by custom_id.
    expect(out.map((l) => l.custom_id)).not.toEqual([...bodies.keys()]);
    let usage = 0;
    for (const l of out) {
      expect(l.error).toBeNull();
      expect(l.id).toMatch(/^batch_req_/);
      expect(l.response!.status_code).toBe(200);
      expect(l.response!.request_id).toMatch(/^req_/);
      const online = await c.chat.completions.create(bodies.get(l.custom_id)!);
      const batchBody = l.response!.body as unknown as OpenAI.Chat.ChatCompletion;
      expect(batchBody.choices.map((x) => [x.message.content, x.finish_reason])).toEqual(online.choices.map((x) => [x.message.content, x.finish_reason]));
      expect(batchBody.usage).toEqual(online.usage);
      usage += batchBody.usage!.total_tokens;
    }
    expect(b.usage?.total_tokens).toBe(usage);
    // Files: the output is listed with purpose batch_output; both can be read, then deleted.
    const outFile = await c.files.retrieve(b.output_file_id!);
    expect(outFile.purpose).toBe('batch_output');
    const listed = [];
    for await (const x of c.files.list({ purpose: 'batch' })) listed.push(x.id);
    expect(listed).toEqual([f.id]);
    expect(await c.files.delete(f.id)).toEqual({ id: f.id, object: 'file', deleted: true });
    await expect(c.files.retrieve(f.id)).rejects.toBeInstanceOf(NotFoundError);
    const st = s.stats();
    expect(st.batch).toMatchObject({ files: 1, created: 1, lines: 8, answered: 8, errored: 0, expired: 0, paidTwice: 0 });
    expect(st.batch.byStatus.completed).toBe(1);
    // Online counts stay the online endpoint's own.
    expect(st.byModel['univg-sim']).toBe(8);
  });

  it('refuses what OpenAI refuses: a file that is not .jsonl, a batch of an unknown file or of a non-batch file, a bad window; bad lines fail validation with their line numbers', async () => {
    const s = await sim();
    const c = client(s);
    await expect(c.files.create({ file: await toFile(Buffer.from('{}\n'), 'in.txt'), purpose: 'batch' })).rejects.toBeInstanceOf(BadRequestError);
    await expect(c.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' })).rejects.toBeInstanceOf(NotFoundError);
    const other = await c.files.create({ file: await toFile(Buffer.from('x'), 'notes.txt'), purpose: 'user_data' });
    await expect(c.batches.create({ input_file_id: other.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).rejects.toThrow(/purpose 'batch'/);
    const ok = await upload(c, input(1).text);
    await expect(c.batches.create({ input_file_id: ok.id, endpoint: '/v1/chat/completions', completion_window: '1h' as '24h' })).rejects.toThrow(/completion_window/);
    await expect(c.batches.retrieve('batch_nope')).rejects.toBeInstanceOf(NotFoundError);

    const good = JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: body('Locate the red circle in the first image.') });
    const dup = JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: body('Locate the blue square in the first image.') });
    const f = await upload(c, `${good}\n{not json\n${dup}\n`);
    const b = await waitFinal(c, (await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    expect(b.status).toBe('failed');
    expect(b.failed_at).not.toBeNull();
    expect(b.errors!.data!.map((e) => [e.code, e.line])).toEqual([['invalid_json_line', 2], ['duplicate_custom_id', 3]]);
    expect(b.output_file_id).toBeNull();

    const big = await sim({ batch: { maxRequests: 3 } });
    const cb = client(big);
    const fb = await upload(cb, input(4).text);
    const bb = await waitFinal(cb, (await cb.batches.create({ input_file_id: fb.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    expect(bb.status).toBe('failed');
    expect(bb.errors!.data![0]!.message).toMatch(/4 requests; the limit is 3/);
    const tiny = await sim({ batch: { maxFileBytes: 100 } });
    await expect(upload(client(tiny), input(1).text)).rejects.toThrow(/too large/);
  });

  it('cancel: cancelling, then cancelled with the lines answered so far and nothing for the rest', async () => {
    const s = await sim({ batch: { lineMs: 30, concurrency: 1, cancellingMs: 30 } });
    const c = client(s);
    const f = await upload(c, input(20).text);
    const created = await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    for (;;) {
      const b = await c.batches.retrieve(created.id);
      if (b.status === 'in_progress' && b.request_counts!.completed >= 2) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const cancelling = await c.batches.cancel(created.id);
    expect(cancelling.status).toBe('cancelling');
    expect(cancelling.cancelling_at).not.toBeNull();
    const b = await waitFinal(c, created.id);
    expect(b.status).toBe('cancelled');
    const out = await lines(c, b.output_file_id);
    expect(out.length).toBeGreaterThanOrEqual(2);
    expect(out.length).toBeLessThan(20);
    expect(b.request_counts!.completed).toBe(out.length);
    expect(await lines(c, b.error_file_id)).toEqual([]);
    await expect(c.batches.cancel(created.id)).resolves.toMatchObject({ status: 'cancelled' });
  });

  it('lists batches newest first, page by page through the client', async () => {
    const s = await sim();
    const c = client(s);
    const f = await upload(c, input(1).text);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    const listed: string[] = [];
    for await (const b of c.batches.list({ limit: 2 })) listed.push(b.id);
    expect(listed).toEqual([...ids].reverse());
    const first = await c.batches.list({ limit: 2 });
    expect(first.data).toHaveLength(2);
    expect(first.has_more).toBe(true);
  });

  it('faults: an expired batch keeps the lines done and lists the rest as batch_expired; a failed one says why; erroring lines are 500s in the error file', async () => {
    const expiring = await sim({ faults: { batch_expire: 1 }, batch: { validatingMs: 150, lineMs: 10 } });
    const c = client(expiring);
    const f = await upload(c, input(10).text);
    const seen: string[] = [];
    const b = await waitFinal(c, (await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id, seen);
    expect(seen).toEqual(['validating', 'in_progress', 'expired']);
    expect(b.expired_at).not.toBeNull();
    const out = await lines(c, b.output_file_id);
    const err = await lines(c, b.error_file_id);
    expect(out.length).toBeGreaterThanOrEqual(2);
    expect(out.length).toBeLessThanOrEqual(8);
    expect(out.length + err.length).toBe(10);
    for (const e of err) expect(e).toMatchObject({ response: null, error: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' } });
    expect(new Set([...out, ...err].map((l) => l.custom_id)).size).toBe(10);
    expect(b.request_counts).toEqual({ total: 10, completed: out.length, failed: err.length });
    expect(expiring.stats().batch).toMatchObject({ answered: out.length, expired: err.length });

    const failing = await sim({ faults: { batch_fail: 1 } });
    const cf = client(failing);
    const ff = await upload(cf, input(3).text);
    const bf = await waitFinal(cf, (await cf.batches.create({ input_file_id: ff.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    expect(bf.status).toBe('failed');
    expect(bf.errors!.data![0]).toMatchObject({ code: 'token_limit_exceeded' });
    expect(bf.errors!.data![0]!.message).toMatch(/Enqueued token limit reached/);

    const erroring = await sim({ faults: { line_error: 0.5 } });
    const ce = client(erroring);
    const fe = await upload(ce, input(16).text);
    const be = await waitFinal(ce, (await ce.batches.create({ input_file_id: fe.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    expect(be.status).toBe('completed');
    const eo = await lines(ce, be.output_file_id);
    const ee = await lines(ce, be.error_file_id);
    expect(ee.length).toBeGreaterThan(0);
    expect(eo.length).toBeGreaterThan(0);
    expect(eo.length + ee.length).toBe(16);
    for (const e of ee) {
      expect(e.error).toBeNull();
      expect(e.response!.status_code).toBe(500);
      expect(e.response!.body).toMatchObject({ error: { type: 'server_error' } });
    }
    // The same file again: the lines draw their faults anew (a retry can succeed); a line answered twice is counted as paid twice.
    const again = await waitFinal(ce, (await ce.batches.create({ input_file_id: fe.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    const againOut = await lines(ce, again.output_file_id);
    const before = new Set(eo.map((l) => l.custom_id));
    expect(erroring.stats().batch.paidTwice).toBe(againOut.filter((l) => before.has(l.custom_id)).length);
  });

  it('a batch that runs past its completion window expires there', async () => {
    const s = await sim({ batch: { lineMs: 40, concurrency: 1, windowMs: 150 } });
    const c = client(s);
    const f = await upload(c, input(12).text);
    const b = await waitFinal(c, (await c.batches.create({ input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' })).id);
    expect(b.status).toBe('expired');
    const out = await lines(c, b.output_file_id);
    const err = await lines(c, b.error_file_id);
    expect(out.length).toBeLessThan(12);
    expect(out.length + err.length).toBe(12);
  });
});
