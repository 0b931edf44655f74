/**
 * A small corpus run for the export tests, written with the real store: corpus/sft and corpus/rl (SftRow
 * and RlRow shards, 2 parts each) and train/scored (the RL pool with difficulty, as `univg score` writes
 * it). Images are real PNGs of several sizes (so Qwen2.5-VL frames differ from the originals), some
 * embedded, some referenced in the run's image store. Chains of thought carry boxes in qwen2vl 0-1000.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { convertBox } from '../../src/geometry/convert.js';
import { formatBox } from '../../src/completion/parse.js';
import type { RlRow, SftRow } from '../../src/schema/records.js';
import { ImageStore, writeShards } from '../../src/store/index.js';
import { bucketOf, phi } from '../../src/train/rl/difficulty.js';
import { COT_INSTRUCTION } from '../../src/completion/prompt.js';

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `univg-export-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Image sizes used in turn: wide, tall, above 1000 px, small, odd. */
export const SIZES: Array<[number, number]> = [
  [640, 480],
  [300, 900],
  [1280, 720],
  [96, 64],
  [517, 389],
];

async function png(w: number, h: number, seed: number): Promise<Uint8Array<ArrayBuffer>> {
  const buf = await sharp({ create: { width: w, height: h, channels: 3, background: { r: (seed * 37) % 256, g: (seed * 91) % 256, b: (seed * 53) % 256 } } })
    .png({ compressionLevel: 1 })
    .toBuffer();
  return new Uint8Array(buf);
}

export interface CorpusRun {
  dir: string;
  sft: SftRow[];
  rl: RlRow[];
  scored: RlRow[];
}

/** `n` rows per pool; row i has 1 + (i % 3) images, the target one of SIZES[i % SIZES.length]. */
export async function makeCorpusRun(dir: string, n = 10): Promise<CorpusRun> {
  const store = new ImageStore(join(dir, 'images'));
  const rows = async (pool: 'sft' | 'rl') => {
    const out: Array<SftRow | RlRow> = [];
    for (let i = 0; i < n; i++) {
      const count = 1 + (i % 3);
      const target = i % count;
      const images = [];
      const widths: number[] = [];
      const heights: number[] = [];
      const shas: string[] = [];
      for (let k = 0; k < count; k++) {
        const [w, h] = SIZES[(i + k) % SIZES.length]!;
        const bytes = await png(w, h, i * 7 + k + (pool === 'rl' ? 100 : 0));
        const sha = createHash('sha256').update(bytes).digest('hex');
        // Every third row references the run's image store instead of embedding the bytes.
        if (i % 3 === 2) {
          const stored = await store.put(bytes, '.png');
          images.push({ bytes: null, path: stored.path.slice(dir.length + 1) });
        } else images.push({ bytes, path: `src/${i}_${k}.png` });
        widths.push(w);
        heights.push(h);
        shas.push(sha);
      }
      const W = widths[target]!;
      const H = heights[target]!;
      const box: [number, number, number, number] = [W * 0.1 + i, H * 0.2 + 0.5, W * 0.6 + 0.25, H * 0.7];
      const answer = formatBox(convertBox(box, 'pixels', 'qwen2vl', { width: W, height: H }), 'qwen2vl');
      const other = formatBox(convertBox([1, 2, W / 3, H / 4], 'pixels', 'qwen2vl', { width: W, height: H }), 'qwen2vl');
      const base = {
        id: `${pool}-${String(i).padStart(3, '0')}`,
        source: 'synthetic',
        task: ['refer_grounding', 'common_object', 'diff'][i % 3]!,
        images,
        imageSha256: shas,
        imageWidth: widths,
        imageHeight: heights,
        prompt: `${'<image>'.repeat(count)}Find the object number ${i} in image ${target + 1}. ${COT_INSTRUCTION}`,
        targetImage: target,
        targetBox: box,
        convention: 'qwen2vl' as const,
        answer,
        difficultyLabel: null,
      };
      if (pool === 'sft') {
        out.push({ ...base, completion: `<think>Image ${target + 1} first looks like ${other}, then the object is at ${answer}.</think><answer>${answer}</answer>`, candidateIndex: 0, iou: 1 });
      } else out.push({ ...base, difficulty: null, weight: null, bucket: null });
    }
    return out;
  };
  const sft = (await rows('sft')) as SftRow[];
  const rl = (await rows('rl')) as RlRow[];
  const scored = rl.map((r, i) => {
    const miou = (i * 0.37) % 1;
    return { ...r, difficulty: miou, weight: phi(miou, { kind: 'exp' }), bucket: bucketOf(miou) };
  });
  await writeShards('SftRow', sft, { dir: join(dir, 'corpus', 'sft'), count: 2 });
  await writeShards('RlRow', rl, { dir: join(dir, 'corpus', 'rl'), count: 2 });
  await writeShards('RlRow', scored, { dir: join(dir, 'train', 'scored'), count: 2 });
  return { dir, sft, rl, scored };
}
