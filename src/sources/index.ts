/** Source ingest: MGrounding-630k and MIG-Bench JSON to GroundingSample records plus quarantine. */
export { readJsonArray, JsonArrayScanner, newReaderStats, quotePythonNonFinite, type ArrayItem, type ReaderStats, type ReadJsonArrayOptions, type ScannerOptions } from './json-array.js';
export { INGEST_REASONS, quarantine, type IngestReason, type DefectSite } from './reasons.js';
export { findImageMentions, targetMention, resolveMention, type ImageMention } from './image-refs.js';
export { findBoxSpans, parseBoxText, parseBoxValue, checkBoxOnGrid, GRID_MAX, type SourceBox, type SourceGrid, type BoxCheck } from './boxes.js';
export { ImageCatalog, resolveUnderRoot, type ImageLookup, type ImageCatalogOptions, type ImageCatalogStats } from './images.js';
export { ingestMGrounding, ingestMigBench, ingestSource, SOURCE_FORMATS, type SourceFormat, type IngestOptions } from './ingest.js';
export { emptySummary, countEvent, sortedSummary, type IngestSummary } from './summary.js';
export type { IngestEvent, RecordContext, RecordPlan, TargetRule } from './formats/common.js';
export { planMGrounding, mgroundingRecordToEvents, mgroundingRecordId, mgroundingTask, MGROUNDING_SOURCE } from './formats/mgrounding.js';
export { planMigBench, migbenchRecordToEvents, migbenchId, MIGBENCH_SOURCE } from './formats/migbench.js';
export { ingestToStore, QUARANTINE_FILE, IMAGES_DIR, type IngestToStoreOptions, type IngestRun } from './write.js';
export { JsonlWriter } from './jsonl-writer.js';
