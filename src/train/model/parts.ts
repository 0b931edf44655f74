/**
 * The interfaces between the model's parts. A new vision tower or output head is a new module that
 * implements one of these; GroundingModel (grounding.ts) only composes them.
 *
 *   images  -> VisionTower   -> image tokens ┐
 *   text    -> TextEmbedding -> text tokens  ┴-> Decoder (prefix-LM transformer) -> OutputHead -> logits
 *
 * Every part declares the parameters it owns (names are unique within a model) and reads them through
 * `Params`; it is handed the `Ops` of the pass (backend- and gradient-specific products).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { ModelBatch } from './config.js';
import type { Ops } from './ops.js';
import type { ParamSpec, Params } from './params.js';

export interface Part {
  /** The parameters this part owns, in the order they are initialised. */
  readonly specs: readonly ParamSpec[];
  /** Free the constant tensors the part holds (not the parameters: the model owns those). */
  dispose(): void;
}

/** What a vision tower gives the decoder. */
export interface VisionOutput {
  /** [B * M * tokensPerImage, d]: row i's image slot j occupies rows (i * M + j) * tokensPerImage onward. */
  tokens: tf.Tensor2D;
  /**
   * [B * M * tokensPerImage, 4]: the box (x1, y1, x2, y2, 0-1000 units of its image) of the object each
   * token stands for, when the tower predicts boxes (what a pointer head points at); null otherwise.
   */
  boxes: tf.Tensor2D | null;
}

/** Images to tokens for the decoder. */
export interface VisionTower extends Part {
  /** Tokens each image slot becomes. */
  readonly tokensPerImage: number;
  encode(p: Params, ops: Ops, b: Pick<ModelBatch, 'B' | 'M' | 'patches'>): VisionOutput;
}

/** Which token sequence is embedded: it decides the position table. */
export type TextSegment = 'question' | 'completion';

/** Text tokens to vectors; its table is what a tied output head multiplies by. */
export interface TextEmbedding extends Part {
  /** [vocab, d]: the embedding of every token. */
  table(p: Params, ops: Ops): tf.Tensor2D;
  /**
   * [B * L, d] embeddings of token ids [B * L] (host array or int32 device tensor) at positions
   * offset..offset+L-1 of their segment, plus the box-grammar state of each completion token when given.
   */
  embed(p: Params, ops: Ops, table: tf.Tensor2D, ids: Int32Array | tf.Tensor1D, B: number, L: number, segment: TextSegment, offset?: number, states?: Int32Array | tf.Tensor1D): tf.Tensor2D;
}

/** Additive attention mask: 0 where a query may look, a large negative number where it may not. */
export interface AttentionMask {
  /** [B, Tk]: per row, keys no query may see (padding). */
  keys: tf.Tensor2D;
  /** [T, Tk] shared by every row (the prefix-LM structure), or null when every query sees every key. */
  structure: tf.Tensor2D | null;
}

export interface LayerCache {
  /** [B * H, T, dh] keys and values so far. */
  k: tf.Tensor3D;
  v: tf.Tensor3D;
}

/** The transformer over the whole sequence; returns final (normalised) hidden states. */
export interface Decoder extends Part {
  /**
   * x [B * T, d] -> [B * T, d]. With `caches` (one per layer), each layer appends its keys and values to
   * its cache and the updated caches are returned (prefill starts from empty ones, decoding from the last).
   */
  forward(p: Params, ops: Ops, x: tf.Tensor2D, B: number, T: number, mask: AttentionMask, caches?: LayerCache[]): { h: tf.Tensor2D; caches?: LayerCache[] };
  /** Empty caches for B rows. */
  emptyCaches(B: number): LayerCache[];
}

/** Final hidden states to next-token logits. */
export interface OutputHead extends Part {
  /** [N, vocab] logits of hidden states [N, d]; `table` is the text embedding's (for tied heads). */
  logits(p: Params, ops: Ops, h: tf.Tensor2D, table: tf.Tensor2D): tf.Tensor2D;
}
