/**
 * A predictor backed by a checkpoint of the in-repo model: the images (decoded to the model's input size
 * the way the loader does) and the question, prompted exactly as training rows are (`<image>` per image,
 * the question, UniVG-R1's instruction), greedy by default.
 */
import { ConfigError } from '../../errors.js';
import { BoxConvention } from '../../schema/records.js';
import type { BackendName } from '../backend.js';
import { generateCompletion, generateCompletions, loadCheckpoint } from '../generate.js';
import type { Predictor } from './predictor.js';

export interface CheckpointPredictorOptions {
  /** Try this tfjs backend first (default: the best available, or $UNIVG_BACKEND). */
  backend?: BackendName;
  /** Completion tokens (default: the model's maximum). */
  maxTokens?: number;
  /** 0 (default): greedy. */
  temperature?: number;
  topP?: number;
  seed?: number;
  /** Budget forcing (SamplingOptions.forceAnswer; default false). */
  forceAnswer?: boolean;
  /** Samples generated together (default 8; 1 generates one at a time). */
  batch?: number;
  /**
   * Convention of the model's boxes. Default: the checkpoint's training option `convention` when it
   * records one, else qwen2vl (the tokenizer writes coordinates as 0-1000 tokens, as the SFT rows do).
   */
  convention?: BoxConvention;
}

export async function checkpointPredictor(dir: string, o: CheckpointPredictorOptions = {}): Promise<Predictor> {
  const loaded = await loadCheckpoint(dir, o.backend ? { prefer: o.backend } : {});
  const recorded = BoxConvention.safeParse(loaded.state.train?.convention);
  const convention = o.convention ?? (recorded.success ? recorded.data : 'qwen2vl');
  const temperature = o.temperature ?? 0;
  if (!(temperature >= 0)) throw new ConfigError(`temperature must be >= 0, got ${temperature}`, { field: 'temperature' });
  const sampling = {
    ...(o.maxTokens !== undefined ? { maxTokens: o.maxTokens } : {}),
    temperature,
    ...(o.topP !== undefined ? { topP: o.topP } : {}),
    seed: o.seed ?? 0,
    forceAnswer: o.forceAnswer ?? false,
  };
  return {
    name: `checkpoint:${loaded.dir}`,
    convention,
    needsImages: true,
    // Generation is tensor work on one backend: one group at a time, its rows decoded together.
    concurrency: 1,
    batch: o.batch ?? 8,
    info: {
      kind: 'checkpoint',
      checkpoint: loaded.dir,
      step: loaded.state.step,
      backend: loaded.backend.name,
      tfBackend: loaded.backend.tfBackend,
      trainedOn: loaded.state.backend?.name ?? null,
      temperature,
      seed: sampling.seed,
      maxTokens: o.maxTokens ?? loaded.config.maxTargetTokens,
      forceAnswer: sampling.forceAnswer,
    },
    predict: (sample, images) => generateCompletion(loaded.model, loaded.tokenizer, { images, question: sample.question }, sampling),
    predictMany: (items) => generateCompletions(loaded.model, loaded.tokenizer, items.map(({ sample, images }) => ({ images, question: sample.question })), sampling),
    close: () => {
      loaded.model.dispose();
      return Promise.resolve();
    },
  };
}
