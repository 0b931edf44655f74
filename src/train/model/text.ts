/**
 * Text tokens to vectors. Coordinate tokens 0..1000 also get Fourier features of their value through a
 * learned projection, so neighbouring coordinates start out similar (the output head is tied to this
 * table). Question and completion tokens have their own position tables, so question padding never shifts
 * the completion's positions: training and cached generation see the same positions. Completion tokens
 * also get their box-grammar state (box-grammar.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../../errors.js';
import { BOX_STATES } from './box-grammar.js';
import type { ModelConfig } from './config.js';
import { fourier } from './fourier.js';
import { gatherRows, type Ops } from './ops.js';
import type { ParamSpec, Params } from './params.js';
import type { TextEmbedding, TextSegment } from './parts.js';

export class CoordinateAwareEmbedding implements TextEmbedding {
  readonly specs: readonly ParamSpec[];
  /** [vocab, 2F] coordinate features (zero rows for other tokens), made on first use. */
  private coordFeat: tf.Tensor2D | null = null;

  constructor(private readonly c: ModelConfig) {
    const d = c.dModel;
    const F = 2 * c.coordFreqs;
    const specs: ParamSpec[] = [
      { name: 'tok.emb', shape: [c.vocabSize, d], decay: true, init: { std: 0.02 } },
      { name: 'coord.proj', shape: [F, d], decay: true, init: { std: 0.02 } },
      { name: 'q.pos', shape: [c.maxPromptTokens, d], decay: false, init: { std: 0.02 } },
      { name: 'c.pos', shape: [c.maxTargetTokens, d], decay: false, init: { std: 0.02 } },
    ];
    if (c.boxTokens) specs.push({ name: 'box.state', shape: [BOX_STATES, d], decay: false, init: { std: 0.02 } });
    this.specs = specs;
  }

  private features(): tf.Tensor2D {
    if (this.coordFeat) return this.coordFeat;
    const c = this.c;
    const F = 2 * c.coordFreqs;
    const cf = new Float32Array(c.vocabSize * F);
    for (let v = 0; v <= c.coordMax; v++) fourier(v, c.coordFreqs, cf, (c.coordBase + v) * F);
    // Kept out of any tidy() the first call happens in.
    this.coordFeat = tf.tidy(() => tf.keep(tf.tensor2d(cf, [c.vocabSize, F])));
    return this.coordFeat;
  }

  table(p: Params, ops: Ops): tf.Tensor2D {
    return tf.add(p('tok.emb'), ops.matMul(this.features(), p('coord.proj') as tf.Tensor2D));
  }

  embed(p: Params, _ops: Ops, table: tf.Tensor2D, ids: Int32Array | tf.Tensor1D, B: number, L: number, segment: TextSegment, offset = 0, states?: Int32Array | tf.Tensor1D): tf.Tensor2D {
    const d = this.c.dModel;
    const [posName, max, limit] = segment === 'question' ? (['q.pos', this.c.maxPromptTokens, 'maxPromptTokens'] as const) : (['c.pos', this.c.maxTargetTokens, 'maxTargetTokens'] as const);
    if (offset + L > max) throw new ConfigError(`${L} tokens at offset ${offset} exceed the model's ${limit} (${max})`, { field: posName });
    let tok = gatherRows(table, ids); // [B*L, d]
    if (states && this.c.boxTokens) tok = tf.add(tok, gatherRows(p('box.state') as tf.Tensor2D, states));
    const pos = tf.slice(p(posName), [offset, 0], [L, d]);
    return tf.reshape(tf.add(tf.reshape(tok, [B, L, d]), tf.reshape(pos, [1, L, d])), [B * L, d]);
  }

  dispose(): void {
    this.coordFeat?.dispose();
    this.coordFeat = null;
  }
}
