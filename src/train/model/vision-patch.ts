/**
 * The vision tower trained from scratch with the rest of the model: images (S x S RGB, the loader's
 * output) cut into p x p patches and embedded with one matrix product, plus a learned patch-position
 * embedding (with fixed Fourier features of the patch centre in 0-1000 units, the same code coordinate
 * tokens get) and a learned image-index embedding (image 0..maxImages-1).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../../errors.js';
import { patchDim, patchesPerImage, type ModelBatch, type ModelConfig } from './config.js';
import { fourier } from './fourier.js';
import type { Ops } from './ops.js';
import type { ParamSpec, Params } from './params.js';
import type { VisionOutput, VisionTower } from './parts.js';

export class PatchTower implements VisionTower {
  readonly specs: readonly ParamSpec[];
  readonly tokensPerImage: number;
  /** [P, 2F] Fourier features of each patch centre's x and y (made on first use: specs need no tensors). */
  private feats: { x: tf.Tensor2D; y: tf.Tensor2D } | null = null;

  constructor(private readonly c: ModelConfig) {
    const d = c.dModel;
    const F = 2 * c.coordFreqs;
    const P = patchesPerImage(c);
    this.tokensPerImage = P;
    this.specs = [
      { name: 'patch.w', shape: [patchDim(c), d], decay: true, init: { std: 0.02 } },
      { name: 'patch.b', shape: [d], decay: false, init: 'zeros' },
      { name: 'patch.pos', shape: [P, d], decay: false, init: { std: 0.02 } },
      { name: 'pos.xproj', shape: [F, d], decay: true, init: { std: 0.02 } },
      { name: 'pos.yproj', shape: [F, d], decay: true, init: { std: 0.02 } },
      { name: 'img.idx', shape: [c.maxImages, d], decay: false, init: { std: 0.02 } },
    ];
  }

  private features(): { x: tf.Tensor2D; y: tf.Tensor2D } {
    if (this.feats) return this.feats;
    const c = this.c;
    const F = 2 * c.coordFreqs;
    const P = this.tokensPerImage;
    const side = c.imageSize / c.patchSize;
    const xf = new Float32Array(P * F);
    const yf = new Float32Array(P * F);
    for (let r = 0; r < side; r++)
      for (let q = 0; q < side; q++) {
        fourier(((q + 0.5) / side) * 1000, c.coordFreqs, xf, (r * side + q) * F);
        fourier(((r + 0.5) / side) * 1000, c.coordFreqs, yf, (r * side + q) * F);
      }
    // Kept out of any tidy() the first call happens in.
    this.feats = tf.tidy(() => ({ x: tf.keep(tf.tensor2d(xf, [P, F])), y: tf.keep(tf.tensor2d(yf, [P, F])) }));
    return this.feats;
  }

  encode(p: Params, ops: Ops, b: Pick<ModelBatch, 'B' | 'M' | 'patches'>): VisionOutput {
    const c = this.c;
    const P = this.tokensPerImage;
    const d = c.dModel;
    if (b.M > c.maxImages) throw new ConfigError(`batch has ${b.M} image slots, the model takes at most ${c.maxImages}`, { field: 'maxImages' });
    const x = ops.linear(tf.tensor2d(b.patches, [b.B * b.M * P, patchDim(c)]), p('patch.w'), p('patch.b'));
    const f = this.features();
    const pos = tf.add(tf.add(p('patch.pos'), ops.matMul(f.x, p('pos.xproj') as tf.Tensor2D)), ops.matMul(f.y, p('pos.yproj') as tf.Tensor2D)); // [P, d]
    const idx = tf.slice(p('img.idx'), [0, 0], [b.M, d]); // [M, d]
    const add = tf.add(tf.reshape(pos, [1, P, d]), tf.reshape(idx, [b.M, 1, d])); // [M, P, d]
    return { tokens: tf.reshape(tf.add(tf.reshape(x, [b.B, b.M * P, d]), tf.reshape(add, [1, b.M * P, d])), [b.B * b.M * P, d]), boxes: null };
  }

  dispose(): void {
    this.feats?.x.dispose();
    this.feats?.y.dispose();
    this.feats = null;
  }
}
