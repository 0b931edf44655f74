/** Reading a run directory: the survey of its files, a DuckDB session with views over its shards, its images. */
export { Duck, sqlString, sqlIdent, num, int, type Row, type DuckOptions } from './duck.js';
export { readRunFiles, runInfoOf, TABLES, TABLE_NAMES, CORPUS_TABLES, type RunFiles, type RunInfo, type TableFiles, type TableName, type CorpusTable, type RunProblem, type SurveyOptions } from './run-files.js';
export { createViews, parquetSource, probeShards } from './views.js';
export { RunImages, type RunImage } from './images.js';
