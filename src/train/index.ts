/**
 * The in-repo trainer (TensorFlow.js): backend choice, tokenizer, the grounding model, AdamW and its
 * schedule, checkpoints, generation and SFT. Importing this loads TensorFlow.js.
 */
export { BACKEND_ORDER, type BackendName } from './backend-names.js';
export { selectBackend, describeBackend, WASM_THREADS_NOTE, type BackendChoice, type SelectOptions } from './backend.js';
export { Tokenizer, TokenizerBuilder, buildTokenizer, pretokenize, wtf8Encode, wtf8Decode, SPECIAL_TOKENS, COORD_MAX, type TokenizerJson, type BuildOptions } from './tokenizer.js';
export { Rng, type RngState } from './rng.js';
export {
  GroundingModel,
  makeModelConfig,
  checkConfig,
  paramSpecs,
  paramCount,
  initParamValues,
  patchesPerImage,
  patchDim,
  gatherRows,
  opsFor,
  stopGradient,
  crossEntropy,
  softTargets,
  boxStateAfter,
  boxStates,
  BOX_STATES,
  DEFAULT_SHAPE,
  type CoordSmoothing,
  type ModelConfig,
  type ModelShape,
  type ModelBatch,
  type ParamSpec,
  type DecodeState,
  type Ops,
  type VisionTower,
  type TextEmbedding,
  type Decoder,
  type OutputHead,
} from './model/index.js';
export { AdamW, lrAt, clipByGlobalNorm, globalNorm, DEFAULT_ADAMW, type AdamWConfig, type AdamWState, type ScheduleConfig } from './optim.js';
export { update, accumulateGradients, type UpdateResult } from './step.js';
export { targetText, promptIds, targetIds, sftEncoder, patchify, toModelBatch, exampleBatch, stackBatches, realTokens, targetTokenCount } from './batching.js';
export { decodeImage, type DecodeOptions, type Kernel } from './image.js';
export { saveCheckpoint, readCheckpoint, listCheckpoints, resolveCheckpointDir, removeTempCheckpoints, checkpointName, CHECKPOINT_FORMAT, type CheckpointState, type LoadedCheckpoint, type SaveInput } from './checkpoint.js';
export { generateCompletion, generateIds, loadCheckpoint, promptOf, decodeInputImages, type GenerationInput, type SamplingOptions, type Generation, type LoadedModel } from './generate.js';
export { sampleToken, sampleTokens, decodeRows, type CoordinateRange, type SamplerOptions, type DecodeRowsOptions, type DecodedRows } from './sample.js';
export { PendingStats, assertFinite } from './readback.js';
export { isHeldOut } from './heldout.js';
export { trainSft, evaluateLoss, type SftOptions, type SftResult, type StepLog, type EvalLog } from './sft.js';
