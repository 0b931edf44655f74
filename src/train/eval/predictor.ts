/**
 * Where completions come from during evaluation: anything that turns a benchmark sample (and its images)
 * into the text a model would write. Baselines live here; the endpoint and checkpoint predictors have
 * their own files.
 */
import { createHash } from 'node:crypto';
import { ConfigError, UnivgError, type ErrorContext } from '../../errors.js';
import type { BoxConvention, GroundingSample } from '../../schema/records.js';

export interface Predictor {
  /** Recorded as `Prediction.model` and in metrics.json. */
  name: string;
  /** The convention the completions' boxes are written in (declared, never guessed). */
  convention: BoxConvention;
  /** False when `predict` ignores the images (the evaluator then passes none and reads no file). */
  needsImages?: boolean;
  /** Facts stored with the result: backend, seed, endpoint, sampling settings. No secrets. */
  info?: Record<string, string | number | boolean | null>;
  /** Samples predicted at once (default 1). */
  concurrency?: number;
  /** The completion for one sample; `images` are the files' bytes in `sample.images` order. */
  predict(sample: GroundingSample, images: Buffer[]): Promise<string>;
  /**
   * Completions for consecutive samples together (a model that generates several rows at once). The
   * evaluator then sends the bench in order in groups of `batch`, so a group never depends on timing.
   */
  predictMany?(items: ReadonlyArray<{ sample: GroundingSample; images: Buffer[] }>): Promise<string[]>;
  /** Samples per predictMany call. */
  batch?: number;
  close?(): Promise<void>;
}

/**
 * Thrown by `predict` when this one sample could not be answered (a request that failed after its last
 * retry): the sample scores 0 with reason `prediction_failed` and the evaluation goes on. Any other error
 * stops the evaluation.
 */
export class PredictionFailedError extends UnivgError {
  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super('prediction_failed', message, context, options);
  }
}

export const BASELINES = ['centre', 'random', 'whole-image'] as const;
export type BaselineKind = (typeof BASELINES)[number];

/**
 * Fraction of each side the centre box covers. The centre box is `[0.25 W, 0.25 H, 0.75 W, 0.75 H]` of the
 * target image: centred, half the width and half the height (a quarter of the area), written as
 * `(250,250),(750,750)` in 0-1000.
 */
export const CENTRE_SIDE = 0.5;

/** A uniform draw in [0, 1) from (seed, id, k): order-independent, so a sample's box never depends on the rest. */
function unit(seed: number, id: string, k: number): number {
  const h = createHash('sha256').update(`${seed}\0${id}\0${k}`).digest();
  return h.readUInt32BE(0) / 4294967296;
}

/** Two distinct integers in [0, 1000], sorted; draw k, k+1, ... until they differ. */
function span(seed: number, id: string, k: number): [number, number] {
  for (let j = k; ; j += 2) {
    const a = Math.floor(unit(seed, id, j) * 1001);
    const b = Math.floor(unit(seed, id, j + 1) * 1001);
    if (a !== b) return a < b ? [a, b] : [b, a];
  }
}

/**
 * A baseline's box for a sample, in 0-1000 of the target image (Qwen2-VL convention):
 * - `centre`: `(250,250),(750,750)`, see {@link CENTRE_SIDE};
 * - `whole-image`: `(0,0),(1000,1000)`;
 * - `random`: x1 < x2 two distinct uniform integers in 0..1000 (sorted), y1 < y2 likewise, drawn from
 *   sha256(seed, sample id, counter), so the same seed gives the same box for a sample whatever else is
 *   in the bench.
 */
export function baselineBox(kind: BaselineKind, sample: Pick<GroundingSample, 'id'>, seed = 0): [number, number, number, number] {
  switch (kind) {
    case 'centre': {
      const lo = Math.round(((1 - CENTRE_SIDE) / 2) * 1000);
      return [lo, lo, 1000 - lo, 1000 - lo];
    }
    case 'whole-image':
      return [0, 0, 1000, 1000];
    case 'random': {
      const [x1, x2] = span(seed, sample.id, 0);
      const [y1, y2] = span(seed, sample.id, 1_000_000);
      return [x1, y1, x2, y2];
    }
  }
}

/** The completion a baseline writes: UniVG-R1's format, no box in the think (both scorers agree on it). */
export function baselineCompletion(kind: BaselineKind, sample: Pick<GroundingSample, 'id'>, seed = 0): string {
  const [x1, y1, x2, y2] = baselineBox(kind, sample, seed);
  return `<think>${kind} baseline: a fixed rule that ignores the images and the question.</think><answer>(${x1},${y1}),(${x2},${y2})</answer>`;
}

export function isBaseline(kind: string): kind is BaselineKind {
  return (BASELINES as readonly string[]).includes(kind);
}

/** A predictor that answers every sample with a baseline box (qwen2vl convention). */
export function baselinePredictor(kind: string, opts: { seed?: number } = {}): Predictor {
  if (!isBaseline(kind)) throw new ConfigError(`unknown baseline ${JSON.stringify(kind)}; one of ${BASELINES.join(', ')}`, { field: 'baseline' });
  const seed = opts.seed ?? 0;
  return {
    name: `baseline:${kind}`,
    convention: 'qwen2vl',
    needsImages: false,
    info: { kind: 'baseline', baseline: kind, ...(kind === 'random' ? { seed } : {}) },
    concurrency: 1,
    predict: (sample) => Promise.resolve(baselineCompletion(kind, sample, seed)),
  };
}
