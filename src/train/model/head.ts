/** The output layer tied to the text embedding: logits = h @ table^T + bias. */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config.js';
import type { Ops } from './ops.js';
import type { ParamSpec, Params } from './params.js';
import type { OutputHead } from './parts.js';

export class TiedHead implements OutputHead {
  readonly specs: readonly ParamSpec[];

  constructor(c: ModelConfig) {
    this.specs = [{ name: 'out.b', shape: [c.vocabSize], decay: false, init: 'zeros' }];
  }

  logits(p: Params, ops: Ops, h: tf.Tensor2D, table: tf.Tensor2D): tf.Tensor2D {
    return tf.add(ops.matMul(h, table, false, true), p('out.b'));
  }

  dispose(): void {}
}
