/**
 * Export benchmark: rows/s and peak memory of `univg export` writing verl Parquet with embedded images
 * (the heaviest format), at several row counts, each in a fresh process, to show memory does not grow
 * with the corpus.
 *
 *   npx tsx bench/export.ts                      # 25k, 50k and 100k RL rows, one ~10 KB JPEG each
 *   npx tsx bench/export.ts --rows 20000,40000   # other sizes
 *   npx tsx bench/export.ts --format vlm-r1      # another format
 *
 * Input: RlRow shards (4 parts, as a corpus run writes them) with embedded JPEG bytes, drawn from 256
 * distinct noise images so the bytes do not compress. Output: `<tmp>/export/<format>`. Peak RSS is
 * sampled every 2 ms in the child (ru_maxrss is inherited across fork+exec on Linux).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { COT_INSTRUCTION } from '../src/completion/prompt.js';
import { exportCorpus } from '../src/export/index.js';
import type { RlRow } from '../src/schema/records.js';
import { writeShards } from '../src/store/index.js';
import { bucketOf, phi } from '../src/train/rl/difficulty.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const MB = 1024 * 1024;

async function noiseJpegs(n: number): Promise<Array<{ bytes: Uint8Array<ArrayBuffer>; sha: string; w: number; h: number }>> {
  const out = [];
  let seed = 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < n; i++) {
    const w = 200 + (i % 5) * 20;
    const h = 150 + (i % 3) * 20;
    const raw = Buffer.alloc(w * h * 3);
    for (let k = 0; k < raw.length; k++) raw[k] = Math.floor(rnd() * 256);
    const bytes = new Uint8Array(await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 60 }).toBuffer());
    out.push({ bytes, sha: createHash('sha256').update(bytes).digest('hex'), w, h });
  }
  return out;
}

async function makeInput(dir: string, n: number): Promise<number> {
  const imgs = await noiseJpegs(256);
  function* rows(): Generator<RlRow> {
    for (let i = 0; i < n; i++) {
      const im = imgs[i % imgs.length]!;
      const miou = (i * 0.618) % 1;
      yield {
        id: `bench-${String(i).padStart(7, '0')}`,
        source: 'synthetic',
        task: 'refer_grounding',
        images: [{ bytes: im.bytes, path: `img/${i % imgs.length}.jpg` }],
        imageSha256: [im.sha],
        imageWidth: [im.w],
        imageHeight: [im.h],
        prompt: `<image>Find the red cup number ${i} left of the laptop. ${COT_INSTRUCTION}`,
        targetImage: 0,
        targetBox: [10 + (i % 50), 12, 120 + (i % 60), 130],
        convention: 'qwen2vl',
        answer: '(50,80),(600,866)',
        difficultyLabel: null,
        difficulty: miou,
        weight: phi(miou, { kind: 'exp' }),
        bucket: bucketOf(miou),
      };
    }
  }
  return (await writeShards('RlRow', rows(), { dir, count: 4 })).bytes;
}

/** In a fresh process: export the pool, sampling RSS. */
async function child(format: string, input: string, out: string): Promise<void> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await exportCorpus({ config: { formats: [format as 'verl'], modelFamily: 'qwen2vl' }, pools: { rl: input, sft: input }, dataRoot: input, out });
  const cpu = process.cpuUsage(c0);
  clearInterval(timer);
  process.stdout.write(JSON.stringify({ rows: r.formats[0]!.rows, ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, peak: Math.max(peak, process.memoryUsage.rss()) }));
}

async function main(): Promise<void> {
  if (args[0] === '--child') return child(args[1]!, args[2]!, args[3]!);
  const sizes = (flag('--rows') ?? '25000,50000,100000').split(',').map(Number);
  const format = flag('--format') ?? 'verl';
  const root = join(tmpdir(), `univg-bench-export-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  console.log(`| rows | input MB | export ms | rows/s | CPU ms | peak RSS (MiB) |`);
  console.log('|---:|---:|---:|---:|---:|---:|');
  try {
    for (const n of sizes) {
      const input = join(root, `in-${n}`);
      const bytes = await makeInput(input, n);
      const out = join(root, `out-${n}`);
      const script = fileURLToPath(import.meta.url);
      const r = JSON.parse(execFileSync(process.execPath, [...process.execArgv, script, '--child', format, input, out], { encoding: 'utf8', maxBuffer: 1 << 20 })) as { rows: number; ms: number; cpuMs: number; peak: number };
      console.log(`| ${r.rows} | ${(bytes / MB).toFixed(0)} | ${r.ms.toFixed(0)} | ${Math.round((r.rows / r.ms) * 1000)} | ${r.cpuMs.toFixed(0)} | ${(r.peak / MB).toFixed(0)} |`);
      rmSync(input, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
