/**
 * A synthetic run directory of any size, written with the store's own writer (real shards and manifests,
 * a content-addressed image store): samples, 3 candidates and verdicts each, SFT and RL pools. Used by
 * the report and audit benchmarks; building it costs a few seconds per 10,000 samples, no teacher.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import type { GroundingSample, RlRow, SftRow, TeacherCandidate, Verdict } from '../../src/schema/records.js';
import { ImageStore } from '../../src/store/images.js';
import { writeShards } from '../../src/store/writer.js';

export const TASKS = ['common_object', 'diff', 'refer_grounding', 'group_grounding', 'region_locating'];
const DIFFS = ['easy', 'medium', 'hard', null] as const;
const REASONS = ['iou_below_threshold', 'think_too_short', 'format', 'answer_unparsable', 'target_image_not_named', 'repetitive'];
const OBJECTS = ['cup', 'red bicycle', 'striped umbrella', 'dog', 'green lamp', 'white square', 'clock', 'kite'];

/** A small LCG: the corpus only has to be varied and reproducible, not statistically strong. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export interface SyntheticRunOptions {
  samples: number;
  /** Candidates per sample (default 3). */
  candidates?: number;
  /** Part files per stage (default 4). */
  tasks?: number;
}

export async function writeSyntheticRun(root: string, o: SyntheticRunOptions): Promise<void> {
  const N = o.samples;
  const K = o.candidates ?? 3;
  const parts = o.tasks ?? 4;
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
    source: i % 10 === 0 ? 'mgrounding' : 'synthetic',
    task: TASKS[i % TASKS.length]!,
    images: [imgs[i % 8]!, imgs[(i + 3) % 8]!],
    question: `Find the ${OBJECTS[i % OBJECTS.length]} shared by both images (sample ${i}).`,
    context: [],
    targetImage: 1,
    targetBox: [100 + (i % 50), 80, 300, 260],
    difficulty: DIFFS[i % 4]!,
    split: 'train',
    meta: {},
  });
  await writeShards('GroundingSample', (function* () { for (let i = 0; i < N; i++) yield sample(i); })(), { dir: join(root, 'samples'), count: parts });
  const think = (i: number) =>
    `Image 1 shows a ${OBJECTS[i % OBJECTS.length]} near the left edge, at (40,60),(180,200). Image 2 shows the same ${OBJECTS[i % OBJECTS.length]} on the table, next to the plate; its edges run from (100,80) to (300,260), so it spans (100,80),(300,260).`;
  await writeShards(
    'TeacherCandidate',
    (function* () {
      for (let i = 0; i < N; i++)
        for (let k = 0; k < K; k++) {
          const failed = rand() < 0.01;
          const c: TeacherCandidate = {
            sampleId: sample(i).id, candidateIndex: k, requestHash: `h${i}-${k}`, model: 'sim', promptVersion: 'v1', promptMode: 'hinted', convention: 'pixels',
            seenSizes: [{ width: 640, height: 480 }, { width: 640, height: 480 }],
            completion: failed ? null : `<think>${think(i + k)}</think><answer>(${100 + k * 7},80),(300,${260 - k * 5})</answer>`, finishReason: failed ? null : 'stop', error: failed ? 'HTTP 503' : null,
            promptTokens: 900, completionTokens: 120, costUsd: 0.0004, latencyMs: 50 + rand() * 3000, attempts: 1 + Math.floor(rand() * 1.3), cached: rand() < 0.1,
          };
          yield c;
        }
    })(),
    { dir: join(root, 'candidates'), count: parts },
  );
  const kept = new Set<number>();
  await writeShards(
    'Verdict',
    (function* () {
      for (let i = 0; i < N; i++)
        for (let k = 0; k < K; k++) {
          const s = sample(i);
          const pass = rand() < 0.6;
          if (pass) kept.add(i);
          const iou = rand();
          const v: Verdict = {
            sampleId: s.id, candidateIndex: k, task: s.task, difficulty: s.difficulty, pass, reasons: pass ? [] : [REASONS[Math.floor(rand() * REASONS.length)]!],
            formatReward: 1, answerBox: [100 + k * 7, 80, 300, 260 - k * 5], iou: pass ? 0.5 + iou / 2 : iou, thinkBoxAgrees: true, namesTargetImage: true, completionChars: 400, verifierVersion: 'verify-v2',
          };
          yield v;
        }
    })(),
    { dir: join(root, 'verdicts'), count: parts },
  );
  const base = (s: GroundingSample) => ({
    id: s.id, source: s.source, task: s.task, images: s.images.map((im) => ({ bytes: null, path: im.path })), imageSha256: s.images.map((im) => im.sha256),
    imageWidth: [640, 640], imageHeight: [480, 480], prompt: `<image><image>${s.question}`, targetImage: 1, targetBox: s.targetBox, convention: 'pixels' as const,
    answer: '(100,80),(300,260)', difficultyLabel: s.difficulty,
  });
  const pool = (i: number) => (kept.has(i) ? (i % 5 === 0 ? 'rl' : 'sft') : null);
  await writeShards('SftRow', (function* (): Generator<SftRow> { for (let i = 0; i < N; i++) if (pool(i) === 'sft') yield { ...base(sample(i)), completion: `<think>${think(i)}</think><answer>(1,1),(2,2)</answer>`, candidateIndex: 0, iou: 0.9 }; })(), { dir: join(root, 'corpus', 'sft'), count: parts });
  await writeShards('RlRow', (function* (): Generator<RlRow> { for (let i = 0; i < N; i++) if (pool(i) === 'rl') yield { ...base(sample(i)), difficulty: null, weight: null, bucket: null }; })(), { dir: join(root, 'corpus', 'rl'), count: parts });
}
