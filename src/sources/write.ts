/**
 * Ingest a source file into a shard directory: samples as Parquet shards (partitioned by stable hash of
 * the id) with `_manifest.json`, rejected inputs in `quarantine.jsonl`, and optionally every image copied
 * into the content-addressed image store. Everything streams; nothing is left looking complete on failure.
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, InputError, ShardError } from '../errors.js';
import type { GroundingSample } from '../schema/records.js';
import { ImageStore, writeShards, type Manifest } from '../store/index.js';
import { ImageCatalog, resolveUnderRoot } from './images.js';
import { ingestSource, type SourceFormat } from './ingest.js';
import { newReaderStats, type ReaderStats } from './json-array.js';
import { JsonlWriter } from './jsonl-writer.js';
import { countEvent, emptySummary, sortedSummary, type IngestSummary } from './summary.js';

export const QUARANTINE_FILE = 'quarantine.jsonl';
export const IMAGES_DIR = 'images';

export interface IngestToStoreOptions {
  format: SourceFormat;
  input: string;
  imageRoot: string;
  /** Output directory: part files, `_manifest.json`, `quarantine.jsonl` (and `images/`). */
  out: string;
  /** Number of part files (default 1). */
  shards?: number;
  /** Copy every referenced image into `<out>/images/` (content-addressed by sha256). */
  copyImages?: boolean;
  concurrency?: number;
  cacheSize?: number;
}

export interface IngestRun {
  summary: IngestSummary;
  /** Records (array elements) read from the input. */
  records: number;
  reader: ReaderStats;
  manifest: Manifest;
  quarantineFile: string;
  imagesCopied: number;
}

export async function ingestToStore(opts: IngestToStoreOptions): Promise<IngestRun> {
  // Check the inputs before creating anything, so a typo leaves no output directory behind.
  const shards = opts.shards ?? 1;
  if (!Number.isSafeInteger(shards) || shards < 1 || shards > 99_999) throw new ConfigError(`--shards must be an integer from 1 to 99999, got ${shards}`);
  try {
    if (!(await stat(opts.input)).isFile()) throw new InputError('input is not a file', { file: opts.input });
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError('input file not found or not readable', { file: opts.input }, { cause: err });
  }
  const catalog = await ImageCatalog.open(opts.imageRoot, { concurrency: opts.concurrency, cacheSize: opts.cacheSize });
  // A failed ingest leaves no output directory behind: remember the topmost directory this run creates
  // (nothing of the user's can be inside it), and remove it if the run fails.
  const madeOut = await mkdir(opts.out, { recursive: true });
  // A quarantine file from an earlier run must not sit next to this run's (new or missing) shards.
  await rm(join(opts.out, QUARANTINE_FILE), { force: true });

  const summary = emptySummary();
  const reader = newReaderStats();
  const quarantineFile = join(opts.out, QUARANTINE_FILE);
  const qWriter = await JsonlWriter.create(quarantineFile);
  const store = opts.copyImages ? new ImageStore(join(opts.out, IMAGES_DIR)) : null;
  // Hashes copied recently; the store's own existence check covers anything that fell out of this window.
  const copied = new Set<string>();
  let imagesCopied = 0;

  async function copyImagesOf(s: GroundingSample): Promise<void> {
    for (const img of s.images) {
      if (copied.has(img.sha256)) continue;
      const where = resolveUnderRoot(catalog.root, img.path);
      if (!where.ok) throw new ShardError('image path no longer resolves under the image root', { file: img.path });
      const put = await store!.putFile(where.path);
      if (put.sha256 !== img.sha256) throw new ShardError('image changed on disk during ingest (sha256 differs)', { file: where.path, expected: img.sha256, actual: put.sha256 });
      if (copied.size >= 65536) copied.clear();
      copied.add(img.sha256);
      imagesCopied++;
    }
  }

  // Filled in once the whole input has been read; writeShards reads the lineage when it writes the
  // manifest, after the last row, so the input's hash (computed while streaming) lands in it.
  const inputLineage: { path: string; kind: string; sha256?: string } = { path: opts.input, kind: opts.format };

  async function* samples(): AsyncGenerator<GroundingSample> {
    let committed = false;
    try {
      for await (const e of ingestSource(opts.format, { input: opts.input, imageRoot: opts.imageRoot, catalog, readerStats: reader, hashInput: true })) {
        countEvent(summary, e);
        if (e.kind === 'quarantine') {
          await qWriter.write(e.record);
          continue;
        }
        if (store) await copyImagesOf(e.sample);
        yield e.sample;
      }
      if (reader.sha256) inputLineage.sha256 = reader.sha256;
      // The quarantine file lands before the manifest: the manifest is what marks the stage done.
      await qWriter.commit();
      committed = true;
    } finally {
      if (!committed) await qWriter.abort();
    }
  }

  let manifest: Manifest;
  try {
    manifest = await writeShards('GroundingSample', samples(), {
      dir: opts.out,
      count: shards,
      lineage: { stage: 'ingest', inputs: [inputLineage], params: { format: opts.format, shards } },
    });
  } catch (err) {
    await qWriter.abort();
    if (madeOut !== undefined) await rm(madeOut, { recursive: true, force: true });
    throw err;
  }
  return { summary: sortedSummary(summary), records: reader.elements, reader, manifest, quarantineFile, imagesCopied };
}
