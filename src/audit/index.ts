/** Auditing: the label store, the session over a run, export, applying labels, the verifier's numbers. */
export { LabelLog, LABEL_LOG, readLabels, readAllLabels, latestDecisions, encodeRecord, decodeLine, type NewLabel, type LogPosition, type LogRead, type SkippedRecord } from './labels.js';
export { AuditSession, allocate, type SessionOptions, type SampleDetail, type ListResult, type ListRow, type AuditStats, type PlanInfo, type CandidateView } from './session.js';
export { ListQuery, parseListQuery, listQueryString } from './query.js';
export { exportLabels, exportFormat, type ExportOptions, type ExportResult } from './export.js';
export { readExportedLabels, removals, removalsFromFile, type Removal } from './apply.js';
export { wilson, verifierQuality, stratifiedRate, cohensKappa, type Estimate, type VerifierCounts, type VerifierQuality, type Kappa } from './metrics.js';
