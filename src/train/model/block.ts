/**
 * One pre-LN transformer block (attention + ReLU MLP), shared by the decoder and the vision tower: the
 * parameters under a name prefix, and the forward pass with an optional KV cache.
 */
import * as tf from '@tensorflow/tfjs-core';
import { layerNorm, type Ops } from './ops.js';
import type { ParamSpec, Params } from './params.js';
import type { AttentionMask, LayerCache } from './parts.js';

export interface BlockShape {
  d: number;
  heads: number;
  mlp: number;
}

/** The block's parameters under `prefix` (e.g. `h0.`); the output projections get `residualStd`. */
export function blockSpecs(prefix: string, s: BlockShape, residualStd: number): ParamSpec[] {
  const w = { std: 0.02 };
  const r = { std: residualStd };
  const { d, mlp } = s;
  return [
    { name: `${prefix}ln1.g`, shape: [d], decay: false, init: 'ones' },
    { name: `${prefix}ln1.b`, shape: [d], decay: false, init: 'zeros' },
    { name: `${prefix}attn.qkv.w`, shape: [d, 3 * d], decay: true, init: w },
    { name: `${prefix}attn.qkv.b`, shape: [3 * d], decay: false, init: 'zeros' },
    { name: `${prefix}attn.o.w`, shape: [d, d], decay: true, init: r },
    { name: `${prefix}attn.o.b`, shape: [d], decay: false, init: 'zeros' },
    { name: `${prefix}ln2.g`, shape: [d], decay: false, init: 'ones' },
    { name: `${prefix}ln2.b`, shape: [d], decay: false, init: 'zeros' },
    { name: `${prefix}mlp.fc.w`, shape: [d, mlp], decay: true, init: w },
    { name: `${prefix}mlp.fc.b`, shape: [mlp], decay: false, init: 'zeros' },
    { name: `${prefix}mlp.proj.w`, shape: [mlp, d], decay: true, init: r },
    { name: `${prefix}mlp.proj.b`, shape: [d], decay: false, init: 'zeros' },
  ];
}

/** One block over x [B*T, d]; with `cache`, keys and values are appended to it and returned. */
export function transformerBlock(p: Params, ops: Ops, pre: string, s: BlockShape, x: tf.Tensor2D, B: number, T: number, mask: AttentionMask, cache?: LayerCache): { x: tf.Tensor2D; cache?: LayerCache } {
  const { d, heads: H } = s;
  const dh = d / H;
  const xn = layerNorm(x, p(pre + 'ln1.g'), p(pre + 'ln1.b'));
  const qkv = ops.linear(xn, p(pre + 'attn.qkv.w'), p(pre + 'attn.qkv.b'));
  const [q, k, v] = tf.split(qkv, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  // Rank 4 at most: a rank-5 slice's gradient (Pad) does not compile on Dawn.
  const split = (t: tf.Tensor2D) => tf.reshape(tf.transpose(tf.reshape(t, [B, T, H, dh]), [0, 2, 1, 3]), [B * H, T, dh]) as tf.Tensor3D;
  const qh = tf.mul(split(q), 1 / Math.sqrt(dh)) as tf.Tensor3D;
  let kh = split(k);
  let vh = split(v);
  let next: LayerCache | undefined;
  if (cache) {
    if (cache.k.shape[1] > 0) {
      kh = tf.concat([cache.k, kh], 1);
      vh = tf.concat([cache.v, vh], 1);
    }
    next = { k: kh, v: vh };
  }
  const oh = attention(ops, qh, kh, vh, B, T, H, mask);
  const o = tf.reshape(tf.transpose(tf.reshape(oh, [B, H, T, dh]), [0, 2, 1, 3]), [B * T, d]) as tf.Tensor2D;
  const x1 = tf.add(x, ops.linear(o, p(pre + 'attn.o.w'), p(pre + 'attn.o.b'))) as tf.Tensor2D;
  const hn = layerNorm(x1, p(pre + 'ln2.g'), p(pre + 'ln2.b'));
  const mlp = ops.linear(ops.linear(hn, p(pre + 'mlp.fc.w'), p(pre + 'mlp.fc.b'), 'relu'), p(pre + 'mlp.proj.w'), p(pre + 'mlp.proj.b'));
  return { x: tf.add(x1, mlp) as tf.Tensor2D, cache: next };
}

/** softmax(q k^T + mask) v over [B*H, T, dh] queries and [B*H, Tk, dh] keys and values. */
function attention(ops: Ops, qh: tf.Tensor3D, kh: tf.Tensor3D, vh: tf.Tensor3D, B: number, T: number, H: number, mask: AttentionMask): tf.Tensor3D {
  const dh = qh.shape[2];
  const Tk = kh.shape[1];
  const n = B * H;
  // Decoding one token for several rows on WASM too: per-pair products would pay per-op overhead n
  // times, which dominates at one query per row.
  if (ops.batchedAttention || (T === 1 && !ops.grad && n > 1)) {
    let scores = tf.reshape(tf.matMul(qh, kh, false, true), [B, H, T, Tk]);
    scores = tf.add(scores, tf.reshape(mask.keys, [B, 1, 1, Tk]));
    if (mask.structure) scores = tf.add(scores, tf.reshape(mask.structure, [1, 1, T, Tk]));
    return tf.matMul(tf.reshape(tf.softmax(scores), [n, T, Tk]), vh);
  }
  // WASM: one 2-D product per (row, head), which XNNPACK runs fast (see ops.ts).
  const slices = (t: tf.Tensor3D, rows: number) => (n === 1 ? [t] : tf.split(t, n, 0)).map((u) => tf.reshape(u, [rows, dh]) as tf.Tensor2D);
  const qs = slices(qh, T);
  const ks = slices(kh, Tk);
  const vs = slices(vh, Tk);
  const rowKeys = B === 1 ? [mask.keys] : tf.split(mask.keys, B, 0);
  const rowMasks = rowKeys.map((m) => (mask.structure ? tf.add(mask.structure, m) : m) as tf.Tensor2D);
  const outs = qs.map((qi, i) => {
    const scores = tf.add(ops.matMul(qi, ks[i]!, false, true), rowMasks[Math.floor(i / H)]!) as tf.Tensor2D;
    return ops.matMul(tf.softmax(scores) as tf.Tensor2D, vs[i]!);
  });
  // concat, not stack: the WASM backend's stack is slow for small tensors.
  return (n === 1 ? tf.reshape(outs[0]!, [1, T, dh]) : tf.concat(outs.map((o) => tf.reshape(o, [1, T, dh])), 0)) as tf.Tensor3D;
}
