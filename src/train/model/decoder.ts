/**
 * The pre-LN transformer over [image tokens | question | completion], prefix-LM: the prefix attends
 * bidirectionally to itself, completion tokens attend to the whole prefix and causally to earlier
 * completion tokens (the AttentionMask says which). Ends with the final layer norm.
 */
import * as tf from '@tensorflow/tfjs-core';
import { blockSpecs, transformerBlock, type BlockShape } from './block.js';
import type { ModelConfig } from './config.js';
import { layerNorm, type Ops } from './ops.js';
import type { ParamSpec, Params } from './params.js';
import type { AttentionMask, Decoder, LayerCache } from './parts.js';

/** The additive value of a hidden key. */
export const NEG = -1e9;

export class PrefixLmDecoder implements Decoder {
  readonly specs: readonly ParamSpec[];
  private readonly shape: BlockShape;

  constructor(private readonly c: ModelConfig) {
    const d = c.dModel;
    this.shape = { d, heads: c.nHeads, mlp: c.mlpHidden };
    const specs: ParamSpec[] = [];
    for (let l = 0; l < c.nLayers; l++) specs.push(...blockSpecs(`h${l}.`, this.shape, 0.02 / Math.sqrt(2 * c.nLayers)));
    specs.push({ name: 'lnf.g', shape: [d], decay: false, init: 'ones' }, { name: 'lnf.b', shape: [d], decay: false, init: 'zeros' });
    this.specs = specs;
  }

  emptyCaches(B: number): LayerCache[] {
    const dh = this.c.dModel / this.c.nHeads;
    return Array.from({ length: this.c.nLayers }, () => {
      const empty = tf.zeros([B * this.c.nHeads, 0, dh]) as tf.Tensor3D;
      return { k: empty, v: empty };
    });
  }

  forward(p: Params, ops: Ops, x: tf.Tensor2D, B: number, T: number, mask: AttentionMask, caches?: LayerCache[]): { h: tf.Tensor2D; caches?: LayerCache[] } {
    const next: LayerCache[] = [];
    for (let l = 0; l < this.c.nLayers; l++) {
      const run = () => transformerBlock(p, ops, `h${l}.`, this.shape, x, B, T, mask, caches?.[l]);
      if (ops.grad) {
        const r = run();
        x = r.x;
        if (r.cache) next.push(r.cache);
        continue;
      }
      // Without gradients nothing needs a layer's attention maps once it is done: free them layer by layer
      // (a long row's maps take hundreds of megabytes, and the WASM heap stops at 4 GB).
      const [xo, k, v] = tf.tidy(() => {
        const r = run();
        return r.cache ? [r.x, r.cache.k, r.cache.v] : [r.x];
      });
      x = xo as tf.Tensor2D;
      if (k && v) next.push({ k: k as tf.Tensor3D, v: v as tf.Tensor3D });
    }
    const h = layerNorm(x, p('lnf.g'), p('lnf.b'));
    return caches ? { h, caches: next } : { h };
  }

  dispose(): void {}
}
