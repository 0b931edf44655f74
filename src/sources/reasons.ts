/** Reason codes for inputs that ingest quarantines, and the record it writes for each. */
import type { QuarantineRecord } from '../schema/records.js';

/** Every reason code ingest can quarantine with; the CLI summary and dataset cards list these. */
export const INGEST_REASONS = [
  'json_invalid', // an array element that is not valid JSON (its boundaries were clear)
  'record_invalid', // not an object, or a required field missing / of the wrong type
  'conversation_malformed', // MGrounding turns that do not alternate human/gpt
  'duplicate_id', // an id already seen in this file (the first is kept)
  'image_count_mismatch', // number of <image> placeholders differs from the images list
  'path_escapes_root', // an image path that leaves the image root (.., absolute, symlink out): never opened
  'image_missing', // no file at the resolved path
  'image_unreadable', // a file that cannot be read or is not an image sharp understands
  'question_empty', // nothing left of the question once placeholders are removed
  'no_grounded_turn', // an MGrounding record whose answers contain no box
  'box_unparsable', // box text or value that is not four numbers
  'box_multiple', // more than one box in one answer: which one is the target is not stated
  'box_not_finite', // NaN or infinite coordinate
  'box_inverted', // x1 > x2 or y1 > y2
  'box_degenerate', // x1 == x2 or y1 == y2 (zero area)
  'box_out_of_range', // outside the convention's grid (0-1000 for qwen2vl, 0-1 for norm)
  'image_ordinal_unknown', // the text names an image that does not exist ("the fifth image" of 3)
  'box_disagrees', // an exported row whose answer box and stored pixel box are further apart than the answer's grid step
  'convention_unknown', // a record whose box convention is not stated (a trainer file not written by univg export)
] as const;
export type IngestReason = (typeof INGEST_REASONS)[number];

/** Where a defect was found: the record, and the field inside it. */
export interface DefectSite {
  stage?: string;
  recordId: string | null;
  file: string | null;
  row: number | null;
  field: string | null;
}

export function quarantine(site: DefectSite, reason: IngestReason, detail: string): QuarantineRecord {
  return {
    stage: site.stage ?? 'ingest',
    recordId: site.recordId,
    file: site.file,
    row: site.row,
    field: site.field,
    reason,
    detail,
  };
}
