/**
 * Training loader benchmark.
 *
 *   npx tsx bench/loader.ts                      # throughput (1 and 2 decode threads), memory 1k vs 10k rows
 *   npx tsx bench/loader.ts --skip-mem           # throughput only
 *   npx tsx bench/loader.ts --rows 2000          # rows of the throughput corpus (default 1000)
 *   npx tsx bench/loader.ts --skip-sft           # no SFT step comparison
 *   npx tsx bench/loader.ts --sft-steps 6        # SFT updates timed (default 5; the first is warm-up)
 *
 * Images are the synthetic suite's own renders (the demo's images: 224-1024 px PNGs, median side about
 * 430), embedded in SftRow shards written by writeShards; rows hold 1-4 images (mean 2.5). Each
 * measurement runs in a fresh child process so peak RSS is its own. Throughput: samples/s delivered
 * to a consumer that does nothing, batch 32, 64x64 letterbox, maxImages 6, two epochs (the second
 * served by the decoded-image cache). Memory: 1k and 10k rows of smaller images (shuffle buffer 512,
 * cache off): peak RSS should not follow corpus size.
 * SFT ratio (when src/train/sft.ts exists): `trainSft` runs a few updates of batch 32 (default model,
 * backend chosen as always) on the small-image corpus, where the loader is far ahead so a step's time is
 * the step's own; rows/s of updates 2.. is the step's consumption rate, compared with the loader's rates.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { RecordOf } from '../src/schema/arrow.js';
import { generateSuite } from '../src/sources/synthetic/index.js';
import { writeShards } from '../src/store/index.js';
import { createLoader } from '../src/train/loader/index.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const ROOT = join(tmpdir(), 'univg-bench-loader');
const SELF = fileURLToPath(import.meta.url);

interface ChildSpec {
  dir: string;
  workers: number;
  batchSize: number;
  imageSize: number;
  prefetch: number;
  /** Stop after this many samples (0: run every epoch). */
  limit: number;
  epochs: number;
  shuffleBuffer?: number;
  imageCacheBytes?: number;
}

interface ChildResult {
  samples: number;
  seconds: number;
  /** Samples/s per epoch (epoch 2 on: decoded images come from the cache). */
  samplesPerSec: number[];
  imagesPerSec: number;
  cacheHits: number;
  waitFraction: number;
  maxRssMiB: number;
  maxRowsHeld: number;
  threads: number;
}

async function child(spec: ChildSpec): Promise<ChildResult> {
  const loader = await createLoader({
    dirs: [spec.dir],
    kind: 'SftRow',
    batchSize: spec.batchSize,
    seed: 1,
    epochs: spec.epochs,
    imageSize: spec.imageSize,
    maxImages: 6,
    maxPromptTokens: 256,
    maxTargetTokens: 512,
    workers: spec.workers,
    prefetch: spec.prefetch,
    shuffleBuffer: spec.shuffleBuffer,
    imageCacheBytes: spec.imageCacheBytes,
  });
  const t0 = performance.now();
  let samples = 0;
  const rates: number[] = [];
  let epochStart = t0;
  let epochSamples = 0;
  let epoch = 0;
  for await (const b of loader) {
    if (b.epoch !== epoch) {
      rates.push(epochSamples / ((performance.now() - epochStart) / 1000));
      epoch = b.epoch;
      epochStart = performance.now();
      epochSamples = 0;
    }
    samples += b.size;
    epochSamples += b.size;
    if (spec.limit && samples >= spec.limit) break;
  }
  rates.push(epochSamples / ((performance.now() - epochStart) / 1000));
  const seconds = (performance.now() - t0) / 1000;
  const st = loader.stats();
  await loader.close();
  return {
    samples,
    seconds,
    samplesPerSec: rates,
    imagesPerSec: st.imagesDecoded / seconds,
    cacheHits: st.cacheHits,
    waitFraction: st.waitMs / 1000 / seconds,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    maxRowsHeld: st.maxRowsHeld,
    threads: Object.keys(st.decodeThreads).length,
  };
}

/** The synthetic suite's rendered images: a pool of realistic PNGs with their sizes. */
async function imagePool(): Promise<{ bytes: Uint8Array<ArrayBuffer>; width: number; height: number; sha: string }[]> {
  const suite = join(ROOT, 'suite');
  if (!existsSync(join(suite, 'manifest.json'))) await generateSuite({ out: suite, samples: 40, seed: 5, testFraction: 0 });
  const names = readdirSync(join(suite, 'images')).filter((n) => n.endsWith('.png')).sort();
  return Promise.all(
    names.map(async (n) => {
      const bytes = new Uint8Array(readFileSync(join(suite, 'images', n)));
      const m = await sharp(bytes).metadata();
      return { bytes, width: m.width!, height: m.height!, sha: createHash('sha256').update(bytes).digest('hex') };
    }),
  );
}

/** The pool scaled to a quarter of the side (about 110 px): memory runs read 10k rows in seconds. */
async function smallPool(): Promise<Awaited<ReturnType<typeof imagePool>>> {
  return Promise.all(
    (await imagePool()).slice(0, 40).map(async (p) => {
      const { data, info } = await sharp(p.bytes).resize(Math.max(8, Math.round(p.width / 4)), Math.max(8, Math.round(p.height / 4))).png().toBuffer({ resolveWithObject: true });
      return { bytes: new Uint8Array(data), width: info.width, height: info.height, sha: createHash('sha256').update(data).digest('hex') };
    }),
  );
}

async function corpus(rows: number, small = false): Promise<string> {
  const dir = join(ROOT, `sft-${rows}${small ? '-small' : ''}`);
  if (existsSync(join(dir, '_manifest.json'))) return dir;
  const pool = small ? await smallPool() : await imagePool();
  function* gen(): Generator<RecordOf<'SftRow'>> {
    for (let i = 0; i < rows; i++) {
      const imgs = Array.from({ length: 1 + (i % 4) }, (_, k) => pool[(i * 7 + k * 13) % pool.length]!);
      yield {
        id: `bench-${i}`,
        source: 'synthetic',
        task: 'common_object',
        images: imgs.map((p) => ({ bytes: p.bytes, path: null })),
        // Distinct hashes per row: the pool's bytes repeat, but the loader's decoded-image cache must not
        // see repeats a real corpus would not have.
        imageSha256: imgs.map((_, k) => createHash('sha256').update(`bench-${i}-${k}`).digest('hex')),
        imageWidth: imgs.map((p) => p.width),
        imageHeight: imgs.map((p) => p.height),
        prompt: `${'<image>'.repeat(imgs.length)}Find the red triangle that appears in the first image. Output the box.`,
        targetImage: i % imgs.length,
        targetBox: [10, 20, 110, 140],
        convention: 'qwen2vl',
        answer: '(120,45),(560,980)',
        difficultyLabel: null,
        completion: `<think>The first image shows a red triangle near the top left; image ${1 + (i % imgs.length)} has it at the same place.</think><answer>(120,45),(560,980)</answer>`,
        candidateIndex: 0,
        iou: 0.9,
      };
    }
  }
  await writeShards('SftRow', gen(), { dir, count: Math.max(1, Math.round(rows / 500)), rowGroupRows: 256 });
  return dir;
}

function runChild(spec: ChildSpec): ChildResult {
  const out = execFileSync(process.execPath, ['--import', 'tsx', SELF, '--child', JSON.stringify(spec)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult;
}

interface SftChildResult {
  backend: string;
  rowsPerSec: number;
  secondsPerStep: number;
}

/** In a child: a few SFT updates; rows/s over updates 2.. (update 1 compiles kernels). */
async function sftChild(dir: string, steps: number): Promise<SftChildResult> {
  const { trainSft } = (await import('../src/train/sft.js')) as typeof import('../src/train/sft.js');
  const out = join(ROOT, `sft-run-${process.pid}`);
  const r = await trainSft({ data: [dir], out, steps, batch: 32, evalFraction: 0, evalEvery: 0, checkpointEvery: 100000, log: () => undefined });
  const steps2 = readFileSync(join(out, 'train-log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; step: number; rows: number; seconds: number })
    .filter((l) => l.type === 'step' && l.step > 1);
  const rows = steps2.reduce((n, l) => n + l.rows, 0);
  const seconds = steps2.reduce((n, l) => n + l.seconds, 0);
  const { rmSync } = await import('node:fs');
  rmSync(out, { recursive: true, force: true });
  return { backend: r.backend.name, rowsPerSec: rows / seconds, secondsPerStep: seconds / steps2.length };
}

async function main(): Promise<void> {
  const sftArg = flag('--sft-child');
  if (sftArg) {
    const { dir, steps } = JSON.parse(sftArg) as { dir: string; steps: number };
    process.stdout.write(`${JSON.stringify(await sftChild(dir, steps))}\n`);
    return;
  }
  const childArg = flag('--child');
  if (childArg) {
    process.stdout.write(`${JSON.stringify(await child(JSON.parse(childArg) as ChildSpec))}\n`);
    return;
  }
  mkdirSync(ROOT, { recursive: true });
  const rows = Number(flag('--rows') ?? 1000);
  const dir = await corpus(rows);
  const pool = await imagePool();
  const sides = pool.map((p) => Math.max(p.width, p.height)).sort((a, b) => a - b);
  console.log(`image pool: ${pool.length} PNGs, long side median ${sides[sides.length >> 1]} px, mean ${(pool.reduce((s, p) => s + p.bytes.length, 0) / pool.length / 1024).toFixed(0)} KiB`);
  console.log('\nthroughput (2 epochs, batch 32, 64x64 letterbox, maxImages 6, prefetch 4, consumer does nothing)');
  console.log('threads  samples/s epoch 1 (decode)  epoch 2 (cached)  images decoded/s  peakRSS');
  const best = { cold: 0, cached: 0 };
  for (const workers of [1, 2]) {
    const r = runChild({ dir, workers, batchSize: 32, imageSize: 64, prefetch: 4, limit: 0, epochs: 2 });
    best.cold = Math.max(best.cold, r.samplesPerSec[0]!);
    best.cached = Math.max(best.cached, r.samplesPerSec[1]!);
    console.log(
      `${String(workers).padStart(7)}  ${r.samplesPerSec[0]!.toFixed(0).padStart(25)}  ${r.samplesPerSec[1]!.toFixed(0).padStart(16)}  ${r.imagesPerSec.toFixed(0).padStart(16)}  ${r.maxRssMiB.toFixed(0)} MiB`,
    );
  }
  const sftSource = fileURLToPath(new URL('../src/train/sft.ts', import.meta.url));
  if (!args.includes('--skip-sft') && existsSync(sftSource)) {
    const small = await corpus(1000, true);
    const steps = Number(flag('--sft-steps') ?? 5);
    try {
      const out = execFileSync(process.execPath, ['--import', 'tsx', SELF, '--sft-child', JSON.stringify({ dir: small, steps })], { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
      const r = JSON.parse(out.trim().split('\n').at(-1)!) as SftChildResult;
      console.log(`\nSFT step (trainSft, batch 32, default model, backend ${r.backend}): ${r.secondsPerStep.toFixed(2)} s/update = ${r.rowsPerSec.toFixed(1)} rows/s`);
      console.log(`loader / SFT consumption: epoch 1 (decoding) ${(best.cold / r.rowsPerSec).toFixed(1)}x, later epochs (cached) ${(best.cached / r.rowsPerSec).toFixed(1)}x (target >= 5x)`);
    } catch (err) {
      console.log(`\nSFT step not measured: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (args.includes('--skip-mem')) return;
  console.log('\nmemory: peak RSS over a whole epoch, images about 110 px (2 threads, batch 32, 64x64, shuffle buffer 512, prefetch 4,');
  console.log('image cache off: with it on, add at most imageCacheBytes, 64 MiB by default)');
  console.log('rows    shard MiB  peakRSS   maxRowsHeld  seconds');
  for (const n of [1000, 10000]) {
    const d = await corpus(n, true);
    const m = JSON.parse(readFileSync(join(d, '_manifest.json'), 'utf8')) as { bytes: number };
    const r = runChild({ dir: d, workers: 2, batchSize: 32, imageSize: 64, prefetch: 4, limit: 0, epochs: 1, imageCacheBytes: 0 });
    console.log(`${String(n).padEnd(7)} ${(m.bytes / 2 ** 20).toFixed(0).padStart(9)}  ${r.maxRssMiB.toFixed(0).padStart(4)} MiB  ${String(r.maxRowsHeld).padStart(11)}  ${r.seconds.toFixed(1).padStart(7)}`);
  }
}

await main();
