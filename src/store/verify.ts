/**
 * `verifyShards(dir)`: recompute every checksum and row count of a stage and name each mismatch. It
 * never decodes a file whose bytes differ from the manifest (a corrupted page can crash the decoder).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { UnivgError } from '../errors.js';
import { recordCodec, schemaFingerprint } from '../schema/arrow.js';
import { isNotFound, sha256File } from './fsutil.js';
import { MANIFEST_NAME, readManifest, type Manifest } from './manifest.js';
import { isTempFileName } from './names.js';
import { checkFraming, openParquet } from './parquet.js';

export interface ShardProblem {
  /** File name inside the stage directory (or the directory itself). */
  file: string;
  problem: string;
  expected?: string | number;
  actual?: string | number;
}

export interface FileCheck {
  file: string;
  ok: boolean;
  rows?: number;
  bytes?: number;
  rowGroups?: number;
}

export interface VerifyResult {
  ok: boolean;
  dir: string;
  manifest: Manifest | null;
  files: FileCheck[];
  problems: ShardProblem[];
}

export interface VerifyOptions {
  /** Also decode every row group and count its rows (slower; the checksum already proves the bytes). */
  deep?: boolean;
}

function message(err: unknown): string {
  return err instanceof UnivgError ? err.message : err instanceof Error ? err.message : String(err);
}

/** Footer checks of a file whose bytes are trusted; returns problems found. */
async function checkFooter(
  path: string,
  name: string,
  expect: { rows?: number; rowGroups?: number; fingerprint?: string },
  deep: boolean,
  out: FileCheck,
): Promise<ShardProblem[]> {
  const problems: ShardProblem[] = [];
  let file;
  try {
    file = await openParquet(path);
  } catch (err) {
    return [{ file: name, problem: message(err) }];
  }
  try {
    const { footer } = file;
    out.rows = footer.rows;
    out.rowGroups = footer.rowGroupRows.length;
    if (expect.rows !== undefined && footer.rows !== expect.rows)
      problems.push({ file: name, problem: 'row count differs from the manifest', expected: expect.rows, actual: footer.rows });
    if (expect.rowGroups !== undefined && footer.rowGroupRows.length !== expect.rowGroups)
      problems.push({ file: name, problem: 'row group count differs from the manifest', expected: expect.rowGroups, actual: footer.rowGroupRows.length });
    const fp = schemaFingerprint(footer.schema);
    if (expect.fingerprint !== undefined && fp !== expect.fingerprint)
      problems.push({ file: name, problem: 'schema fingerprint differs from the manifest', expected: expect.fingerprint, actual: fp });
    if (deep) {
      for (let g = 0; g < footer.rowGroupRows.length; g++) {
        let n = 0;
        for await (const b of file.readRowGroup(g)) n += b.numRows;
        if (n !== footer.rowGroupRows[g]) problems.push({ file: name, problem: `row group ${g} decodes to a different row count`, expected: footer.rowGroupRows[g], actual: n });
      }
    }
  } catch (err) {
    problems.push({ file: name, problem: message(err) });
  } finally {
    file.close();
  }
  return problems;
}

export async function verifyShards(dir: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const result: VerifyResult = { ok: false, dir, manifest: null, files: [], problems: [] };
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    result.problems.push({ file: dir, problem: isNotFound(err) ? 'directory does not exist' : message(err) });
    return result;
  }
  let manifest: Manifest | null = null;
  try {
    manifest = await readManifest(dir);
    if (!manifest) result.problems.push({ file: MANIFEST_NAME, problem: 'manifest is missing (the stage did not finish)' });
  } catch (err) {
    result.problems.push({ file: MANIFEST_NAME, problem: message(err) });
  }
  result.manifest = manifest;
  const listed = new Set(manifest?.files.map((f) => f.file) ?? []);

  if (manifest) {
    const expectedFingerprint = recordCodec(manifest.kind).fingerprint;
    if (manifest.schemaFingerprint !== expectedFingerprint)
      result.problems.push({ file: MANIFEST_NAME, problem: `schema fingerprint is not the current ${manifest.kind} schema (written by another version?)`, expected: expectedFingerprint, actual: manifest.schemaFingerprint });
    const rowSum = manifest.files.reduce((s, f) => s + f.rows, 0);
    if (rowSum !== manifest.rows) result.problems.push({ file: MANIFEST_NAME, problem: 'total rows is not the sum of the files', expected: rowSum, actual: manifest.rows });
    for (const f of manifest.files) {
      const path = join(dir, f.file);
      const check: FileCheck = { file: f.file, ok: false };
      result.files.push(check);
      const problems: ShardProblem[] = [];
      let actual: { sha256: string; bytes: number } | null = null;
      try {
        actual = await sha256File(path);
        check.bytes = actual.bytes;
      } catch (err) {
        problems.push({ file: f.file, problem: isNotFound(err) ? 'file listed in the manifest is missing' : message(err) });
      }
      if (actual) {
        if (actual.bytes !== f.bytes) problems.push({ file: f.file, problem: 'size differs from the manifest (truncated or overwritten)', expected: f.bytes, actual: actual.bytes });
        if (actual.sha256 !== f.sha256) problems.push({ file: f.file, problem: 'sha256 differs from the manifest (corrupted)', expected: f.sha256, actual: actual.sha256 });
        if (problems.length === 0) {
          problems.push(...(await checkFooter(path, f.file, { rows: f.rows, rowGroups: f.rowGroups, fingerprint: manifest.schemaFingerprint }, opts.deep ?? false, check)));
        } else {
          // Bytes changed: only look at the framing, never hand the file to the decoder.
          try {
            await checkFraming(path);
          } catch (err) {
            problems.push({ file: f.file, problem: message(err) });
          }
        }
      }
      check.ok = problems.length === 0;
      result.problems.push(...problems);
    }
  }

  for (const name of names) {
    if (name === MANIFEST_NAME || listed.has(name)) continue;
    if (isTempFileName(name)) {
      result.problems.push({ file: name, problem: 'leftover temp file of an interrupted write' });
    } else if (name.endsWith('.parquet')) {
      // Not vouched for by a manifest: report it, and its footer if readable, but do not decode it.
      const check: FileCheck = { file: name, ok: false };
      result.files.push(check);
      result.problems.push({ file: name, problem: manifest ? 'file is not listed in the manifest' : 'file has no manifest entry' });
      try {
        await checkFraming(join(dir, name));
        result.problems.push(...(await checkFooter(join(dir, name), name, {}, false, check)));
      } catch (err) {
        result.problems.push({ file: name, problem: message(err) });
      }
    }
  }
  result.ok = result.problems.length === 0;
  return result;
}
