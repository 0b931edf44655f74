/**
 * The model's configuration (stored in every checkpoint) and the batch it takes. The shape of each part
 * (vision tower, text embedding, decoder, output head) is read from here; the parts themselves live in
 * their own modules behind the interfaces in parts.ts.
 */
import { ConfigError } from '../../errors.js';
import { TrainModelShape } from '../../schema/config.js';

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
  /** Token ids of `(`, `,` and `)` for the box-structure embedding (see box-grammar.ts); null: off. */
  boxTokens: [number, number, number] | null;
  /** The vision tower (absent in checkpoints written before there was a choice: `patch`). */
  tower?: 'patch' | 'vit';
  towerLayers?: number;
  /** Coordinates written by pointing at an image token (needs the vit tower's boxes); absent: off. */
  pointer?: boolean;
  pointerSigma?: number;
}

export type ModelShape = Pick<ModelConfig, 'dModel' | 'nLayers' | 'nHeads' | 'mlpHidden' | 'imageSize' | 'patchSize' | 'maxImages' | 'coordFreqs'> &
  Required<Pick<ModelConfig, 'tower' | 'towerLayers' | 'pointer' | 'pointerSigma'>>;

/** The shape every path defaults to: the pipeline config's schema is its one definition. */
export const DEFAULT_SHAPE: ModelShape = TrainModelShape.parse({});

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
  if (c.tower !== undefined && c.tower !== 'patch' && c.tower !== 'vit') throw bad(`tower must be patch or vit, got ${JSON.stringify(c.tower)}`);
  if (c.tower === 'vit' && !(Number.isInteger(c.towerLayers) && c.towerLayers! >= 1)) throw bad(`towerLayers must be a positive integer, got ${c.towerLayers}`);
  if (c.pointer && c.tower !== 'vit') throw bad('the pointer needs the vit tower (its boxes are what it points at)');
  if (c.pointer && !(c.pointerSigma! > 0)) throw bad(`pointerSigma must be > 0, got ${c.pointerSigma}`);
  if (c.pointer && !c.boxTokens) throw bad('the pointer needs the box grammar tokens (boxTokens)');
  if (c.boxTokens != null && (!Array.isArray(c.boxTokens) || c.boxTokens.length !== 3 || !c.boxTokens.every((t) => Number.isInteger(t) && t >= 0 && t < c.vocabSize)))
    throw bad(`boxTokens must be null or three token ids, got ${JSON.stringify(c.boxTokens)}`);
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

/** The prefix of a batch (images and question): what prefill takes. */
export type PrefixBatch = Omit<ModelBatch, 'Lc' | 'cIn' | 'cTgt' | 'cMask'>;
