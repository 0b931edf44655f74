/**
 * MIG-Bench evaluation: scoring (ours and the paper's), metrics, predictors, tables. The checkpoint
 * predictor is in `./checkpoint-predictor.js`, not re-exported here: it loads TensorFlow.js (about 1.3 s),
 * which scoring and the other predictors do not need.
 */
export { scoreCompletion, scoreMissing, paperGroundTruth, toPrediction, UNSCORED_REASONS, type UnscoredReason, type ScoredSample, type PixelBudget } from './score.js';
export { aggregate, taskLabel, THRESHOLDS, MIG_TASKS, type EvalMetrics, type TaskMetrics, type ScorerNumbers, type AverageNumbers, type AccKey, type Threshold } from './metrics.js';
export { readPredictionsFile, checkPredictionIds, type ExternalPrediction, type ReadPredictionsOptions } from './predictions-file.js';
export { baselinePredictor, baselineBox, baselineCompletion, isBaseline, BASELINES, CENTRE_SIDE, PredictionFailedError, type Predictor, type BaselineKind } from './predictor.js';
export { openaiPredictor, evalPrompt, UNIVG_EVAL_SUFFIX, EVAL_PROMPT_VERSION, PAPER_EVAL, type EndpointPredictorOptions } from './endpoint.js';
export { loadBench, loadImages, evaluate, runEval, quarantineReasons, quarantinedItems, SCORER_NOTES, type Bench, type CompletionSource, type EvaluateOptions, type EvaluateResult, type EvalReport, type RunEvalOptions } from './evaluate.js';
export { formatEvalTable, renderEvalTable } from './table.js';
