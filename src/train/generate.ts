/**
 * Generation with the KV cache: the prefix (images and question) is run once, then one token at a time.
 * Greedy (temperature 0, the default) or temperature / top-p sampling from a seeded RNG, so the same
 * seed gives the same text. `generateCompletion` is what evaluation calls for each benchmark sample.
 */
import { ConfigError } from '../errors.js';
import { trainingPrompt } from '../completion/prompt.js';
import { selectBackend, type BackendChoice, type SelectOptions } from './backend.js';
import { exampleBatch, promptIds, stackBatches } from './batching.js';
import { readCheckpoint, type LoadedCheckpoint } from './checkpoint.js';
import type { GroundingModel } from './model/index.js';
import { Rng } from './rng.js';
import { decodeRows, type AnswerForcing } from './sample.js';
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
  /**
   * Budget forcing (default false): a row that has not begun `<answer>` when only the tokens of one answer
   * are left gets `</think><answer>(x1,y1),(x2,y2)</answer>` written for it, the four coordinates chosen
   * by the model. A model whose reasoning would run past the budget then still commits to a box, so
   * evaluation measures where it points and not only whether it finishes. Results say which rows were
   * forced. A model whose own budget (maxTargetTokens) is shorter than the frame answers without
   * reasoning (no-CoT SFT) and is left alone.
   */
  forceAnswer?: boolean;
}

/** What decodeRows needs to force an answer with this tokenizer. */
export function answerForcing(tokenizer: Tokenizer): AnswerForcing {
  return { template: forcedAnswerTemplate(tokenizer), answer: tokenizer.answer, coords: { first: tokenizer.coordId(0), last: tokenizer.coordId(1000) } };
}

/** The forced answer's tokens: -1 where the model chooses a coordinate. */
export function forcedAnswerTemplate(tokenizer: Tokenizer): number[] {
  const box = tokenizer.boxTokens();
  if (!box) throw new ConfigError('forcing an answer needs the tokens ( , ) in the vocabulary', { field: 'forceAnswer' });
  const [open, comma, close] = box;
  return [tokenizer.thinkEnd, tokenizer.answer, open, -1, comma, -1, close, comma, open, -1, comma, -1, close, tokenizer.answerEnd, tokenizer.eos];
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
  /** Whether the answer was written by budget forcing (SamplingOptions.forceAnswer). */
  forced: boolean;
}

/** Generate from token ids and decoded images (S x S x 3, 0..1). */
export async function generateIds(model: GroundingModel, tokenizer: Tokenizer, images: Float32Array[], prompt: number[], opts: SamplingOptions = {}): Promise<Generation> {
  return (await generateBatch(model, tokenizer, [{ images, prompt }], opts))[0]!;
}

/**
 * Generate for several inputs at once: one prefill over all rows (padded, masked), then one decode step
 * per token for every row together, which costs little more than one row on the CPU backends and much
 * less than one per row on a GPU. Row i samples from stream `sample:<seed>:<i>` (row 0: `sample:<seed>`,
 * as a single generation), so greedy output does not depend on the batch and sampled output on its order
 * only.
 */
export async function generateBatch(model: GroundingModel, tokenizer: Tokenizer, items: ReadonlyArray<{ images: Float32Array[]; prompt: number[] }>, opts: SamplingOptions = {}): Promise<Generation[]> {
  const c = model.config;
  const maxTokens = Math.min(opts.maxTokens ?? c.maxTargetTokens, c.maxTargetTokens);
  for (const it of items) {
    if (it.images.length === 0) throw new ConfigError('generation needs at least one image', { field: 'images' });
    if (it.images.length > c.maxImages) throw new ConfigError(`${it.images.length} images; the model takes at most ${c.maxImages}`, { field: 'images' });
  }
  if (!items.length) return [];
  const coords = opts.greedy === 'class' ? { first: tokenizer.coordId(0), last: tokenizer.coordId(1000) } : undefined;
  // A model whose own budget cannot hold the frame was trained to answer at once (no CoT): nothing to force.
  // A budget the caller set too small for it is an error (decodeRows says so).
  let forcing = opts.forceAnswer ? answerForcing(tokenizer) : undefined;
  if (forcing && c.maxTargetTokens < forcing.template.length) forcing = undefined;
  // A question longer than training ever saw keeps its start (the model has no positions beyond).
  const batch = stackBatches(items.map((it) => exampleBatch(c, it.images, it.prompt.slice(0, c.maxPromptTokens), [], tokenizer.bos)));
  const state = model.prefill(batch);
  try {
    const r = await decodeRows(model, state, {
      maxTokens,
      bos: tokenizer.bos,
      eos: tokenizer.eos,
      temperature: opts.temperature ?? 0,
      topP: opts.topP ?? 1,
      rngs: items.map((_, i) => new Rng(i === 0 ? `sample:${opts.seed ?? 0}` : `sample:${opts.seed ?? 0}:${i}`)),
      ...(coords ? { coords } : {}),
      ...(forcing ? { forceAnswer: forcing } : {}),
    });
    return r.tokens.map((out, i) => ({ text: tokenizer.decode(out), tokens: out, stop: r.stop[i]!, forced: r.forced[i]! }));
  } finally {
    model.disposeState(state);
  }
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
  // Loaded on use: sharp is native, and callers with decoded pixels (rollouts, the GPU kit) never need it.
  const { decodeImage } = await import('./image.js');
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
  return (await generateCompletions(model, tokenizer, [input], opts))[0]!;
}

/** generateCompletion for several inputs, generated together (generateBatch). */
export async function generateCompletions(model: GroundingModel, tokenizer: Tokenizer, inputs: readonly GenerationInput[], opts: SamplingOptions = {}): Promise<string[]> {
  const items = await Promise.all(inputs.map(async (input) => ({ images: await decodeInputImages(model, input.images), prompt: promptIds(tokenizer, promptOf(input)) })));
  return (await generateBatch(model, tokenizer, items, opts)).map((g) => g.text);
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
