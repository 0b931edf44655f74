/**
 * `scoreCorpus`: offline difficulty of a corpus. G rollouts per row from a checkpoint or an endpoint,
 * each scored with the paper's accuracy reward (accuracy.ts); the row's mean is its `difficulty` (mIoU),
 * phi(mIoU) its `weight`, and its Figure-3 bucket its `bucket`, written as RlRow shards.
 *
 * Layout of `out`:
 *   part-0000i-of-N.parquet        the scored rows (input part i -> output part i), or, with a pool
 *                                  selection, the selected rows (see pool.ts); `scored/` then holds the
 *                                  full scored pool as its own stage
 *   _manifest.json                 written last: the stage is done when it exists
 *   quarantine.jsonl               rows not scored (QuarantineRecord: id, file, row, field, reason)
 *   _score.json                    the settings fingerprint the parts were made with
 *
 * Resume: a part file is written to a temp name and renamed when complete (ShardWriter), with its
 * quarantine lines in a hidden sidecar written just before; a rerun with the same settings keeps every
 * part that exists and scores the others (an endpoint's answers come back from the response cache, so
 * nothing already answered is requested again). Different settings discard the earlier parts.
 * Streaming: rows are read one row group at a time and written as they are scored.
 */
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConfigError, InputError, InterruptedError, ShardError, UnivgError } from '../../errors.js';
import { RlRow, type QuarantineRecord } from '../../schema/records.js';
import { mapOrdered } from '../../async/map-ordered.js';
import { openParquet, readBatches, readManifest, readRows, removeOtherSets, sha256File, shardFileName, ShardWriter, stageInput, writeManifest, type LineageInput, type ShardFileInfo } from '../../store/index.js';
import { writeFileAtomic } from '../../store/fsutil.js';
import { tempFileName } from '../../store/names.js';
import { canonicalJson } from '../../schema/canonical.js';
import { sha256Hex } from '../../teacher/request.js';
import { MIOU_BUCKETS, type MiouBucket } from '../rl/difficulty.js';
import { asRlRow, scoreRollouts, withDifficulty } from './accuracy.js';
import { isRowError, openEndpointSource } from './endpoint-source.js';
import { endpointIdentity, resolveOptions, type Resolved, type ScoreOptions, type ScoreResult } from './options.js';
import { selects } from './pool.js';
import { writeSelection } from './select.js';
import type { RolloutSource } from './source.js';

export const SCORE_STATE = '_score.json';
export const QUARANTINE_FILE = 'quarantine.jsonl';
const STATE_FORMAT = 'univg-score';

interface InputPart {
  dir: string;
  file: string;
  kind: 'RlRow' | 'SftRow';
  rows: number;
}

/** The input stages, their part files in order, and their lineage (manifest checksums). */
async function planInputs(r: Resolved): Promise<{ parts: InputPart[]; lineage: LineageInput[] }> {
  const parts: InputPart[] = [];
  const lineage: LineageInput[] = [];
  for (const dir of r.data) {
    const m = await readManifest(dir);
    if (!m) throw new ShardError('not a finished shard directory (no _manifest.json)', { file: dir });
    if (m.kind !== 'RlRow' && m.kind !== 'SftRow') throw new InputError(`holds ${m.kind} records; score reads RlRow or SftRow shards`, { file: dir });
    for (const f of m.files) parts.push({ dir, file: f.file, kind: m.kind, rows: f.rows });
    lineage.push(await stageInput(dir, r.out));
  }
  return { parts, lineage };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

const quarantinePath = (dir: string, part: string) => join(dir, `.${part}.quarantine.jsonl`);
const PART_RE = /^part-\d{5}-of-\d{5}\.parquet$/;
const SIDECAR_RE = /^\.part-\d{5}-of-\d{5}\.parquet\.quarantine\.jsonl$/;

async function readQuarantine(file: string): Promise<QuarantineRecord[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as QuarantineRecord);
}

/** Concatenate files into `path` atomically (temp, fsync, rename), one file in memory at a time. */
async function concatAtomic(path: string, files: readonly string[]): Promise<void> {
  const tmp = join(dirname(path), tempFileName(basename(path)));
  const fh = await open(tmp, 'w');
  try {
    for (const f of files) await fh.write(await readFile(f));
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
}

/** A part file already written by an earlier run, as the manifest lists it; null when it is unusable. */
async function donePart(dir: string, name: string, log: (l: string) => void): Promise<{ info: ShardFileInfo; quarantine: QuarantineRecord[] } | null> {
  const path = join(dir, name);
  const qpath = quarantinePath(dir, name);
  if (!(await exists(path)) || !(await exists(qpath))) return null;
  try {
    const file = await openParquet(path);
    const { footer } = file;
    file.close();
    const { sha256, bytes } = await sha256File(path);
    return { info: { file: name, rows: footer.rows, bytes, sha256, rowGroups: footer.rowGroupRows.length }, quarantine: await readQuarantine(qpath) };
  } catch (err) {
    log(`score: ${name} from an earlier run is unreadable (${err instanceof Error ? err.message : String(err)}); scoring it again`);
    await rm(path, { force: true });
    return null;
  }
}

function quarantineOf(err: Error, row: { id: string } | null, file: string, index: number): QuarantineRecord {
  const ctx = err instanceof UnivgError ? err.context : {};
  const reason = typeof ctx.reason === 'string' ? ctx.reason : err instanceof UnivgError ? err.code : 'error';
  return { stage: 'score', recordId: row?.id ?? (typeof ctx.recordId === 'string' ? ctx.recordId : null), file, row: index, field: typeof ctx.field === 'string' ? ctx.field : null, reason, detail: err.message };
}

interface PartRun {
  info: ShardFileInfo;
  quarantine: QuarantineRecord[];
  consumed: number;
}

/** Score one input part into part `index` of `count` in `dir`. Throws (leaving no part file) when stopped. */
async function scorePart(part: InputPart, index: number, count: number, dir: string, r: Resolved, source: RolloutSource, budget: { left: number | null }, o: ScoreOptions, onRow: () => void): Promise<PartRun> {
  const name = shardFileName(index, count);
  const inputFile = join(part.dir, part.file);
  const writer = new ShardWriter({ dir, kind: 'RlRow', index, count });
  const quarantine: QuarantineRecord[] = [];
  let consumed = 0;
  const signal = o.signal;
  type Item = { row: RlRow | null; index: number; error: Error | null };
  async function* rows(): AsyncGenerator<Item> {
    let i = 0;
    for await (const raw of readRows(part.kind, inputFile)) {
      if (budget.left !== null && budget.left <= 0) return;
      if (signal?.aborted) return;
      if (budget.left !== null) budget.left--;
      const parsed = RlRow.safeParse(asRlRow(raw as RlRow));
      if (parsed.success) yield { row: parsed.data, index: i, error: null };
      else {
        const issue = parsed.error.issues[0]!;
        const id = typeof (raw as { id?: unknown }).id === 'string' ? (raw as { id: string }).id : null;
        yield { row: null, index: i, error: new InputError(`row does not match RlRow: ${issue.message}`, { ...(id ? { recordId: id } : {}), field: issue.path.join('.'), reason: 'record_invalid' }) };
      }
      i++;
    }
  }
  const scoreOne = async (item: Item): Promise<{ row: RlRow } | { q: QuarantineRecord }> => {
    if (item.row === null) return { q: quarantineOf(item.error!, null, inputFile, item.index) };
    try {
      const texts = await source.rollouts(item.row, signal);
      const d = scoreRollouts(texts, item.row, source.convention ?? item.row.convention, r.phi, source.budget);
      return { row: withDifficulty(item.row, d) };
    } catch (err) {
      if (isRowError(err)) return { q: quarantineOf(err, item.row, inputFile, item.index) };
      throw err;
    }
  };
  try {
    for await (const res of mapOrdered(rows(), source.concurrency, scoreOne)) {
      consumed++;
      if ('row' in res) await writer.write(res.row);
      else quarantine.push(res.q);
      onRow();
    }
    if (signal?.aborted) throw new InterruptedError('score interrupted; finished parts are kept and endpoint answers cached: re-run to continue');
    // The sidecar first: a part file never exists without its quarantine lines.
    await writeFileAtomic(quarantinePath(dir, name), quarantine.map((q) => `${JSON.stringify(q)}\n`).join(''));
    const info = await writer.close();
    return { info, quarantine, consumed };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** Discard what an earlier run with other settings left in `out` (only files this command writes). */
async function clearOut(out: string): Promise<void> {
  const names = await readdir(out);
  await Promise.all(
    names
      .filter((n) => n === '_manifest.json' || n === QUARANTINE_FILE || n === SCORE_STATE || PART_RE.test(n) || SIDECAR_RE.test(n))
      .map((n) => rm(join(out, n), { force: true })),
  );
  await rm(join(out, 'scored'), { recursive: true, force: true });
}

/**
 * Where the scored parts live: `direct` (they are the output, in `out`) or `scored` (in `out/scored`,
 * the output being a selection of them).
 */
type Layout = 'direct' | 'scored';

interface ScoreState {
  format: typeof STATE_FORMAT;
  version: 1;
  fingerprint: string;
  params: Record<string, unknown>;
  layout: Layout;
}

/**
 * Move the scored parts when a selection is switched on or off, instead of scoring again. A scored part
 * counts as done only next to its quarantine sidecar, and selected part files never have one, so the
 * order of the renames keeps a crash at any point safe: into `scored/` the sidecar goes first, out of it
 * the part goes first (replacing a selected file of the same name).
 */
async function moveParts(out: string, from: Layout, to: Layout): Promise<void> {
  const scored = join(out, 'scored');
  if (from === 'direct' && to === 'scored') {
    await mkdir(scored, { recursive: true });
    const names = await readdir(out);
    for (const n of names.filter((x) => SIDECAR_RE.test(x))) await rename(join(out, n), join(scored, n));
    for (const n of names.filter((x) => PART_RE.test(x))) await rename(join(out, n), join(scored, n));
  } else if (from === 'scored' && to === 'direct') {
    let names: string[];
    try {
      names = await readdir(scored);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const n of names.filter((x) => PART_RE.test(x))) await rename(join(scored, n), join(out, n));
    for (const n of names.filter((x) => SIDECAR_RE.test(x))) await rename(join(scored, n), join(out, n));
    await rm(scored, { recursive: true, force: true });
  }
}

async function readState(out: string): Promise<ScoreState | null> {
  const file = join(out, SCORE_STATE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const s = JSON.parse(text) as ScoreState;
    if (s.format !== STATE_FORMAT || typeof s.fingerprint !== 'string' || (s.layout !== 'direct' && s.layout !== 'scored')) throw new Error('not a score state');
    return s;
  } catch (err) {
    throw new ShardError(`unreadable score state: ${(err as Error).message}`, { file }, { cause: err });
  }
}

function emptyBuckets(): Record<MiouBucket, number> {
  return Object.fromEntries(MIOU_BUCKETS.map((b) => [b, 0])) as Record<MiouBucket, number>;
}

/** Bucket counts and mean mIoU of scored part files, from two columns. */
async function summarise(dir: string, files: readonly string[]): Promise<{ scored: number; buckets: Record<MiouBucket, number>; meanDifficulty: number }> {
  const buckets = emptyBuckets();
  let n = 0;
  let sum = 0;
  for (const f of files) {
    for await (const b of readBatches(join(dir, f), { columns: ['difficulty', 'bucket'], verify: false })) {
      const d = b.getChild('difficulty')!;
      const k = b.getChild('bucket')!;
      for (let i = 0; i < b.numRows; i++) {
        const v = d.get(i) as number | null;
        if (v === null) continue;
        n++;
        sum += v;
        const bucket = k.get(i) as MiouBucket;
        if (bucket in buckets) buckets[bucket]++;
      }
    }
  }
  return { scored: n, buckets, meanDifficulty: n ? sum / n : 0 };
}

export async function scoreCorpus(o: ScoreOptions): Promise<ScoreResult> {
  const t0 = Date.now();
  const r = resolveOptions(o);
  const log = o.log ?? (() => undefined);
  const { parts, lineage } = await planInputs(r);

  // Everything that decides the scored rows: inputs (by manifest checksum), model, sampling, phi, limit.
  let identity: Record<string, string | number | null>;
  if ('checkpoint' in o.model) {
    const { checkpointIdentity } = await import('./checkpoint-identity.js');
    identity = { kind: 'checkpoint', ...(await checkpointIdentity(o.model.checkpoint)), maxTokens: r.maxTokens, convention: o.model.convention ?? null };
  } else identity = endpointIdentity(o.model.endpoint, r.maxTokens);
  const sourceName = identity.kind === 'checkpoint' ? `checkpoint:${String(identity.checkpoint)}` : `endpoint:${String(identity.model)}`;
  const params = {
    inputs: lineage.map((l) => ({ sha256: l.sha256 ?? null, kind: l.kind ?? null, rows: l.rows ?? null })),
    source: identity,
    G: r.G,
    temperature: r.temperature,
    maxTokens: r.maxTokens,
    phi: { kind: r.phi.kind, power: r.phi.power ?? null },
    seed: r.seed,
    limit: r.limit,
  };
  const fingerprint = sha256Hex(canonicalJson(params));
  const selection = r.selection;
  const selecting = selects(selection);
  const scoredDir = selecting ? join(r.out, 'scored') : r.out;

  await mkdir(r.out, { recursive: true });
  let prev = await readState(r.out);
  const manifest = await readManifest(r.out);
  if (!prev && manifest) throw new ConfigError('the output directory holds shards not written by univg score; choose another --out', { file: r.out });
  if (prev && prev.fingerprint !== fingerprint) {
    log(`score: ${r.out} was scored with other settings; discarding its parts`);
    await clearOut(r.out);
    prev = null;
  } else if (prev && manifest) {
    const p = manifest.lineage.params as { fingerprint?: string; selection?: unknown; result?: Omit<ScoreResult, 'seconds' | 'out' | 'counters' | 'resumedParts'> } | undefined;
    if (p?.fingerprint === fingerprint && canonicalJson(p.selection) === canonicalJson(selection) && p.result) {
      log(`score: ${r.out} is already done with these settings`);
      return { ...p.result, out: r.out, seconds: (Date.now() - t0) / 1000, resumedParts: parts.length, counters: {} };
    }
  }
  // Not done until the new manifest lands (nor is the scored pool of a selection).
  await rm(join(r.out, '_manifest.json'), { force: true });
  await rm(join(r.out, 'scored', '_manifest.json'), { force: true });
  const layout: Layout = selecting ? 'scored' : 'direct';
  if (!prev || prev.layout !== layout) await writeFileAtomic(join(r.out, SCORE_STATE), `${JSON.stringify({ format: STATE_FORMAT, version: 1, fingerprint, params, layout } satisfies ScoreState, null, 2)}\n`);
  if (prev && prev.layout !== layout) await moveParts(r.out, prev.layout, layout);
  await mkdir(scoredDir, { recursive: true });

  const count = Math.max(1, parts.length);
  const totalRows = parts.reduce((a, p) => a + p.rows, 0);
  const total = r.limit === null ? totalRows : Math.min(r.limit, totalRows);
  const budget = { left: r.limit };
  let done = 0;
  const infos: ShardFileInfo[] = [];
  // Only counts are kept across parts: the lines stay in the per-part sidecars until the final merge.
  let quarantined = 0;
  const reasons: Record<string, number> = {};
  const countQuarantine = (qs: readonly QuarantineRecord[]) => {
    quarantined += qs.length;
    for (const q of qs) reasons[q.reason] = (reasons[q.reason] ?? 0) + 1;
  };
  let resumed = 0;
  let source: RolloutSource | null = null;
  try {
    for (let i = 0; i < parts.length; i++) {
      // Parts already written count against the limit in input order, so a resumed run reads the same rows.
      const d = await donePart(scoredDir, shardFileName(i, count), log);
      if (d) {
        const consumed = d.info.rows + d.quarantine.length;
        if (budget.left !== null) budget.left = Math.max(0, budget.left - consumed);
        infos.push(d.info);
        countQuarantine(d.quarantine);
        resumed++;
        done += consumed;
        o.progress?.(done, total);
        continue;
      }
      if (o.signal?.aborted) throw new InterruptedError('score interrupted; finished parts are kept: re-run to continue');
      if (budget.left === 0) {
        // Past the limit: an empty part (every name of the -of-N set exists) and no model to load.
        await writeFileAtomic(quarantinePath(scoredDir, shardFileName(i, count)), '');
        infos.push(await new ShardWriter({ dir: scoredDir, kind: 'RlRow', index: i, count }).close());
        continue;
      }
      source ??= await openSource(o, r, log);
      const run = await scorePart(parts[i]!, i, count, scoredDir, r, source, budget, o, () => o.progress?.(++done, total));
      infos.push(run.info);
      countQuarantine(run.quarantine);
      log(`score: part ${i + 1}/${parts.length} ${parts[i]!.file} of ${parts[i]!.dir}: ${run.info.rows} scored, ${run.quarantine.length} quarantined`);
    }
    // No input part at all: one empty part, so the output is still a complete stage.
    if (parts.length === 0) {
      const w = new ShardWriter({ dir: scoredDir, kind: 'RlRow', index: 0, count: 1 });
      await writeFileAtomic(quarantinePath(scoredDir, shardFileName(0, 1)), '');
      infos.push(await w.close());
    }
  } finally {
    await source?.close();
  }
  if (resumed > 0) log(`score: kept ${resumed} part(s) scored by an earlier run`);
  const counters = source ? (source as RolloutSource).stats() : {};

  const summary = await summarise(scoredDir, infos.map((f) => f.file));
  await concatAtomic(join(r.out, QUARANTINE_FILE), infos.map((f) => quarantinePath(scoredDir, f.file)));
  let outFiles = infos;
  let rows = summary.scored;
  let dropped = 0;
  if (selecting) {
    await writeManifest(scoredDir, infos, { kind: 'RlRow', lineage: { stage: 'score', inputs: lineage, params: { fingerprint } } });
    const sel = await writeSelection(scoredDir, r.out, selection, o.signal ? { signal: o.signal } : {});
    outFiles = sel.files;
    rows = sel.rows;
    dropped = sel.dropped;
  } else await removeOtherSets(r.out, 'part', count);

  const result = { rows, scored: summary.scored, quarantined, dropped, buckets: summary.buckets, meanDifficulty: summary.meanDifficulty, source: sourceName, reasons };
  await writeManifest(r.out, outFiles, {
    kind: 'RlRow',
    lineage: { stage: 'score', inputs: lineage, params: { fingerprint, settings: params, selection: { ...selection }, result } },
  });
  const seconds = (Date.now() - t0) / 1000;
  log(
    `score: ${summary.scored} rows scored (${MIOU_BUCKETS.map((b) => `${b} ${summary.buckets[b]}`).join(', ')}; mean mIoU ${summary.meanDifficulty.toFixed(3)}), ${quarantined} quarantined, ${rows} written to ${r.out} in ${seconds.toFixed(1)} s`,
  );
  return { ...result, out: r.out, seconds, resumedParts: resumed, counters };
}

async function openSource(o: ScoreOptions, r: Resolved, log: (l: string) => void): Promise<RolloutSource> {
  const sampling = { G: r.G, temperature: r.temperature, maxTokens: r.maxTokens, seed: r.seed, dataRoot: r.dataRoot };
  if ('checkpoint' in o.model) {
    // Loaded on demand: TensorFlow.js is needed for this path only.
    const { openCheckpointSource } = await import('./checkpoint-source.js');
    const s = await openCheckpointSource(o.model.checkpoint, { ...sampling, ...(o.model.backend ? { backend: o.model.backend } : {}), ...(o.model.convention ? { convention: o.model.convention } : {}) });
    log(`score: rollouts from ${s.name}, G ${r.G}, temperature ${r.temperature}, convention ${s.convention ?? 'of each row'}`);
    return s;
  }
  const e = o.model.endpoint;
  const s = await openEndpointSource({
    ...sampling,
    maxTokens: e.maxTokens ?? r.maxTokens,
    baseUrl: e.baseUrl,
    model: e.model,
    ...(e.apiKeyEnv !== undefined ? { apiKeyEnv: e.apiKeyEnv } : {}),
    ...(e.concurrency !== undefined ? { concurrency: e.concurrency } : {}),
    ...(e.cacheDir !== undefined ? { cacheDir: e.cacheDir } : {}),
    ...(e.convention !== undefined ? { convention: e.convention } : {}),
    ...(e.minPixels !== undefined ? { minPixels: e.minPixels } : {}),
    ...(e.maxPixels !== undefined ? { maxPixels: e.maxPixels } : {}),
    ...(e.timeoutMs !== undefined ? { timeoutMs: e.timeoutMs } : {}),
    ...(e.maxRetries !== undefined ? { maxRetries: e.maxRetries } : {}),
    ...(o.env ? { env: o.env } : {}),
    ...(o.root ? { root: o.root } : {}),
    log: (ev) => {
      if (ev.type === 'failed' || ev.type === 'fatal' || ev.type === 'breaker' || ev.type === 'cost_cap') log(`score: endpoint ${ev.type}: ${'message' in ev ? ev.message : JSON.stringify(ev)}`);
    },
  });
  log(`score: rollouts from ${s.name}, G ${r.G}, temperature ${r.temperature}, convention ${s.convention ?? 'of each row'}`);
  return s;
}
