/**
 * Teacher client benchmarks (`npx tsx bench/teacher-client.ts [overhead|cache|ratelimit|all] [--quick]`;
 * `node --expose-gc --import tsx bench/teacher-client.ts cache` adds the cache's index heap).
 *
 * (a) overhead: CPU the client spends per request, server wait excluded. The simulated teacher runs in a
 *     child process with zero latency, so its CPU (decoding, perceiving images) is not counted; images
 *     are encoded before the clock starts. process.cpuUsage() of this process / requests.
 *       - client.complete() alone (SDK body build + HTTP + parse + limits + counters)
 *       - the whole generate path per request (plan, prompt, hash, cache miss, complete, cache put, rows)
 * (b) ratelimit: the server admits 600 requests/min and says so only in its headers; the client is not
 *     told any limit. Sustained answered rate after adaptation, and the share of 429s; once with the
 *     server's bucket full, once emptied by another client just before.
 * (c) cache: 200k entries of ~1.8 KB: put rate, open time (sidecar index vs full scan), get, index heap.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { TeacherConfig } from '../src/schema/config.js';
import type { GroundingSample } from '../src/schema/records.js';
import { generateCandidates } from '../src/stages/generate.js';
import { ResponseCache } from '../src/teacher/cache.js';
import { TeacherClient } from '../src/teacher/client.js';
import { ImagePreparer } from '../src/teacher/images.js';
import { totalAttempts } from '../src/teacher/metrics.js';
import { chatBody, planRequests } from '../src/teacher/request.js';

const args = process.argv.slice(2);

async function startChildSim(opts: object): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--serve', JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = createInterface({ input: proc.stdout! });
  const url = await new Promise<string>((res, rej) => {
    rl.once('line', res);
    proc.once('exit', (c) => rej(new Error(`sim exited with ${c}`)));
  });
  return { url, proc };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A photo-like image: smooth noise (JPEG of realistic size for its dimensions). */
async function photo(w: number, h: number, seed: number): Promise<Buffer> {
  return sharp({ create: { width: w, height: h, channels: 3, background: { r: 0, g: 0, b: 0 }, noise: { type: 'gaussian', mean: 100 + seed, sigma: 60 } } })
    .blur(1.2)
    .jpeg({ quality: 90 })
    .toBuffer();
}

async function samplesWith(n: number, imgs: Buffer[], w: number, h: number): Promise<{ samples: GroundingSample[]; store: Map<string, Buffer> }> {
  const store = new Map(imgs.map((b) => [sha(b), b]));
  const refs = imgs.map((b, i) => ({ sha256: sha(b), path: `p${i}.jpg`, width: w, height: h }));
  const samples = Array.from({ length: n }, (_, i) => ({
    id: `b${i}`,
    source: 'bench',
    task: 'common_object',
    images: refs,
    question: `Find the common object, variant ${i}`,
    context: [],
    targetImage: imgs.length - 1,
    targetBox: [10, 20, 200, 220] as [number, number, number, number],
    difficulty: null,
    split: null,
    meta: {},
  }));
  return { samples, store };
}

async function overhead(quick: boolean): Promise<void> {
  const M = quick ? 200 : 1000;
  const { url, proc } = await startChildSim({ port: 0, seed: 1, latencyMs: 0, rpm: 1e9, tpm: 1e12 });
  try {
    for (const [label, w, h] of [['2 x 640x480 JPEG', 640, 480], ['2 x 160x120 JPEG', 160, 120]] as const) {
      const imgs = [await photo(w, h, 0), await photo(w, h, 7)];
      const { samples, store } = await samplesWith(M + 50, imgs, w, h);
      const config = TeacherConfig.parse({ model: 'sim', concurrency: 8, candidates: 3 });
      const images = new ImagePreparer({ loader: async (k) => store.get(k)!, minPixels: config.minPixels, maxPixels: config.maxPixels, maxBytes: 1 << 28 });
      const prepared = await Promise.all(samples[0]!.images.map((r) => images.prepare(r)));
      const bodyBytes = Buffer.byteLength(JSON.stringify(chatBody(planRequests(samples[0]!, config)[0]!, prepared)));

      // client.complete alone.
      const client = new TeacherClient({ config, baseUrl: url, env: {} });
      const calls = samples.map((s) => {
        const plan = planRequests(s, config)[0]!;
        return { body: chatBody(plan, prepared), requestHash: plan.hash, rawPromptTokens: 1000, choices: 3 };
      });
      const pool = async (items: typeof calls) => {
        let i = 0;
        await Promise.all(Array.from({ length: 8 }, async () => {
          while (i < items.length) await client.complete(items[i++]!);
        }));
      };
      await pool(calls.slice(0, 50));
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await pool(calls.slice(50));
      const cpu = process.cpuUsage(c0);
      const wall = performance.now() - t0;
      const perReq = (cpu.user + cpu.system) / 1000 / M;
      console.log(`overhead  client.complete   ${label.padEnd(17)} body ${(bodyBytes / 1024).toFixed(1).padStart(6)} KiB  CPU ${perReq.toFixed(3)} ms/request  (user ${(cpu.user / 1000 / M).toFixed(3)}, sys ${(cpu.system / 1000 / M).toFixed(3)}; ${M} requests, ${(M / (wall / 1000)).toFixed(0)} req/s wall)`);

      // The whole generate path per request (cache miss, put, rows), images already encoded.
      const dir = mkdtempSync(join(tmpdir(), 'univg-bench-'));
      try {
        const cache = await ResponseCache.open(dir);
        const client2 = new TeacherClient({ config, baseUrl: url, env: {} });
        const run = async (list: GroundingSample[]) => {
          let rows = 0;
          for await (const _ of generateCandidates(list, { config, client: client2, cache, images, imageLoader: async (k) => store.get(k)! })) rows++;
          return rows;
        };
        await run(samples.slice(0, 50));
        const g0 = process.cpuUsage();
        const rows = await run(samples.slice(50));
        const gcpu = process.cpuUsage(g0);
        console.log(`overhead  generate (miss+put)  ${label.padEnd(17)} CPU ${((gcpu.user + gcpu.system) / 1000 / M).toFixed(3)} ms/request (${rows} rows)`);
        const h0 = process.cpuUsage();
        await run(samples.slice(50));
        const hcpu = process.cpuUsage(h0);
        console.log(`overhead  generate (cache hit) ${label.padEnd(17)} CPU ${((hcpu.user + hcpu.system) / 1000 / M).toFixed(3)} ms/request, requests sent ${client2.counters().requests - M - 50}`);
        await cache.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    proc.kill('SIGTERM');
  }
}

async function ratelimit(quick: boolean, drained: boolean): Promise<void> {
  const seconds = quick ? 40 : 90;
  const warm = quick ? 15 : 30;
  const limit = 600;
  const { url, proc } = await startChildSim({ port: 0, seed: 2, rpm: limit, tpm: 1e12, latency: { distribution: 'lognormal', medianMs: 300, sigma: 0.5 } });
  try {
    const imgs = [await photo(160, 120, 1)];
    const { samples, store } = await samplesWith(1, imgs, 160, 120);
    const config = TeacherConfig.parse({ model: 'sim', concurrency: 32, candidates: 1 });
    const images = new ImagePreparer({ loader: async (k) => store.get(k)!, minPixels: config.minPixels, maxPixels: config.maxPixels, maxBytes: 1 << 26 });
    const prepared = await Promise.all(samples[0]!.images.map((r) => images.prepare(r)));
    const plan = planRequests(samples[0]!, config)[0]!;
    let i = 0;
    const body = () => {
      const b = chatBody(plan, prepared);
      b.messages[0]!.content.push({ type: 'text', text: `#${i++}` });
      return b;
    };
    if (drained) {
      // Someone else used the whole minute's budget just before we start (the server's bucket is empty).
      let sent = 0;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (sent++ < limit + 50) {
            await fetch(`${url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body: JSON.stringify(body()) }).then((r) => r.arrayBuffer());
          }
        }),
      );
    }
    const limits: string[] = [];
    const client = new TeacherClient({ config, baseUrl: url, env: {}, log: (e) => e.type === 'limits' && limits.push(`rpm=${e.rpm?.toFixed(0)}`) });
    const okAt: number[] = [];
    const start = performance.now();
    const end = start + seconds * 1000;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (performance.now() < end) {
          await client.complete({ body: body(), requestHash: plan.hash, rawPromptTokens: 200, choices: 1 });
          okAt.push((performance.now() - start) / 1000);
        }
      }),
    );
    const k = client.counters();
    const inWindow = okAt.filter((t) => t >= warm && t < seconds).length;
    const rate = (inWindow / (seconds - warm)) * 60;
    const first = okAt.filter((t) => t < warm).length;
    const tag = drained ? 'drained' : 'fresh  ';
    console.log(`ratelimit ${tag} server limit ${limit}/min (told only by headers), ${seconds} s, 64 callers, concurrency cap 32${drained ? ', server bucket emptied by another client just before' : ''}`);
    console.log(`ratelimit ${tag} answered ${warm}-${seconds} s: ${rate.toFixed(1)}/min = ${((rate / limit) * 100).toFixed(1)}% of the limit (first ${warm} s: ${((first / warm) * 60).toFixed(0)}/min)`);
    console.log(`ratelimit ${tag} attempts ${totalAttempts(k.attempts)}, 429s ${k.attempts.rate_limited} = ${((k.attempts.rate_limited / totalAttempts(k.attempts)) * 100).toFixed(2)}%, answered ${k.answered}; learned ${limits.join(' -> ')}; concurrency now ${k.concurrencyLimit}; latency p50 <= ${k.latency.p50Ms} ms, p95 <= ${k.latency.p95Ms} ms`);
  } finally {
    proc.kill('SIGTERM');
  }
}

/** (c) cache: put rate, open time from the sidecar index and from a full scan, get rate, index memory. */
async function cacheBench(quick: boolean): Promise<void> {
  const N = quick ? 20_000 : 200_000;
  const dir = mkdtempSync(join(tmpdir(), 'univg-cachebench-'));
  const text = 'x'.repeat(1200);
  const value = (i: number) => ({
    format: 1 as const,
    requestModel: 'm',
    promptVersion: 'hinted-v1',
    params: { n: 3, temperature: 0.7, max_tokens: 1024 },
    response: { id: `c${i}`, choices: [0, 1, 2].map((j) => ({ index: j, message: { content: `<think>${text.slice(0, 300 + ((i + j) % 100))}</think><answer>(1,2),(3,4)</answer>` }, finish_reason: 'stop' })), usage: { prompt_tokens: 900, completion_tokens: 300 } },
    usage: { promptTokens: 900, completionTokens: 300 },
    costUsd: 0.001,
    latencyMs: 1234.5,
    attempts: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
  });
  const key = (i: number) => createHash('sha256').update(`k${i}`).digest('hex');
  try {
    const w = await ResponseCache.open(dir);
    let t = performance.now();
    for (let i = 0; i < N; i++) await w.put(key(i), value(i));
    await w.close();
    const putMs = performance.now() - t;
    const { statSync, readdirSync } = await import('node:fs');
    const bytes = readdirSync(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
    global.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    t = performance.now();
    const r = await ResponseCache.open(dir);
    const openMs = performance.now() - t;
    global.gc?.();
    const heapMb = (process.memoryUsage().heapUsed - heap0) / 1e6;
    t = performance.now();
    for (let i = 0; i < N; i += 7) await r.get(key(i));
    const getUs = ((performance.now() - t) * 1000) / Math.ceil(N / 7);
    await r.close();
    for (const f of readdirSync(dir)) if (f.endsWith('.idx')) rmSync(join(dir, f));
    t = performance.now();
    const s = await ResponseCache.open(dir);
    const scanMs = performance.now() - t;
    const ok = s.size === N;
    await s.close();
    console.log(`cache     ${N} entries, ${(bytes / 1e6).toFixed(0)} MB on disk (${(bytes / N).toFixed(0)} B/entry): put ${(N / (putMs / 1000)).toFixed(0)}/s; open from index ${openMs.toFixed(0)} ms, index heap ${heapMb.toFixed(0)} MB${global.gc ? '' : ' (run node --expose-gc for this figure)'}; get ${getUs.toFixed(1)} us; open by full scan (index files deleted) ${scanMs.toFixed(0)} ms, all found: ${ok}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const which = args.find((a) => !a.startsWith('--')) ?? 'all';
  const quick = args.includes('--quick');
  console.log(`node ${process.version}, ${process.platform}/${process.arch}`);
  if (which === 'overhead' || which === 'all') await overhead(quick);
  if (which === 'cache' || which === 'all') await cacheBench(quick);
  if (which === 'ratelimit' || which === 'all') {
    await ratelimit(quick, false);
    await ratelimit(quick, true);
  }
}

if (args[0] === '--serve') {
  // Child mode: the simulated teacher, options as JSON in argv[1]; prints its URL.
  const { startSimTeacher } = await import('../src/teacher/sim/index.js');
  const sim = await startSimTeacher(JSON.parse(args[1]!));
  process.stdout.write(`${sim.url}\n`);
  process.on('SIGTERM', () => void sim.close().then(() => process.exit(0)));
} else {
  await main();
}
