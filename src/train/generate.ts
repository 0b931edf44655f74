/**
 * Generation with the KV cache: the prefix (images and question) is run once, then one token at a time.
 * Greedy (temperature 0, the default) or temperature / top-p sampling from a seeded RNG, so the same
 * seed gives the same text. `generateCompletion` is what evaluation calls for each benchmark sample.
 */
import { ConfigError } from '../errors.js';
import { trainingPrompt } from '../stages/select.js';
import { selectBackend, type BackendChoice, type SelectOptions } from './backend.js';
import { exampleBatch, promptIds } from './batching.js';
import { readCheckpoint, type LoadedCheckpoint } from './checkpoint.js';
import { decodeImage } from './image.js';
import type { GroundingModel } from './model.js';
import { Rng } from './rng.js';
import type { Tokenizer } from './tokenizer.js';

export interface SamplingOptions {
  /** At most this many completion tokens (default and cap: the model's maxTargetTokens). */
  maxTokens?: number;
  /** 0 (default): greedy. Otherwise logits are divided by it before sampling. */
  temperature?: number;
  /** Nucleus sampling: keep the most likely tokens whose probability adds up to topP (default 1). */
  topP?: number;
  /** Seed of the sampling RNG (default 0). */
  seed?: number;
  /**
   * Greedy decoding only. `token` (default): plain argmax. `class`: the 1001 coordinate tokens compete
   * with every other token as one class (the sum of their probabilities), and the most likely coordinate
   * is taken when that class wins: they split one decision ("a number comes next") over 1001 values, so
   * under plain argmax a punctuation token at 20% beats a number holding 80% spread over many values.
   */
  greedy?: 'class' | 'token';
}

/** The token ids of coordinates, [first, last], for class-greedy decoding. */
export interface CoordinateRange {
  first: number;
  last: number;
}

export interface GenerationInput {
  /** Encoded images (bytes or file paths), or pixels already decoded to the model's S x S x 3 in 0..1. */
  images: Array<Uint8Array | string | Float32Array>;
  /** The user text as training rows have it (`<image>` placeholders + question + instruction)... */
  prompt?: string;
  /** ...or just the question: the prompt is then built exactly as training rows' prompts are. */
  question?: string;
}

export interface Generation {
  text: string;
  tokens: number[];
  /** Why generation stopped: `<eos>`, or the token limit. */
  stop: 'eos' | 'length';
}

/** Pick a token from logits: argmax when temperature is 0, else temperature + top-p sampling. */
export function sampleToken(logits: Float32Array, temperature: number, topP: number, rng: Rng, coords?: CoordinateRange): number {
  if (!(temperature > 0)) {
    if (coords) return classGreedy(logits, coords);
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const probs = new Float64Array(logits.length);
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += probs[i] = Math.exp((logits[i]! - max) / temperature);
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]! || a - b);
  // The nucleus: most likely first until the mass reaches topP (at least one token).
  const keep: number[] = [];
  let mass = 0;
  for (const i of order) {
    keep.push(i);
    mass += probs[i]! / z;
    if (mass >= topP) break;
  }
  let u = rng.uniform() * keep.reduce((a, i) => a + probs[i]!, 0);
  for (const i of keep) {
    u -= probs[i]!;
    if (u < 0) return i;
  }
  return keep[keep.length - 1]!;
}

/** Argmax where the coordinate tokens count as one class (see SamplingOptions.greedy). */
export function classGreedy(logits: Float32Array, coords: CoordinateRange): number {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let coordMass = 0;
  let bestCoord = coords.first;
  let bestOther = -1;
  for (let i = 0; i < logits.length; i++) {
    const p = Math.exp(logits[i]! - max);
    if (i >= coords.first && i <= coords.last) {
      coordMass += p;
      if (logits[i]! > logits[bestCoord]!) bestCoord = i;
    } else if (bestOther < 0 || logits[i]! > logits[bestOther]!) bestOther = i;
  }
  return bestOther >= 0 && Math.exp(logits[bestOther]! - max) >= coordMass ? bestOther : bestCoord;
}

/** Generate from token ids and decoded images (S x S x 3, 0..1). */
export function generateIds(model: GroundingModel, tokenizer: Tokenizer, images: Float32Array[], prompt: number[], opts: SamplingOptions = {}): Generation {
  const c = model.config;
  const maxTokens = Math.min(opts.maxTokens ?? c.maxTargetTokens, c.maxTargetTokens);
  if (images.length === 0) throw new ConfigError('generation needs at least one image', { field: 'images' });
  if (images.length > c.maxImages) throw new ConfigError(`${images.length} images; the model takes at most ${c.maxImages}`, { field: 'images' });
  // A question longer than training ever saw keeps its start (the model has no positions beyond).
  const ids = prompt.slice(0, c.maxPromptTokens);
  const rng = new Rng(`sample:${opts.seed ?? 0}`);
  const coords = opts.greedy === 'class' ? { first: tokenizer.coordId(0), last: tokenizer.coordId(1000) } : undefined;
  const state = model.prefill(exampleBatch(c, images, ids, [], tokenizer.bos));
  const out: number[] = [];
  let next = tokenizer.bos;
  let stop: Generation['stop'] = 'length';
  try {
    while (out.length < maxTokens) {
      const logits = model.decodeStep(state, Int32Array.of(next));
      next = sampleToken(logits, opts.temperature ?? 0, opts.topP ?? 1, rng, coords);
      if (next === tokenizer.eos) {
        stop = 'eos';
        break;
      }
      out.push(next);
    }
  } finally {
    model.disposeState(state);
  }
  return { text: tokenizer.decode(out), tokens: out, stop };
}

/** The prompt text of an input: as given, or built from the question the way training rows are. */
export function promptOf(input: GenerationInput): string {
  if (input.prompt !== undefined) return input.prompt;
  if (input.question === undefined) throw new ConfigError('generation input needs a prompt or a question', { field: 'question' });
  return trainingPrompt({ images: input.images.map(() => null), question: input.question } as never);
}

/** Decode the input's images to the model's input size (the loader's stretch fit, same kernel). */
export async function decodeInputImages(model: GroundingModel, images: GenerationInput['images']): Promise<Float32Array[]> {
  const S = model.config.imageSize;
  return Promise.all(
    images.map((im) => {
      if (im instanceof Float32Array) {
        if (im.length !== S * S * 3) throw new ConfigError(`decoded image has ${im.length} values, expected ${S}x${S}x3`, { field: 'images' });
        return im;
      }
      return decodeImage(im, { size: S, fit: 'stretch' });
    }),
  );
}

/** The completion text the model writes for images + question (what evaluation scores). */
export async function generateCompletion(model: GroundingModel, tokenizer: Tokenizer, input: GenerationInput, opts: SamplingOptions = {}): Promise<string> {
  const images = await decodeInputImages(model, input.images);
  return generateIds(model, tokenizer, images, promptIds(tokenizer, promptOf(input)), opts).text;
}

export interface LoadedModel extends LoadedCheckpoint {
  backend: BackendChoice;
}

/** Select a backend (best available unless told) and load a checkpoint for inference. */
export async function loadCheckpoint(dirOrOut: string, opts: SelectOptions = {}): Promise<LoadedModel> {
  const backend = await selectBackend(opts);
  const loaded = await readCheckpoint(dirOrOut, { optimizer: false });
  return { ...loaded, backend };
}
