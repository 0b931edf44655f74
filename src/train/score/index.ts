/**
 * Offline difficulty scoring (`univg score`): G rollouts per row from a checkpoint or an
 * OpenAI-compatible endpoint, mIoU -> RlRow `difficulty`, phi(mIoU) -> `weight`, Figure-3 `bucket`;
 * then optional filtering and curriculum ordering of the pool. The checkpoint source (TensorFlow.js)
 * is loaded on demand, so importing this module does not load tfjs.
 */
export { scoreCorpus, SCORE_STATE, QUARANTINE_FILE as SCORE_QUARANTINE_FILE } from './score.js';
export { resolveOptions as resolveScoreOptions, endpointIdentity, type ScoreOptions, type ScoreResult, type EndpointModel } from './options.js';
export { rolloutAccuracy, scoreRollouts, groundTruth0to1000, asRlRow, withDifficulty, type RowDifficulty, type PixelBudget as ScorePixelBudget } from './accuracy.js';
export { POOL_ORDERS, BUCKET_ALIASES, parseBuckets, resolveSelection, selects, keeps, bandPart, type BucketName, type PoolOrder, type PoolSelection, type ResolvedSelection } from './pool.js';
export { selectPool, writeSelection, type SelectionOutcome } from './select.js';
export { openEndpointSource, scorePrompt, rolloutSeed, SCORE_PROMPT_VERSION, SCORE_MAX_TOKENS, type EndpointSourceOptions } from './endpoint-source.js';
export { loadRowImage, loadRowImages } from './images.js';
export type { RolloutSource, RolloutSampling } from './source.js';
