/**
 * Coordinates the model can point with. Where the box grammar says a coordinate comes next (after `(`
 * or `,` inside `(x1,y1),(x2,y2)`), the coordinate tokens' distribution is not read from the vocabulary
 * but pointed: a query from the hidden state attends over the row's image tokens, and each token lends
 * its weight to the edge of its predicted box that is being written (x1, y1, x2 or y2, from the vit
 * tower), spread by a Gaussian of `pointerSigma` (0-1000 units):
 *
 *   p(v | coordinate) = sum_j alpha_j N(v; box_j[k], sigma)        alpha = softmax(q(h) . key(token_j))
 *   log p(v) = log p(coordinate) + log p(v | coordinate)
 *
 * where p(coordinate) is the language model's own mass on the coordinate tokens, so it still decides
 * *that* a number comes next; the pointer decides *which*. The text format, the parser, the rewards, the
 * sampler and per-token GRPO see ordinary token log-probabilities.
 *
 * Computed as: the attention weights dropped into 1001 bins at each token's edge (linear interpolation
 * between the two nearest integers, one segment sum), then smoothed by a fixed, row-normalised Gaussian
 * matrix (one product). Boxes are constants here; gradients reach the query and key projections.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config.js';
import { NEG } from './decoder.js';
import { oneHotFloat, type Ops } from './ops.js';
import type { ParamSpec, Params } from './params.js';
import type { Part } from './parts.js';

/** Box-grammar state after the input token -> the edge written next (0 x1, 1 y1, 2 x2, 3 y2), -1 none. */
export const EDGE_AFTER_STATE: readonly number[] = [-1, 0, -1, 1, -1, -1, -1, 2, -1, 3, -1, -1];
const BINS = 1001;

/** The pointer's view of a batch: per row, its image tokens' keys and boxes, and which slots are absent. */
export interface PointerContext {
  /** [B, J, d] keys of the row's J image tokens. */
  keys: tf.Tensor3D;
  /** [B, J, 4] their boxes (0-1000). */
  boxes: tf.Tensor3D;
  /** [B, J] additive mask: NEG on tokens of absent image slots. */
  mask: tf.Tensor2D;
}

/**
 * [N, BINS] the weights `alpha` [N, J] dropped at positions `mu` [N, J] (0-1000), each split between the
 * two nearest integers. A custom gradient: d alpha is dy read back at the same two bins; `mu` (the tower's
 * boxes, constants here) gets none, and the integer bin indices never enter the gradient tape.
 */
function binned(alpha: tf.Tensor2D, mu: tf.Tensor2D): tf.Tensor2D {
  const [N, J] = alpha.shape;
  const layout = (m: tf.Tensor) => {
    const lo = tf.floor(m);
    const wHi = tf.sub(m, lo);
    const base = tf.reshape(tf.mul(tf.range(0, N, 1, 'int32'), tf.scalar(BINS, 'int32')), [N, 1]);
    const loI = tf.reshape(tf.add(base, tf.cast(lo, 'int32')), [-1]) as tf.Tensor1D;
    const hiI = tf.reshape(tf.add(base, tf.cast(tf.minimum(tf.add(lo, 1), BINS - 1), 'int32')), [-1]) as tf.Tensor1D;
    return { loI, hiI, wHi };
  };
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [a, m, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const { loI, hiI, wHi } = layout(m);
    const weights = tf.concat([tf.reshape(tf.mul(a, tf.sub(1, wHi)), [-1]), tf.reshape(tf.mul(a, wHi), [-1])]);
    const value = tf.reshape(tf.unsortedSegmentSum(weights, tf.concat([loI, hiI]), N * BINS), [N, BINS]) as tf.Tensor2D;
    save([m]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const { loI, hiI, wHi } = layout(saved[0]!);
        const flat = tf.reshape(dy, [-1]);
        const dAlpha = tf.add(tf.mul(tf.reshape(tf.gather(flat, loI), [N, J]), tf.sub(1, wHi)), tf.mul(tf.reshape(tf.gather(flat, hiI), [N, J]), wHi));
        return [dAlpha, tf.zerosLike(saved[0]!)];
      },
    };
  });
  return f(alpha, mu) as tf.Tensor2D;
}

export class CoordinatePointer implements Part {
  readonly specs: readonly ParamSpec[];
  private kernel: tf.Tensor2D | null = null;

  constructor(private readonly c: ModelConfig) {
    const d = c.dModel;
    this.specs = [
      { name: 'ptr.q.w', shape: [d, d], decay: true, init: { std: 0.02 } },
      { name: 'ptr.k.w', shape: [d, d], decay: true, init: { std: 0.02 } },
    ];
  }

  /** [BINS, BINS] Gaussian smoothing, each row summing to 1 (truncated at 0 and 1000), made on first use. */
  private smoothing(): tf.Tensor2D {
    if (this.kernel) return this.kernel;
    const s = this.c.pointerSigma ?? 15;
    const k = new Float32Array(BINS * BINS);
    const reach = Math.ceil(4 * s);
    for (let u = 0; u < BINS; u++) {
      let z = 0;
      for (let v = Math.max(0, u - reach); v <= Math.min(BINS - 1, u + reach); v++) z += Math.exp(-((u - v) ** 2) / (2 * s * s));
      for (let v = Math.max(0, u - reach); v <= Math.min(BINS - 1, u + reach); v++) k[u * BINS + v] = Math.exp(-((u - v) ** 2) / (2 * s * s)) / z;
    }
    this.kernel = tf.tidy(() => tf.keep(tf.tensor2d(k, [BINS, BINS])));
    return this.kernel;
  }

  /** The pointer context of a batch from its vision tokens [B*J, d] and boxes [B*J, 4]. */
  context(p: Params, ops: Ops, tokens: tf.Tensor2D, boxes: tf.Tensor2D, B: number, imageMask: Uint8Array, M: number): PointerContext {
    const d = this.c.dModel;
    const J = tokens.shape[0] / B;
    const P = J / M;
    const m = new Float32Array(B * J);
    for (let i = 0; i < B; i++) for (let j = 0; j < M; j++) if (!imageMask[i * M + j]) m.fill(NEG, i * J + j * P, i * J + (j + 1) * P);
    return {
      keys: tf.reshape(ops.matMul(tokens, p('ptr.k.w') as tf.Tensor2D), [B, J, d]) as tf.Tensor3D,
      boxes: tf.reshape(boxes, [B, J, 4]) as tf.Tensor3D,
      mask: tf.tensor2d(m, [B, J]),
    };
  }

  /**
   * Log-probabilities of the 1001 coordinate values [N, BINS] for hidden states h [N, d] of rows `rows`
   * [N] writing edges `edges` [N] (0..3; other values give any edge, to be masked by the caller).
   */
  private coordinateLogProbs(p: Params, ops: Ops, h: tf.Tensor2D, rows: tf.Tensor1D, edges: tf.Tensor1D, ctx: PointerContext): tf.Tensor2D {
    const N = h.shape[0];
    const d = this.c.dModel;
    const J = ctx.keys.shape[1];
    const q = tf.reshape(ops.matMul(h, p('ptr.q.w') as tf.Tensor2D), [N, 1, d]);
    const keys = tf.gather(ctx.keys, rows) as tf.Tensor3D; // [N, J, d]
    const scores = tf.add(tf.mul(tf.reshape(tf.matMul(q, keys, false, true), [N, J]), 1 / Math.sqrt(d)), tf.gather(ctx.mask, rows));
    const alpha = tf.softmax(scores) as tf.Tensor2D; // [N, J]
    // The edge being written, of every token of the row: [N, J].
    const pick = tf.reshape(oneHotFloat(tf.maximum(edges, tf.scalar(0, 'int32')) as tf.Tensor1D, 4), [N, 1, 4]);
    const mu = tf.sum(tf.mul(tf.gather(ctx.boxes, rows), pick), 2) as tf.Tensor2D;
    const hist = binned(alpha, mu);
    const prob = ops.matMul(hist, this.smoothing());
    return tf.log(tf.add(prob, 1e-12)) as tf.Tensor2D;
  }

  /** base [N, V] with the coordinate columns replaced by log p(coordinate) + the pointed log-probabilities. */
  private replace(base: tf.Tensor2D, coord: tf.Tensor2D): tf.Tensor2D {
    const first = this.c.coordBase;
    const V = base.shape[1];
    const gate = tf.logSumExp(tf.slice(base, [0, first], [-1, BINS]), 1, true);
    const parts = [tf.slice(base, [0, 0], [-1, first]), tf.add(gate, coord)];
    if (first + BINS < V) parts.push(tf.slice(base, [0, first + BINS], [-1, V - first - BINS]));
    return tf.concat(parts, 1) as tf.Tensor2D;
  }

  /**
   * Training and scoring: `base` [N, V] logits of N target positions, whose hidden states are h [N, d], in
   * rows `rows` [N]; `edges` [N] from the box grammar (host data). Positions with an edge get pointed
   * coordinates; the others keep `base`.
   */
  adjustAt(p: Params, ops: Ops, base: tf.Tensor2D, h: tf.Tensor2D, rows: Int32Array, edges: Int32Array, ctx: PointerContext): tf.Tensor2D {
    const at: number[] = [];
    for (let n = 0; n < edges.length; n++) if (edges[n]! >= 0) at.push(n);
    if (!at.length) return base;
    const sel = tf.tensor1d(at, 'int32');
    const coord = this.coordinateLogProbs(p, ops, tf.gather(h, sel), tf.tensor1d(at.map((n) => rows[n]!), 'int32'), tf.tensor1d(at.map((n) => edges[n]!), 'int32'), ctx);
    const pointed = this.replace(tf.gather(base, sel), coord);
    // Row n of the result: base row n, or its pointed replacement (appended after the N base rows).
    const index = Int32Array.from({ length: base.shape[0] }, (_, n) => n);
    at.forEach((n, i) => (index[n] = base.shape[0] + i));
    return tf.gather(tf.concat([base, pointed], 0), tf.tensor1d(index, 'int32')) as tf.Tensor2D;
  }

  /** Decoding: one position per row, the edge of each row on the device ([B] int32, -1 for none). */
  adjustRows(p: Params, ops: Ops, base: tf.Tensor2D, h: tf.Tensor2D, edges: tf.Tensor1D, ctx: PointerContext): tf.Tensor2D {
    const B = base.shape[0];
    const coord = this.coordinateLogProbs(p, ops, h, tf.range(0, B, 1, 'int32') as tf.Tensor1D, edges, ctx);
    const pointed = this.replace(base, coord);
    const use = tf.tile(tf.reshape(tf.greaterEqual(edges, tf.scalar(0, 'int32')), [B, 1]), [1, base.shape[1]]);
    return tf.where(use, pointed, base) as tf.Tensor2D;
  }

  dispose(): void {
    this.kernel?.dispose();
    this.kernel = null;
  }
}
