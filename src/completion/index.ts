export {
  parseCompletion,
  imageMentionsAt,
  formatBox,
  formatCompletion,
  COMPLETION_PROBLEM_CODES,
  type CompletionProblemCode,
  type CompletionProblem,
  type ParsedCompletion,
  type Box4,
} from './parse.js';
export {
  formatReward,
  singleImageFormatReward,
  accuracyReward,
  singleImageAccuracyReward,
  rewards,
  univgIou,
  UNIVG_BOX_PATTERN,
  REFERENCE_PATTERNS,
  type UnivgRewards,
} from './rewards.js';
export { firstBoxAnywhere, paperEvalIou } from './paper-eval.js';
export {
  PY_DIGIT,
  PY_SPACE,
  PY_UNICODE_VERSION,
  PY_INT_MAX_STR_DIGITS,
  isPySpace,
  pyDigitValue,
  pyDigitZeros,
  pyIntOfDigits,
} from './pyre.js';
export { COT_INSTRUCTION, trainingPrompt } from './prompt.js';
export { placeThinkBoxes, type PlacedThinkBox, type PlaceOptions } from './think-boxes.js';
export { rewriteBoxes, type BoxOwner } from './rewrite.js';
