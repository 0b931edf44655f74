/** The pipeline runner and its helpers, for programs that drive univg without the CLI. */
export { runPipeline, resolveStages, findStale, dependantsOf, type RunOptions, type RunSummary, type Staleness } from './runner.js';
export { loadPipelineConfig, parsePipelineConfig, type LoadedConfig } from './load-config.js';
export { createReporter, pickReporterMode, type Reporter, type ReporterMode } from './progress.js';
export { runStatus, formatStatus, type RunStatus, type StageReport } from './status.js';
export { RunDir, type StageState } from './run-dir.js';
