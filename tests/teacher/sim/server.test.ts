import OpenAI, { APIConnectionError, APIConnectionTimeoutError, BadRequestError, InternalServerError, RateLimitError } from 'openai';
import type { ChatCompletionContentPart, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { iou, smartResize } from '../../../src/geometry/index.js';
import { SIM_REFUSAL_TEXT as REFUSAL_TEXT, startSimTeacher, type SimTeacher } from '../../../src/teacher/sim/index.js';
import type { SimTeacherOptions } from '../../../src/teacher/sim/options.js';
import { dataUrl, renderTestImage, trueBox, type TestShape } from './scenes.js';

const FORMAT = /^<think>[\s\S]*?<\/think>\s*<answer>\((\d+),\s*(\d+)\),\s*\((\d+),\s*(\d+)\)<\/answer>$/;
const BOX = /<answer>\((-?[\d.]+),(-?[\d.]+)\),\((-?[\d.]+),(-?[\d.]+)\)<\/answer>/;

// Image A: a large red circle, a blue square, a green triangle. Image B: the red circle again, elsewhere, and a yellow diamond.
const A: TestShape[] = [
  { shape: 'circle', color: 'red', cx: 100, cy: 100, r: 40 },
  { shape: 'square', color: 'blue', cx: 300, cy: 300, r: 45 },
  { shape: 'triangle', color: 'green', cx: 330, cy: 90, r: 45 },
];
const B: TestShape[] = [
  { shape: 'circle', color: 'red', cx: 320, cy: 130, r: 32 },
  { shape: 'diamond', color: 'yellow', cx: 110, cy: 330, r: 50 },
  { shape: 'triangle', color: 'green', cx: 120, cy: 120, r: 30 },
];
let pngA: Buffer;
let pngB: Buffer;

beforeAll(async () => {
  pngA = await renderTestImage({ width: 448, height: 448, shapes: A }, 11);
  pngB = await renderTestImage({ width: 448, height: 448, shapes: B }, 12);
});

const servers: SimTeacher[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function sim(opts: SimTeacherOptions = {}): Promise<SimTeacher> {
  const s = await startSimTeacher({ seed: 3, ...opts });
  servers.push(s);
  return s;
}

function client(s: SimTeacher, extra: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}): OpenAI {
  return new OpenAI({ baseURL: s.url, apiKey: 'sk-sim-test-key', maxRetries: 0, ...extra });
}

function request(text: string, images: Buffer[] = [pngA, pngB], extra: Partial<ChatCompletionCreateParamsNonStreaming> = {}): ChatCompletionCreateParamsNonStreaming {
  const content: ChatCompletionContentPart[] = [...images.map((b) => ({ type: 'image_url' as const, image_url: { url: dataUrl(b) } })), { type: 'text', text }];
  return { model: 'univg-sim', messages: [{ role: 'user', content }], temperature: 0, max_tokens: 1024, ...extra };
}

const answerOf = (content: string | null | undefined) => BOX.exec(content ?? '')?.slice(1, 5).map(Number) ?? null;
const px1000 = (b: number[], w = 448, h = 448) => [(b[0]! * w) / 1000, (b[1]! * h) / 1000, (b[2]! * w) / 1000, (b[3]! * h) / 1000];

describe('simulated teacher: answers from the request', () => {
  it('grounds a refer question in qwen2vl 0-1000 and writes UniVG-style reasoning', async () => {
    const s = await sim();
    const r = await client(s).chat.completions.create(request('Locate the green triangle in the second image.'));
    const text = r.choices[0]!.message.content!;
    expect(text).toMatch(FORMAT);
    expect(iou(px1000(answerOf(text)!), trueBox(B[2]!))).toBeGreaterThan(0.8);
    expect(text).toContain('In the first image');
    expect(text).toContain('second image');
    // It commits to the box in the reasoning before the answer.
    const thinkEnd = text.indexOf('</think>');
    const ans = /<answer>(.*)<\/answer>/.exec(text)![1]!;
    expect(text.slice(0, thinkEnd)).toContain(`the target is at ${ans}`);
    expect(r.choices[0]!.finish_reason).toBe('stop');
    expect(r.object).toBe('chat.completion');
  });

  it('finds the common object across images', async () => {
    const s = await sim();
    const r = await client(s).chat.completions.create(request('One object appears in every image. Find it and locate it in the first image.', [pngA, pngB]));
    // Both the red circle and the green triangle appear in both; the triangle differs in size, the circle wins on rank.
    const box = px1000(answerOf(r.choices[0]!.message.content)!);
    expect(Math.max(iou(box, trueBox(A[0]!)), iou(box, trueBox(A[2]!)))).toBeGreaterThan(0.8);
  });

  it('follows the images: swapping them in the request moves the answer', async () => {
    const s = await sim();
    const c = client(s);
    const q = 'Locate the green triangle in the first image.';
    const ab = px1000(answerOf((await c.chat.completions.create(request(q, [pngA, pngB]))).choices[0]!.message.content)!);
    const ba = px1000(answerOf((await c.chat.completions.create(request(q, [pngB, pngA]))).choices[0]!.message.content)!);
    expect(iou(ab, trueBox(A[2]!))).toBeGreaterThan(0.8);
    expect(iou(ba, trueBox(B[2]!))).toBeGreaterThan(0.8);
  });

  it('writes boxes in the configured convention, from the size of the image it received', async () => {
    const shape: TestShape = { shape: 'square', color: 'purple', cx: 200, cy: 110, r: 40 };
    const png = await renderTestImage({ width: 500, height: 300, shapes: [shape, { shape: 'circle', color: 'cyan', cx: 420, cy: 220, r: 30 }] }, 4);
    const truth = trueBox(shape);
    const q = 'Locate the purple square in the first image.';

    const norm = await sim({ convention: 'norm' });
    const n = answerOf((await client(norm).chat.completions.create(request(q, [png]))).choices[0]!.message.content)!;
    expect(n.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(iou([n[0]! * 500, n[1]! * 300, n[2]! * 500, n[3]! * 300], truth)).toBeGreaterThan(0.85);

    const q25 = await sim({ convention: 'qwen25vl', minPixels: 3136, maxPixels: 401408 });
    const p = answerOf((await client(q25).chat.completions.create(request(q, [png]))).choices[0]!.message.content)!;
    const r = smartResize(500, 300, { minPixels: 3136, maxPixels: 401408 });
    expect(p.every(Number.isInteger)).toBe(true);
    const back = [(p[0]! * 500) / r.width, (p[1]! * 300) / r.height, (p[2]! * 500) / r.width, (p[3]! * 300) / r.height];
    expect(iou(back, truth)).toBeGreaterThan(0.85);

    const q2 = await sim({ convention: 'qwen2vl' });
    const k = answerOf((await client(q2).chat.completions.create(request(q, [png]))).choices[0]!.message.content)!;
    expect(iou(px1000(k, 500, 300), truth)).toBeGreaterThan(0.85);
  });

  it('copies a hinted box into the answer; its reasoning quotes the hint only when it sees the same thing', async () => {
    const s = await sim();
    const c = client(s);
    const good = trueBox(B[0]!).map((v) => Math.round((v / 448) * 1000));
    const goodText = `(${good[0]},${good[1]}),(${good[2]},${good[3]})`;
    const prompt = (hint: string) => `Please carefully examine all the images. The question to be addressed is Locate the red circle in the second image.. The ground truth coordinates answer are ${hint}. Now, please assume you do not know the ground truth coordinates in advance.`;
    const agree = (await c.chat.completions.create(request(prompt(goodText)))).choices[0]!.message.content!;
    expect(agree).toMatch(FORMAT);
    expect(agree.endsWith(`<answer>${goodText}</answer>`)).toBe(true);
    expect(agree.slice(0, agree.indexOf('</think>'))).toContain(goodText);

    const wrong = '(10,10),(90,90)';
    const disagree = (await c.chat.completions.create(request(prompt(wrong)))).choices[0]!.message.content!;
    expect(disagree.endsWith(`<answer>${wrong}</answer>`)).toBe(true);
    const think = disagree.slice(0, disagree.indexOf('</think>'));
    expect(think).not.toContain(wrong);
    // The box it perceived, which is where the circle is, shows up in its reasoning instead.
    const quoted = /the target is at \((\d+),(\d+)\),\((\d+),(\d+)\)/.exec(think)!.slice(1).map(Number);
    expect(iou(px1000(quoted), trueBox(B[0]!))).toBeGreaterThan(0.8);
  });

  it('answers a question outside the suite from the most salient object, with hedged wording', async () => {
    const s = await sim();
    const text = (await client(s).chat.completions.create(request('Where is the dog sleeping in image 1?'))).choices[0]!.message.content!;
    expect(text).toMatch(FORMAT);
    expect(text).toMatch(/not completely certain|ambiguous|not sure/);
    // Largest object of the first image: the blue square.
    expect(iou(px1000(answerOf(text)!), trueBox(A[1]!))).toBeGreaterThan(0.8);
  });

  it('is deterministic at temperature 0 with a seed, also across fresh servers with the same seed', async () => {
    const req = request('Locate the red circle in the first image.', [pngA, pngB], { seed: 42, temperature: 0 });
    const a = await client(await sim({ seed: 9 })).chat.completions.create(req);
    const b = await client(servers[0]!).chat.completions.create(req);
    const c = await client(await sim({ seed: 9 })).chat.completions.create(req);
    expect(b.choices).toEqual(a.choices);
    expect(c.choices).toEqual(a.choices);
    expect(c.usage).toEqual(a.usage);
    expect(c.id).toBe(a.id);
  });

  it('gives varied candidates with n > 1 at temperature > 0', async () => {
    const s = await sim();
    const r = await client(s).chat.completions.create(request('Locate the green triangle in the second image.', [pngA, pngB], { n: 6, temperature: 1, seed: 5 }));
    expect(r.choices).toHaveLength(6);
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2, 3, 4, 5]);
    const texts = new Set(r.choices.map((c) => c.message.content));
    expect(texts.size).toBeGreaterThanOrEqual(3);
    // A different request seed gives different text.
    const other = await client(s).chat.completions.create(request('Locate the green triangle in the second image.', [pngA, pngB], { n: 1, temperature: 1, seed: 6 }));
    expect(texts.has(other.choices[0]!.message.content)).toBe(false);
  });

  it('counts image tokens from the image size in usage', async () => {
    const s = await sim();
    const c = client(s);
    const one = await c.chat.completions.create(request('Locate the red circle in the first image.', [pngA]));
    const two = await c.chat.completions.create(request('Locate the red circle in the first image.', [pngA, pngB]));
    // 448x448 is 16x16 patches of 28 px, plus the vision start/end tokens.
    expect(two.usage!.prompt_tokens - one.usage!.prompt_tokens).toBe(16 * 16 + 2);
    const tall = await renderTestImage({ width: 280, height: 560, shapes: [] }, 2);
    const three = await c.chat.completions.create(request('Locate the red circle in the first image.', [pngA, tall]));
    expect(three.usage!.prompt_tokens - one.usage!.prompt_tokens).toBe(10 * 20 + 2);
    expect(one.usage!.completion_tokens).toBeGreaterThan(50);
    expect(one.usage!.total_tokens).toBe(one.usage!.prompt_tokens + one.usage!.completion_tokens);
    expect(s.stats().tokens.prompt).toBe(one.usage!.prompt_tokens + two.usage!.prompt_tokens + three.usage!.prompt_tokens);
  });

  it('cuts at max_tokens with finish_reason length', async () => {
    const s = await sim();
    const r = await client(s).chat.completions.create(request('Locate the red circle in the first image.', [pngA], { max_tokens: 12 }));
    expect(r.choices[0]!.finish_reason).toBe('length');
    expect(r.usage!.completion_tokens).toBe(12);
    expect(r.choices[0]!.message.content).not.toContain('</think>');
    expect(s.stats().byOutcome.truncated).toBe(1);
  });

  it('reads JPEG data URLs, and says so when there is no image at all', async () => {
    const s = await sim();
    const jpeg = await renderTestImage({ width: 448, height: 448, shapes: A }, 11, 'jpeg');
    const r = await client(s).chat.completions.create({
      model: 'univg-sim',
      temperature: 0,
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: dataUrl(jpeg, 'image/jpeg') } }, { type: 'text', text: 'Locate the blue square in the first image.' }] }],
    });
    expect(iou(px1000(answerOf(r.choices[0]!.message.content)!), trueBox(A[1]!))).toBeGreaterThan(0.8);
    const none = await client(s).chat.completions.create({ model: 'univg-sim', messages: [{ role: 'user', content: 'Locate the blue square in the first image.' }] });
    expect(none.choices[0]!.message.content).toMatch(/none/);
    expect(none.choices[0]!.message.content).not.toMatch(/<answer>/);
  });

  it('lists its models', async () => {
    const s = await sim({ models: ['teacher-a', 'teacher-b'] });
    const ids = [];
    for await (const m of client(s).models.list()) ids.push(m.id);
    expect(ids).toEqual(['teacher-a', 'teacher-b']);
    await expect(client(s).chat.completions.create({ ...request('x', [pngA]), model: 'nope' })).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
  });
});

describe('simulated teacher: request validation', () => {
  it('rejects bad requests with 400 and a message that says what is wrong', async () => {
    const s = await sim();
    const c = client(s);
    const raw = (body: string, headers: Record<string, string> = { authorization: 'Bearer k', 'content-type': 'application/json' }) => fetch(`${s.url}/chat/completions`, { method: 'POST', headers, body });
    const badJson = await raw('{"model": "x", "messages": [');
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as { error: { message: string; type: string } }).error).toMatchObject({ type: 'invalid_request_error', message: expect.stringContaining('JSON') });

    const noMessages = await raw(JSON.stringify({ model: 'x' }));
    expect(noMessages.status).toBe(400);
    expect(await noMessages.json()).toEqual({ error: { message: "Missing required parameter: 'messages'.", type: 'invalid_request_error', param: 'messages', code: 'missing_required_parameter' } });

    const httpUrl = c.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }, { type: 'text', text: 'hi' }] }] });
    await expect(httpUrl).rejects.toBeInstanceOf(BadRequestError);
    await expect(httpUrl).rejects.toThrow(/data: URLs/);

    const notBase64 = c.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,@@@' } }] }] });
    await expect(notBase64).rejects.toThrow(/messages\[0\]\.content\[0\].*base64/);

    const corrupt = pngA.subarray(0, 200);
    const broken = c.chat.completions.create(request('Locate the red circle in the first image.', [corrupt]));
    await expect(broken).rejects.toMatchObject({ status: 400, code: 'invalid_image_format' });

    const gif = c.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/gif;base64,R0lGODlh' } }] }] });
    await expect(gif).rejects.toThrow(/image\/png or image\/jpeg/);

    const badN = c.chat.completions.create({ ...request('x', [pngA]), n: 0 });
    await expect(badN).rejects.toMatchObject({ status: 400, param: 'n' });

    expect(s.stats().byOutcome.bad_request).toBe(7);
    expect(s.stats().requests).toBe(7);
  });

  it('requires a bearer token (any value) and never echoes it', async () => {
    const s = await sim();
    const none = await fetch(`${s.url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(none.status).toBe(401);
    const body = await none.text();
    expect(JSON.parse(body).error.type).toBe('invalid_request_error');
    const wrongScheme = await fetch(`${s.url}/models`, { headers: { authorization: 'Basic c2VjcmV0LWtleS12YWx1ZQ==' } });
    expect(wrongScheme.status).toBe(401);
    expect(await wrongScheme.text()).not.toContain('c2VjcmV0LWtleS12YWx1ZQ');
    const ok = await fetch(`${s.url}/models`, { headers: { authorization: 'Bearer anything' } });
    expect(ok.status).toBe(200);
    expect(s.stats().byOutcome.unauthorized).toBe(2);
  });
});

describe('simulated teacher: injected faults, as the client sees them', () => {
  const q = () => request('Locate the red circle in the first image.', [pngA]);

  it('429 with retry-after and x-ratelimit headers', async () => {
    const s = await sim({ faults: { rate_limit: 1 }, retryAfterSeconds: 2, rpm: 600, tpm: 1_000_000 });
    const err = (await client(s).chat.completions.create(q()).catch((e: unknown) => e)) as RateLimitError;
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err.code).toBe('rate_limit_exceeded');
    const h = err.headers!;
    expect(h.get('retry-after')).toBe('2');
    expect(h.get('retry-after-ms')).toBe('2000');
    expect(h.get('x-ratelimit-limit-requests')).toBe('600');
    expect(h.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(h.get('x-ratelimit-reset-requests')).toBe('2s');
    expect(h.get('x-ratelimit-limit-tokens')).toBe('1000000');
    expect(Number(h.get('x-ratelimit-remaining-tokens'))).toBeGreaterThan(0);
    expect(h.get('x-ratelimit-reset-tokens')).toMatch(/^\d+(\.\d+)?(ms|s)$/);
    expect(s.stats().byOutcome.rate_limited).toBe(1);
  });

  it('500 and 503', async () => {
    const a = await sim({ faults: { server_error: 1 } });
    await expect(client(a).chat.completions.create(q())).rejects.toMatchObject({ status: 500 });
    await expect(client(a).chat.completions.create(q())).rejects.toBeInstanceOf(InternalServerError);
    const b = await sim({ faults: { unavailable: 1 } });
    await expect(client(b).chat.completions.create(q())).rejects.toMatchObject({ status: 503 });
    expect(a.stats().byOutcome.server_error).toBe(2);
    expect(b.stats().byOutcome.unavailable).toBe(1);
  });

  it('connection reset', async () => {
    const s = await sim({ faults: { reset: 1 } });
    const err = await client(s).chat.completions.create(q()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIConnectionError);
    expect(err).not.toBeInstanceOf(APIConnectionTimeoutError);
    expect(s.stats().byOutcome.reset).toBe(1);
  });

  it('hang past the client timeout, and close() does not wait for the hung request', async () => {
    const s = await startSimTeacher({ seed: 3, faults: { hang: 1 }, hangMs: 30_000 });
    const err = await client(s, { timeout: 300 }).chat.completions.create(q()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIConnectionTimeoutError);
    expect(s.stats().byOutcome.hang).toBe(1);
    const t0 = Date.now();
    await s.close();
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('hang with a still-listening client answers late', async () => {
    const s = await sim({ faults: { hang: 1 }, hangMs: 300 });
    const t0 = Date.now();
    const r = await client(s, { timeout: 10_000 }).chat.completions.create(q());
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(r.choices[0]!.message.content).toMatch(FORMAT);
  });

  it('slow responses', async () => {
    const s = await sim({ faults: { slow: 1 }, slowMs: 400 });
    await expect(client(s, { timeout: 100 }).chat.completions.create(q())).rejects.toBeInstanceOf(APIConnectionTimeoutError);
    const t0 = Date.now();
    const r = await client(s, { timeout: 10_000 }).chat.completions.create({ ...q(), seed: 1 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
    expect(r.choices[0]!.message.content).toMatch(FORMAT);
    expect(s.stats().byOutcome.slow).toBe(2);
  });

  it('truncation: finish_reason length mid-text', async () => {
    const s = await sim({ faults: { truncate: 1 } });
    const r = await client(s).chat.completions.create({ ...q(), n: 3 });
    for (const c of r.choices) {
      expect(c.finish_reason).toBe('length');
      expect(c.message.content).not.toMatch(FORMAT);
      expect(c.message.content!.length).toBeGreaterThan(0);
    }
    expect(s.stats().byChoiceFault.truncate).toBe(3);
    expect(s.stats().byOutcome.truncated).toBe(1);
  });

  it('malformed output in its several kinds, each failing the strict format', async () => {
    const s = await sim({ faults: { malformed: 1 } });
    const r = await client(s).chat.completions.create({ ...q(), n: 24, temperature: 0.7, seed: 3 });
    const kinds = new Set<string>();
    for (const c of r.choices) {
      const t = c.message.content!;
      expect(c.finish_reason).toBe('stop');
      expect(t).not.toMatch(FORMAT);
      if (!t.includes('<think>') || !t.includes('</think>')) kinds.add('tags');
      else if (!t.includes('<answer>')) kinds.add('box only in think');
      else if (/<answer>\(0\.\d+/.test(t)) kinds.add('wrong convention');
      else if (!t.endsWith('</answer>')) kinds.add('extra text');
    }
    expect(kinds.size).toBeGreaterThanOrEqual(4);
  });

  it('refusal', async () => {
    const s = await sim({ faults: { refusal: 1 } });
    const r = await client(s).chat.completions.create(q());
    expect(r.choices[0]!.message.content).toBe(REFUSAL_TEXT);
    expect(r.choices[0]!.finish_reason).toBe('stop');
    expect(s.stats().byOutcome.refusal).toBe(1);
  });

  it('faults are reproducible by seed and a retried identical request can succeed', async () => {
    const run = async () => {
      const s = await sim({ seed: 77, faults: { server_error: 0.5 } });
      const c = client(s);
      const outcomes: string[] = [];
      for (let i = 0; i < 12; i++) outcomes.push(await c.chat.completions.create(q()).then(() => 'ok', (e: { status?: number }) => String(e.status)));
      return { outcomes, stats: s.stats() };
    };
    const a = await run();
    const b = await run();
    expect(b.outcomes).toEqual(a.outcomes);
    expect(a.outcomes).toContain('ok');
    expect(a.outcomes).toContain('500');
    expect(a.stats.byOutcome.ok + a.stats.byOutcome.server_error).toBe(12);
  });

  it("the openai client's own retry on 429 gets through; /stats shows every call it made", async () => {
    const s = await sim({ seed: 1, faults: { rate_limit: 0.6 }, retryAfterSeconds: 0.02 });
    const r = await client(s, { maxRetries: 20 }).chat.completions.create(q());
    expect(r.choices[0]!.message.content).toMatch(FORMAT);
    const st = (await (await fetch(`${s.url.replace(/\/v1$/, '')}/stats`)).json()) as ReturnType<SimTeacher['stats']>;
    expect(st).toEqual(s.stats());
    expect(st.byOutcome.ok).toBe(1);
    expect(st.requests).toBe(1 + st.byOutcome.rate_limited);
    s.resetStats();
    expect(s.stats().requests).toBe(0);
  });
});

describe('simulated teacher: its own rate limits', () => {
  it('enforces requests per minute with accurate retry-after and headers on every success', async () => {
    const s = await sim({ rpm: 3 });
    const c = client(s);
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { response } = await c.chat.completions.create({ ...request('Locate the red circle in the first image.', [pngA]), seed: i }).withResponse();
      remaining.push(response.headers.get('x-ratelimit-remaining-requests')!);
      expect(response.headers.get('x-ratelimit-limit-requests')).toBe('3');
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const err = (await c.chat.completions.create(request('Locate the red circle in the first image.', [pngA])).catch((e: unknown) => e)) as RateLimitError;
    expect(err).toBeInstanceOf(RateLimitError);
    // One request refills every 20 s at 3 RPM; a little has already refilled.
    const ms = Number(err.headers!.get('retry-after-ms'));
    expect(ms).toBeGreaterThan(15_000);
    expect(ms).toBeLessThanOrEqual(20_000);
    expect(err.headers!.get('retry-after')).toBe(String(Math.ceil(ms / 1000)));
    expect(err.message).toMatch(/requests per min \(RPM\): Limit 3/);
    expect(s.stats().byOutcome).toMatchObject({ ok: 3, rate_limited: 1 });
  });

  it('enforces tokens per minute, counting max_tokens', async () => {
    const s = await sim({ tpm: 3000 });
    const c = client(s);
    await c.chat.completions.create({ ...request('Locate the red circle in the first image.', [pngA]), max_tokens: 1500 });
    const err = (await c.chat.completions.create({ ...request('Locate the red circle in the first image.', [pngA]), max_tokens: 1500 }).catch((e: unknown) => e)) as RateLimitError;
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err.message).toMatch(/tokens per min \(TPM\)/);
    expect(Number(err.headers!.get('x-ratelimit-remaining-tokens'))).toBeLessThan(3000 - 1500);
    const tooLarge = (await c.chat.completions.create({ ...request('Locate the red circle in the first image.', [pngA]), max_tokens: 5000 }).catch((e: unknown) => e)) as RateLimitError;
    expect(tooLarge.message).toMatch(/Request too large/);
    expect(tooLarge.headers!.get('x-should-retry')).toBe('false');
  });
});
