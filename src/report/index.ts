/** The run report: one self-contained HTML page (and figures.json) from a run directory's shards. */
export { buildReport, type ReportOptions, type ReportResult } from './build.js';
export {
  computeFigures,
  type ReportFigures,
  type FunnelStep,
  type QualityRow,
  type IouHistogram,
  type AccCurve,
  type TeacherFigures,
  type RejectionFigure,
  type QuarantineFigure,
  type TableFigure,
  type CountBy,
} from './figures.js';
export { renderReport, type ReportModel } from './render.js';
export { trainingFigures, sftFigures, rlFigures, readJsonl, thin, TRAIN_LAYOUT, DONE_FILE, EVAL_RESULTS, RL_METRICS, MAX_POINTS, type TrainingFigures, type SftFigures, type RlFigures, type ScoredFigures, type EvalResults, type EvalModelResult, type TrainDone } from './training.js';
export { selectExamples, PASSED, type Example, type ExampleOptions } from './examples.js';
export { type ExampleImage, type Thumb } from './thumbs.js';
