/**
 * The simulated teacher: an OpenAI-compatible chat-completions server on localhost that answers
 * grounding questions from the pixels and text it is sent, with configurable faults. See server.ts.
 */
export { startSimTeacher, type SimTeacher, type SimStats, type SimTeacherHooks, type SimRequestLog } from './server.js';
export { EXPIRED_MESSAGE as SIM_BATCH_EXPIRED_MESSAGE, type SimBatchStats, type BatchStatus as SimBatchStatus } from './batch.js';
export {
  SimTeacherOptions,
  resolveOptions as resolveSimTeacherOptions,
  parseFaultSpec,
  FAULT_NAMES as SIM_FAULT_NAMES,
  OUTCOMES as SIM_OUTCOMES,
  type FaultName as SimFaultName,
  type Outcome as SimOutcome,
  type ResolvedSimOptions,
} from './options.js';
export { REFUSAL_TEXT as SIM_REFUSAL_TEXT } from './faults.js';
export { parseHint, type Hint as SimHint, type SimConvention } from './boxes.js';
