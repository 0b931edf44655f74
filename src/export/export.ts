/**
 * `exportCorpus`: a corpus pool (SftRow or RlRow shards) to the files each trainer reads, with the reward
 * and difficulty plugins, launch recipes, a dataset card and a manifest, one directory per format.
 *
 * Layout of `<out>/<format>/`:
 *   data/train-0000i-of-0000N.{parquet,json,jsonl}   rows (input part i -> output part i, or one part per
 *                                                   mIoU band for a curriculum order)
 *   images/ab/<sha256>.<ext>                        JSON formats: the images, content-addressed
 *   plugins/*.py, plugins/univg_plugin.json          reward and difficulty plugins and their settings
 *   recipes/..., dataset_info.json                   launch recipes and trainer configs
 *   README.md                                       dataset card (Hugging Face YAML header)
 *   _manifest.json                                  written last: files, rows, sha256, lineage
 *
 * Atomic and resumable: a format is built in a hidden `.<format>.partial/` directory and renamed into
 * place when complete, so `<out>/<format>` is either absent or whole. A part file is renamed into the
 * partial directory only when complete, so a killed export keeps its finished parts and a rerun with the
 * same settings writes only the others (a curriculum order is written in one go). Rows a format cannot
 * use fail the whole format, naming every such row; the partial directory is then removed.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ConfigError, InputError, InterruptedError } from '../errors.js';
import { canonicalJson } from '../schema/canonical.js';
import { ExportConfig, type ExportFormat } from '../schema/config.js';
import { RECORDS, type RecordKind, type RlRow, type SftRow } from '../schema/records.js';
import { JsonlWriter } from '../sources/jsonl-writer.js';
import { isNotFound, pathExists as exists, sha256File, writeFileAtomic } from '../store/fsutil.js';
import { ImageStore } from '../store/images.js';
import { MANIFEST_NAME, readManifest, stageInput, writeManifest, type LineageInput, type Manifest, type ShardFileInfo } from '../store/manifest.js';
import { shardFileName } from '../store/names.js';
import { openParquet } from '../store/parquet.js';
import { readRows } from '../store/reader.js';
import { UNIVG_VERSION } from '../store/version.js';
import { ShardWriter } from '../store/writer.js';
import { bandPart, keeps, resolveSelection, selects, type ResolvedSelection } from '../train/score/pool.js';
import { datasetCard } from './card.js';
import { answerConvention, budgetFor } from './family.js';
import { FORMATS } from './formats/index.js';
import { imageRelPath, prepareRow, type ExportProblem, type PreparedRow } from './rows.js';
import type { FormatContext, FormatSpec, Pool } from './spec.js';

export const EXPORT_SUMMARY = '_export.json';
const STATE = '_state.json';
const PART_PREFIX = 'train';
/** Rows named in the error of a failed format (all of them are counted). */
const PROBLEMS_SHOWN = 20;
/** Data all open Parquet writers of one format buffer together (a curriculum opens one per band). */
const MEMORY_BYTES = 64 * 1024 * 1024;
const PLUGIN_DIR = new URL('./plugins/', import.meta.url);

export interface ExportOptions {
  config: import('zod').input<typeof ExportConfig>;
  /** Shard directories of each pool (SftRow or RlRow with a manifest); the RL pool is best the scored one. */
  pools: Partial<Record<Pool, string | null>>;
  /** Directory relative image paths of the rows resolve under (the corpus run directory). */
  dataRoot: string;
  /** Output directory: one subdirectory per format. */
  out: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface FormatResult {
  format: ExportFormat;
  dir: string;
  pool: Pool;
  rows: number;
  files: number;
  /** Already exported with the same settings and input: nothing written. */
  upToDate: boolean;
  /** Part files kept from an interrupted earlier run. */
  resumedParts: number;
  /** Rows the difficulty filter left out. */
  filtered: number;
}

export interface ExportResult {
  out: string;
  formats: FormatResult[];
  seconds: number;
}

const sha256 = (text: string | Uint8Array) => createHash('sha256').update(text).digest('hex');

/** The rows of a pool, with the information needed to place each one. */
interface InputPlan {
  dir: string;
  manifest: Manifest;
  kind: 'SftRow' | 'RlRow';
  /** Rows before each file (the row index base). */
  offsets: number[];
  lineage: LineageInput;
}

async function planInput(dir: string, relativeTo: string): Promise<InputPlan> {
  const manifest = await readManifest(dir);
  if (!manifest) throw new InputError('not a finished shard directory (no _manifest.json): run the corpus pipeline (or univg score) first', { file: dir });
  if (manifest.kind !== 'SftRow' && manifest.kind !== 'RlRow') throw new InputError(`holds ${manifest.kind} records; export reads SftRow or RlRow shards`, { file: dir });
  const offsets: number[] = [];
  let n = 0;
  for (const f of manifest.files) {
    offsets.push(n);
    n += f.rows;
  }
  return { dir, manifest, kind: manifest.kind, offsets, lineage: await stageInput(dir, relativeTo) };
}

interface PartWriter {
  write(row: unknown): Promise<void>;
  close(): Promise<ShardFileInfo>;
  abort(): Promise<void>;
}

function partName(spec: FormatSpec, index: number, count: number): string {
  const name = shardFileName(index, count, PART_PREFIX);
  return spec.storage === 'parquet' ? name : name.replace(/\.parquet$/, `.${spec.storage}`);
}

async function openPart(spec: FormatSpec, kind: RecordKind, dir: string, index: number, count: number, rowGroupBytes: number): Promise<PartWriter> {
  const dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  if (spec.storage === 'parquet') {
    const w = new ShardWriter({ dir: dataDir, kind, index, count, prefix: PART_PREFIX, compression: 'zstd', rowGroupBytes });
    return {
      write: (row) => w.write(row as never),
      close: async () => {
        const info = await w.close();
        return { ...info, file: `data/${info.file}` };
      },
      abort: () => w.abort(),
    };
  }
  const name = partName(spec, index, count);
  const w = await JsonlWriter.create(join(dataDir, name), { array: spec.storage === 'json' });
  const schema = RECORDS[kind];
  return {
    async write(row) {
      await w.write(schema.parse(row));
    },
    async close() {
      const rows = w.count;
      await w.commit();
      const { sha256: sum, bytes } = await sha256File(join(dataDir, name));
      return { file: `data/${name}`, rows, bytes, sha256: sum, rowGroups: 0 };
    },
    abort: () => w.abort(),
  };
}

/** A part left complete by an interrupted run: its manifest entry, read back from the file. */
async function donePart(spec: FormatSpec, dir: string, name: string): Promise<ShardFileInfo | null> {
  const path = join(dir, 'data', name);
  if (!(await exists(path))) return null;
  const { sha256: sum, bytes } = await sha256File(path);
  let rows: number;
  let rowGroups = 0;
  if (spec.storage === 'parquet') {
    const f = await openParquet(path);
    rows = f.footer.rows;
    rowGroups = f.footer.rowGroupRows.length;
    f.close();
  } else {
    const text = await readFile(path, 'utf8');
    rows = spec.storage === 'json' ? (JSON.parse(text) as unknown[]).length : text.split('\n').filter((l) => l !== '').length;
  }
  return { file: `data/${name}`, rows, bytes, sha256: sum, rowGroups };
}

function problemList(problems: readonly ExportProblem[], total: number): string {
  const lines = problems.slice(0, PROBLEMS_SHOWN).map((p) => `  ${p.id ?? '(no id)'} (${relative(process.cwd(), p.file) || p.file}, row ${p.row}, field ${p.field}): ${p.reason}: ${p.detail}`);
  if (total > PROBLEMS_SHOWN) lines.push(`  ... and ${total - PROBLEMS_SHOWN} more`);
  return lines.join('\n');
}

interface FormatRun {
  spec: FormatSpec;
  pool: Pool;
  kind: RecordKind;
  ctx: Omit<FormatContext, 'dataFiles' | 'rows'>;
  selection: ResolvedSelection;
  input: InputPlan;
  fingerprint: string;
  dir: string;
  staging: string;
}

async function exportFormat(run: FormatRun, o: ExportOptions): Promise<FormatResult> {
  const { spec, pool, kind, selection, input, fingerprint, dir, staging } = run;
  const log = o.log ?? (() => undefined);
  const finalManifest = await readManifest(dir).catch(() => null);
  if (finalManifest && (finalManifest.lineage.params as { fingerprint?: string } | undefined)?.fingerprint === fingerprint) {
    log(`export ${spec.name}: up to date (${finalManifest.rows} rows in ${dir})`);
    return { format: spec.name, dir, pool, rows: finalManifest.rows, files: finalManifest.files.length, upToDate: true, resumedParts: 0, filtered: 0 };
  }
  // A partial directory of other settings (or of an older input) cannot be continued.
  const state = await readFile(join(staging, STATE), 'utf8').then((t) => JSON.parse(t) as { fingerprint?: string }, () => null);
  if (state?.fingerprint !== fingerprint) await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await writeFileAtomic(join(staging, STATE), `${JSON.stringify({ fingerprint })}\n`);

  const curriculum = selection.order !== 'input';
  const filtering = selects(selection);
  const count = curriculum ? selection.bands : input.manifest.files.length;
  const images = spec.storage === 'parquet' ? null : new ImageStore(join(staging, 'images'));
  const prepCtx = { format: spec.name, answerConvention: run.ctx.answerConvention, budget: run.ctx.budget, needsChain: spec.needsChain(pool), dataRoot: o.dataRoot };
  const problems: ExportProblem[] = [];
  let problemCount = 0;
  let filtered = 0;
  const infos: Array<ShardFileInfo | null> = new Array<ShardFileInfo | null>(count).fill(null);
  let resumedParts = 0;
  const rowGroupBytes = Math.max(1 << 20, Math.floor(MEMORY_BYTES / (curriculum ? count : 1)));

  /** Rows of input file `f`, prepared; problems collected; filtered rows skipped. */
  async function* prepared(f: number) {
    const file = input.manifest.files[f]!;
    const path = join(input.dir, file.file);
    let rowInFile = 0;
    for await (const raw of readRows(input.kind, input.dir, { files: [file.file] })) {
      if (o.signal?.aborted) throw new InterruptedError();
      const at = rowInFile++;
      const r = raw as SftRow | RlRow;
      const miou = (r as RlRow).difficulty ?? null;
      if (filtering || curriculum) {
        if (miou === null) {
          problemCount++;
          if (problems.length < PROBLEMS_SHOWN) problems.push({ id: r.id, file: path, row: at, field: 'difficulty', reason: 'not_scored', detail: 'a difficulty filter or curriculum needs scored rows: export the output of univg score' });
          continue;
        }
        if (!keeps(selection, miou, (r as RlRow).bucket ?? '')) {
          filtered++;
          continue;
        }
      }
      const p = await prepareRow(r, input.offsets[f]! + at, at, { ...prepCtx, file: path });
      if (Array.isArray(p)) {
        problemCount++;
        for (const x of p) if (problems.length < PROBLEMS_SHOWN) problems.push(x);
        continue;
      }
      yield p;
    }
  }

  async function writeRow(w: PartWriter, p: PreparedRow): Promise<void> {
    // Content-addressed and idempotent: an image shared by many rows is stored once, and nothing is kept
    // in memory per image (a corpus has millions).
    if (images) for (const im of p.images) if (!(await images.has(im.sha256, im.ext))) await images.put(im.bytes, im.ext);
    // After a bad row nothing will be kept: keep scanning to name every bad row, but stop writing.
    if (problemCount === 0) await w.write(spec.toRow(p, { pool, imagePath: imageRelPath }));
  }

  const open: PartWriter[] = [];
  try {
    if (!curriculum) {
      for (let f = 0; f < count; f++) {
        const name = partName(spec, f, count);
        const done = await donePart(spec, staging, name);
        if (done) {
          infos[f] = done;
          resumedParts++;
          continue;
        }
        const w = await openPart(spec, kind, staging, f, count, rowGroupBytes);
        open.push(w);
        for await (const p of prepared(f)) await writeRow(w, p);
        open.pop();
        if (problemCount > 0) await w.abort();
        else infos[f] = await w.close();
      }
    } else {
      const writers: PartWriter[] = [];
      for (let b = 0; b < count; b++) writers.push(await openPart(spec, kind, staging, b, count, rowGroupBytes));
      open.push(...writers);
      for (let f = 0; f < input.manifest.files.length; f++) for await (const p of prepared(f)) await writeRow(writers[bandPart(selection, p.difficulty!)]!, p);
      if (problemCount === 0) for (let b = 0; b < count; b++) infos[b] = await writers[b]!.close();
      open.length = 0;
    }
  } catch (err) {
    await Promise.all(open.map((w) => w.abort()));
    if (err instanceof InterruptedError) throw err;
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  if (problemCount > 0) {
    await Promise.all(open.map((w) => w.abort()));
    await rm(staging, { recursive: true, force: true });
    throw new InputError(
      `${problemCount} row(s) of ${input.dir} cannot be exported for ${spec.title} (${pool} pool); nothing was written:\n${problemList(problems, problemCount)}`,
      { file: input.dir, field: problems[0]?.field, recordId: problems[0]?.id ?? undefined, row: problems[0]?.row },
    );
  }

  const files = infos as ShardFileInfo[];
  const rows = files.reduce((s, f) => s + f.rows, 0);
  const ctx: FormatContext = { ...run.ctx, dataFiles: files.map((f) => f.file), rows };
  const extras = await writeExtras(spec, ctx, staging);
  const bytes = files.reduce((s, f) => s + f.bytes, 0);
  const card = datasetCard({ spec, kind, ctx, bytes, input: { path: input.lineage.path, sha256: input.lineage.sha256, kind: input.kind, rows: input.manifest.rows }, version: UNIVG_VERSION });
  await writeFileAtomic(join(staging, 'README.md'), card);
  extras.push({ file: 'README.md', sha256: sha256(card), bytes: Buffer.byteLength(card) });
  const params = {
    fingerprint,
    format: spec.name,
    pool,
    modelFamily: ctx.family,
    convention: ctx.answerConvention,
    minPixels: ctx.budget.minPixels,
    maxPixels: ctx.budget.maxPixels,
    selection: { keep: selection.keep, minMiou: selection.minMiou, maxMiou: selection.maxMiou, order: selection.order, bands: curriculum ? selection.bands : null },
    phi: ctx.config.phi,
    phiPower: ctx.config.phiPower,
    filtered,
    extras: extras.sort((a, b) => (a.file < b.file ? -1 : 1)),
  };
  await writeManifest(staging, files, { kind, compression: spec.storage === 'parquet' ? 'zstd' : 'none', lineage: { stage: 'export', inputs: [input.lineage], params } });
  await rm(join(staging, STATE), { force: true });
  await rm(dir, { recursive: true, force: true });
  await rename(staging, dir);
  log(`export ${spec.name}: ${rows} rows in ${files.length} file(s) to ${dir}${resumedParts ? ` (${resumedParts} part(s) kept from an earlier run)` : ''}${filtered ? `; ${filtered} row(s) left out by the difficulty filter` : ''}`);
  return { format: spec.name, dir, pool, rows, files: files.length, upToDate: false, resumedParts, filtered };
}

/** Plugins, their settings and the recipes; returns each file with its checksum for the manifest. */
async function writeExtras(spec: FormatSpec, ctx: FormatContext, dir: string): Promise<Array<{ file: string; sha256: string; bytes: number }>> {
  const out: Array<{ file: string; sha256: string; bytes: number }> = [];
  const put = async (rel: string, text: string | Uint8Array, executable = false) => {
    const path = join(dir, rel);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFileAtomic(path, text);
    if (executable) await chmod(path, 0o755);
    out.push({ file: rel, sha256: sha256(text), bytes: typeof text === 'string' ? Buffer.byteLength(text) : text.byteLength });
  };
  for (const p of spec.plugins) await put(`plugins/${p}`, await readFile(new URL(p, PLUGIN_DIR)));
  if (spec.plugins.length) {
    const settings = { format: spec.name, model_family: ctx.family, convention: ctx.answerConvention, phi: ctx.config.phi, phi_power: ctx.config.phiPower, eps: 1e-4, std: 'sample' };
    await put('plugins/univg_plugin.json', `${JSON.stringify(settings, null, 2)}\n`);
  }
  for (const r of spec.recipes(ctx)) await put(r.path, r.text, r.executable);
  return out;
}

/** Every format of `o.config`, one after the other; `<out>/_export.json` sums them up. */
export async function exportCorpus(o: ExportOptions): Promise<ExportResult> {
  const t0 = Date.now();
  const parsed = ExportConfig.safeParse(o.config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.');
    const unnamed = field === 'modelFamily' && (o.config as { modelFamily?: unknown }).modelFamily === undefined;
    throw new ConfigError(unnamed ? 'name the model family the trainer fine-tunes (qwen2vl or qwen25vl): it decides the box convention and is never guessed' : `${field}: ${issue.message}`, { field });
  }
  const config = parsed.data;
  const formats = [...new Set(config.formats)];
  const runs: FormatRun[] = [];
  // Resolve everything first, so a bad setting costs one line before any row is read.
  for (const name of formats) {
    const spec = FORMATS[name];
    const pool = config.pool ?? spec.defaultPool;
    if (!spec.pools.includes(pool)) throw new ConfigError(`${spec.title} trains on the ${spec.pools.join(' or ')} pool, not ${pool}${spec.name === 'llamafactory' ? ' (LLaMA-Factory runs the CoT-SFT stage)' : ''}`, { field: 'pool' });
    const inputDir = o.pools[pool];
    if (!inputDir) throw new InputError(`no ${pool} pool to export for ${spec.title}`, { field: 'pool' });
    const selection = resolveSelection({
      ...(config.keep ? { keep: config.keep } : {}),
      ...(config.minMiou !== undefined ? { minMiou: config.minMiou } : {}),
      ...(config.maxMiou !== undefined ? { maxMiou: config.maxMiou } : {}),
      order: config.order,
      ...(config.bands !== undefined ? { bands: config.bands } : {}),
    });
    const budget = budgetFor(name, config.modelFamily, { minPixels: config.minPixels, maxPixels: config.maxPixels });
    const dir = join(o.out, name);
    const input = await planInput(inputDir, dir);
    const ctx = { pool, family: config.modelFamily, answerConvention: answerConvention(config.modelFamily), budget, config, curriculum: selection.order !== 'input' };
    const fingerprint = sha256(canonicalJson({ v: 1, version: UNIVG_VERSION, format: name, pool, family: ctx.family, budget, selection, phi: config.phi, phiPower: config.phiPower, input: input.lineage.sha256, dataRoot: o.dataRoot })).slice(0, 32);
    runs.push({ spec, pool, kind: spec.kind(pool), ctx, selection, input, fingerprint, dir, staging: join(o.out, `.${name}.partial`) });
  }
  await mkdir(o.out, { recursive: true });
  // The export is not done until the new summary lands (a pipeline stage is done when it exists).
  await rm(join(o.out, EXPORT_SUMMARY), { force: true });
  const results: FormatResult[] = [];
  for (const run of runs) results.push(await exportFormat(run, o));
  const summary = { univg: UNIVG_VERSION, formats: results.map((r) => ({ format: r.format, dir: relative(o.out, r.dir), pool: r.pool, rows: r.rows, files: r.files })) };
  await writeFileAtomic(join(o.out, EXPORT_SUMMARY), `${JSON.stringify(summary, null, 2)}\n`);
  return { out: o.out, formats: results, seconds: (Date.now() - t0) / 1000 };
}

/** The pools of a corpus run: corpus/sft, and for RL the scored pool (train/scored) when it is finished. */
export async function runPools(runDir: string): Promise<Record<Pool, string | null>> {
  const has = (d: string) => exists(join(d, MANIFEST_NAME));
  const sft = join(runDir, 'corpus', 'sft');
  const rl = join(runDir, 'corpus', 'rl');
  const scored = join(runDir, 'train', 'scored');
  return { sft: (await has(sft)) ? sft : null, rl: (await has(scored)) ? scored : (await has(rl)) ? rl : null };
}

/** Names of the formats found finished under an export directory (for status lines and tests). */
export async function finishedFormats(out: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(out);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
  const done: string[] = [];
  for (const n of names.sort()) if (!n.startsWith('.') && (await exists(join(out, n, MANIFEST_NAME)))) done.push(n);
  return done;
}

