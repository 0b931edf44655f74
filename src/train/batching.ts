/**
 * From rows and loader batches to what the model takes: the tokenizer hook the loader calls, the SFT
 * target text (CoT or answer-only), and the repacking of a fixed-shape loader batch into a batch trimmed
 * to the longest row it holds (image slots, question and completion lengths), so padding costs nothing.
 */
import type { Batch } from './loader/index.js';
import type { RecordOf } from '../schema/arrow.js';
import { patchDim, patchesPerImage, type ModelBatch, type ModelConfig } from './model/index.js';
import type { Tokenizer } from './tokenizer.js';

/** The SFT target: the whole completion, or `<answer>...</answer>` alone (the paper's no-CoT ablation). */
export function targetText(row: Pick<RecordOf<'SftRow'>, 'completion' | 'answer'>, cot: boolean): string {
  return cot ? row.completion : `<answer>${row.answer}</answer>`;
}

/** Question ids: `<bos>` then the prompt (its `<image>` placeholders included). */
export function promptIds(tok: Tokenizer, prompt: string): number[] {
  return [tok.bos, ...tok.encode(prompt)];
}

/** Target ids: the target text then `<eos>`. */
export function targetIds(tok: Tokenizer, text: string): number[] {
  return [...tok.encode(text), tok.eos];
}

/** The loader's `encode` hook for SFT rows. */
export function sftEncoder(tok: Tokenizer, cot: boolean) {
  return (row: RecordOf<'SftRow'>) => ({ promptTokens: promptIds(tok, row.prompt), targetTokens: targetIds(tok, targetText(row, cot)) });
}

/**
 * Cut an S x S x 3 image (0..1) into p x p patches, row-major over patches and (dy, dx, channel) within
 * one, scaled to [-1, 1], written at `out[offset...]`.
 */
export function patchify(pixels: Float32Array, size: number, patch: number, out: Float32Array, offset: number): void {
  const side = size / patch;
  const pd = patch * patch * 3;
  for (let r = 0; r < side; r++)
    for (let q = 0; q < side; q++) {
      let o = offset + (r * side + q) * pd;
      for (let dy = 0; dy < patch; dy++) {
        const src = ((r * patch + dy) * size + q * patch) * 3;
        for (let k = 0; k < patch * 3; k++) out[o++] = pixels[src + k]! * 2 - 1;
      }
    }
}

/**
 * The rows of a loader batch the model trains on (real rows, minus `exclude`d ids), trimmed to the most
 * images, question tokens and target tokens any of them has. Null when no row is left.
 */
export function toModelBatch(b: Batch, c: ModelConfig, bos: number, exclude?: ReadonlySet<string>): ModelBatch | null {
  const [Bl, Ml, S] = b.shapes.images as [number, number, number, number, number];
  const Pq = b.shapes.promptTokens![1]!;
  const Pt = b.shapes.targetTokens![1]!;
  if (S !== c.imageSize) throw new Error(`loader images are ${S}px, the model takes ${c.imageSize}px`);
  const rows: number[] = [];
  for (let i = 0; i < Bl; i++) if (b.rowMask[i] && !exclude?.has(b.ids[i]!)) rows.push(i);
  if (rows.length === 0) return null;
  const count = (mask: Uint8Array, i: number, n: number) => {
    let k = 0;
    for (let j = 0; j < n; j++) if (mask[i * n + j]) k = j + 1;
    return k;
  };
  let M = 1;
  let Lq = 1;
  let Lc = 1;
  for (const i of rows) {
    M = Math.max(M, count(b.imageMask, i, Ml));
    Lq = Math.max(Lq, count(b.promptMask, i, Pq));
    Lc = Math.max(Lc, count(b.targetMask, i, Pt));
  }
  const B = rows.length;
  const P = patchesPerImage(c);
  const pd = patchDim(c);
  const patches = new Float32Array(B * M * P * pd);
  const imageMask = new Uint8Array(B * M);
  const qIds = new Int32Array(B * Lq);
  const qMask = new Uint8Array(B * Lq);
  const cIn = new Int32Array(B * Lc);
  const cTgt = new Int32Array(B * Lc);
  const cMask = new Uint8Array(B * Lc);
  const img = S * S * 3;
  rows.forEach((i, r) => {
    for (let j = 0; j < M; j++) {
      if (!b.imageMask[i * Ml + j]) continue;
      imageMask[r * M + j] = 1;
      patchify(b.images.subarray((i * Ml + j) * img, (i * Ml + j + 1) * img), S, c.patchSize, patches, (r * M + j) * P * pd);
    }
    for (let j = 0; j < Lq; j++) {
      qIds[r * Lq + j] = b.promptTokens[i * Pq + j]!;
      qMask[r * Lq + j] = b.promptMask[i * Pq + j]!;
    }
    for (let j = 0; j < Lc; j++) {
      if (!b.targetMask[i * Pt + j]) continue;
      cTgt[r * Lc + j] = b.targetTokens[i * Pt + j]!;
      cIn[r * Lc + j] = j === 0 ? bos : b.targetTokens[i * Pt + j - 1]!;
      cMask[r * Lc + j] = 1;
    }
  });
  return { B, M, Lq, Lc, patches, imageMask, qIds, qMask, cIn, cTgt, cMask };
}

/** One example (decoded images, token ids) as a batch of one; `target` empty for generation. */
export function exampleBatch(c: ModelConfig, images: Float32Array[], prompt: number[], target: number[], bos: number): ModelBatch {
  const P = patchesPerImage(c);
  const pd = patchDim(c);
  const M = images.length;
  const patches = new Float32Array(M * P * pd);
  images.forEach((px, j) => patchify(px, c.imageSize, c.patchSize, patches, j * P * pd));
  const Lc = Math.max(1, target.length);
  const cIn = new Int32Array(Lc);
  const cTgt = new Int32Array(Lc);
  const cMask = new Uint8Array(Lc);
  target.forEach((t, j) => {
    cTgt[j] = t;
    cIn[j] = j === 0 ? bos : target[j - 1]!;
    cMask[j] = 1;
  });
  return {
    B: 1,
    M,
    Lq: prompt.length,
    Lc,
    patches,
    imageMask: new Uint8Array(M).fill(1),
    qIds: Int32Array.from(prompt),
    qMask: new Uint8Array(prompt.length).fill(1),
    cIn,
    cTgt,
    cMask,
  };
}

/** Several single examples as one batch (padding to the longest), e.g. the held-out slice. */
export function stackBatches(parts: ModelBatch[]): ModelBatch {
  const B = parts.reduce((n, p) => n + p.B, 0);
  const M = Math.max(...parts.map((p) => p.M));
  const Lq = Math.max(...parts.map((p) => p.Lq));
  const Lc = Math.max(...parts.map((p) => p.Lc));
  const per = parts[0]!.patches.length / (parts[0]!.B * parts[0]!.M);
  const out: ModelBatch = {
    B,
    M,
    Lq,
    Lc,
    patches: new Float32Array(B * M * per),
    imageMask: new Uint8Array(B * M),
    qIds: new Int32Array(B * Lq),
    qMask: new Uint8Array(B * Lq),
    cIn: new Int32Array(B * Lc),
    cTgt: new Int32Array(B * Lc),
    cMask: new Uint8Array(B * Lc),
  };
  let r = 0;
  for (const p of parts)
    for (let i = 0; i < p.B; i++, r++) {
      for (let j = 0; j < p.M; j++) {
        out.imageMask[r * M + j] = p.imageMask[i * p.M + j]!;
        out.patches.set(p.patches.subarray((i * p.M + j) * per, (i * p.M + j + 1) * per), (r * M + j) * per);
      }
      out.qIds.set(p.qIds.subarray(i * p.Lq, (i + 1) * p.Lq), r * Lq);
      out.qMask.set(p.qMask.subarray(i * p.Lq, (i + 1) * p.Lq), r * Lq);
      out.cIn.set(p.cIn.subarray(i * p.Lc, (i + 1) * p.Lc), r * Lc);
      out.cTgt.set(p.cTgt.subarray(i * p.Lc, (i + 1) * p.Lc), r * Lc);
      out.cMask.set(p.cMask.subarray(i * p.Lc, (i + 1) * p.Lc), r * Lc);
    }
  return out;
}

/** Non-pad tokens a batch feeds the model (patches of real images, question and completion tokens). */
export function realTokens(b: ModelBatch, c: ModelConfig): number {
  let n = 0;
  const P = patchesPerImage(c);
  for (let i = 0; i < b.imageMask.length; i++) n += b.imageMask[i]! * P;
  for (let i = 0; i < b.qMask.length; i++) n += b.qMask[i]!;
  for (let i = 0; i < b.cMask.length; i++) n += b.cMask[i]!;
  return n;
}

export function targetTokenCount(b: ModelBatch): number {
  let n = 0;
  for (let i = 0; i < b.cMask.length; i++) n += b.cMask[i]!;
  return n;
}
