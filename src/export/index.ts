/** Trainer exports: verl, EasyR1, TRL, LLaMA-Factory and VLM-R1 data, reward and difficulty plugins, launch recipes. */
export { exportCorpus, runPools, finishedFormats, EXPORT_SUMMARY, type ExportOptions, type ExportResult, type FormatResult } from './export.js';
export { answerConvention, budgetFor, modelInputSize, TRAINER_RESIZE, PROCESSOR_PIXELS, EXPORT_FORMATS, MODEL_FAMILIES, type ExportFormat, type ModelFamily, type PixelBudget, type TrainerResize } from './family.js';
export { FORMATS, VERL_ESTIMATOR, LLAMAFACTORY_DATASET } from './formats/index.js';
export { groundTruthOf, prepareRow, imageExtension, type PreparedRow, type ExportProblem } from './rows.js';
export { PAPER_GRPO, PAPER_SFT } from './paper.js';
export type { FormatSpec, FormatContext, Pool } from './spec.js';
