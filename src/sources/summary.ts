/** Counting what ingest produced: samples per task, quarantine records per reason. Pure. */
import type { IngestEvent } from './formats/common.js';

export interface IngestSummary {
  samples: number;
  quarantined: number;
  /** Samples per task, keys sorted. */
  byTask: Record<string, number>;
  /** Quarantine records per reason, keys sorted. */
  byReason: Record<string, number>;
}

export function emptySummary(): IngestSummary {
  return { samples: 0, quarantined: 0, byTask: {}, byReason: {} };
}

/** Add one event to a summary (mutates and returns it: called once per event on large inputs). */
export function countEvent(s: IngestSummary, e: IngestEvent): IngestSummary {
  if (e.kind === 'sample') {
    s.samples++;
    s.byTask[e.sample.task] = (s.byTask[e.sample.task] ?? 0) + 1;
  } else {
    s.quarantined++;
    s.byReason[e.record.reason] = (s.byReason[e.record.reason] ?? 0) + 1;
  }
  return s;
}

/** The same summary with its maps in key order, so printed and JSON output are stable. */
export function sortedSummary(s: IngestSummary): IngestSummary {
  const sort = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { ...s, byTask: sort(s.byTask), byReason: sort(s.byReason) };
}
