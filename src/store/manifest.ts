/**
 * `_manifest.json`: the last file a stage writes, atomically. Its presence means the stage is done; it
 * lists every part file with rows, bytes and sha256, the schema fingerprint, the record kind and the
 * inputs the stage read. No timestamps, so equal inputs give a byte-identical manifest.
 */
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { ShardError } from '../errors.js';
import { recordCodec } from '../schema/arrow.js';
import { RECORDS, type RecordKind } from '../schema/records.js';
import { isNotFound, sha256File, writeFileAtomic } from './fsutil.js';
import { WRITER } from './version.js';

export const MANIFEST_NAME = '_manifest.json';

const KINDS = Object.keys(RECORDS) as [RecordKind, ...RecordKind[]];

export const ShardFileInfo = z.object({
  file: z.string().min(1).describe('file name inside the stage directory'),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  rowGroups: z.number().int().nonnegative(),
});
export type ShardFileInfo = z.infer<typeof ShardFileInfo>;

/** One input a stage read: another stage's manifest, or a source file. */
export const LineageInput = z.object({
  path: z.string().min(1).describe('path as given, or relative to the stage directory'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional().describe('of the file (for a stage: of its _manifest.json)'),
  kind: z.string().optional(),
  rows: z.number().int().nonnegative().optional(),
  schemaFingerprint: z.string().optional(),
});
export type LineageInput = z.infer<typeof LineageInput>;

export const Lineage = z.object({
  stage: z.string().optional(),
  inputs: z.array(LineageInput).default([]),
  params: z.record(z.string(), z.json()).optional().describe('settings that shaped the output (config hash, seed, ...)'),
});
export type Lineage = z.infer<typeof Lineage>;

export const Manifest = z.object({
  format: z.literal('univg-shards'),
  manifestVersion: z.literal(1),
  kind: z.enum(KINDS),
  writer: z.string(),
  schemaFingerprint: z.string().regex(/^[0-9a-f]{64}$/),
  compression: z.string(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  files: z.array(ShardFileInfo),
  lineage: Lineage,
});
export type Manifest = z.infer<typeof Manifest>;

export interface ManifestExtra {
  kind: RecordKind;
  lineage?: z.input<typeof Lineage>;
  compression?: string;
  /** Defaults to the fingerprint of `kind`'s Arrow schema. */
  schemaFingerprint?: string;
}

/** Build the manifest object (pure): files sorted by name, totals summed, fixed key order. */
export function buildManifest(files: readonly ShardFileInfo[], extra: ManifestExtra): Manifest {
  const sorted = [...files].map((f) => ShardFileInfo.parse(f)).sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const seen = new Set<string>();
  for (const f of sorted) {
    if (seen.has(f.file)) throw new ShardError('a file is listed twice in the manifest', { file: f.file });
    seen.add(f.file);
  }
  return {
    format: 'univg-shards',
    manifestVersion: 1,
    kind: extra.kind,
    writer: WRITER,
    schemaFingerprint: extra.schemaFingerprint ?? recordCodec(extra.kind).fingerprint,
    compression: extra.compression ?? 'zstd',
    rows: sorted.reduce((s, f) => s + f.rows, 0),
    bytes: sorted.reduce((s, f) => s + f.bytes, 0),
    files: sorted,
    lineage: Lineage.parse(extra.lineage ?? {}),
  };
}

/** Write `dir/_manifest.json` atomically (temp, fsync, rename). Call it after every part file is closed. */
export async function writeManifest(dir: string, files: readonly ShardFileInfo[], extra: ManifestExtra): Promise<Manifest> {
  const manifest = buildManifest(files, extra);
  await writeFileAtomic(join(dir, MANIFEST_NAME), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Read and validate `dir/_manifest.json`; null when the stage has none (not done). */
export async function readManifest(dir: string): Promise<Manifest | null> {
  const file = join(dir, MANIFEST_NAME);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isNotFound(err)) return null;
    throw new ShardError(`cannot read manifest: ${(err as Error).message}`, { file }, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ShardError('manifest is not valid JSON (truncated?)', { file }, { cause: err });
  }
  const res = Manifest.safeParse(json);
  if (!res.success) {
    const issue = res.error.issues[0];
    throw new ShardError(`manifest does not match the manifest schema: ${issue?.message ?? 'invalid'}`, { file, field: issue?.path.join('.') });
  }
  return res.data;
}

/**
 * Describe another stage as an input of this one: its manifest's checksum, kind, rows and schema.
 * `relativeTo` (the writing stage's directory) makes the recorded path portable across machines.
 */
export async function stageInput(dir: string, relativeTo?: string): Promise<LineageInput> {
  const m = await readManifest(dir);
  if (!m) throw new ShardError('input stage has no manifest (not finished)', { file: join(dir, MANIFEST_NAME) });
  const { sha256 } = await sha256File(join(dir, MANIFEST_NAME));
  return { path: relativeTo ? relative(relativeTo, dir) || '.' : dir, sha256, kind: m.kind, rows: m.rows, schemaFingerprint: m.schemaFingerprint };
}
