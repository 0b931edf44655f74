/**
 * Report build time and peak memory on a synthetic run of N samples x 3 candidates (real shards).
 *
 *   npx tsx bench/report.ts [samples=20000]
 *
 * The shards are written first (not timed); then a fresh child process runs `buildReport` once to
 * warm up and three times timed, and reports its own peak RSS, so the writers' buffers do not count.
 * DuckDB streams the Parquet files, so the report's memory should grow far slower than the corpus.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { buildReport } from '../src/report/index.js';
import type { GroundingSample, RlRow, SftRow, TeacherCandidate, Verdict } from '../src/schema/records.js';
import { ImageStore } from '../src/store/images.js';
import { writeShards } from '../src/store/writer.js';

const N = process.argv[2] === '--build' ? 0 : Number(process.argv[2] ?? 20_000);
const K = 3;
const TASKS = ['common_object', 'diff', 'refer_grounding', 'group_grounding', 'region_locating'];
const DIFFS = ['easy', 'medium', 'hard', null] as const;
const REASONS = ['iou_below_threshold', 'think_too_short', 'format', 'answer_unparsable', 'target_image_not_named', 'repetitive'];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'univg-bench-report-'));
  const rand = rng(7);
  const store = new ImageStore(join(root, 'images'));
  const imgs: GroundingSample['images'] = [];
  for (let i = 0; i < 8; i++) {
    const bytes = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 30 * i, g: 100, b: 200 - 20 * i } } }).png().toBuffer();
    const put = await store.put(bytes, '.png');
    imgs.push({ sha256: put.sha256, path: `img/${i}.png`, width: 640, height: 480 });
  }
  const sample = (i: number): GroundingSample => ({
    id: `s-${String(i).padStart(7, '0')}`,
    source: 'synthetic',
    task: TASKS[i % TASKS.length]!,
    images: [imgs[i % 8]!, imgs[(i + 3) % 8]!],
    question: `Find the object shared by both images (sample ${i}).`,
    context: [],
    targetImage: 1,
    targetBox: [100 + (i % 50), 80, 300, 260],
    difficulty: DIFFS[i % 4]!,
    split: 'train',
    meta: {},
  });
  const t0 = performance.now();
  await writeShards('GroundingSample', (function* () { for (let i = 0; i < N; i++) yield sample(i); })(), { dir: join(root, 'samples'), count: 4 });
  const think = 'Image 2 shows the cup on the left of the table, next to the plate; its edges run from (100,80) to (300,260). '.repeat(3);
  await writeShards(
    'TeacherCandidate',
    (function* () {
      for (let i = 0; i < N; i++)
        for (let k = 0; k < K; k++) {
          const failed = rand() < 0.01;
          const c: TeacherCandidate = {
            sampleId: sample(i).id, candidateIndex: k, requestHash: `h${i}-${k}`, model: 'sim', promptVersion: 'v1', promptMode: 'hinted', convention: 'pixels',
            seenSizes: [{ width: 640, height: 480 }, { width: 640, height: 480 }],
            completion: failed ? null : `<think>${think}</think><answer>(100,80),(300,260)</answer>`, finishReason: failed ? null : 'stop', error: failed ? 'HTTP 503' : null,
            promptTokens: 900, completionTokens: 120, costUsd: 0.0004, latencyMs: 50 + rand() * 3000, attempts: 1 + Math.floor(rand() * 1.3), cached: rand() < 0.1,
          };
          yield c;
        }
    })(),
    { dir: join(root, 'candidates'), count: 4 },
  );
  await writeShards(
    'Verdict',
    (function* () {
      for (let i = 0; i < N; i++)
        for (let k = 0; k < K; k++) {
          const s = sample(i);
          const pass = rand() < 0.6;
          const iou = rand();
          const v: Verdict = {
            sampleId: s.id, candidateIndex: k, task: s.task, difficulty: s.difficulty, pass, reasons: pass ? [] : [REASONS[Math.floor(rand() * REASONS.length)]!],
            formatReward: 1, answerBox: [90, 70, 310, 270], iou: pass ? 0.5 + iou / 2 : iou, thinkBoxAgrees: true, namesTargetImage: true, completionChars: 400, verifierVersion: 'verify-v1',
          };
          yield v;
        }
    })(),
    { dir: join(root, 'verdicts'), count: 4 },
  );
  const base = (s: GroundingSample) => ({
    id: s.id, source: s.source, task: s.task, images: s.images.map((im) => ({ bytes: null, path: im.path })), imageSha256: s.images.map((im) => im.sha256),
    imageWidth: [640, 640], imageHeight: [480, 480], prompt: `<image><image>${s.question}`, targetImage: 1, targetBox: s.targetBox, convention: 'pixels' as const,
    answer: '(100,80),(300,260)', difficultyLabel: s.difficulty,
  });
  await writeShards('SftRow', (function* (): Generator<SftRow> { for (let i = 0; i < N; i += 2) yield { ...base(sample(i)), completion: `<think>${think}</think><answer>(1,1),(2,2)</answer>`, candidateIndex: 0, iou: 0.9 }; })(), { dir: join(root, 'corpus', 'sft'), count: 2 });
  await writeShards('RlRow', (function* (): Generator<RlRow> { for (let i = 1; i < N; i += 4) yield { ...base(sample(i)), difficulty: null, weight: null, bucket: null }; })(), { dir: join(root, 'corpus', 'rl'), count: 2 });
  const writeMs = performance.now() - t0;
  const child = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--build', root], { encoding: 'utf8' });
  console.log(JSON.stringify({ samples: N, candidates: N * K, shardsWrittenMs: Math.round(writeMs), ...JSON.parse(child) }));
  rmSync(root, { recursive: true, force: true });
}

/** In the child: build the report of `root` four times, print timings and this process's peak RSS. */
async function timeBuild(root: string): Promise<void> {
  await buildReport(root);
  const times: number[] = [];
  let size = 0;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const r = await buildReport(root);
    times.push(performance.now() - t);
    size = statSync(r.file).size;
  }
  times.sort((a, b) => a - b);
  process.stdout.write(
    JSON.stringify({ reportMedianMs: Math.round(times[1]!), reportMinMs: Math.round(times[0]!), htmlKiB: Math.round(size / 1024), reportPeakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }),
  );
}

if (process.argv[2] === '--build') await timeBuild(process.argv[3]!);
else await main();
