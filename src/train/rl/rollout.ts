/**
 * G sampled completions of one prompt, decoded together: the prefix (images and question) is run once,
 * its keys and values are repeated G times, and the G rows advance one token per decode step. Each row
 * samples from its own RNG stream keyed by (seed, row), so a rollout does not depend on how many rows
 * share its batch, and the same seed gives the same G texts.
 */
import { ConfigError } from '../../errors.js';
import { exampleBatch } from '../batching.js';
import { answerForcing, type Generation } from '../generate.js';
import type { GroundingModel } from '../model/index.js';
import { Rng } from '../rng.js';
import { decodeRows } from '../sample.js';
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
  /**
   * Budget forcing (SamplingOptions.forceAnswer): a rollout that would run out of tokens before answering
   * is given the answer's frame and chooses its coordinates, so its reward says where it points. The frame's
   * tokens stay in its targets like the rest. A group's advantages sum to zero and its forced rollouts share
   * the frame, so the frame's terms cancel as far as their gradients agree between rollouts (not measured);
   * the coordinates differ, and carry the signal.
   */
  forceAnswer?: boolean;
}

export interface Rollout extends Generation {
  /** What the policy produced, as training targets: the tokens, then `<eos>` when it stopped there. */
  targetIds: number[];
}

/** Sample G completions for decoded images (S x S x 3, 0..1) and prompt ids. */
export async function sampleGroup(model: GroundingModel, tokenizer: Tokenizer, images: Float32Array[], prompt: number[], o: RolloutOptions): Promise<Rollout[]> {
  const c = model.config;
  const G = o.G ?? 8;
  if (!Number.isInteger(G) || G < 1) throw new ConfigError(`G must be a positive integer, got ${G}`, { field: 'G' });
  if (images.length === 0) throw new ConfigError('a rollout needs at least one image', { field: 'images' });
  if (images.length > c.maxImages) throw new ConfigError(`${images.length} images; the model takes at most ${c.maxImages}`, { field: 'images' });
  const maxTokens = Math.min(o.maxTokens ?? c.maxTargetTokens, c.maxTargetTokens);
  const state = model.prefill(exampleBatch(c, images, prompt.slice(0, c.maxPromptTokens), [], tokenizer.bos));
  try {
    // One prefix for all rows: its keys and values are computed once and repeated.
    model.repeatState(state, G);
    const r = await decodeRows(model, state, {
      maxTokens,
      bos: tokenizer.bos,
      eos: tokenizer.eos,
      temperature: o.temperature ?? 1,
      topP: o.topP ?? 1,
      rngs: Array.from({ length: G }, (_, g) => new Rng(`rollout:${o.seed}:${g}`)),
      ...(o.forceAnswer ? { forceAnswer: answerForcing(tokenizer) } : {}),
    });
    return r.tokens.map((tokens, g) => ({
      text: tokenizer.decode(tokens),
      tokens,
      stop: r.stop[g]!,
      forced: r.forced[g]!,
      targetIds: r.stop[g] === 'eos' ? [...tokens, tokenizer.eos] : [...tokens],
    }));
  } finally {
    model.disposeState(state);
  }
}
