/**
 * How well the simulated teacher sees: blind mode (no ground truth in the prompt) on the synthetic suite,
 * through the real HTTP server and the official openai client, images smart-resized as the teacher client
 * sends them. Reports IoU >= 0.5 rate and mean IoU per task x difficulty; hard samples going wrong is the
 * point (errors come from perception, not from injected faults).
 *
 *   npx tsx bench/sim-perception.ts [--samples 300] [--seed 7] [--convention qwen2vl] [--concurrency 4]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { iou, smartResize } from '../src/geometry/index.js';
import { generateSuite, parseQuestion, type MigRecord } from '../src/sources/synthetic/index.js';
import { startSimTeacher } from '../src/teacher/sim/index.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const SAMPLES = Number(arg('samples', '300'));
const SEED = Number(arg('seed', '7'));
const CONVENTION = arg('convention', 'qwen2vl') as 'qwen2vl' | 'qwen25vl' | 'norm';
const CONCURRENCY = Number(arg('concurrency', '4'));
const BUDGET = { minPixels: 3136, maxPixels: 401408 };
const SUFFIX = ' First output the thinking process in <think> </think> tags and then output the bounding box in <answer> </answer> tags.';

async function sendable(path: string): Promise<{ url: string; width: number; height: number }> {
  const buf = await readFile(path);
  const m = await sharp(buf).metadata();
  const t = smartResize(m.width!, m.height!, BUDGET);
  const out = t.width === m.width && t.height === m.height ? buf : await sharp(buf).resize(t.width, t.height, { fit: 'fill', kernel: 'cubic' }).png().toBuffer();
  return { url: `data:image/png;base64,${out.toString('base64')}`, width: t.width, height: t.height };
}

/** The answer box as 0-1 of the image it was given for. */
function answerNorm(text: string, w: number, h: number): number[] | null {
  const m = /<answer>\((-?[\d.]+),\s*(-?[\d.]+)\),\s*\((-?[\d.]+),\s*(-?[\d.]+)\)<\/answer>/.exec(text);
  if (!m) return null;
  const v = m.slice(1, 5).map(Number);
  if (CONVENTION === 'norm') return v;
  if (CONVENTION === 'qwen2vl') return v.map((x) => x / 1000);
  return [v[0]! / w, v[1]! / h, v[2]! / w, v[3]! / h];
}

const dir = await mkdtemp(join(tmpdir(), 'univg-sim-bench-'));
try {
  const t0 = performance.now();
  await generateSuite({ out: dir, samples: SAMPLES, seed: SEED, difficulty: 'mixed', concurrency: 2 });
  const records = JSON.parse(await readFile(join(dir, 'all.json'), 'utf8')) as MigRecord[];
  const tGen = performance.now() - t0;

  const sim = await startSimTeacher({ seed: 0, convention: CONVENTION, ...BUDGET });
  const client = new OpenAI({ baseURL: sim.url, apiKey: 'sk-bench', maxRetries: 0 });
  const limit = pLimit(CONCURRENCY);
  const t1 = performance.now();
  const results = await Promise.all(
    records.map((r) =>
      limit(async () => {
        const imgs = await Promise.all(r.images.map((p) => sendable(join(dir, p))));
        const res = await client.chat.completions.create({
          model: 'univg-sim',
          temperature: 0,
          max_tokens: 1024,
          messages: [{ role: 'user', content: [...imgs.map((i) => ({ type: 'image_url' as const, image_url: { url: i.url } })), { type: 'text' as const, text: r.question + SUFFIX }] }],
        });
        // The answer box is in the target image (named in the question); compare as fractions of it.
        const text = res.choices[0]!.message.content ?? '';
        const t = imgs[parseQuestion(r.question)?.target ?? 0]!;
        const box = answerNorm(text, t.width, t.height);
        return { task: r.task, difficulty: r.difficulty, iou: box ? iou(box, r.answer) : 0, text };
      }),
    ),
  );
  const tSim = performance.now() - t1;
  await sim.close();

  const levels = ['easy', 'medium', 'hard'];
  const tasks = [...new Set(results.map((r) => r.task))];
  const cell = (rs: typeof results) => (rs.length === 0 ? '—' : `${((100 * rs.filter((r) => r.iou >= 0.5).length) / rs.length).toFixed(0)}% (${rs.length}) mIoU ${(rs.reduce((s, r) => s + r.iou, 0) / rs.length).toFixed(2)}`);
  const lines = [`| task | ${levels.join(' | ')} | all |`, `|---|${levels.map(() => '---').join('|')}|---|`];
  for (const t of tasks) lines.push(`| ${t} | ${levels.map((l) => cell(results.filter((r) => r.task === t && r.difficulty === l))).join(' | ')} | ${cell(results.filter((r) => r.task === t))} |`);
  lines.push(`| **all** | ${levels.map((l) => cell(results.filter((r) => r.difficulty === l))).join(' | ')} | ${cell(results)} |`);
  console.log(`sim perception, blind, ${CONVENTION}, suite seed ${SEED}, ${records.length} samples; cell = Acc@IoU0.5 (n) mean IoU`);
  console.log(lines.join('\n'));
  console.log(`suite generation ${(tGen / 1000).toFixed(1)} s; ${records.length} requests in ${(tSim / 1000).toFixed(1)} s (${((records.length * 1000) / tSim).toFixed(1)} req/s at concurrency ${CONCURRENCY}, images resized client-side to <= ${BUDGET.maxPixels} px)`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
