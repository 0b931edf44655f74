/**
 * G sampled completions of one prompt, decoded together: the prefix (images and question) is run once,
 * its keys and values are repeated G times, and the G rows advance one token per decode step. Each row
 * samples from its own RNG stream keyed by (seed, row), so a rollout does not depend on how many rows
 * share its batch, and the same seed gives the same G texts.
 */
import { ConfigError } from '../../errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { exampleBatch } from '../batching.js';
import { sampleToken, type Generation } from '../generate.js';
import type { GroundingModel } from '../model.js';
import { Rng } from '../rng.js';
import type { Tokenizer } from '../tokenizer.js';

export interface RolloutOptions {
  /** Completions per prompt (the paper's G, default 8). */
  G?: number;
  /** Sampling temperature (default 1, hard-coded in UniVG-R1's trainer). */
  temperature?: number;
  topP?: number;
  /** At most this many tokens per completion (default and cap: the model's maxTargetTokens). */
  maxTokens?: number;
  /** Seed of the rows' sampling streams. */
  seed: string | number;
}

export interface Rollout extends Generation {
  /** What the policy produced, as training targets: the tokens, then `<eos>` when it stopped there. */
  targetIds: number[];
}

/** Sample G completions for decoded images (S x S x 3, 0..1) and prompt ids. */
export function sampleGroup(model: GroundingModel, tokenizer: Tokenizer, images: Float32Array[], prompt: number[], o: RolloutOptions): Rollout[] {
  const c = model.config;
  const G = o.G ?? 8;
  if (!Number.isInteger(G) || G < 1) throw new ConfigError(`G must be a positive integer, got ${G}`, { field: 'G' });
  if (images.length === 0) throw new ConfigError('a rollout needs at least one image', { field: 'images' });
  if (images.length > c.maxImages) throw new ConfigError(`${images.length} images; the model takes at most ${c.maxImages}`, { field: 'images' });
  const maxTokens = Math.min(o.maxTokens ?? c.maxTargetTokens, c.maxTargetTokens);
  const temperature = o.temperature ?? 1;
  const topP = o.topP ?? 1;
  const state = model.prefill(exampleBatch(c, images, prompt.slice(0, c.maxPromptTokens), [], tokenizer.bos));
  // One prefix for all rows: repeat its cache (rows are batch-major: [B*H, T, dh]) and key mask.
  if (G > 1) {
    for (const l of state.layers) {
      const k = tf.tile(l.k, [G, 1, 1]) as tf.Tensor3D;
      const v = tf.tile(l.v, [G, 1, 1]) as tf.Tensor3D;
      l.k.dispose();
      l.v.dispose();
      l.k = k;
      l.v = v;
    }
    const m = new Float32Array(G * state.Tp);
    for (let g = 0; g < G; g++) m.set(state.prefixMask, g * state.Tp);
    state.prefixMask = m;
    state.B = G;
    state.box = new Int32Array(G);
  }
  const V = c.vocabSize;
  const rngs = Array.from({ length: G }, (_, g) => new Rng(`rollout:${o.seed}:${g}`));
  const out: number[][] = Array.from({ length: G }, () => []);
  const stop: Array<Generation['stop'] | null> = new Array(G).fill(null);
  let next = new Int32Array(G).fill(tokenizer.bos);
  try {
    for (let t = 0; t < maxTokens && stop.some((s) => s === null); t++) {
      const logits = model.decodeStep(state, next);
      const following = new Int32Array(G);
      for (let g = 0; g < G; g++) {
        // A finished row still takes a slot in the batch; what it is fed no longer matters.
        if (stop[g] !== null) {
          following[g] = tokenizer.eos;
          continue;
        }
        const tk = sampleToken(logits.subarray(g * V, (g + 1) * V), temperature, topP, rngs[g]!);
        following[g] = tk;
        if (tk === tokenizer.eos) stop[g] = 'eos';
        else out[g]!.push(tk);
      }
      next = following;
    }
  } finally {
    model.disposeState(state);
  }
  return out.map((tokens, g) => ({
    text: tokenizer.decode(tokens),
    tokens,
    stop: stop[g] ?? 'length',
    targetIds: stop[g] === 'eos' ? [...tokens, tokenizer.eos] : [...tokens],
  }));
}
