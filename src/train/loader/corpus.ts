/**
 * The corpus a loader reads (stage directories of SftRow or RlRow shards, through their manifests), and
 * the row source that streams one consumer's rows of one epoch: files in the epoch's shard order, one
 * Arrow record batch at a time via `readBatches`, converting to rows only the batches that hold a row
 * this consumer still needs, and keeping only those rows. Files holding none are not opened at all.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ConfigError, ShardError } from '../../errors.js';
import { recordBatchToRows, type RecordOf } from '../../schema/arrow.js';
import { readBatches, readManifest } from '../../store/index.js';
import { anyNeeded, isNeeded, substreamRange, type Needed, type Partition } from './order.js';

export type TrainingKind = 'SftRow' | 'RlRow';

export interface CorpusFile {
  dirIndex: number;
  dir: string;
  file: string;
  rows: number;
}

export interface Corpus {
  kind: TrainingKind;
  files: CorpusFile[];
  rows: number;
  /** sha256 over the kind and every file's name, rows and sha256 (not the paths: a moved run dir still matches). */
  fingerprint: string;
}

export async function openCorpus(dirs: readonly string[], kind: TrainingKind): Promise<Corpus> {
  if (dirs.length === 0) throw new ConfigError('the loader needs at least one stage directory (dirs is empty)');
  const files: CorpusFile[] = [];
  const h = createHash('sha256').update(`univg-loader-corpus/1:${kind}`);
  for (let d = 0; d < dirs.length; d++) {
    const dir = dirs[d]!;
    const m = await readManifest(dir);
    if (!m) throw new ShardError('no _manifest.json: the stage is not complete (or this is not a stage directory)', { file: dir });
    if (m.kind !== kind) throw new ShardError(`holds ${m.kind} records, the loader was asked for ${kind}`, { file: dir, expected: kind, actual: m.kind });
    h.update(`\n#${d}`);
    for (const f of m.files) {
      files.push({ dirIndex: d, dir, file: f.file, rows: f.rows });
      h.update(`\n${f.file}:${f.rows}:${f.sha256}`);
    }
  }
  const rows = files.reduce((s, f) => s + f.rows, 0);
  if (rows === 0) throw new ShardError('the corpus has no rows', { file: dirs.join(', ') });
  return { kind, files, rows, fingerprint: h.digest('hex') };
}

/** A row this consumer needs, with where it came from (for error messages). */
export interface HeldRow<K extends TrainingKind> {
  row: RecordOf<K>;
  /** Shard file path. */
  file: string;
  /** Row number inside that file. */
  rowInFile: number;
}

export interface RowSourceCounters {
  filesRead: number;
  filesSkipped: number;
  batchesConverted: number;
  batchesSkipped: number;
  rowsHeld: number;
  maxRowsHeld: number;
}

/**
 * Rows of one consumer's substream for one epoch, by substream index. `ensure(i)` reads on until every
 * index <= i has been read; `take(i)` hands a held row over and forgets it.
 */
export class RowSource<K extends TrainingKind> {
  private readonly held = new Map<number, HeldRow<K>>();
  /** Every substream index below this has been read (or skipped as not needed). */
  private covered = 0;
  private readonly it: AsyncGenerator<void>;

  constructor(
    private readonly kind: K,
    private readonly files: readonly CorpusFile[],
    private readonly part: Partition,
    private readonly needed: Needed,
    private readonly check: { verify: (file: string) => boolean; verifiedOne: (file: string) => void },
    private readonly counters: RowSourceCounters,
  ) {
    this.it = this.read();
  }

  private async *read(): AsyncGenerator<void> {
    let start = 0;
    for (const f of this.files) {
      const end = start + f.rows;
      const [lo, hi] = substreamRange(start, end, this.part);
      if (!anyNeeded(this.needed, lo, hi)) {
        this.counters.filesSkipped++;
        this.covered = Math.max(this.covered, hi);
        start = end;
        // Yield even so: ensure() may be waiting for exactly these indices, and the generator can end here.
        yield;
        continue;
      }
      this.counters.filesRead++;
      const path = join(f.dir, f.file);
      let offset = 0;
      const verify = this.check.verify(path);
      for await (const batch of readBatches(f.dir, { files: [f.file], verify })) {
        // readBatches checks the whole file before its first batch.
        if (verify && offset === 0) this.check.verifiedOne(path);
        const b0 = start + offset;
        const [blo, bhi] = substreamRange(b0, b0 + batch.numRows, this.part);
        if (anyNeeded(this.needed, blo, bhi)) {
          this.counters.batchesConverted++;
          const rows = recordBatchToRows(this.kind, batch, { file: path, rowOffset: offset });
          for (let i = blo; i < bhi; i++) {
            if (!isNeeded(this.needed, i)) continue;
            const local = this.part.consumer + i * this.part.consumers - b0;
            this.held.set(i, { row: rows[local]!, file: path, rowInFile: offset + local });
          }
          this.counters.rowsHeld = this.held.size;
          this.counters.maxRowsHeld = Math.max(this.counters.maxRowsHeld, this.held.size);
        } else this.counters.batchesSkipped++;
        offset += batch.numRows;
        this.covered = Math.max(this.covered, bhi);
        yield;
      }
      if (offset !== f.rows) throw new ShardError(`read ${offset} rows, manifest says ${f.rows}`, { file: path });
      start = end;
    }
  }

  /** Read until substream index i (and every index below it) has been read. */
  async ensure(i: number): Promise<void> {
    while (this.covered <= i) {
      const r = await this.it.next();
      if (r.done) throw new ShardError(`the corpus ended before substream row ${i} (files changed while reading?)`, { file: this.files.map((f) => f.dir)[0] });
    }
  }

  take(i: number): HeldRow<K> {
    const r = this.held.get(i);
    if (!r) throw new ShardError(`internal: row ${i} of the substream was not read (order bookkeeping broken)`);
    this.held.delete(i);
    this.counters.rowsHeld = this.held.size;
    return r;
  }

  /** Stop reading (closes the open Parquet file). */
  async close(): Promise<void> {
    await this.it.return(undefined);
    this.held.clear();
  }
}
