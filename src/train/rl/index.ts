/** Difficulty-aware GRPO: rewards to advantages and weights, batched rollouts, the objective and the trainer. */
export { PHI_KINDS, PhiKind, phi, bucketOf, bucketShares, MIOU_BUCKETS, groupAdvantages, difficultyOf, mean, std, ADVANTAGE_EPS, type MiouBucket, type PhiOptions, type StdKind } from './difficulty.js';
export { sampleGroup, type Rollout, type RolloutOptions } from './rollout.js';
export { groupLoss, groupGradients, readGroupStats, grpoUpdate, updateStatsOf, UPDATE_STATS, tokenLayout, type GroupInput, type GroupStats, type GrpoCoefficients, type UpdateStats } from './objective.js';
export { trainRl, rewardGroundTruth, type RlOptions, type RlResult, type RlStepLog } from './train.js';
export { rlCharts, rlCurvesSvg } from './curves.js';
