/**
 * Shard store benchmark: which Parquet codec to use, measured side by side in one run.
 *
 *   npx tsx bench/store.ts                 # 100k GroundingSample-like rows, embedded-image case, memory
 *   npx tsx bench/store.ts --rows 20000    # smaller
 *   npx tsx bench/store.ts --skip-mem      # no memory children
 *   npx tsx bench/store.ts --reps 3        # best of 3 per measurement (default 2; parquetjs-lite runs once)
 *   npx tsx bench/store.ts --images-only   # embedded images only: ours and DuckDB interleaved, best of 6
 *
 * Write: JS rows -> Parquet file (zstd where the codec has it, 10k-row row groups).
 * Read: Parquet file -> Arrow record batches (parquet-wasm: native; parquetjs-lite: rows then Arrow
 * builders; DuckDB: its own chunks materialized as JS values, since node-api has no Arrow export).
 * Memory: peak RSS of fresh child processes writing (writeShards, rows from a generator) and then
 * reading (readRows) 10k vs 100k GroundingSamples and 3k vs 12k SftRows with 64 KiB images.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, openAsBlob, rmSync, statSync } from 'node:fs';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm/node';
import { DECODE_BATCH_BYTES } from '../src/store/parquet.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { DuckDBInstance, listValue, structValue, blobValue, type DuckDBConnection, type DuckDBListType } from '@duckdb/node-api';
import { RowBatchBuilder, recordCodec, type RecordOf } from '../src/schema/arrow.js';
import { ShardWriter, readBatches, readRows, writeManifest, writeShards } from '../src/store/index.js';

// parquetjs-lite ships no types; it is only a benchmark contender.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const parquetjs = createRequire(import.meta.url)('parquetjs-lite') as any;

type Sample = RecordOf<'GroundingSample'>;
type Sft = RecordOf<'SftRow'>;

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (r: () => number) => Array.from({ length: 8 }, () => Math.floor(r() * 2 ** 32).toString(16).padStart(8, '0')).join('');

function* samples(n: number, seed = 1): Generator<Sample> {
  const r = rng(seed);
  for (let i = 0; i < n; i++) {
    const k = 1 + Math.floor(r() * 4);
    const images = Array.from({ length: k }, (_, j) => ({ sha256: hex(r), path: `mgrounding/img/${i}_${j}.jpg`, width: 320 + Math.floor(r() * 1600), height: 240 + Math.floor(r() * 1200) }));
    const x = r() * 300;
    const y = r() * 200;
    yield {
      id: `sample-${String(i).padStart(7, '0')}`,
      source: 'mgrounding',
      task: ['common_object', 'diff', 'refer_grounding', 'region_grounding'][i % 4]!,
      images,
      question: `Find the object in image ${1 + (i % k)} that matches the description number ${i}: a red cup left of the laptop.`,
      context: i % 3 === 0 ? [{ role: 'user', content: 'What is in the first image?' }, { role: 'assistant', content: 'A desk with a laptop and a cup.' }] : [],
      targetImage: i % k,
      targetBox: [x, y, x + 10 + r() * 200, y + 10 + r() * 200],
      difficulty: i % 5 === 0 ? null : (['easy', 'medium', 'hard'] as const)[i % 3]!,
      split: 'train',
      meta: { origin: 'bench', n: i },
    };
  }
}

function* sftRows(n: number, imageBytes: number, seed = 2): Generator<Sft> {
  const r = rng(seed);
  for (let i = 0; i < n; i++) {
    const bytes = new Uint8Array(imageBytes);
    // Incompressible like JPEG: xorshift noise.
    let s = (i + 1) * 2654435761;
    for (let b = 0; b < bytes.length; b++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      bytes[b] = s & 0xff;
    }
    yield {
      id: `sft-${i}`,
      source: 'synthetic',
      task: 'common_object',
      images: [{ bytes, path: `img/${i}.jpg` }],
      imageSha256: [hex(r)],
      imageWidth: [640],
      imageHeight: [480],
      prompt: '<image>Where is the red cup?',
      targetImage: 0,
      targetBox: [10, 20, 110, 220],
      convention: 'pixels',
      answer: '(10,20),(110,220)',
      difficultyLabel: 'easy',
      completion: '<think>The cup is at the top left.</think><answer>(10,20),(110,220)</answer>',
      candidateIndex: 0,
      iou: 0.93,
    };
  }
}

interface Result {
  case: string;
  codec: string;
  op: string;
  rows: number;
  ms: number;
  /** CPU time of the process (every thread: DuckDB's workers, our hashing thread) during the best run. */
  cpuMs: number;
  mb: number;
}
const results: Result[] = [];
const MB = 1024 * 1024;
let lastCpu = 0;
function record(c: string, codec: string, op: string, rows: number, ms: number, bytes: number): void {
  results.push({ case: c, codec, op, rows, ms, cpuMs: lastCpu, mb: bytes / MB });
  console.error(`  ${c} ${codec} ${op}: ${ms.toFixed(0)} ms (cpu ${lastCpu.toFixed(0)} ms)`);
}
/** Best (lowest) wall time of `reps` runs: the machine is shared, and the minimum is the least disturbed run. */
let REPS = 2;
async function time<T>(fn: () => Promise<T>, reps = REPS): Promise<[T, number]> {
  let best = Infinity;
  let v: T | undefined;
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    v = await fn();
    const ms = performance.now() - t0;
    if (ms < best) {
      const c = process.cpuUsage(c0);
      lastCpu = (c.user + c.system) / 1000;
      best = ms;
    }
  }
  return [v as T, best];
}

// ------------------------------------------------------------------ parquet-wasm (our store)
async function wasmWrite(kind: 'GroundingSample' | 'SftRow', rows: Iterable<Sample | Sft>, dir: string, rowGroupRows: number): Promise<number> {
  const w = new ShardWriter({ dir, kind, index: 0, count: 1, rowGroupRows });
  for (const r of rows) await w.write(r as never);
  const info = await w.close();
  await writeManifest(dir, [info], { kind });
  return info.bytes;
}
async function wasmReadArrow(file: string): Promise<number> {
  let n = 0;
  for await (const b of readBatches(file, { verify: false })) n += b.numRows;
  return n;
}

// ------------------------------------------------------------------ parquetjs-lite
const pqSchema = () =>
  new parquetjs.ParquetSchema({
    id: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
    source: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
    task: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
    images: {
      repeated: true,
      fields: {
        sha256: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
        path: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
        width: { type: 'INT64', optional: true, compression: 'SNAPPY' },
        height: { type: 'INT64', optional: true, compression: 'SNAPPY' },
      },
    },
    question: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
    context: { repeated: true, fields: { role: { type: 'UTF8', optional: true, compression: 'SNAPPY' }, content: { type: 'UTF8', optional: true, compression: 'SNAPPY' } } },
    targetImage: { type: 'INT64', optional: true, compression: 'SNAPPY' },
    targetBox: { type: 'DOUBLE', repeated: true, compression: 'SNAPPY' },
    difficulty: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
    split: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
    meta: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
  });
async function pqjsWrite(rows: Iterable<Sample>, file: string): Promise<number> {
  const w = await parquetjs.ParquetWriter.openFile(pqSchema(), file, { rowGroupSize: 10_000 });
  for (const r of rows) {
    await w.appendRow({ ...r, difficulty: r.difficulty ?? undefined, meta: JSON.stringify(r.meta) });
  }
  await w.close();
  return statSync(file).size;
}
async function pqjsReadArrow(file: string): Promise<number> {
  const reader = await parquetjs.ParquetReader.openFile(file);
  const cursor = reader.getCursor();
  const b = new RowBatchBuilder('GroundingSample');
  let n = 0;
  for (let rec = await cursor.next(); rec; rec = await cursor.next()) {
    const r = rec as Record<string, unknown>;
    b.append({ ...r, context: r.context ?? [], meta: JSON.parse(r.meta as string), difficulty: r.difficulty ?? null, targetImage: Number(r.targetImage), images: (r.images as Array<Record<string, unknown>>).map((im) => ({ ...im, width: Number(im.width), height: Number(im.height) })) });
    if (b.rows === 10_000) n += b.flush().numRows;
  }
  n += b.flush().numRows;
  await reader.close();
  return n;
}

// ------------------------------------------------------------------ DuckDB
const DDL = `CREATE OR REPLACE TABLE t (id VARCHAR, source VARCHAR, task VARCHAR,
  images STRUCT(sha256 VARCHAR, path VARCHAR, width BIGINT, height BIGINT)[], question VARCHAR,
  context STRUCT(role VARCHAR, content VARCHAR)[], targetImage BIGINT, targetBox DOUBLE[],
  difficulty VARCHAR, split VARCHAR, meta VARCHAR)`;
const DDL_SFT = `CREATE OR REPLACE TABLE t (id VARCHAR, source VARCHAR, task VARCHAR, images STRUCT(bytes BLOB, path VARCHAR)[],
  imageSha256 VARCHAR[], imageWidth BIGINT[], imageHeight BIGINT[], prompt VARCHAR, targetImage BIGINT, targetBox DOUBLE[],
  convention VARCHAR, answer VARCHAR, difficultyLabel VARCHAR, completion VARCHAR, candidateIndex BIGINT, iou DOUBLE)`;

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

async function duckAppendSamples(c: DuckDBConnection, rows: Iterable<Sample>): Promise<void> {
  await c.run(DDL);
  const a = await c.createAppender('t');
  const T = Array.from({ length: 11 }, (_, i) => a.columnType(i) as DuckDBListType);
  for (const r of rows) {
    a.appendVarchar(r.id);
    a.appendVarchar(r.source);
    a.appendVarchar(r.task);
    a.appendList(listValue(r.images.map((im) => structValue({ sha256: im.sha256, path: im.path, width: BigInt(im.width), height: BigInt(im.height) }))), T[3]);
    a.appendVarchar(r.question);
    a.appendList(listValue(r.context.map((t) => structValue({ role: t.role, content: t.content }))), T[5]);
    a.appendBigInt(BigInt(r.targetImage));
    a.appendList(listValue([...r.targetBox]), T[7]);
    if (r.difficulty === null) a.appendNull();
    else a.appendVarchar(r.difficulty);
    if (r.split === null) a.appendNull();
    else a.appendVarchar(r.split);
    a.appendVarchar(JSON.stringify(r.meta));
    a.endRow();
  }
  a.closeSync();
}

async function duckAppendSft(c: DuckDBConnection, rows: Iterable<Sft>): Promise<void> {
  await c.run(DDL_SFT);
  const a = await c.createAppender('t');
  const T = Array.from({ length: 16 }, (_, i) => a.columnType(i) as DuckDBListType);
  for (const r of rows) {
    a.appendVarchar(r.id);
    a.appendVarchar(r.source);
    a.appendVarchar(r.task);
    a.appendList(listValue(r.images.map((im) => structValue({ bytes: im.bytes ? blobValue(im.bytes) : null, path: im.path }))), T[3]);
    a.appendList(listValue(r.imageSha256), T[4]);
    a.appendList(listValue(r.imageWidth.map(BigInt)), T[5]);
    a.appendList(listValue(r.imageHeight.map(BigInt)), T[6]);
    a.appendVarchar(r.prompt);
    a.appendBigInt(BigInt(r.targetImage));
    a.appendList(listValue([...r.targetBox]), T[9]);
    a.appendVarchar(r.convention);
    a.appendVarchar(r.answer);
    if (r.difficultyLabel === null) a.appendNull();
    else a.appendVarchar(r.difficultyLabel);
    a.appendVarchar(r.completion);
    a.appendBigInt(BigInt(r.candidateIndex));
    if (r.iou === null) a.appendNull();
    else a.appendDouble(r.iou);
    a.endRow();
  }
  a.closeSync();
}

async function duckCopy(c: DuckDBConnection, file: string, kind: 'GroundingSample' | 'SftRow'): Promise<number> {
  const hf = recordCodec(kind).huggingface;
  await c.run(`COPY t TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 10000, KV_METADATA {huggingface: ${sqlString(hf)}})`);
  return statSync(file).size;
}

async function duckRead(c: DuckDBConnection, file: string): Promise<number> {
  const res = await c.stream(`SELECT * FROM read_parquet(${sqlString(file)})`);
  let n = 0;
  for (let chunk = await res.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await res.fetchChunk()) {
    const cols = chunk.getColumns();
    n += cols[0]!.length;
  }
  return n;
}

/** DuckDB's engine alone: decode every column into its own columnar memory, nothing handed to JS. */
async function duckScan(c: DuckDBConnection, file: string): Promise<void> {
  await c.run(`CREATE OR REPLACE TEMP TABLE scan AS SELECT * FROM read_parquet(${sqlString(file)})`);
  await c.run('DROP TABLE scan');
}

// ------------------------------------------------------------------ memory children
/** One memory measurement in a fresh process: write N rows with writeShards, or read them back with readRows. */
async function memChild(op: string, mode: string, n: number, dir: string): Promise<void> {
  // Sampled, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child would report its parent's peak.
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2);
  const kind = mode === 'sft' ? 'SftRow' : 'GroundingSample';
  let rows = 0;
  if (op === 'write') {
    const gen = mode === 'sft' ? sftRows(n, 64 * 1024) : samples(n);
    rows = (await writeShards(kind, gen as Iterable<never>, { dir, count: 4 })).rows;
  } else {
    for await (const _ of readRows(kind, dir)) if (++rows % 256 === 0) peak = Math.max(peak, process.memoryUsage.rss());
  }
  clearInterval(timer);
  process.stdout.write(JSON.stringify({ rows, peak: Math.max(peak, process.memoryUsage.rss()) }));
}

function runChild(op: string, mode: string, n: number, dir: string): { rows: number; peak: number } {
  const script = fileURLToPath(import.meta.url);
  const out = execFileSync(process.execPath, [...process.execArgv, script, '--mem-child', op, mode, String(n), dir], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out) as { rows: number; peak: number };
}

// ------------------------------------------------------------------ main
/** The store's read path as it was before: parquet-wasm reading through Node's file-backed Blob. */
async function blobReadArrow(file: string): Promise<number> {
  const pf = await pw.ParquetFile.fromFile(await openAsBlob(file));
  let n = 0;
  try {
    const meta = pf.metadata();
    const groups = meta.rowGroups().map((g) => {
      const r = { rows: g.numRows(), bytes: g.totalByteSize() };
      g.free();
      return r;
    });
    meta.free();
    for (let i = 0; i < groups.length; i++) {
      const { rows, bytes } = groups[i]!;
      const batchSize = Math.max(1, Math.min(rows, Math.floor((rows * DECODE_BATCH_BYTES) / bytes)));
      const reader = ((await pf.stream({ rowGroups: [i], batchSize })) as ReadableStream<pw.RecordBatch>).getReader();
      for (;;) {
        const next = await reader.read();
        if (next.done) break;
        n += arrow.tableFromIPC(next.value.intoIPCStream()).numRows;
      }
    }
  } finally {
    pf.free();
  }
  return n;
}

/**
 * The embedded-image case alone, ours and DuckDB interleaved rep by rep (a shared machine's load then
 * falls on both alike), best of `reps` per operation, wall and CPU time (all threads of the process).
 */
async function imagesOnly(n: number, reps: number): Promise<void> {
  const root = join(tmpdir(), `univg-bench-images-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const sft = [...sftRows(n, 64 * 1024)];
  const duck = await DuckDBInstance.create(':memory:');
  const c = await duck.connect();
  const best: Record<string, { ms: number; cpu: number }> = {};
  const run = async (key: string, fn: () => Promise<unknown>) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    const ms = performance.now() - t0;
    const cu = process.cpuUsage(c0);
    if (!best[key] || ms < best[key]!.ms) best[key] = { ms, cpu: (cu.user + cu.system) / 1000 };
  };
  try {
    await wasmWrite('SftRow', sft.slice(0, 10), join(root, 'warm'), 1000);
    for (let i = 0; i < reps; i++) {
      await run('ours write', () => wasmWrite('SftRow', sft, join(root, 'wasm'), 1000));
      await run('ours read->Arrow', () => wasmReadArrow(join(root, 'wasm', 'part-00000-of-00001.parquet')));
      await run('DuckDB appender + COPY write', async () => {
        await duckAppendSft(c, sft);
        return duckCopy(c, join(root, 'duck.parquet'), 'SftRow');
      });
      await run('DuckDB read->JS values', () => duckRead(c, join(root, 'duck.parquet')));
      await run("ours read->Arrow through Node's Blob (before)", () => blobReadArrow(join(root, 'wasm', 'part-00000-of-00001.parquet')));
    }
  } finally {
    c.closeSync();
    rmSync(root, { recursive: true, force: true });
  }
  console.log(`\n| SftRow x${n}, one 64 KiB incompressible image each (best of ${reps}, interleaved) | wall ms | CPU ms |`);
  console.log('|---|---:|---:|');
  for (const [k, v] of Object.entries(best)) console.log(`| ${k} | ${v.ms.toFixed(0)} | ${v.cpu.toFixed(0)} |`);
  const r = (a: string, b: string, f: 'ms' | 'cpu') => (best[a]![f] / best[b]![f]).toFixed(2);
  console.log(`\nratio to DuckDB: write ${r('ours write', 'DuckDB appender + COPY write', 'ms')}x wall, ${r('ours write', 'DuckDB appender + COPY write', 'cpu')}x CPU; read ${r('ours read->Arrow', 'DuckDB read->JS values', 'ms')}x wall, ${r('ours read->Arrow', 'DuckDB read->JS values', 'cpu')}x CPU`);
}

async function main(): Promise<void> {
  if (args[0] === '--mem-child') return memChild(args[1]!, args[2]!, Number(args[3]), args[4]!);
  if (args.includes('--images-only')) return imagesOnly(Number(flag('--sft-rows') ?? 1500), Number(flag('--reps') ?? 6));
  const N = Number(flag('--rows') ?? 100_000);
  const NSFT = Number(flag('--sft-rows') ?? 1500);
  REPS = Number(flag('--reps') ?? 2);
  const root = join(tmpdir(), `univg-bench-store-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const rows = [...samples(N)];
  console.error(`GroundingSample rows: ${N}; SftRow rows with one 64 KiB embedded image: ${NSFT}; dir ${root}`);
  const duck = await DuckDBInstance.create(':memory:');
  const c = await duck.connect();
  try {
    // Warm-up (wasm compile, DuckDB extension load) outside the timings.
    await wasmWrite('GroundingSample', rows.slice(0, 100), join(root, 'warm'), 1000);
    await duckAppendSamples(c, rows.slice(0, 100));
    await duckCopy(c, join(root, 'warm.parquet'), 'GroundingSample');

    const C = `GroundingSample x${N}`;
    const [wasmBytes, tw] = await time(() => wasmWrite('GroundingSample', rows, join(root, 'wasm'), 10_000));
    record(C, 'parquet-wasm (univg ShardWriter)', 'write', N, tw, wasmBytes);
    const wasmFile = join(root, 'wasm', 'part-00000-of-00001.parquet');
    const [nr, trw] = await time(() => wasmReadArrow(wasmFile));
    record(C, 'parquet-wasm (univg ShardWriter)', 'read->Arrow', nr, trw, wasmBytes);
    const [, trv] = await time(async () => {
      let n = 0;
      for await (const b of readBatches(join(root, 'wasm'))) n += b.numRows;
      return n;
    });
    record(C, 'parquet-wasm (univg ShardWriter)', 'read->Arrow +sha256 verify', N, trv, wasmBytes);
    const [, trr] = await time(async () => {
      let n = 0;
      for await (const _ of readRows('GroundingSample', join(root, 'wasm'))) n++;
      return n;
    });
    record(C, 'parquet-wasm (univg ShardWriter)', 'read->rows (readRows)', N, trr, wasmBytes);

    const duckFile = join(root, 'duck.parquet');
    // Appender and COPY timed together: the first query after an append pays DuckDB's commit of the rows.
    const [duckBytes, tda] = await time(async () => {
      await duckAppendSamples(c, rows);
      return duckCopy(c, duckFile, 'GroundingSample');
    });
    record(C, 'DuckDB (appender + COPY)', 'write', N, tda, duckBytes);
    const [, tdc] = await time(() => duckCopy(c, duckFile, 'GroundingSample'));
    record(C, 'DuckDB (COPY only, table already in DuckDB)', 'write', N, tdc, duckBytes);
    const [, tdr] = await time(() => duckRead(c, duckFile));
    record(C, 'DuckDB (appender + COPY)', 'read->JS values', N, tdr, duckBytes);
    const [, tds] = await time(() => duckScan(c, duckFile));
    record(C, 'DuckDB (appender + COPY)', 'scan into DuckDB memory (no JS)', N, tds, duckBytes);
    const [, tdr2] = await time(() => duckRead(c, wasmFile));
    record(C, 'DuckDB reading the parquet-wasm file', 'read->JS values', N, tdr2, wasmBytes);
    const [, tds2] = await time(() => duckScan(c, wasmFile));
    record(C, 'DuckDB reading the parquet-wasm file', 'scan into DuckDB memory (no JS)', N, tds2, wasmBytes);

    if (!args.includes('--skip-parquetjs')) {
      const pqFile = join(root, 'pqjs.parquet');
      const [pqBytes, tp] = await time(() => pqjsWrite(rows, pqFile), 1);
      record(C, 'parquetjs-lite (snappy; no zstd)', 'write', N, tp, pqBytes);
      const [, tpr] = await time(() => pqjsReadArrow(pqFile), 1);
      record(C, 'parquetjs-lite (snappy; no zstd)', 'read->Arrow', N, tpr, pqBytes);
    }

    const S = `SftRow x${NSFT} (64 KiB image each)`;
    const sft = [...sftRows(NSFT, 64 * 1024)];
    const SR = Math.max(REPS, 4); // cheap, and the noisiest case on a shared machine
    const [sb, ts] = await time(() => wasmWrite('SftRow', sft, join(root, 'wasm-sft'), 1000), SR);
    record(S, 'parquet-wasm (univg ShardWriter)', 'write', NSFT, ts, sb);
    const [, tsr] = await time(() => wasmReadArrow(join(root, 'wasm-sft', 'part-00000-of-00001.parquet')), SR);
    record(S, 'parquet-wasm (univg ShardWriter)', 'read->Arrow', NSFT, tsr, sb);
    const [dsb, tsa] = await time(async () => {
      await duckAppendSft(c, sft);
      return duckCopy(c, join(root, 'duck-sft.parquet'), 'SftRow');
    }, SR);
    record(S, 'DuckDB (appender + COPY)', 'write', NSFT, tsa, dsb);
    const [, tsc] = await time(() => duckCopy(c, join(root, 'duck-sft.parquet'), 'SftRow'), SR);
    record(S, 'DuckDB (COPY only)', 'write', NSFT, tsc, dsb);
    const [, tsdr] = await time(() => duckRead(c, join(root, 'duck-sft.parquet')), SR);
    record(S, 'DuckDB (appender + COPY)', 'read->JS values', NSFT, tsdr, dsb);
    const [, tsds] = await time(() => duckScan(c, join(root, 'duck-sft.parquet')), SR);
    record(S, 'DuckDB (appender + COPY)', 'scan into DuckDB memory (no JS)', NSFT, tsds, dsb);
  } finally {
    c.closeSync();
  }

  console.log('\n| case | codec | op | rows | ms | cpu ms | rows/s | MB |');
  console.log('|---|---|---|---:|---:|---:|---:|---:|');
  for (const r of results) console.log(`| ${r.case} | ${r.codec} | ${r.op} | ${r.rows} | ${r.ms.toFixed(0)} | ${r.cpuMs.toFixed(0)} | ${Math.round((r.rows / r.ms) * 1000)} | ${r.mb.toFixed(1)} |`);
  const get = (codec: string, op: string, c = `GroundingSample x${N}`) => results.find((r) => r.case === c && r.codec === codec && r.op === op)?.ms ?? NaN;
  const ww = get('parquet-wasm (univg ShardWriter)', 'write') / get('DuckDB (appender + COPY)', 'write');
  const rr = get('parquet-wasm (univg ShardWriter)', 'read->Arrow') / get('DuckDB (appender + COPY)', 'read->JS values');
  const wc = get('parquet-wasm (univg ShardWriter)', 'write') / get('DuckDB (COPY only, table already in DuckDB)', 'write');
  const rs = get('parquet-wasm (univg ShardWriter)', 'read->Arrow') / get('DuckDB (appender + COPY)', 'scan into DuckDB memory (no JS)');
  console.log(`\nratio to DuckDB, JS rows in / JS data out (target <= 1.5): write ${ww.toFixed(2)}x, read ${rr.toFixed(2)}x`);
  const S = `SftRow x${NSFT} (64 KiB image each)`;
  const sw = get('parquet-wasm (univg ShardWriter)', 'write', S) / get('DuckDB (appender + COPY)', 'write', S);
  const sr = get('parquet-wasm (univg ShardWriter)', 'read->Arrow', S) / get('DuckDB (appender + COPY)', 'read->JS values', S);
  console.log(`embedded images, ratio to DuckDB JS rows in / JS data out: write ${sw.toFixed(2)}x, read ${sr.toFixed(2)}x`);
  const cpu = (codec: string, op: string) => results.find((r) => r.case === S && r.codec === codec && r.op === op)?.cpuMs ?? NaN;
  console.log(`embedded images, CPU time ratio (all threads) to DuckDB: write ${(cpu('parquet-wasm (univg ShardWriter)', 'write') / cpu('DuckDB (appender + COPY)', 'write')).toFixed(2)}x, read ${(cpu('parquet-wasm (univg ShardWriter)', 'read->Arrow') / cpu('DuckDB (appender + COPY)', 'read->JS values')).toFixed(2)}x`);
  console.log(`ratio to DuckDB engine alone (COPY of a table already inside DuckDB / scan kept inside DuckDB): write ${wc.toFixed(2)}x, read ${rs.toFixed(2)}x`);

  if (!args.includes('--skip-mem')) {
    console.log('\n| memory case (writeShards count=4, default limits; readRows; each in a fresh process) | rows | peak RSS writing (MiB) | peak RSS reading (MiB) |');
    console.log('|---|---:|---:|---:|');
    for (const [mode, n] of [
      ['samples', 10_000],
      ['samples', 100_000],
      ['sft', 3000],
      ['sft', 12_000],
    ] as const) {
      const dir = join(root, `mem-${mode}-${n}`);
      const w = runChild('write', mode, n, dir);
      const r = runChild('read', mode, n, dir);
      if (w.rows !== n || r.rows !== n) throw new Error(`memory child wrote ${w.rows} / read ${r.rows} of ${n} rows`);
      console.log(`| ${mode === 'sft' ? 'SftRow, 64 KiB incompressible image' : 'GroundingSample'} | ${n} | ${(w.peak / MB).toFixed(0)} | ${(r.peak / MB).toFixed(0)} |`);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  rmSync(root, { recursive: true, force: true });
}

await main();
