/**
 * Streaming readers: Arrow record batches one row group at a time, or decoded rows. A stage directory
 * is read through its manifest, and each file is checked against it (size, sha256, row count, schema
 * fingerprint) before its data is decoded, so corruption is a ShardError naming the file, never a
 * short or silently wrong read.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type * as arrow from 'apache-arrow';
import { ShardError } from '../errors.js';
import { recordBatchToRows, schemaFingerprint, type RecordOf } from '../schema/arrow.js';
import type { RecordKind } from '../schema/records.js';
import { isNotFound, sha256File } from './fsutil.js';
import { readManifest, type Manifest, type ShardFileInfo } from './manifest.js';
import { openParquet } from './parquet.js';

export interface ReadOptions {
  /** Only these files of the stage (names as in the manifest), in the order given. */
  files?: string[];
  /** Only these columns. */
  columns?: string[];
  /**
   * Check each file's sha256 and size against the manifest before decoding (default true). Without it a
   * corrupted data page may decode to wrong values or crash the Parquet decoder; turn it off only for
   * files just verified.
   */
  verify?: boolean;
}

interface Target {
  path: string;
  expected: ShardFileInfo | null;
  manifest: Manifest | null;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if (isNotFound(err)) throw new ShardError('no such file or directory', { file: path });
    throw err;
  }
}

/** The files to read and what the manifest says about each. A single file is looked up in its directory's manifest. */
async function resolveTargets(dirOrFile: string, opts: ReadOptions): Promise<Target[]> {
  if (await isDirectory(dirOrFile)) {
    const manifest = await readManifest(dirOrFile);
    if (!manifest) throw new ShardError('no _manifest.json: the stage is not complete (or this is not a stage directory)', { file: dirOrFile });
    const byName = new Map(manifest.files.map((f) => [f.file, f]));
    const names = opts.files ?? manifest.files.map((f) => f.file);
    return names.map((name) => {
      const expected = byName.get(name);
      if (!expected) throw new ShardError('file is not listed in the manifest', { file: join(dirOrFile, name) });
      return { path: join(dirOrFile, name), expected, manifest };
    });
  }
  const manifest = await readManifest(dirname(dirOrFile));
  const expected = manifest?.files.find((f) => f.file === basename(dirOrFile)) ?? null;
  if (opts.verify !== false && !expected)
    throw new ShardError('file is not listed in a manifest next to it, so it cannot be verified (pass verify: false to read it anyway)', { file: dirOrFile });
  return [{ path: dirOrFile, expected, manifest }];
}

async function checkAgainstManifest(t: Target): Promise<void> {
  const e = t.expected!;
  let actual: { sha256: string; bytes: number };
  try {
    actual = await sha256File(t.path);
  } catch (err) {
    if (isNotFound(err)) throw new ShardError('file listed in the manifest is missing', { file: t.path });
    throw err;
  }
  if (actual.bytes !== e.bytes)
    throw new ShardError(`size ${actual.bytes} bytes, manifest says ${e.bytes} (truncated or overwritten)`, { file: t.path, expected: e.bytes, actual: actual.bytes });
  if (actual.sha256 !== e.sha256)
    throw new ShardError('sha256 does not match the manifest (corrupted)', { file: t.path, expected: e.sha256, actual: actual.sha256 });
}

/**
 * Record batches of a stage directory (every file of its manifest, in order) or of one file, one row
 * group at a time (a big row group in slices of about 16 MiB), so memory stays bounded.
 */
export async function* readBatches(dirOrFile: string, opts: ReadOptions = {}): AsyncGenerator<arrow.RecordBatch> {
  const targets = await resolveTargets(dirOrFile, opts);
  for (const t of targets) {
    if (t.expected && opts.verify !== false) await checkAgainstManifest(t);
    const file = await openParquet(t.path);
    try {
      const { footer } = file;
      if (t.expected && footer.rows !== t.expected.rows)
        throw new ShardError(`footer has ${footer.rows} rows, manifest says ${t.expected.rows}`, { file: t.path, expected: t.expected.rows, actual: footer.rows });
      if (t.manifest && schemaFingerprint(footer.schema) !== t.manifest.schemaFingerprint)
        throw new ShardError('schema differs from the manifest schema fingerprint', { file: t.path });
      let seen = 0;
      for (let g = 0; g < footer.rowGroupRows.length; g++) {
        let n = 0;
        for await (const b of file.readRowGroup(g, opts.columns)) {
          n += b.numRows;
          if (n > footer.rowGroupRows[g]!) break;
          yield b;
        }
        if (n !== footer.rowGroupRows[g])
          throw new ShardError(`row group ${g} decoded ${n} rows, footer says ${footer.rowGroupRows[g]}`, { file: t.path });
        seen += n;
      }
      if (seen !== footer.rows) throw new ShardError(`decoded ${seen} rows, footer says ${footer.rows}`, { file: t.path });
    } finally {
      file.close();
    }
  }
}

export interface ReadRowsOptions extends Omit<ReadOptions, 'columns'> {
  /** Re-validate every row with its zod schema (refinements, enums, defaults). */
  validate?: boolean;
}

/** Decoded rows of one record kind (HfImage bytes as Uint8Array), streamed row group by row group. */
export async function* readRows<K extends RecordKind>(kind: K, dirOrFile: string, opts: ReadRowsOptions = {}): AsyncGenerator<RecordOf<K>> {
  const dirManifest = (await isDirectory(dirOrFile)) ? await readManifest(dirOrFile) : await readManifest(dirname(dirOrFile));
  if (dirManifest && dirManifest.kind !== kind)
    throw new ShardError(`holds ${dirManifest.kind} records, not ${kind}`, { file: dirOrFile, expected: kind, actual: dirManifest.kind });
  let file = '';
  let offset = 0;
  for await (const batch of readFileBatches(dirOrFile, opts)) {
    if (batch.file !== file) {
      file = batch.file;
      offset = 0;
    }
    yield* recordBatchToRows(kind, batch.batch, { validate: opts.validate, file, rowOffset: offset });
    offset += batch.batch.numRows;
  }
}

/** readBatches, with the file each batch came from (for error context). */
async function* readFileBatches(dirOrFile: string, opts: ReadOptions): AsyncGenerator<{ file: string; batch: arrow.RecordBatch }> {
  if (!(await isDirectory(dirOrFile))) {
    for await (const batch of readBatches(dirOrFile, opts)) yield { file: dirOrFile, batch };
    return;
  }
  const manifest = await readManifest(dirOrFile);
  const names = opts.files ?? manifest?.files.map((f) => f.file) ?? [];
  if (!manifest) throw new ShardError('no _manifest.json: the stage is not complete (or this is not a stage directory)', { file: dirOrFile });
  for (const name of names) {
    for await (const batch of readBatches(dirOrFile, { ...opts, files: [name] })) yield { file: join(dirOrFile, name), batch };
  }
}
