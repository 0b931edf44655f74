/**
 * The grounding model: its config and batch (config.ts), the interfaces of its parts (parts.ts), the parts
 * (vision-patch.ts, text.ts, decoder.ts, head.ts), the ops they are written in (ops.ts), losses
 * (losses.ts) and the composition (grounding.ts).
 */
export { checkConfig, DEFAULT_SHAPE, makeModelConfig, patchDim, patchesPerImage, type ModelBatch, type ModelConfig, type ModelShape, type PrefixBatch } from './config.js';
export { BOX_STATES, boxStateAfter, boxStates, boxTransitionTable } from './box-grammar.js';
export { fourier } from './fourier.js';
export { buildParts, GroundingModel, initParamValues, paramCount, paramSpecs, type DecodeState, type ModelParts } from './grounding.js';
export { crossEntropy, softTargets, targetLogProbs, type CoordSmoothing } from './losses.js';
export { gatherRows, layerNorm, oneHotFloat, opsFor, stopGradient, type Ops } from './ops.js';
export { initValues, ParamSet, sizeOf, type ParamSpec, type Params } from './params.js';
export type { AttentionMask, Decoder, LayerCache, OutputHead, Part, TextEmbedding, TextSegment, VisionTower } from './parts.js';
