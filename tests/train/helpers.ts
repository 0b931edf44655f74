/**
 * Fixtures for the trainer's tests: a tiny real SftRow corpus (Parquet shards written by the store, PNG
 * images made with sharp) where each row's answer is the box of a coloured square drawn in one of its
 * images, and a model shape small enough to train in well under a second per step.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { RecordOf } from '../../src/schema/arrow.js';
import { writeShards } from '../../src/store/index.js';
import type { ModelShape } from '../../src/train/model/index.js';
import { Rng } from '../../src/train/rng.js';

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `univg-train-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Shape used by the trainer tests: about 12k parameters. */
export const TINY: Partial<ModelShape> = { dModel: 16, nLayers: 1, nHeads: 2, mlpHidden: 32, imageSize: 16, patchSize: 8, maxImages: 3, coordFreqs: 4 };

const COLOURS: Array<[string, [number, number, number]]> = [
  ['red', [230, 40, 40]],
  ['green', [40, 200, 60]],
  ['blue', [50, 80, 230]],
];

export async function squarePng(w: number, h: number, box: [number, number, number, number], rgb: [number, number, number]): Promise<Uint8Array<ArrayBuffer>> {
  const [x1, y1, x2, y2] = box;
  const square = await sharp({ create: { width: x2 - x1, height: y2 - y1, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer();
  const png = await sharp({ create: { width: w, height: h, channels: 3, background: { r: 10, g: 10, b: 10 } } })
    .composite([{ input: square, left: x1, top: y1 }])
    .png()
    .toBuffer();
  return new Uint8Array(png);
}

const ORD = ['first', 'second', 'third'];

/** An SftRow asking for the `name` square in image `target` of `images`; its answer is `box` in 0-1000. */
function squareRow(o: { id: string; task: string; images: { bytes: Uint8Array<ArrayBuffer>; path: null }[]; W: number; H: number; target: number; box: [number, number, number, number]; name: string; cot: boolean }): RecordOf<'SftRow'> {
  const { images, W, H, box, target, name } = o;
  const q = (v: number, side: number) => Math.round((v / side) * 1000);
  const answer = `(${q(box[0], W)},${q(box[1], H)}),(${q(box[2], W)},${q(box[3], H)})`;
  return {
    id: o.id,
    source: 'synthetic',
    task: o.task,
    images,
    imageSha256: images.map((im) => createHash('sha256').update(im.bytes).digest('hex')),
    imageWidth: images.map(() => W),
    imageHeight: images.map(() => H),
    prompt: `${'<image>'.repeat(images.length)}Locate the ${name} square. First output the thinking process in <think> </think> tags and then output the bounding box in <answer> </answer> tags.`,
    targetImage: target,
    targetBox: box,
    convention: 'qwen2vl',
    answer,
    difficultyLabel: 'easy',
    completion: o.cot ? `<think>The ${name} square is in the ${ORD[target]} image. So the target is at ${answer}.</think><answer>${answer}</answer>` : `<answer>${answer}</answer>`,
    candidateIndex: 0,
    iou: 1,
  };
}

/** `n` rows: 1-3 images of 40x30 px; the target image has a coloured square, the answer is its box. */
export async function tinyRows(n: number, seed = 1): Promise<RecordOf<'SftRow'>[]> {
  const rng = new Rng(`tiny-corpus:${seed}`);
  const rows: RecordOf<'SftRow'>[] = [];
  for (let i = 0; i < n; i++) {
    const count = 1 + (i % 3);
    const target = rng.int(count);
    const [name, rgb] = COLOURS[i % COLOURS.length]!;
    const W = 40;
    const H = 30;
    const x1 = rng.int(W - 12);
    const y1 = rng.int(H - 12);
    const box: [number, number, number, number] = [x1, y1, x1 + 6 + rng.int(6), y1 + 6 + rng.int(6)];
    const images: { bytes: Uint8Array<ArrayBuffer>; path: null }[] = [];
    for (let k = 0; k < count; k++) {
      const bytes = k === target ? await squarePng(W, H, box, rgb) : await squarePng(W, H, [1, 1, 3, 3], [90, 90, 90]);
      images.push({ bytes, path: null });
    }
    rows.push(squareRow({ id: `tiny-${seed}-${i}`, task: ['refer_grounding', 'common_object', 'diff'][i % 3]!, images, W, H, target, box, name, cot: true }));
  }
  return rows;
}

/** Write `n` tiny rows as an SftRow stage directory (2 shards). */
export async function tinyCorpus(dir: string, n: number, seed = 1): Promise<string> {
  await writeShards('SftRow', (await tinyRows(n, seed)) as never, { dir, count: 2, rowGroupRows: 4 });
  return dir;
}

/** 24 real SftRow texts (prompt, completion, answer) from `univg demo` (synthetic suite, simulated teacher). */
export function realTexts(): Array<{ id: string; task: string; prompt: string; completion: string; answer: string }> {
  return JSON.parse(readFileSync(new URL('./fixtures/sft-texts.json', import.meta.url), 'utf8'));
}

/**
 * A tiny synthetic suite directory (scenes.jsonl + images/, as `univg synth` writes them) and the SftRows
 * over the same images: `n` samples of 1-2 images of 32x32 px; the target image holds one coloured
 * square (the other image, when there is one, is empty); the completion is just the answer box. What the
 * tower learns (every object's box) is then exactly what the pointer must copy.
 */
export async function tinySuite(dir: string, n: number, seed = 1, testFrom = n): Promise<{ suite: string; rows: RecordOf<'SftRow'>[] }> {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const rng = new Rng(`tiny-suite:${seed}`);
  mkdirSync(join(dir, 'images'), { recursive: true });
  const W = 32;
  const H = 32;
  const scenes: string[] = [];
  const rows: RecordOf<'SftRow'>[] = [];
  for (let i = 0; i < n; i++) {
    const count = 1 + (i % 2);
    const target = rng.int(count);
    const [name, rgb] = COLOURS[i % COLOURS.length]!;
    const r = 3 + rng.int(4);
    const cx = r + 1 + rng.int(W - 2 * r - 2);
    const cy = r + 1 + rng.int(H - 2 * r - 2);
    const box: [number, number, number, number] = [cx - r, cy - r, cx + r, cy + r];
    const images: { bytes: Uint8Array<ArrayBuffer>; path: null }[] = [];
    const sceneImages: unknown[] = [];
    for (let k = 0; k < count; k++) {
      const bytes = k === target ? await squarePng(W, H, box, rgb) : await squarePng(W, H, [0, 0, 1, 1], [10, 10, 10]);
      writeFileSync(join(dir, 'images', `${String(i).padStart(6, '0')}_${k}.png`), bytes);
      images.push({ bytes, path: null });
      sceneImages.push({
        width: W,
        height: H,
        background: { tile: 'noise', tileSeed: 0, x: 0, y: 0, tint: [10, 10, 10], tintOpacity: 0 },
        objects: k === target ? [{ id: 1, shape: 'square', color: name, near: false, cx, cy, r }] : [],
        marker: null,
      });
    }
    const id = `synth-s${seed}-${String(i).padStart(6, '0')}`;
    scenes.push(JSON.stringify({ id, split: i >= testFrom ? 'test' : 'train', task: 'refer_grounding', images: sceneImages }));
    rows.push(squareRow({ id, task: 'refer_grounding', images, W, H, target, box, name, cot: false }));
  }
  writeFileSync(join(dir, 'scenes.jsonl'), scenes.join('\n') + '\n');
  return { suite: dir, rows };
}
