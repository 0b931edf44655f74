/**
 * A compact vision-language grounding model in TensorFlow.js, written with raw variables and ops so it
 * trains on every backend (the WASM backend has no gradient kernels for conv2d or gather):
 *
 *   [image patches | question tokens | completion tokens] -> pre-LN transformer -> next-token logits
 *
 * - Images (S x S RGB, the loader's output) are cut into p x p patches and embedded with one matrix
 *   product, plus a learned patch-position embedding (with fixed Fourier features of the patch centre
 *   in 0-1000 units) and a learned image-index embedding (image 0..maxImages-1).
 * - Token embedding = a gather whose gradient is a scatter-add in JS (no UnsortedSegmentSum needed).
 *   Coordinate tokens 0..1000 also get Fourier features of their value through a learned projection,
 *   so neighbouring coordinates start out similar; the output layer is tied to the embedding.
 * - Attention is prefix-LM: the prefix (patches and question) attends bidirectionally to itself, and
 *   completion tokens attend to the whole prefix and causally to earlier completion tokens. Padding
 *   (absent images, question and completion padding) is masked as keys.
 * - Question and completion tokens have their own position tables, so question padding never shifts
 *   the completion's positions: training and cached generation see the same positions.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's CommonJS build registers no gradients; the umbrella package's build carries them (its ESM
// sources cannot be loaded by Node directly), so it is imported for that side effect.
import '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import type { Rng } from './rng.js';

export interface ModelConfig {
  format: 'univg-vlm';
  version: 1;
  vocabSize: number;
  /** Token id of coordinate 0 and the largest coordinate (from the tokenizer). */
  coordBase: number;
  coordMax: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  mlpHidden: number;
  imageSize: number;
  patchSize: number;
  maxImages: number;
  maxPromptTokens: number;
  maxTargetTokens: number;
  /** Fourier frequencies for coordinate values and patch centres (features = 2 x this). */
  coordFreqs: number;
  /** Token ids of `(`, `,` and `)` for the box-structure embedding (see boxStateAfter); null: off. */
  boxTokens: [number, number, number] | null;
}

export type ModelShape = Pick<ModelConfig, 'dModel' | 'nLayers' | 'nHeads' | 'mlpHidden' | 'imageSize' | 'patchSize' | 'maxImages' | 'coordFreqs'>;

export const DEFAULT_SHAPE: ModelShape = { dModel: 128, nLayers: 3, nHeads: 2, mlpHidden: 512, imageSize: 64, patchSize: 8, maxImages: 6, coordFreqs: 10 };

export function makeModelConfig(
  shape: Partial<ModelShape>,
  vocab: { vocabSize: number; coordBase: number; coordMax: number; boxTokens?: [number, number, number] | null },
  lengths: { maxPromptTokens: number; maxTargetTokens: number },
): ModelConfig {
  const c: ModelConfig = { format: 'univg-vlm', version: 1, ...DEFAULT_SHAPE, ...shape, boxTokens: null, ...vocab, ...lengths };
  checkConfig(c);
  return c;
}

export function checkConfig(c: ModelConfig): void {
  const bad = (m: string) => new ConfigError(`model config: ${m}`, { field: 'model' });
  if (c.format !== 'univg-vlm' || c.version !== 1) throw bad(`not a univg-vlm v1 config (${c.format} v${c.version})`);
  for (const k of ['vocabSize', 'dModel', 'nLayers', 'nHeads', 'mlpHidden', 'imageSize', 'patchSize', 'maxImages', 'maxPromptTokens', 'maxTargetTokens', 'coordFreqs'] as const)
    if (!Number.isInteger(c[k]) || c[k] < 1) throw bad(`${k} must be a positive integer, got ${c[k]}`);
  if (c.dModel % c.nHeads !== 0) throw bad(`dModel ${c.dModel} is not a multiple of nHeads ${c.nHeads}`);
  if (c.imageSize % c.patchSize !== 0) throw bad(`imageSize ${c.imageSize} is not a multiple of patchSize ${c.patchSize}`);
  if (c.coordBase + c.coordMax >= c.vocabSize) throw bad('coordinate tokens fall outside the vocabulary');
  if (c.boxTokens != null && (!Array.isArray(c.boxTokens) || c.boxTokens.length !== 3 || !c.boxTokens.every((t) => Number.isInteger(t) && t >= 0 && t < c.vocabSize)))
    throw bad(`boxTokens must be null or three token ids, got ${JSON.stringify(c.boxTokens)}`);
}

/**
 * Where a token leaves the box grammar `(x1,y1),(x2,y2)`: 0 outside a box, 1..11 after each of its 11
 * tokens (1 `(`, 2 x1, 3 `,`, 4 y1, 5 `)`, 6 `,`, 7 `(`, 8 x2, 9 `,`, 10 y2, 11 `)`). The state of each
 * completion token so far is added to its input as a learned embedding: the model then knows which part
 * of a box comes next from its input instead of counting tokens back (a structure feature computed from
 * the text alone, the same in training and generation).
 */
export const BOX_STATES = 12;
export function boxStateAfter(state: number, token: number, c: Pick<ModelConfig, 'coordBase' | 'coordMax' | 'boxTokens'>): number {
  if (!c.boxTokens) return 0;
  const [open, comma, close] = c.boxTokens;
  const coord = token >= c.coordBase && token <= c.coordBase + c.coordMax;
  if (token === open) return state === 6 ? 7 : 1;
  if (coord) return state === 1 ? 2 : state === 3 ? 4 : state === 7 ? 8 : state === 9 ? 10 : 0;
  if (token === comma) return state === 2 ? 3 : state === 5 ? 6 : state === 8 ? 9 : 0;
  if (token === close) return state === 4 ? 5 : state === 10 ? 11 : 0;
  return 0;
}

/** Box states of each row's tokens [B, L] (each row read from its start). */
export function boxStates(ids: Int32Array, B: number, L: number, c: Pick<ModelConfig, 'coordBase' | 'coordMax' | 'boxTokens'>): Int32Array {
  const out = new Int32Array(B * L);
  for (let i = 0; i < B; i++) {
    let s = 0;
    for (let k = 0; k < L; k++) out[i * L + k] = s = boxStateAfter(s, ids[i * L + k]!, c);
  }
  return out;
}

export const patchesPerImage = (c: Pick<ModelConfig, 'imageSize' | 'patchSize'>) => (c.imageSize / c.patchSize) ** 2;
export const patchDim = (c: Pick<ModelConfig, 'patchSize'>) => c.patchSize * c.patchSize * 3;

/** A batch as the model takes it: flat row-major arrays and the dimensions they use. */
export interface ModelBatch {
  B: number;
  /** Image slots in this batch (absent ones masked). */
  M: number;
  Lq: number;
  Lc: number;
  /** [B, M, P, patchDim] pixels scaled to [-1, 1]. */
  patches: Float32Array;
  /** [B, M] */
  imageMask: Uint8Array;
  /** [B, Lq] question token ids (pad where masked) and [B, Lq] mask. */
  qIds: Int32Array;
  qMask: Uint8Array;
  /** [B, Lc] completion inputs (bos, t0, ..., t_{n-2}), targets (t0..t_{n-1}) and mask (k < n). */
  cIn: Int32Array;
  cTgt: Int32Array;
  cMask: Uint8Array;
}

const NEG = -1e9;
let nextModelId = 0;

// ---------------------------------------------------------------------------------------------------
// Parameters

export interface ParamSpec {
  name: string;
  shape: number[];
  /** Whether AdamW's decoupled weight decay applies (matrices yes; norms, biases, positions no). */
  decay: boolean;
}

export function paramSpecs(c: ModelConfig): ParamSpec[] {
  const d = c.dModel;
  const F = 2 * c.coordFreqs;
  const specs: ParamSpec[] = [
    { name: 'tok.emb', shape: [c.vocabSize, d], decay: true },
    { name: 'coord.proj', shape: [F, d], decay: true },
    { name: 'patch.w', shape: [patchDim(c), d], decay: true },
    { name: 'patch.b', shape: [d], decay: false },
    { name: 'patch.pos', shape: [patchesPerImage(c), d], decay: false },
    { name: 'pos.xproj', shape: [F, d], decay: true },
    { name: 'pos.yproj', shape: [F, d], decay: true },
    { name: 'img.idx', shape: [c.maxImages, d], decay: false },
    { name: 'q.pos', shape: [c.maxPromptTokens, d], decay: false },
    { name: 'c.pos', shape: [c.maxTargetTokens, d], decay: false },
  ];
  if (c.boxTokens) specs.push({ name: 'box.state', shape: [BOX_STATES, d], decay: false });
  for (let l = 0; l < c.nLayers; l++) {
    const p = `h${l}.`;
    specs.push(
      { name: `${p}ln1.g`, shape: [d], decay: false },
      { name: `${p}ln1.b`, shape: [d], decay: false },
      { name: `${p}attn.qkv.w`, shape: [d, 3 * d], decay: true },
      { name: `${p}attn.qkv.b`, shape: [3 * d], decay: false },
      { name: `${p}attn.o.w`, shape: [d, d], decay: true },
      { name: `${p}attn.o.b`, shape: [d], decay: false },
      { name: `${p}ln2.g`, shape: [d], decay: false },
      { name: `${p}ln2.b`, shape: [d], decay: false },
      { name: `${p}mlp.fc.w`, shape: [d, c.mlpHidden], decay: true },
      { name: `${p}mlp.fc.b`, shape: [c.mlpHidden], decay: false },
      { name: `${p}mlp.proj.w`, shape: [c.mlpHidden, d], decay: true },
      { name: `${p}mlp.proj.b`, shape: [d], decay: false },
    );
  }
  specs.push({ name: 'lnf.g', shape: [d], decay: false }, { name: 'lnf.b', shape: [d], decay: false }, { name: 'out.b', shape: [c.vocabSize], decay: false });
  return specs;
}

export const paramCount = (c: ModelConfig) => paramSpecs(c).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);

/** GPT-2 style init from the seeded RNG (plain JS, so identical on every backend). */
export function initParamValues(c: ModelConfig, rng: Rng): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const residualStd = 0.02 / Math.sqrt(2 * c.nLayers);
  for (const s of paramSpecs(c)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    let v: Float32Array;
    if (s.name.endsWith('.g')) v = new Float32Array(n).fill(1);
    else if (s.name.endsWith('.b')) v = new Float32Array(n);
    else if (s.name.endsWith('attn.o.w') || s.name.endsWith('mlp.proj.w')) v = rng.normals(n, residualStd);
    else v = rng.normals(n, 0.02);
    out.set(s.name, v);
  }
  return out;
}

/** sin/cos(pi * 2^k * value / 1000) for k < freqs: a smooth code of a 0-1000 coordinate. */
export function fourier(value: number, freqs: number, out: Float32Array, offset: number): void {
  for (let k = 0; k < freqs; k++) {
    const a = (Math.PI * 2 ** k * value) / 1000;
    out[offset + 2 * k] = Math.sin(a);
    out[offset + 2 * k + 1] = Math.cos(a);
  }
}

// ---------------------------------------------------------------------------------------------------
// Ops with gradients every backend can run

/**
 * Set while running without gradients (prefill, decoding, evaluation logits): the ops below then skip
 * their custom-gradient wrappers, whose bookkeeping costs more than the arithmetic for one token.
 */
let inference = false;

function withoutGradients<T>(f: () => T): T {
  const before = inference;
  inference = true;
  try {
    return f();
  } finally {
    inference = before;
  }
}

/** Rows `idx` of a matrix; the gradient is a scatter-add done in JS (WASM lacks UnsortedSegmentSum). */
export function gatherRows(table: tf.Tensor2D, idx: Int32Array): tf.Tensor2D {
  if (inference) return tf.gather(table, tf.tensor1d(idx, 'int32'));
  const [rows, d] = table.shape as [number, number];
  const f = tf.customGrad((...inputs: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const idxT = tf.tensor1d(idx, 'int32');
    const value = tf.gather(inputs[0] as tf.Tensor, idxT);
    return {
      value,
      gradFunc: (dy: tf.Tensor) => {
        const g = dy.dataSync() as Float32Array;
        const acc = new Float32Array(rows * d);
        for (let n = 0; n < idx.length; n++) {
          const o = idx[n]! * d;
          const s = n * d;
          for (let k = 0; k < d; k++) acc[o + k]! += g[s + k]!;
        }
        return tf.tensor2d(acc, [rows, d]);
      },
    };
  });
  return f(table) as tf.Tensor2D;
}

function layerNorm(x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b) as tf.Tensor2D;
}

/**
 * A plain product of op(a) and op(b). The WASM backend sends a matrix product to XNNPACK only when
 * neither side is transposed and there is no batch dimension; anything else runs a naive loop about
 * 8x slower. So on WASM the transposes are done explicitly (cheap copies) first.
 */
function rawMatMul(a: tf.Tensor2D, b: tf.Tensor2D, ta: boolean, tb: boolean): tf.Tensor2D {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a, b, ta, tb);
  // A few rows (decoding one token): XNNPACK would first pack b, which costs more than the product.
  if ((ta ? a.shape[1] : a.shape[0]) <= SMALL_ROWS) return tf.matMul(a, b, ta, tb);
  return tf.matMul(ta ? tf.transpose(a) : a, tb ? tf.transpose(b) : b);
}
const SMALL_ROWS = 4;

/** op(a) @ op(b) with a gradient made of fast products too (tfjs's own uses transposed products). */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D, ta = false, tb = false): tf.Tensor2D {
  if (inference) return rawMatMul(a, b, ta, tb);
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, w, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([x, w]);
    return {
      value: rawMatMul(x, w, ta, tb),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [x, w] = saved as [tf.Tensor2D, tf.Tensor2D];
        const g = dy as tf.Tensor2D;
        if (!ta && !tb) return [rawMatMul(g, w, false, true), rawMatMul(x, g, true, false)];
        if (ta && !tb) return [rawMatMul(w, g, false, true), rawMatMul(x, g, false, false)];
        if (!ta && tb) return [rawMatMul(g, w, false, false), rawMatMul(g, x, true, false)];
        return [rawMatMul(w, g, true, true), rawMatMul(g, x, true, true)];
      },
    };
  });
  return f(a, b) as tf.Tensor2D;
}

/** Batched op(a) @ op(b) over the first axis, as one fast 2-D product per slice. */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D, ta = false, tb = false): tf.Tensor3D {
  const n = a.shape[0];
  if (n === 1) return tf.expandDims(matMul(tf.squeeze(a, [0]) as tf.Tensor2D, tf.squeeze(b, [0]) as tf.Tensor2D, ta, tb), 0) as tf.Tensor3D;
  const as = tf.unstack(a) as tf.Tensor2D[];
  const bs = tf.unstack(b) as tf.Tensor2D[];
  return tf.stack(as.map((x, i) => matMul(x, bs[i]!, ta, tb))) as tf.Tensor3D;
}

/** x @ w + b (then ReLU): XNNPACK's fused kernel forward, fast products backward. */
function linear(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor, activation: 'linear' | 'relu' = 'linear'): tf.Tensor2D {
  if (inference) return tf.fused.matMul({ a: x, b: w as tf.Tensor2D, bias: b, activation }) as tf.Tensor2D;
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xi, wi, bi, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    const y = tf.fused.matMul({ a: xi, b: wi, bias: bi, activation }) as tf.Tensor2D;
    save(activation === 'relu' ? [xi, wi, y] : [xi, wi]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws, ys] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D?];
        const g = (ys ? tf.mul(dy, tf.step(ys)) : dy) as tf.Tensor2D;
        return [rawMatMul(g, ws, false, true), rawMatMul(xs, g, true, false), tf.sum(g, 0)];
      },
    };
  });
  return f(x, w, b) as tf.Tensor2D;
}

/** Coordinate targets spread over neighbouring values (see softTargets). */
export interface CoordSmoothing {
  /** Token ids of coordinates 0 and coordMax. */
  first: number;
  last: number;
  /** Standard deviation in coordinate units (0-1000 scale); 0 = exact targets. */
  sigma: number;
}

/**
 * Target distributions [N, V]: one-hot, except that a coordinate target v becomes a discretised Gaussian
 * over coordinates u (exp(-(u - v)^2 / 2 sigma^2), |u - v| <= 3 sigma, normalised). Being off by 3 then
 * costs less than being off by 300, which an exact target cannot say: the coordinate tokens learn as a
 * smooth regression instead of 1001 unrelated classes.
 */
export function softTargets(targets: Int32Array, V: number, smooth?: CoordSmoothing): Float32Array {
  const q = new Float32Array(targets.length * V);
  const sigma = smooth?.sigma ?? 0;
  const reach = Math.ceil(3 * sigma);
  targets.forEach((t, n) => {
    if (!smooth || !(sigma > 0) || t < smooth.first || t > smooth.last) {
      q[n * V + t] = 1;
      return;
    }
    const lo = Math.max(smooth.first, t - reach);
    const hi = Math.min(smooth.last, t + reach);
    let z = 0;
    for (let u = lo; u <= hi; u++) z += Math.exp(-((u - t) ** 2) / (2 * sigma * sigma));
    for (let u = lo; u <= hi; u++) q[n * V + u] = Math.exp(-((u - t) ** 2) / (2 * sigma * sigma)) / z;
  });
  return q;
}

/**
 * Summed cross-entropy of logits [N, V] against target ids (or their smoothed distributions), times
 * `scale`. The gradient is (softmax - target) * scale directly (tfjs's logSumExp gradient goes through a
 * slow broadcast compare).
 */
export function crossEntropy(logits: tf.Tensor2D, targets: Int32Array, scale: number, smooth?: CoordSmoothing): tf.Scalar {
  const V = logits.shape[1];
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const q = smooth && smooth.sigma > 0 ? tf.tensor2d(softTargets(targets, V, smooth), [targets.length, V]) : tf.oneHot(tf.tensor1d(targets, 'int32'), V);
    const z = tf.sub(x, tf.max(x, 1, true));
    const lse = tf.log(tf.sum(tf.exp(z), 1, true));
    const value = tf.mul(tf.sum(tf.sub(lse, tf.sum(tf.mul(z, q), 1, true))), scale) as tf.Scalar;
    save([tf.exp(tf.sub(z, lse)), q]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.sub(saved[0]!, saved[1]!), tf.mul(dy, scale)),
    };
  });
  return f(logits) as tf.Scalar;
}

/**
 * log p(target) of each row of logits [N, V]: [N]. The gradient is dy * (onehot - softmax) directly, as
 * for crossEntropy (GRPO weights each token's log-probability by its own coefficient).
 */
export function targetLogProbs(logits: tf.Tensor2D, targets: Int32Array): tf.Tensor1D {
  const V = logits.shape[1];
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const q = tf.oneHot(tf.tensor1d(targets, 'int32'), V);
    const z = tf.sub(x, tf.max(x, 1, true));
    const lse = tf.log(tf.sum(tf.exp(z), 1, true));
    const value = tf.reshape(tf.sub(tf.sum(tf.mul(z, q), 1, true), lse), [targets.length]) as tf.Tensor1D;
    save([tf.exp(tf.sub(z, lse)), q]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.sub(saved[1]!, saved[0]!), tf.reshape(dy, [targets.length, 1])),
    };
  });
  return f(logits) as tf.Tensor1D;
}

// ---------------------------------------------------------------------------------------------------
// The model

export interface LayerCache {
  /** [B*H, T, dh] keys and values so far. */
  k: tf.Tensor3D;
  v: tf.Tensor3D;
}

export interface DecodeState {
  B: number;
  /** Completion tokens already in the cache. */
  t: number;
  /** [B, Tp] additive key mask of the prefix. */
  prefixMask: Float32Array;
  Tp: number;
  layers: LayerCache[];
  /** The embedding table [vocab, d] and its transpose [d, vocab] (the output layer), computed once. */
  E: tf.Tensor2D | null;
  Et: tf.Tensor2D | null;
  /** Box-grammar state of each row after its last completion token. */
  box: Int32Array;
}

export class GroundingModel {
  readonly config: ModelConfig;
  readonly params: Map<string, tf.Variable>;
  readonly specs: ParamSpec[];
  /** [vocab, 2F] coordinate features (zero rows for other tokens) and [P, 2F] x / y patch-centre features. */
  private coordFeat: tf.Tensor2D;
  private patchXFeat: tf.Tensor2D;
  private patchYFeat: tf.Tensor2D;

  constructor(config: ModelConfig, values: Map<string, Float32Array>) {
    checkConfig(config);
    nextModelId++;
    this.config = config;
    this.specs = paramSpecs(config);
    this.params = new Map();
    for (const s of this.specs) {
      const v = values.get(s.name);
      const n = s.shape.reduce((a, b) => a * b, 1);
      if (!v || v.length !== n) throw new ConfigError(`parameter ${s.name}: expected ${n} values, got ${v?.length ?? 'none'}`, { field: s.name });
      // tfjs variable names are global: a counter keeps two models in one process apart.
      this.params.set(s.name, tf.variable(tf.tensor(v, s.shape), true, `${s.name}#${nextModelId}`));
    }
    const F = 2 * config.coordFreqs;
    const cf = new Float32Array(config.vocabSize * F);
    for (let v = 0; v <= config.coordMax; v++) fourier(v, config.coordFreqs, cf, (config.coordBase + v) * F);
    this.coordFeat = tf.tensor2d(cf, [config.vocabSize, F]);
    const P = patchesPerImage(config);
    const side = config.imageSize / config.patchSize;
    const xf = new Float32Array(P * F);
    const yf = new Float32Array(P * F);
    for (let r = 0; r < side; r++)
      for (let q = 0; q < side; q++) {
        fourier(((q + 0.5) / side) * 1000, config.coordFreqs, xf, (r * side + q) * F);
        fourier(((r + 0.5) / side) * 1000, config.coordFreqs, yf, (r * side + q) * F);
      }
    this.patchXFeat = tf.tensor2d(xf, [P, F]);
    this.patchYFeat = tf.tensor2d(yf, [P, F]);
  }

  static init(config: ModelConfig, rng: Rng): GroundingModel {
    return new GroundingModel(config, initParamValues(config, rng));
  }

  p(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`no parameter ${name}`);
    return v;
  }

  variables(): tf.Variable[] {
    return this.specs.map((s) => this.p(s.name));
  }

  /** Current parameter values, by name (copies). */
  values(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const s of this.specs) out.set(s.name, Float32Array.from(this.p(s.name).dataSync() as Float32Array));
    return out;
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.coordFeat.dispose();
    this.patchXFeat.dispose();
    this.patchYFeat.dispose();
  }

  /** Token embedding table, coordinate features included: [vocab, d]. Also the (tied) output matrix. */
  private embeddingTable(): tf.Tensor2D {
    return tf.add(this.p('tok.emb'), matMul(this.coordFeat, this.p('coord.proj') as tf.Tensor2D));
  }

  private patchPositions(): tf.Tensor2D {
    return tf.add(tf.add(this.p('patch.pos'), matMul(this.patchXFeat, this.p('pos.xproj') as tf.Tensor2D)), matMul(this.patchYFeat, this.p('pos.yproj') as tf.Tensor2D));
  }

  /** [B*M*P, d] embedded patches of a batch. */
  private embedPatches(b: Pick<ModelBatch, 'B' | 'M' | 'patches'>): tf.Tensor2D {
    const c = this.config;
    const P = patchesPerImage(c);
    const d = c.dModel;
    if (b.M > c.maxImages) throw new ConfigError(`batch has ${b.M} image slots, the model takes at most ${c.maxImages}`, { field: 'maxImages' });
    const x = linear(tf.tensor2d(b.patches, [b.B * b.M * P, patchDim(c)]), this.p('patch.w'), this.p('patch.b'));
    const pos = this.patchPositions(); // [P, d]
    const idx = tf.slice(this.p('img.idx'), [0, 0], [b.M, d]); // [M, d]
    const add = tf.add(tf.reshape(pos, [1, P, d]), tf.reshape(idx, [b.M, 1, d])); // [M, P, d]
    return tf.reshape(tf.add(tf.reshape(x, [b.B, b.M * P, d]), tf.reshape(add, [1, b.M * P, d])), [b.B * b.M * P, d]);
  }

  /** Token + position embeddings [B*L, d]; completion tokens also get their box-state embedding. */
  private embedTokens(E: tf.Tensor2D, ids: Int32Array, B: number, L: number, posName: 'q.pos' | 'c.pos', posOffset = 0, states?: Int32Array): tf.Tensor2D {
    const d = this.config.dModel;
    const max = posName === 'q.pos' ? this.config.maxPromptTokens : this.config.maxTargetTokens;
    if (posOffset + L > max) throw new ConfigError(`${L} tokens at offset ${posOffset} exceed the model's ${posName === 'q.pos' ? 'maxPromptTokens' : 'maxTargetTokens'} (${max})`, { field: posName });
    let tok = gatherRows(E, ids); // [B*L, d]
    if (states && this.config.boxTokens) tok = tf.add(tok, gatherRows(this.p('box.state') as tf.Tensor2D, states));
    const pos = tf.slice(this.p(posName), [posOffset, 0], [L, d]);
    return tf.reshape(tf.add(tf.reshape(tok, [B, L, d]), tf.reshape(pos, [1, L, d])), [B * L, d]);
  }

  /**
   * One pre-LN block over x [B*T, d]. `masks[i]` is row i's additive mask, [T or 1, Tk]. With `cache`,
   * keys and values are appended to it (decode) or it is filled (prefill) and returned.
   *
   * Attention runs one (row, head) at a time as 2-D products: on WASM a batched product, or splitting a
   * big [B*H, T, T] tensor, costs several times the arithmetic (see matMul).
   */
  private block(l: number, x: tf.Tensor2D, B: number, T: number, masks: tf.Tensor2D[], cache?: LayerCache): { x: tf.Tensor2D; cache?: LayerCache } {
    const c = this.config;
    const d = c.dModel;
    const H = c.nHeads;
    const dh = d / H;
    const pre = `h${l}.`;
    const xn = layerNorm(x, this.p(pre + 'ln1.g'), this.p(pre + 'ln1.b'));
    const qkv = linear(xn, this.p(pre + 'attn.qkv.w'), this.p(pre + 'attn.qkv.b'));
    const [q, k, v] = tf.split(qkv, 3, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const heads = (t: tf.Tensor2D) => tf.reshape(tf.transpose(tf.reshape(t, [B, T, H, dh]), [0, 2, 1, 3]), [B * H, T, dh]) as tf.Tensor3D;
    const qh = tf.mul(heads(q), 1 / Math.sqrt(dh)) as tf.Tensor3D;
    let kh = heads(k);
    let vh = heads(v);
    let next: LayerCache | undefined;
    if (cache) {
      if (cache.k.shape[1] > 0) {
        kh = tf.concat([cache.k, kh], 1);
        vh = tf.concat([cache.v, vh], 1);
      }
      next = { k: kh, v: vh };
    }
    const Tk = kh.shape[1];
    const n = B * H;
    let oh: tf.Tensor;
    if (T === 1 && inference && n > 1) {
      // Decoding one token for several rows: one batched product over all (row, head) pairs. Splitting into
      // per-pair 2-D products (below) pays per-op overhead n times, which dominates at one query per row.
      const rowMask = tf.concat(masks, 0); // [B, Tk]
      const mask = tf.reshape(tf.tile(tf.reshape(rowMask, [B, 1, 1, Tk]), [1, H, 1, 1]), [n, 1, Tk]);
      const scores = tf.add(tf.matMul(qh, kh, false, true), mask);
      oh = tf.matMul(tf.softmax(scores), vh);
    } else {
      const slices = (t: tf.Tensor3D, rows: number) => (n === 1 ? [t] : tf.split(t, n, 0)).map((u) => tf.reshape(u, [rows, dh]) as tf.Tensor2D);
      const qs = slices(qh, T);
      const ks = slices(kh, Tk);
      const vs = slices(vh, Tk);
      const outs = qs.map((qi, i) => {
        const scores = tf.add(matMul(qi, ks[i]!, false, true), masks[Math.floor(i / H)]!) as tf.Tensor2D;
        return matMul(tf.softmax(scores) as tf.Tensor2D, vs[i]!);
      });
      // concat, not stack: the WASM backend's stack is slow for small tensors.
      oh = n === 1 ? tf.reshape(outs[0]!, [1, T, dh]) : tf.concat(outs.map((o) => tf.reshape(o, [1, T, dh])), 0);
    }
    const o = tf.reshape(tf.transpose(tf.reshape(oh, [B, H, T, dh]), [0, 2, 1, 3]), [B * T, d]) as tf.Tensor2D;
    const x1 = tf.add(x, linear(o, this.p(pre + 'attn.o.w'), this.p(pre + 'attn.o.b'))) as tf.Tensor2D;
    const hn = layerNorm(x1, this.p(pre + 'ln2.g'), this.p(pre + 'ln2.b'));
    const mlp = linear(linear(hn, this.p(pre + 'mlp.fc.w'), this.p(pre + 'mlp.fc.b'), 'relu'), this.p(pre + 'mlp.proj.w'), this.p(pre + 'mlp.proj.b'));
    return { x: tf.add(x1, mlp) as tf.Tensor2D, cache: next };
  }

  /** [B, Tp] prefix key mask (0 visible, NEG hidden): absent images' patches and question padding. */
  prefixKeyMask(b: Pick<ModelBatch, 'B' | 'M' | 'Lq' | 'imageMask' | 'qMask'>): Float32Array {
    const P = patchesPerImage(this.config);
    const Tp = b.M * P + b.Lq;
    const m = new Float32Array(b.B * Tp);
    for (let i = 0; i < b.B; i++) {
      for (let j = 0; j < b.M; j++) if (!b.imageMask[i * b.M + j]) m.fill(NEG, i * Tp + j * P, i * Tp + (j + 1) * P);
      for (let j = 0; j < b.Lq; j++) if (!b.qMask[i * b.Lq + j]) m[i * Tp + b.M * P + j] = NEG;
    }
    return m;
  }

  /** Per row, the [T, T] prefix-LM mask of a full sequence (training and full recomputation). */
  private fullMasks(b: ModelBatch): tf.Tensor2D[] {
    const P = patchesPerImage(this.config);
    const Tp = b.M * P + b.Lq;
    const T = Tp + b.Lc;
    const keys = this.prefixKeyMask(b);
    const out: tf.Tensor2D[] = [];
    for (let i = 0; i < b.B; i++) {
      const m = new Float32Array(T * T);
      const krow = keys.subarray(i * Tp, (i + 1) * Tp);
      for (let qi = 0; qi < T; qi++) {
        const o = qi * T;
        m.set(krow, o);
        // Prefix queries see no completion key; completion query Tp+k sees completion keys 0..k.
        const visibleUpTo = qi < Tp ? Tp : qi + 1;
        if (visibleUpTo < T) m.fill(NEG, o + visibleUpTo, o + T);
      }
      out.push(tf.tensor2d(m, [T, T]));
    }
    return out;
  }

  /** Per row, a [1, Tk] key mask (broadcast over queries). */
  private rowMasks(m: Float32Array, B: number, Tk: number): tf.Tensor2D[] {
    return Array.from({ length: B }, (_, i) => tf.tensor2d(m.subarray(i * Tk, (i + 1) * Tk), [1, Tk]));
  }

  /** Final hidden states of the completion slots: [B*Lc, d] (after the last layer norm). */
  private completionHidden(b: ModelBatch): { h: tf.Tensor2D; E: tf.Tensor2D } {
    const c = this.config;
    const d = c.dModel;
    const P = patchesPerImage(c);
    const Np = b.M * P;
    const T = Np + b.Lq + b.Lc;
    const E = this.embeddingTable();
    const xp = tf.reshape(this.embedPatches(b), [b.B, Np, d]);
    const xq = tf.reshape(this.embedTokens(E, b.qIds, b.B, b.Lq, 'q.pos'), [b.B, b.Lq, d]);
    const xc = tf.reshape(this.embedTokens(E, b.cIn, b.B, b.Lc, 'c.pos', 0, boxStates(b.cIn, b.B, b.Lc, c)), [b.B, b.Lc, d]);
    let x = tf.reshape(tf.concat([xp, xq, xc], 1), [b.B * T, d]) as tf.Tensor2D;
    const masks = this.fullMasks(b);
    for (let l = 0; l < c.nLayers; l++) x = this.block(l, x, b.B, T, masks).x;
    const hc = tf.reshape(tf.slice(tf.reshape(x, [b.B, T, d]), [0, Np + b.Lq, 0], [b.B, b.Lc, d]), [b.B * b.Lc, d]) as tf.Tensor2D;
    return { h: layerNorm(hc, this.p('lnf.g'), this.p('lnf.b')), E };
  }

  private logitsOf(h: tf.Tensor2D, E: tf.Tensor2D): tf.Tensor2D {
    return tf.add(matMul(h, E, false, true), this.p('out.b'));
  }

  /**
   * Summed cross-entropy of the completion targets where cMask is set, times `scale` (1 / tokens in
   * the whole optimizer step, so micro-batches add up to the full batch's mean). Logits are computed
   * only for the real target positions. `coordSigma` > 0 smooths coordinate targets (softTargets).
   */
  loss(b: ModelBatch, scale: number, coordSigma = 0): tf.Scalar {
    const rows: number[] = [];
    const tgt: number[] = [];
    for (let i = 0; i < b.B * b.Lc; i++)
      if (b.cMask[i]) {
        rows.push(i);
        tgt.push(b.cTgt[i]!);
      }
    if (rows.length === 0) return tf.scalar(0);
    const { h, E } = this.completionHidden(b);
    const logits = this.logitsOf(gatherRows(h, Int32Array.from(rows)), E);
    const c = this.config;
    return crossEntropy(logits, Int32Array.from(tgt), scale, { first: c.coordBase, last: c.coordBase + c.coordMax, sigma: coordSigma });
  }

  /**
   * log p of each completion target where cMask is set, row-major ([N], N = tokens in the mask), with
   * gradients: the policy term of GRPO. Logits are divided by `temperature` first, as the sampler does.
   */
  logProbs(b: ModelBatch, temperature = 1): tf.Tensor1D {
    const rows: number[] = [];
    const tgt: number[] = [];
    for (let i = 0; i < b.B * b.Lc; i++)
      if (b.cMask[i]) {
        rows.push(i);
        tgt.push(b.cTgt[i]!);
      }
    if (rows.length === 0) return tf.zeros([0]) as tf.Tensor1D;
    const { h, E } = this.completionHidden(b);
    let logits = this.logitsOf(gatherRows(h, Int32Array.from(rows)), E);
    if (temperature !== 1) logits = tf.div(logits, temperature) as tf.Tensor2D;
    return targetLogProbs(logits, Int32Array.from(tgt));
  }

  /** logProbs without gradients (the reference model, old-policy values): plain numbers. */
  logProbValues(b: ModelBatch, temperature = 1): Float32Array {
    return withoutGradients(() => {
      const t = tf.tidy(() => this.logProbs(b, temperature));
      const v = Float32Array.from(t.dataSync() as Float32Array);
      t.dispose();
      return v;
    });
  }

  /** Logits at every completion slot, full recomputation: [B, Lc, vocab]. */
  logits(b: ModelBatch): tf.Tensor3D {
    return withoutGradients(() =>
      tf.tidy(() => {
        const { h, E } = this.completionHidden(b);
        return tf.reshape(this.logitsOf(h, E), [b.B, b.Lc, this.config.vocabSize]) as tf.Tensor3D;
      }),
    );
  }

  /** Run the prefix (patches and question) and keep every layer's keys and values. */
  prefill(b: Omit<ModelBatch, 'Lc' | 'cIn' | 'cTgt' | 'cMask'>): DecodeState {
    const c = this.config;
    const d = c.dModel;
    const P = patchesPerImage(c);
    const Tp = b.M * P + b.Lq;
    const prefixMask = this.prefixKeyMask(b);
    const [E, Et] = withoutGradients(() => tf.tidy(() => {
      const e = this.embeddingTable();
      return [e, tf.transpose(e)] as [tf.Tensor2D, tf.Tensor2D];
    }));
    const layers = withoutGradients(() => tf.tidy(() => {
      const xp = tf.reshape(this.embedPatches(b), [b.B, b.M * P, d]);
      const xq = tf.reshape(this.embedTokens(E, b.qIds, b.B, b.Lq, 'q.pos'), [b.B, b.Lq, d]);
      let x = tf.reshape(tf.concat([xp, xq], 1), [b.B * Tp, d]) as tf.Tensor2D;
      const masks = this.rowMasks(prefixMask, b.B, Tp);
      const out: LayerCache[] = [];
      for (let l = 0; l < c.nLayers; l++) {
        const empty = tf.zeros([b.B * c.nHeads, 0, d / c.nHeads]) as tf.Tensor3D;
        const r = this.block(l, x, b.B, Tp, masks, { k: empty, v: empty });
        x = r.x;
        out.push(r.cache!);
      }
      return out.flatMap((lc) => [lc.k, lc.v]);
    }));
    const caches: LayerCache[] = [];
    for (let l = 0; l < c.nLayers; l++) caches.push({ k: layers[2 * l] as tf.Tensor3D, v: layers[2 * l + 1] as tf.Tensor3D });
    return { B: b.B, t: 0, prefixMask, Tp, layers: caches, E, Et, box: new Int32Array(b.B) };
  }

  /** Feed one completion token per row at slot `state.t`; returns its logits [B, vocab] and advances the cache. */
  decodeStep(state: DecodeState, tokens: Int32Array): Float32Array {
    const c = this.config;
    const d = c.dModel;
    const B = state.B;
    if (tokens.length !== B) throw new Error(`decodeStep: ${tokens.length} tokens for ${B} rows`);
    const Tk = state.Tp + state.t + 1;
    const m = new Float32Array(B * Tk);
    for (let i = 0; i < B; i++) m.set(state.prefixMask.subarray(i * state.Tp, (i + 1) * state.Tp), i * Tk);
    const E = state.E!;
    const Et = state.Et!;
    const box = Int32Array.from(tokens, (tk, i) => boxStateAfter(state.box[i]!, tk, c));
    state.box = box;
    const result = withoutGradients(() => tf.tidy(() => {
      let x = this.embedTokens(E, tokens, B, 1, 'c.pos', state.t, box);
      const masks = this.rowMasks(m, B, Tk);
      const next: tf.Tensor[] = [];
      for (let l = 0; l < c.nLayers; l++) {
        const r = this.block(l, x, B, 1, masks, state.layers[l]);
        x = r.x;
        next.push(r.cache!.k, r.cache!.v);
      }
      const h = layerNorm(tf.reshape(x, [B, d]) as tf.Tensor2D, this.p('lnf.g'), this.p('lnf.b'));
      return [tf.add(tf.matMul(h, Et), this.p('out.b')), ...next];
    }));
    const [logits, ...kv] = result;
    for (let l = 0; l < c.nLayers; l++) {
      state.layers[l]!.k.dispose();
      state.layers[l]!.v.dispose();
      state.layers[l] = { k: kv[2 * l] as tf.Tensor3D, v: kv[2 * l + 1] as tf.Tensor3D };
    }
    state.t++;
    const out = logits!.dataSync() as Float32Array;
    logits!.dispose();
    return Float32Array.from(out);
  }

  disposeState(state: DecodeState): void {
    for (const l of state.layers) {
      l.k.dispose();
      l.v.dispose();
    }
    state.layers = [];
    state.E?.dispose();
    state.Et?.dispose();
    state.E = null;
    state.Et = null;
  }
}
