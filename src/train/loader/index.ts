/** The streaming training loader: deterministic, resumable, rank-partitioned batches of SftRow / RlRow shards. */
export { createLoader, Loader, type LoaderOptions, type LoaderInfo, type LoaderStats } from './loader.js';
export type { Batch, SkippedRow } from './batch.js';
export { LoaderState } from './state.js';
export { utf8Encode, type Encoder, type EncodedRow } from './encode.js';
export { resizePlan, boxToResized, boxFromResized, mappingAt, type Fit, type Mapping, type ResizePlan } from './resize.js';
export { shuffleFiles, consumerRows, ShuffleStream, type Partition } from './order.js';
export type { TrainingKind } from './corpus.js';
