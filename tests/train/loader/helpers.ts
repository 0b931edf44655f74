/** Test corpora for the loader: real Parquet shards (writeShards) with tiny solid-colour PNGs. */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { RecordOf } from '../../../src/schema/arrow.js';
import { writeShards } from '../../../src/store/index.js';
import type { Batch, Loader, TrainingKind } from '../../../src/train/loader/index.js';

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `univg-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A colour unique to (row, image), so a decoded pixel says which image landed in a slot. */
export function colourOf(i: number, k: number): [number, number, number] {
  return [(i * 37 + 11) % 256, (k * 85 + 40) % 256, (i * 13 + k * 7 + 90) % 256];
}

/** Image sizes cycle through landscape, portrait and square. */
export function sizeOf(i: number, k: number): [number, number] {
  return ([[24, 16], [16, 24], [20, 20]] as const)[(i + k) % 3]! as [number, number];
}

export function imageCount(i: number): number {
  return 1 + (i % 3);
}

export async function solidPng(w: number, h: number, rgb: [number, number, number]): Promise<Uint8Array<ArrayBuffer>> {
  const buf = await sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();
  return new Uint8Array(buf);
}

export interface CorpusSpec {
  dir: string;
  rows: number;
  files: number;
  kind?: TrainingKind;
  rowGroupRows?: number;
  /** Store images as files under runDir and reference them by relative path instead of embedding. */
  pathsUnder?: string;
  idPrefix?: string;
  /** Replace the bytes of image 0 of these row numbers with garbage. */
  corrupt?: number[];
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export async function rowsOf(spec: CorpusSpec): Promise<Array<RecordOf<'SftRow'> | RecordOf<'RlRow'>>> {
  const out: Array<RecordOf<'SftRow'> | RecordOf<'RlRow'>> = [];
  for (let i = 0; i < spec.rows; i++) {
    const images: { bytes: Uint8Array<ArrayBuffer> | null; path: string | null }[] = [];
    const shas: string[] = [];
    const ws: number[] = [];
    const hs: number[] = [];
    for (let k = 0; k < imageCount(i); k++) {
      const [w, h] = sizeOf(i, k);
      let bytes = await solidPng(w, h, colourOf(i, k));
      if (k === 0 && spec.corrupt?.includes(i)) bytes = Uint8Array.from({ length: 80 }, (_, j) => (j * 7) & 0xff);
      shas.push(sha(bytes));
      ws.push(w);
      hs.push(h);
      if (spec.pathsUnder) {
        const rel = `images/${i}-${k}.png`;
        mkdirSync(join(spec.pathsUnder, 'images'), { recursive: true });
        writeFileSync(join(spec.pathsUnder, rel), bytes);
        images.push({ bytes: null, path: rel });
      } else images.push({ bytes, path: null });
    }
    const id = `${spec.idPrefix ?? 'r'}-${i}`;
    const base = {
      id,
      source: 'synthetic',
      task: i % 2 ? 'diff' : 'common_object',
      images,
      imageSha256: shas,
      imageWidth: ws,
      imageHeight: hs,
      prompt: `${'<image>'.repeat(images.length)}Where is thing ${i}?`,
      targetImage: i % images.length,
      targetBox: [1 + (i % 5), 2, 10 + (i % 5), 12] as [number, number, number, number],
      convention: 'qwen2vl' as const,
      answer: `(${i},2),(30,40)`,
      difficultyLabel: null,
    };
    if ((spec.kind ?? 'SftRow') === 'SftRow')
      out.push({ ...base, completion: `<think>${'x'.repeat(i % 7)}</think><answer>(${i},2),(30,40)</answer>`, candidateIndex: 0, iou: 0.9 });
    else out.push({ ...base, difficulty: i % 2 ? null : i / 100, weight: i % 2 ? null : 1 + i / 100, bucket: null });
  }
  return out;
}

export async function writeCorpus(spec: CorpusSpec): Promise<string> {
  const rows = await rowsOf(spec);
  const kind = spec.kind ?? 'SftRow';
  await writeShards(kind, rows as never, { dir: spec.dir, count: spec.files, rowGroupRows: spec.rowGroupRows ?? 4 });
  return spec.dir;
}

/** Everything a batch carries, reduced to comparable values (arrays hashed). */
export function digest(b: Batch): Record<string, unknown> {
  const h = (a: ArrayBufferView | null) => (a ? createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex') : null);
  return {
    epoch: b.epoch,
    index: b.index,
    size: b.size,
    ids: b.ids,
    images: h(b.images),
    imageMask: h(b.imageMask),
    imageScale: h(b.imageScale),
    promptTokens: h(b.promptTokens),
    promptMask: h(b.promptMask),
    targetTokens: h(b.targetTokens),
    targetMask: h(b.targetMask),
    targetBox: h(b.targetBox),
    targetImage: h(b.targetImage),
    rowMask: h(b.rowMask),
  };
}

export async function take(loader: Loader<TrainingKind>, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < n; i++) {
    const b = await loader.next();
    if (!b) break;
    out.push(b);
  }
  return out;
}

export const realIds = (b: Batch) => b.ids.filter((_, i) => b.rowMask[i] === 1);
