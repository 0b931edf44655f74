/**
 * The vision tower that is pretrained before SFT (`univg train vision`), as real VLMs pair a pretrained
 * ViT with the language model:
 *
 *   patches -> one matrix product + patch positions (learned, plus Fourier features of the patch centre)
 *           -> `towerLayers` transformer blocks within each image (attention costs per image, not per row)
 *           -> features, and per token a box: the object whose centre falls in the token's cell, as
 *              distances from the cell centre to its four edges (0-1000 units of the image)
 *
 * The decoder gets the features plus the image-index embedding and a code of the predicted box (Fourier
 * features of each edge through a learned projection), so a token says what is there and where its edges
 * are; a pointer head copies those edges into the coordinates it writes. The box enters the decoder as a
 * constant (no gradient): boxes are the tower's job, learned in its pretraining.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../../errors.js';
import { blockSpecs, transformerBlock, type BlockShape } from './block.js';
import { patchDim, patchesPerImage, type ModelBatch, type ModelConfig } from './config.js';
import { fourier } from './fourier.js';
import { layerNorm, stopGradient, type Ops } from './ops.js';
import type { ParamSpec, Params } from './params.js';
import type { VisionOutput, VisionTower } from './parts.js';

/** Fourier features [N, 2F] of values [N] (0-1000 units) on the device: sin/cos(pi 2^k v / 1000). */
export function fourierFeatures(v: tf.Tensor1D, freqs: number): tf.Tensor2D {
  const scale = tf.tensor2d(Float32Array.from({ length: freqs }, (_, k) => (Math.PI * 2 ** k) / 1000), [1, freqs]);
  const a = tf.mul(tf.reshape(v, [-1, 1]), scale);
  // Interleaved as fourier() writes them: sin_0, cos_0, sin_1, cos_1, ...
  return tf.reshape(tf.stack([tf.sin(a), tf.cos(a)], 2), [-1, 2 * freqs]) as tf.Tensor2D;
}

export class VitTower implements VisionTower {
  readonly specs: readonly ParamSpec[];
  readonly tokensPerImage: number;
  /** Cells per side. */
  readonly grid: number;
  private readonly shape: BlockShape;
  private consts: { x: tf.Tensor2D; y: tf.Tensor2D; centres: tf.Tensor2D } | null = null;

  constructor(private readonly c: ModelConfig) {
    const d = c.dModel;
    const F = 2 * c.coordFreqs;
    const P = patchesPerImage(c);
    const L = c.towerLayers ?? 2;
    this.tokensPerImage = P;
    this.grid = c.imageSize / c.patchSize;
    this.shape = { d, heads: c.nHeads, mlp: c.mlpHidden };
    const w = { std: 0.02 };
    const specs: ParamSpec[] = [
      { name: 'vit.patch.w', shape: [patchDim(c), d], decay: true, init: w },
      { name: 'vit.patch.b', shape: [d], decay: false, init: 'zeros' },
      { name: 'vit.pos', shape: [P, d], decay: false, init: w },
      { name: 'vit.xproj', shape: [F, d], decay: true, init: w },
      { name: 'vit.yproj', shape: [F, d], decay: true, init: w },
    ];
    for (let l = 0; l < L; l++) specs.push(...blockSpecs(`vit.h${l}.`, this.shape, 0.02 / Math.sqrt(2 * L)));
    specs.push(
      { name: 'vit.lnf.g', shape: [d], decay: false, init: 'ones' },
      { name: 'vit.lnf.b', shape: [d], decay: false, init: 'zeros' },
      { name: 'vit.box.w', shape: [d, 4], decay: true, init: w },
      // softplus(0.5) is about 1 cell: a fresh tower guesses an object one cell wide around each centre.
      { name: 'vit.box.b', shape: [4], decay: false, init: 'zeros' },
      { name: 'code.w', shape: [4 * F, d], decay: true, init: w },
      { name: 'img.idx', shape: [c.maxImages, d], decay: false, init: w },
    );
    this.specs = specs;
  }

  /** Patch-centre Fourier features and cell centres (0-1000), made on first use. */
  private constants(): { x: tf.Tensor2D; y: tf.Tensor2D; centres: tf.Tensor2D } {
    if (this.consts) return this.consts;
    const c = this.c;
    const F = 2 * c.coordFreqs;
    const P = this.tokensPerImage;
    const G = this.grid;
    const xf = new Float32Array(P * F);
    const yf = new Float32Array(P * F);
    const centres = new Float32Array(P * 4);
    for (let r = 0; r < G; r++)
      for (let q = 0; q < G; q++) {
        const i = r * G + q;
        const cx = ((q + 0.5) / G) * 1000;
        const cy = ((r + 0.5) / G) * 1000;
        fourier(cx, c.coordFreqs, xf, i * F);
        fourier(cy, c.coordFreqs, yf, i * F);
        centres.set([cx, cy, cx, cy], i * 4);
      }
    this.consts = tf.tidy(() => ({ x: tf.keep(tf.tensor2d(xf, [P, F])), y: tf.keep(tf.tensor2d(yf, [P, F])), centres: tf.keep(tf.tensor2d(centres, [P, 4])) }));
    return this.consts;
  }

  /** [B*M*P, d] tower features (after the final norm): what the pretraining heads and the decoder read. */
  features(p: Params, ops: Ops, b: Pick<ModelBatch, 'B' | 'M' | 'patches'>): tf.Tensor2D {
    const c = this.c;
    const P = this.tokensPerImage;
    const d = c.dModel;
    if (b.M > c.maxImages) throw new ConfigError(`batch has ${b.M} image slots, the model takes at most ${c.maxImages}`, { field: 'maxImages' });
    const n = b.B * b.M;
    const k = this.constants();
    const x0 = ops.linear(tf.tensor2d(b.patches, [n * P, patchDim(c)]), p('vit.patch.w'), p('vit.patch.b'));
    const pos = tf.add(tf.add(p('vit.pos'), ops.matMul(k.x, p('vit.xproj') as tf.Tensor2D)), ops.matMul(k.y, p('vit.yproj') as tf.Tensor2D));
    let x = tf.reshape(tf.add(tf.reshape(x0, [n, P, d]), tf.reshape(pos, [1, P, d])), [n * P, d]) as tf.Tensor2D;
    // Within one image every token sees every other: no padding, no structure.
    const mask = { keys: tf.zeros([n, P]) as tf.Tensor2D, structure: null };
    for (let l = 0; l < (c.towerLayers ?? 2); l++) x = transformerBlock(p, ops, `vit.h${l}.`, this.shape, x, n, P, mask).x;
    return layerNorm(x, p('vit.lnf.g'), p('vit.lnf.b'));
  }

  /** [N, 4] boxes (0-1000) from features [N, d] of whole images (N a multiple of P, cells in order). */
  boxes(p: Params, ops: Ops, feats: tf.Tensor2D): tf.Tensor2D {
    const P = this.tokensPerImage;
    const n = feats.shape[0] / P;
    // Distances to the edges, in cells (softplus keeps them positive): x1 = cx - d0, y1 = cy - d1, ...
    const dist = tf.mul(tf.softplus(ops.linear(feats, p('vit.box.w'), p('vit.box.b'))), 1000 / this.grid);
    const sign = tf.tensor2d([-1, -1, 1, 1], [1, 4]);
    const centres = tf.tile(this.constants().centres, [n, 1]);
    return tf.clipByValue(tf.add(centres, tf.mul(dist, sign)), 0, 1000) as tf.Tensor2D;
  }

  encode(p: Params, ops: Ops, b: Pick<ModelBatch, 'B' | 'M' | 'patches'>): VisionOutput {
    const c = this.c;
    const P = this.tokensPerImage;
    const d = c.dModel;
    const feats = this.features(p, ops, b);
    const boxes = stopGradient(this.boxes(p, ops, feats));
    const code = ops.matMul(
      tf.concat([0, 1, 2, 3].map((k) => fourierFeatures(tf.reshape(tf.slice(boxes, [0, k], [-1, 1]), [-1]) as tf.Tensor1D, c.coordFreqs)), 1) as tf.Tensor2D,
      p('code.w') as tf.Tensor2D,
    );
    const idx = tf.reshape(tf.slice(p('img.idx'), [0, 0], [b.M, d]), [1, b.M, 1, d]);
    const tokens = tf.reshape(tf.add(tf.reshape(tf.add(feats, code), [b.B, b.M, P, d]), idx), [b.B * b.M * P, d]) as tf.Tensor2D;
    return { tokens, boxes };
  }

  dispose(): void {
    if (!this.consts) return;
    this.consts.x.dispose();
    this.consts.y.dispose();
    this.consts.centres.dispose();
    this.consts = null;
  }
}
