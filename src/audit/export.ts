/**
 * `univg audit export`: the run's labels as Parquet (the AuditLabel schema, readable by DuckDB, pandas,
 * `datasets`) or JSON lines, chosen by the file's extension. The whole history by default, or only each
 * auditor's latest decision per sample. Written to a temp name and renamed, so a file at `out` is whole.
 */
import { mkdtemp, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { ConfigError, InputError } from '../errors.js';
import type { AuditLabel } from '../schema/records.js';
import { JsonlWriter } from '../sources/jsonl-writer.js';
import { ShardWriter } from '../store/writer.js';
import { LABEL_LOG, latestDecisions, readLabels } from './labels.js';

export interface ExportOptions {
  /** Only each auditor's latest decision about each sample (withdrawn ones left out). */
  latest?: boolean;
}

export interface ExportResult {
  file: string;
  format: 'parquet' | 'jsonl';
  labels: number;
  /** Damaged or torn records of the log that were left out. */
  skipped: number;
}

/** The format an export file's name asks for. */
export function exportFormat(out: string): 'parquet' | 'jsonl' {
  const ext = extname(out).toLowerCase();
  if (ext === '.parquet') return 'parquet';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  throw new ConfigError(`--out must end in .parquet or .jsonl (the format follows the extension), got ${JSON.stringify(out)}`, { field: 'out' });
}

export async function exportLabels(runDir: string, out: string, o: ExportOptions = {}): Promise<ExportResult> {
  const format = exportFormat(out);
  const file = resolve(out);
  const log = join(resolve(runDir), LABEL_LOG);
  let rows: AuditLabel[] | null = null;
  let skipped = 0;
  if (o.latest) {
    // Latest per (sample, auditor): held in a map whose size is the number of decided pairs.
    const all = new Map<string, AuditLabel>();
    const r = await readLabels(log, undefined, (l) => {
      all.set(`${l.sampleId}\u0000${l.auditor}`, l);
    });
    skipped = r.skipped.length + (r.pendingBytes > 0 ? 1 : 0);
    rows = [...latestDecisions(all.values()).values()].sort((a, b) => a.seq - b.seq);
  }
  let n = 0;
  if (format === 'jsonl') {
    const w = await JsonlWriter.create(file).catch((err: NodeJS.ErrnoException) => {
      throw new InputError(`cannot write ${out}: ${err.message}`, { file: out }, { cause: err });
    });
    try {
      if (rows) for (const l of rows) await w.write(l);
      else {
        const r = await readLabels(log, undefined, (l) => w.write(l));
        skipped = r.skipped.length + (r.pendingBytes > 0 ? 1 : 0);
      }
      n = w.count;
      await w.commit();
    } catch (err) {
      await w.abort();
      throw err;
    }
    return { file, format, labels: n, skipped };
  }
  // The store's writer names its file part-00000-of-00001.parquet in a directory: write into a hidden
  // directory beside `out`, then move the finished file to its name.
  const tmp = await mkdtemp(join(dirname(file), `.${basename(file)}.`)).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`cannot write ${out}: ${err.message}`, { file: out }, { cause: err });
  });
  const w = new ShardWriter({ dir: tmp, kind: 'AuditLabel', index: 0, count: 1 });
  try {
    if (rows) for (const l of rows) await w.write(l);
    else {
      const r = await readLabels(log, undefined, (l) => w.write(l));
      skipped = r.skipped.length + (r.pendingBytes > 0 ? 1 : 0);
    }
    const info = await w.close();
    n = info.rows;
    await rename(w.path, file);
    await rmdir(tmp);
  } catch (err) {
    await w.abort();
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return { file, format, labels: n, skipped };
}
