/**
 * The ops the model is written in, chosen per backend and per pass. An `Ops` value is made for one forward
 * pass and handed down (no module-level flag, so an `await` between two passes cannot leak one pass's mode
 * into the other).
 *
 * - WASM: XNNPACK runs a matrix product fast only when neither side is transposed and there is no batch
 *   dimension, so products (and their gradients) are made of plain 2-D products with explicit transposes,
 *   and attention runs one (row, head) at a time.
 * - Other backends (WebGPU, CPU, tfjs-node): tfjs's own products and gradients, and attention as one
 *   batched product over every (row, head).
 * - Without gradients, no custom-gradient wrapper is built: its bookkeeping costs more than the arithmetic
 *   of one decoded token.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's CommonJS build registers no gradients; the umbrella package's build carries them (its ESM
// sources cannot be loaded by Node directly), so it is imported for that side effect.
import '@tensorflow/tfjs';

export interface Ops {
  /** Whether gradients will be taken of this pass. */
  readonly grad: boolean;
  /** Attention as one batched product over (row, head) pairs, rather than a 2-D product per pair. */
  readonly batchedAttention: boolean;
  matMul(a: tf.Tensor2D, b: tf.Tensor2D, ta?: boolean, tb?: boolean): tf.Tensor2D;
  /** x @ w + b, then ReLU if asked. */
  linear(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor, activation?: 'linear' | 'relu'): tf.Tensor2D;
}

/** Rows of a matrix. Its gradient is UnsortedSegmentSum (backends/host-kernels.ts supplies it on WASM and CPU). */
export function gatherRows(table: tf.Tensor2D, idx: Int32Array | tf.Tensor1D): tf.Tensor2D {
  return tf.gather(table, idx instanceof Int32Array ? tf.tensor1d(idx, 'int32') : idx);
}

export function layerNorm(x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b) as tf.Tensor2D;
}

/** A few rows (decoding one token): XNNPACK would first pack b, which costs more than the product. */
const SMALL_ROWS = 4;

/** op(a) @ op(b) as XNNPACK wants it (see above). */
function wasmMatMul(a: tf.Tensor2D, b: tf.Tensor2D, ta: boolean, tb: boolean): tf.Tensor2D {
  if ((ta ? a.shape[1] : a.shape[0]) <= SMALL_ROWS) return tf.matMul(a, b, ta, tb);
  return tf.matMul(ta ? tf.transpose(a) : a, tb ? tf.transpose(b) : b);
}

/** op(a) @ op(b) with a gradient made of fast (untransposed) products too. */
function wasmMatMulGrad(a: tf.Tensor2D, b: tf.Tensor2D, ta: boolean, tb: boolean): tf.Tensor2D {
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, w, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([x, w]);
    return {
      value: wasmMatMul(x, w, ta, tb),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [x, w] = saved as [tf.Tensor2D, tf.Tensor2D];
        const g = dy as tf.Tensor2D;
        if (!ta && !tb) return [wasmMatMul(g, w, false, true), wasmMatMul(x, g, true, false)];
        if (ta && !tb) return [wasmMatMul(w, g, false, true), wasmMatMul(x, g, false, false)];
        if (!ta && tb) return [wasmMatMul(g, w, false, false), wasmMatMul(g, x, true, false)];
        return [wasmMatMul(w, g, true, true), wasmMatMul(g, x, true, true)];
      },
    };
  });
  return f(a, b) as tf.Tensor2D;
}

/** XNNPACK's fused x @ w + b (+ ReLU) forward, fast products backward. */
function wasmLinearGrad(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor, activation: 'linear' | 'relu'): tf.Tensor2D {
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xi, wi, bi, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    const y = tf.fused.matMul({ a: xi, b: wi, bias: bi, activation }) as tf.Tensor2D;
    save(activation === 'relu' ? [xi, wi, y] : [xi, wi]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws, ys] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D?];
        const g = (ys ? tf.mul(dy, tf.step(ys)) : dy) as tf.Tensor2D;
        return [wasmMatMul(g, ws, false, true), wasmMatMul(xs, g, true, false), tf.sum(g, 0)];
      },
    };
  });
  return f(x, w, b) as tf.Tensor2D;
}

const fusedLinear = (x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor, activation: 'linear' | 'relu' = 'linear') =>
  tf.fused.matMul({ a: x, b: w as tf.Tensor2D, bias: b, activation }) as tf.Tensor2D;

/** The ops for one pass on the active backend, with or without gradients. */
export function opsFor(grad: boolean): Ops {
  if (tf.getBackend() === 'wasm')
    return {
      grad,
      batchedAttention: false,
      matMul: (a, b, ta = false, tb = false) => (grad ? wasmMatMulGrad(a, b, ta, tb) : wasmMatMul(a, b, ta, tb)),
      linear: (x, w, b, activation = 'linear') => (grad ? wasmLinearGrad(x, w, b, activation) : fusedLinear(x, w, b, activation)),
    };
  return { grad, batchedAttention: true, matMul: (a, b, ta = false, tb = false) => tf.matMul(a, b, ta, tb), linear: fusedLinear };
}

/**
 * The identity with no gradient (PyTorch's `detach`): tfjs-core exports no such op, and GRPO needs the
 * current log-probabilities as constants (the on-policy ratio) without reading them back.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: tf.clone(args[0] as tf.Tensor),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  }));
  return f(x) as T;
}

/**
 * One-hot rows as float32. tfjs-backend-wasm 4.22's OneHot kernel returns all zeros when asked for
 * float32 directly (int32 is right), so the int32 result is cast.
 */
export function oneHotFloat(indices: tf.Tensor1D, depth: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(indices, depth), 'float32') as tf.Tensor2D;
}
