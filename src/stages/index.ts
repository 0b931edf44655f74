/** The standard stages, in pipeline order, and the pure functions behind them. */
import { generateStage } from './generate-stage.js';
import { ingestStage } from './ingest-stage.js';
import { reportStage } from './report-stage.js';
import { selectStage } from './select-stage.js';
import type { Stage } from './stage.js';
import { verifyStage } from './verify-stage.js';
import { trainSftStage } from './train-sft-stage.js';
import { scoreStage } from './score-stage.js';
import { trainRlStage } from './train-rl-stage.js';
import { evalStage } from './eval-stage.js';
import { trainVisionStage } from './train-vision-stage.js';
import { exportStage } from './export-stage.js';

/** In pipeline order; the training stages run only when their train.* section is present. */
export const STANDARD_STAGES: readonly Stage[] = [ingestStage, generateStage, verifyStage, selectStage, trainVisionStage, trainSftStage, scoreStage, trainRlStage, evalStage, exportStage, reportStage];

export type { Stage, StageOutput, TaskContext, StageServices, RowSink, TaskProgress, TaskRef } from './stage.js';
export { verifyCandidate, hintLeaks, longestLoop, isLoop, conclusionNamesTarget, VERIFIER_VERSION, type VerifyContext } from './verify.js';
export { pickBest, assignPool, selectForSample, toSftRow, toRlRow, trainingCompletion, rewriteBoxes, answerText, type Selection } from './select.js';
export { COT_INSTRUCTION, trainingPrompt } from '../completion/prompt.js';
export { judgeSample, judgeChains, renderJudgePrompt, parseJudgeReply, planJudge, JUDGE_PROMPT_VERSION, JUDGE_MAX_TOKENS, type JudgeOutcome, type JudgeOptions, type JudgeReply, type JudgeChain, type JudgePromptInput } from './judge.js';
export { generateCandidates, type GenerateOptions, type GenerateProgress } from './generate.js';
export { joinBySample } from './join.js';
export { ingestStage, generateStage, verifyStage, selectStage, reportStage, trainVisionStage, trainSftStage, scoreStage, trainRlStage, evalStage, exportStage };
export { corpusRoot, benchOf, evalModels, sftOptions, readDone } from './train-plan.js';
export { mapOrdered } from '../async/map-ordered.js';
