/**
 * Applying audit labels to the corpus: which samples the auditors' latest decisions remove, read from a
 * file `univg audit export` wrote (.parquet or .jsonl). The select stage calls this when the pipeline's
 * `audit.labels` names such a file, and leaves those samples out of both pools.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { InputError } from '../errors.js';
import type { AuditConfig } from '../schema/config.js';
import { AuditLabel } from '../schema/records.js';
import { readRows } from '../store/reader.js';
import { isNotFound } from '../store/fsutil.js';
import { exportFormat } from './export.js';
import { latestDecisions } from './labels.js';

/** Why a sample leaves the corpus: whose decisions removed it. */
export interface Removal {
  sampleId: string;
  /** e.g. `rejected by ana (wrong_box), bo` */
  detail: string;
}

/** Every label of an exported file, validated; a bad row is an InputError naming the file and row. */
export async function* readExportedLabels(file: string): AsyncGenerator<AuditLabel> {
  const format = exportFormat(file);
  try {
    await stat(file);
  } catch (err) {
    if (isNotFound(err)) throw new InputError('audit labels file not found (write it with `univg audit export RUN_DIR --out FILE`)', { file, field: 'audit.labels' }, { cause: err });
    throw err;
  }
  if (format === 'parquet') {
    // A file written by `univg audit export` has no manifest next to it: its Parquet footer is what is checked.
    yield* readRows('AuditLabel', file, { verify: false, validate: true });
    return;
  }
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new InputError('audit label is not valid JSON', { file, line }, { cause: err });
    }
    const r = AuditLabel.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new InputError(`not an audit label: ${issue.message}`, { file, line, field: issue.path.join('.') });
    }
    yield r.data;
  }
}

/**
 * The samples the latest decisions remove. any-reject: any auditor rejects; majority-reject: more of
 * the sample's auditors reject than accept. With removeFlagged, a sample flagged by someone and accepted
 * by no one goes too.
 */
export function removals(labels: Iterable<AuditLabel>, policy: Pick<AuditConfig, 'remove' | 'removeFlagged'>): Map<string, Removal> {
  const bySample = new Map<string, AuditLabel[]>();
  for (const l of latestDecisions(labels).values()) {
    const list = bySample.get(l.sampleId) ?? [];
    list.push(l);
    bySample.set(l.sampleId, list);
  }
  const out = new Map<string, Removal>();
  for (const [sampleId, list] of bySample) {
    const rejects = list.filter((l) => l.decision === 'reject');
    const accepts = list.filter((l) => l.decision === 'accept').length;
    const flags = list.filter((l) => l.decision === 'flag');
    const who = (ls: AuditLabel[]) => ls.map((l) => `${l.auditor}${l.reason ? ` (${l.reason})` : ''}`).sort().join(', ');
    if (rejects.length > 0 && (policy.remove === 'any-reject' || rejects.length > accepts)) out.set(sampleId, { sampleId, detail: `rejected by ${who(rejects)}` });
    else if (policy.removeFlagged && flags.length > 0 && accepts === 0) out.set(sampleId, { sampleId, detail: `flagged by ${who(flags)}` });
  }
  return out;
}

/** Read an exported labels file and decide what it removes. */
export async function removalsFromFile(file: string, policy: Pick<AuditConfig, 'remove' | 'removeFlagged'>): Promise<{ removed: Map<string, Removal>; labels: number }> {
  // Only the newest decision per (sample, auditor) is kept while reading: memory follows the decided pairs.
  const newest = new Map<string, AuditLabel>();
  let n = 0;
  for await (const l of readExportedLabels(file)) {
    n++;
    const key = `${l.sampleId}\u0000${l.auditor}`;
    const prev = newest.get(key);
    if (!prev || prev.seq < l.seq) newest.set(key, l);
  }
  return { removed: removals(newest.values(), policy), labels: n };
}
