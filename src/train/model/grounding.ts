/**
 * The compact vision-language grounding model, composed of its parts (parts.ts):
 *
 *   [image tokens | question tokens | completion tokens] -> prefix-LM transformer -> next-token logits
 *
 * Everything here queues device work and returns tensors; nothing reads a tensor back (GPU backends cannot
 * read synchronously, and every readback stalls them). Padding (absent images, question and completion
 * padding) is masked as keys.
 */
import * as tf from '@tensorflow/tfjs-core';
import { boxStates, boxTransitionTable } from './box-grammar.js';
import { checkConfig, patchesPerImage, type ModelBatch, type ModelConfig, type PrefixBatch } from './config.js';
import { NEG, PrefixLmDecoder } from './decoder.js';
import { TiedHead } from './head.js';
import { crossEntropy, targetLogProbs } from './losses.js';
import { opsFor, type Ops } from './ops.js';
import { CoordinatePointer, EDGE_AFTER_STATE, type PointerContext } from './pointer.js';
import { initValues, ParamSet, sizeOf, type ParamSpec, type Params } from './params.js';
import type { AttentionMask, Decoder, LayerCache, OutputHead, TextEmbedding, VisionTower } from './parts.js';
import { CoordinateAwareEmbedding } from './text.js';
import { PatchTower } from './vision-patch.js';
import { VitTower } from './vision-vit.js';
import type { Rng } from '../rng.js';

/** The parts of a model built from its config. */
export interface ModelParts {
  vision: VisionTower;
  text: TextEmbedding;
  decoder: Decoder;
  head: OutputHead;
  /** Pointed coordinates (config.pointer), or null. */
  pointer: CoordinatePointer | null;
}

export function buildParts(c: ModelConfig): ModelParts {
  return {
    vision: c.tower === 'vit' ? new VitTower(c) : new PatchTower(c),
    text: new CoordinateAwareEmbedding(c),
    decoder: new PrefixLmDecoder(c),
    head: new TiedHead(c),
    pointer: c.pointer ? new CoordinatePointer(c) : null,
  };
}

function partsSpecs(parts: ModelParts): ParamSpec[] {
  const specs = [...parts.text.specs, ...parts.vision.specs, ...parts.decoder.specs, ...parts.head.specs, ...(parts.pointer?.specs ?? [])];
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.name)) throw new Error(`two parts declare the parameter ${s.name}`);
    seen.add(s.name);
  }
  return specs;
}

/** Every parameter of a model with this config (builds and frees its parts). */
export function paramSpecs(c: ModelConfig): ParamSpec[] {
  const parts = buildParts(c);
  try {
    return partsSpecs(parts);
  } finally {
    for (const part of Object.values(parts)) part?.dispose();
  }
}

export const paramCount = (c: ModelConfig) => paramSpecs(c).reduce((n, s) => n + sizeOf(s.shape), 0);

/** Initial values from the seeded RNG (plain JS, so identical on every backend). */
export function initParamValues(c: ModelConfig, rng: Rng): Map<string, Float32Array> {
  return initValues(paramSpecs(c), rng);
}

/** What decoding carries from one token to the next (all on the device). */
export interface DecodeState {
  B: number;
  /** Completion tokens already in the cache. */
  t: number;
  Tp: number;
  /** [B, Tp] additive key mask of the prefix. */
  prefixKeys: tf.Tensor2D;
  layers: LayerCache[];
  /** The embedding table [vocab, d], computed once. */
  table: tf.Tensor2D | null;
  /** [B] int32 box-grammar state of each row after its last completion token. */
  box: tf.Tensor1D;
  /** The pointer's view of the rows' images (config.pointer), or null. */
  pointer: PointerContext | null;
}

export class GroundingModel {
  readonly config: ModelConfig;
  readonly specs: readonly ParamSpec[];
  readonly parts: ModelParts;
  private readonly params: ParamSet;
  private readonly p: Params;
  /** [BOX_STATES * vocab] int32 transition table of the box grammar, built on first decode. */
  private boxTable: tf.Tensor1D | null = null;
  /** [BOX_STATES] int32: the box edge written after each state (-1 none), built on first decode. */
  private edgeTable: tf.Tensor1D | null = null;

  constructor(config: ModelConfig, values: ReadonlyMap<string, Float32Array>) {
    checkConfig(config);
    this.config = config;
    this.parts = buildParts(config);
    this.specs = partsSpecs(this.parts);
    this.params = new ParamSet(this.specs, values);
    this.p = (name) => this.params.get(name);
  }

  static init(config: ModelConfig, rng: Rng): GroundingModel {
    return new GroundingModel(config, initParamValues(config, rng));
  }

  param(name: string): tf.Variable {
    return this.params.get(name);
  }

  variables(): tf.Variable[] {
    return this.params.variables();
  }

  /** Current parameter values by name (copies, read back asynchronously). */
  values(): Promise<Map<string, Float32Array>> {
    return this.params.values();
  }

  dispose(): void {
    this.params.dispose();
    for (const part of Object.values(this.parts)) part?.dispose();
    this.boxTable?.dispose();
    this.boxTable = null;
    this.edgeTable?.dispose();
    this.edgeTable = null;
  }

  /** [B, Tp] prefix key mask (0 visible, NEG hidden): absent images' tokens and question padding. */
  prefixKeyMask(b: Pick<ModelBatch, 'B' | 'M' | 'Lq' | 'imageMask' | 'qMask'>): Float32Array {
    const P = this.parts.vision.tokensPerImage;
    const Tp = b.M * P + b.Lq;
    const m = new Float32Array(b.B * Tp);
    for (let i = 0; i < b.B; i++) {
      for (let j = 0; j < b.M; j++) if (!b.imageMask[i * b.M + j]) m.fill(NEG, i * Tp + j * P, i * Tp + (j + 1) * P);
      for (let j = 0; j < b.Lq; j++) if (!b.qMask[i * b.Lq + j]) m[i * Tp + b.M * P + j] = NEG;
    }
    return m;
  }

  /** The prefix-LM mask of full sequences: prefix keys' padding per row, and the shared structure. */
  private fullMask(b: ModelBatch): AttentionMask {
    const Tp = b.M * this.parts.vision.tokensPerImage + b.Lq;
    const T = Tp + b.Lc;
    const keys = new Float32Array(b.B * T);
    const prefix = this.prefixKeyMask(b);
    for (let i = 0; i < b.B; i++) keys.set(prefix.subarray(i * Tp, (i + 1) * Tp), i * T);
    // Prefix queries see no completion key; completion query Tp+k sees completion keys 0..k.
    const s = new Float32Array(T * T);
    for (let q = 0; q < T; q++) {
      const visibleUpTo = q < Tp ? Tp : q + 1;
      if (visibleUpTo < T) s.fill(NEG, q * T + visibleUpTo, (q + 1) * T);
    }
    return { keys: tf.tensor2d(keys, [b.B, T]), structure: tf.tensor2d(s, [T, T]) };
  }

  /** [B, M * P + Lq, d] image and question embeddings of a prefix, and the pointer's view of the images. */
  private embedPrefix(ops: Ops, b: PrefixBatch, table: tf.Tensor2D): { x: tf.Tensor3D; pointer: PointerContext | null } {
    const d = this.config.dModel;
    const Np = b.M * this.parts.vision.tokensPerImage;
    const v = this.parts.vision.encode(this.p, ops, b);
    const xp = tf.reshape(v.tokens, [b.B, Np, d]);
    const xq = tf.reshape(this.parts.text.embed(this.p, ops, table, b.qIds, b.B, b.Lq, 'question'), [b.B, b.Lq, d]);
    let pointer: PointerContext | null = null;
    if (this.parts.pointer) {
      if (!v.boxes) throw new Error('the pointer needs a vision tower that predicts boxes');
      pointer = this.parts.pointer.context(this.p, ops, v.tokens, v.boxes, b.B, b.imageMask, b.M);
    }
    return { x: tf.concat([xp, xq], 1) as tf.Tensor3D, pointer };
  }

  /** Final hidden states of the completion slots [B*Lc, d], the embedding table and the pointer's view. */
  private completionHidden(ops: Ops, b: ModelBatch): { h: tf.Tensor2D; table: tf.Tensor2D; pointer: PointerContext | null } {
    const c = this.config;
    const d = c.dModel;
    const Tp = b.M * this.parts.vision.tokensPerImage + b.Lq;
    const T = Tp + b.Lc;
    const table = this.parts.text.table(this.p, ops);
    const xc = tf.reshape(this.parts.text.embed(this.p, ops, table, b.cIn, b.B, b.Lc, 'completion', 0, boxStates(b.cIn, b.B, b.Lc, c)), [b.B, b.Lc, d]);
    const prefix = this.embedPrefix(ops, b, table);
    const x = tf.reshape(tf.concat([prefix.x, xc], 1), [b.B * T, d]) as tf.Tensor2D;
    const { h } = this.parts.decoder.forward(this.p, ops, x, b.B, T, this.fullMask(b));
    const hc = tf.reshape(tf.slice(tf.reshape(h, [b.B, T, d]), [0, Tp, 0], [b.B, b.Lc, d]), [b.B * b.Lc, d]) as tf.Tensor2D;
    return { h: hc, table, pointer: prefix.pointer };
  }

  /**
   * Logits [N, V] at completion slots `slots` (indices into [B*Lc]): the head's, with pointed coordinates
   * where the box grammar says an edge comes next (config.pointer).
   */
  private slotLogits(ops: Ops, b: ModelBatch, slots: Int32Array, out: { h: tf.Tensor2D; table: tf.Tensor2D; pointer: PointerContext | null }): tf.Tensor2D {
    const hs = tf.gather(out.h, tf.tensor1d(slots, 'int32')) as tf.Tensor2D;
    const base = this.parts.head.logits(this.p, ops, hs, out.table);
    if (!this.parts.pointer || !out.pointer) return base;
    const states = boxStates(b.cIn, b.B, b.Lc, this.config);
    const rows = Int32Array.from(slots, (i) => Math.floor(i / b.Lc));
    const edges = Int32Array.from(slots, (i) => EDGE_AFTER_STATE[states[i]!]!);
    return this.parts.pointer.adjustAt(this.p, ops, base, hs, rows, edges, out.pointer);
  }

  /** The rows (into [B*Lc]) and target ids of the masked completion tokens. */
  private targets(b: ModelBatch): { rows: Int32Array; tgt: Int32Array } {
    const rows: number[] = [];
    const tgt: number[] = [];
    for (let i = 0; i < b.B * b.Lc; i++)
      if (b.cMask[i]) {
        rows.push(i);
        tgt.push(b.cTgt[i]!);
      }
    return { rows: Int32Array.from(rows), tgt: Int32Array.from(tgt) };
  }

  /**
   * Summed cross-entropy of the completion targets where cMask is set, times `scale` (1 / tokens in
   * the whole optimizer step, so micro-batches add up to the full batch's mean). Logits are computed
   * only for the real target positions. `coordSigma` > 0 smooths coordinate targets (softTargets).
   * `grad: false` builds the pass without gradient bookkeeping (held-out evaluation).
   */
  loss(b: ModelBatch, scale: number, coordSigma = 0, o: { grad?: boolean } = {}): tf.Scalar {
    const { rows, tgt } = this.targets(b);
    if (rows.length === 0) return tf.scalar(0);
    const ops = opsFor(o.grad ?? true);
    const logits = this.slotLogits(ops, b, rows, this.completionHidden(ops, b));
    const c = this.config;
    return crossEntropy(logits, tgt, scale, { first: c.coordBase, last: c.coordBase + c.coordMax, sigma: coordSigma });
  }

  /**
   * log p of each completion target where cMask is set, row-major ([N], N = tokens in the mask): the
   * policy term of GRPO. Logits are divided by `temperature` first, as the sampler does. `grad: false`
   * for constants (the reference model, the old policy).
   */
  logProbs(b: ModelBatch, temperature = 1, o: { grad?: boolean } = {}): tf.Tensor1D {
    const { rows, tgt } = this.targets(b);
    if (rows.length === 0) return tf.zeros([0]) as tf.Tensor1D;
    const grad = o.grad ?? true;
    const run = () => {
      const ops = opsFor(grad);
      let logits = this.slotLogits(ops, b, rows, this.completionHidden(ops, b));
      if (temperature !== 1) logits = tf.div(logits, temperature) as tf.Tensor2D;
      return targetLogProbs(logits, tgt);
    };
    return grad ? run() : tf.tidy(run);
  }

  /** logProbs without gradients, read back (tests and analysis; training keeps them on the device). */
  async logProbValues(b: ModelBatch, temperature = 1): Promise<Float32Array> {
    const t = this.logProbs(b, temperature, { grad: false });
    try {
      return (await t.data()) as Float32Array;
    } finally {
      t.dispose();
    }
  }

  /** Logits at every completion slot, full recomputation: [B, Lc, vocab]. */
  logits(b: ModelBatch): tf.Tensor3D {
    return tf.tidy(() => {
      const ops = opsFor(false);
      const all = Int32Array.from({ length: b.B * b.Lc }, (_, i) => i);
      return tf.reshape(this.slotLogits(ops, b, all, this.completionHidden(ops, b)), [b.B, b.Lc, this.config.vocabSize]) as tf.Tensor3D;
    });
  }

  /** Run the prefix (images and question) and keep every layer's keys and values. */
  prefill(b: PrefixBatch): DecodeState {
    const d = this.config.dModel;
    const Tp = b.M * this.parts.vision.tokensPerImage + b.Lq;
    const kept = tf.tidy(() => {
      const ops = opsFor(false);
      const table = this.parts.text.table(this.p, ops);
      const prefix = this.embedPrefix(ops, b, table);
      const x = tf.reshape(prefix.x, [b.B * Tp, d]) as tf.Tensor2D;
      const prefixKeys = tf.tensor2d(this.prefixKeyMask(b), [b.B, Tp]);
      const { caches } = this.parts.decoder.forward(this.p, ops, x, b.B, Tp, { keys: prefixKeys, structure: null }, this.parts.decoder.emptyCaches(b.B));
      const ptr = prefix.pointer ? [prefix.pointer.keys, prefix.pointer.boxes, prefix.pointer.mask] : [];
      return [table, prefixKeys, ...ptr, ...caches!.flatMap((lc) => [lc.k, lc.v])];
    });
    const [table, prefixKeys, ...rest] = kept;
    const pointer = this.parts.pointer ? { keys: rest[0] as tf.Tensor3D, boxes: rest[1] as tf.Tensor3D, mask: rest[2] as tf.Tensor2D } : null;
    const kv = this.parts.pointer ? rest.slice(3) : rest;
    const layers: LayerCache[] = [];
    for (let l = 0; l < kv.length; l += 2) layers.push({ k: kv[l] as tf.Tensor3D, v: kv[l + 1] as tf.Tensor3D });
    return { B: b.B, t: 0, Tp, prefixKeys: prefixKeys as tf.Tensor2D, layers, table: table as tf.Tensor2D, box: tf.zeros([b.B], 'int32'), pointer };
  }

  /** Repeat a one-row prefill `G` times (G rollouts of one prompt share one prefix computation). */
  repeatState(state: DecodeState, G: number): void {
    if (state.B !== 1) throw new Error(`repeatState: the state has ${state.B} rows, expected 1`);
    if (G === 1) return;
    for (const l of state.layers) {
      // Rows are batch-major ([B*H, T, dh]), so tiling the one row's heads repeats the row.
      const k = tf.tile(l.k, [G, 1, 1]) as tf.Tensor3D;
      const v = tf.tile(l.v, [G, 1, 1]) as tf.Tensor3D;
      l.k.dispose();
      l.v.dispose();
      l.k = k;
      l.v = v;
    }
    const keys = tf.tile(state.prefixKeys, [G, 1]) as tf.Tensor2D;
    state.prefixKeys.dispose();
    state.prefixKeys = keys;
    if (state.pointer) {
      const p = state.pointer;
      state.pointer = { keys: tf.tile(p.keys, [G, 1, 1]) as tf.Tensor3D, boxes: tf.tile(p.boxes, [G, 1, 1]) as tf.Tensor3D, mask: tf.tile(p.mask, [G, 1]) as tf.Tensor2D };
      p.keys.dispose();
      p.boxes.dispose();
      p.mask.dispose();
    }
    state.box.dispose();
    state.box = tf.zeros([G], 'int32');
    state.B = G;
  }

  /**
   * Feed one completion token per row (host ids, or an int32 device tensor [B]) at slot `state.t`;
   * returns its logits [B, vocab] on the device (the caller disposes them) and advances the cache.
   */
  decodeStep(state: DecodeState, tokens: Int32Array | tf.Tensor1D): tf.Tensor2D {
    const c = this.config;
    const d = c.dModel;
    const B = state.B;
    const n = tokens instanceof Int32Array ? tokens.length : tokens.shape[0];
    if (n !== B) throw new Error(`decodeStep: ${n} tokens for ${B} rows`);
    if (!state.table) throw new Error('decodeStep: the decode state was disposed');
    this.boxTable ??= tf.tensor1d(boxTransitionTable(c), 'int32');
    const V = c.vocabSize;
    const boxTable = this.boxTable;
    const table = state.table;
    const [logits, box, ...kv] = tf.tidy(() => {
      const ops = opsFor(false);
      const ids = tokens instanceof Int32Array ? tf.tensor1d(tokens, 'int32') : tokens;
      const box = tf.gather(boxTable, tf.add(tf.mul(state.box, tf.scalar(V, 'int32')), ids)) as tf.Tensor1D;
      const x = this.parts.text.embed(this.p, ops, table, ids, B, 1, 'completion', state.t, box);
      const keys = tf.concat([state.prefixKeys, tf.zeros([B, state.t + 1])], 1) as tf.Tensor2D;
      const { h, caches } = this.parts.decoder.forward(this.p, ops, x, B, 1, { keys, structure: null }, state.layers);
      const hs = tf.reshape(h, [B, d]) as tf.Tensor2D;
      let logits = this.parts.head.logits(this.p, ops, hs, table);
      if (this.parts.pointer && state.pointer) {
        this.edgeTable ??= tf.keep(tf.tensor1d(EDGE_AFTER_STATE as number[], 'int32'));
        logits = this.parts.pointer.adjustRows(this.p, ops, logits, hs, tf.gather(this.edgeTable, box) as tf.Tensor1D, state.pointer);
      }
      return [logits, box, ...caches!.flatMap((lc) => [lc.k, lc.v])];
    });
    state.box.dispose();
    state.box = box as tf.Tensor1D;
    for (let l = 0; l < state.layers.length; l++) {
      state.layers[l]!.k.dispose();
      state.layers[l]!.v.dispose();
      state.layers[l] = { k: kv[2 * l] as tf.Tensor3D, v: kv[2 * l + 1] as tf.Tensor3D };
    }
    state.t++;
    return logits as tf.Tensor2D;
  }

  disposeState(state: DecodeState): void {
    for (const l of state.layers) {
      l.k.dispose();
      l.v.dispose();
    }
    state.layers = [];
    state.table?.dispose();
    state.table = null;
    state.prefixKeys.dispose();
    state.box.dispose();
    if (state.pointer) {
      state.pointer.keys.dispose();
      state.pointer.boxes.dispose();
      state.pointer.mask.dispose();
      state.pointer = null;
    }
  }
}
