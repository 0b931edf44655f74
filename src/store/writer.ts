/**
 * Streaming shard writer. Rows are encoded into Arrow buffers and handed to the parquet-wasm encoder in
 * batches of at most 8 MiB; the encoder gathers them into row groups of about `rowGroupBytes` of data
 * (or `rowGroupRows` rows), and its output is hashed and appended to a hidden temp file. `close()` checks
 * the footer, then renames the temp file to its final name; a crash or `abort()` leaves no `*.parquet`
 * file behind. Memory per open writer is about one row group in JS plus one in the encoder, whatever
 * the number of rows.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type * as pw from 'parquet-wasm/node';
import { ConfigError, RecordError, ShardError, UnivgError } from '../errors.js';
import { RowBatchBuilder, recordCodec, type RecordOf } from '../schema/arrow.js';
import { RECORDS, type RecordKind } from '../schema/records.js';
import { isNotFound, syncDir } from './fsutil.js';
import { MANIFEST_NAME, writeManifest, type Lineage, type Manifest, type ShardFileInfo } from './manifest.js';
import { shardFileName, stableTaskOf, tempFileName, parseShardFileName } from './names.js';
import { encodeStream, openParquet, toWasmBatches, writerProperties, type Compression } from './parquet.js';
import type { z } from 'zod';

export const DEFAULT_ROW_GROUP_ROWS = 10_000;
export const DEFAULT_ROW_GROUP_BYTES = 64 * 1024 * 1024;
/**
 * Data handed to the encoder per batch. The encoder gathers batches into row groups of `rowGroupBytes`,
 * so only this much (not a whole row group) is ever copied JS -> IPC -> wasm at once.
 */
const BATCH_BYTES = 8 * 1024 * 1024;
/**
 * Default cap on the row data all open writers of one `writeShards` call buffer together; each writer
 * gets rowGroupBytes = min(64 MiB, memoryBytes / count). Measured peak RSS (bench/store.ts) is about
 * 200 MiB + 2 x memoryBytes (JS buffers + encoder) + a few transient copies of one row group at flush.
 */
export const DEFAULT_MEMORY_BYTES = 128 * 1024 * 1024;

export interface ShardWriterOptions<K extends RecordKind> {
  dir: string;
  kind: K;
  index: number;
  count: number;
  prefix?: string;
  /** Most rows in one row group (default 10,000). */
  rowGroupRows?: number;
  /** Most data bytes buffered for one row group before it is written (default 64 MiB). */
  rowGroupBytes?: number;
  compression?: Compression;
}

const END = Symbol('end');
type Item = pw.RecordBatch | typeof END;

/**
 * A one-slot hand-off between `write()` and the encoder's pull: `put` resolves once the encoder has
 * taken the item, which is the back-pressure that keeps at most one batch waiting.
 */
class Handoff {
  private item: { value: Item; taken: () => void; failed: (e: unknown) => void } | null = null;
  private waiter: ((v: Item) => void) | null = null;
  private failure: unknown = undefined;

  put(value: Item): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<void>((taken, failed) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(value);
        taken();
      } else this.item = { value, taken, failed };
    });
  }

  take(): Promise<Item> {
    if (this.item) {
      const it = this.item;
      this.item = null;
      it.taken();
      return Promise.resolve(it.value);
    }
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** The encoder died: fail whoever is waiting to hand over a batch, and every later put. */
  fail(err: unknown): void {
    this.failure = err;
    this.item?.failed(err);
    this.item = null;
  }

  /** Abort: end the input now (the encoder finishes into a file about to be deleted); later puts fail. */
  end(reason: unknown): void {
    this.item?.failed(reason);
    this.item = null;
    this.failure ??= reason;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(END);
    } else this.item = { value: END, taken: () => undefined, failed: () => undefined };
  }
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(`${name} must be a positive integer, got ${v}`);
  return v;
}

export class ShardWriter<K extends RecordKind> {
  readonly kind: K;
  readonly dir: string;
  /** Final file name, e.g. `part-00003-of-00016.parquet`. */
  readonly name: string;
  /** Final path. */
  readonly path: string;
  private readonly tmpPath: string;
  private readonly rowGroupRows: number;
  private readonly rowGroupBytes: number;
  /** Rows per row group, fixed when the encoder starts (see start()). */
  private groupRows: number;
  private readonly compression: Compression;
  private readonly builder: RowBatchBuilder<K>;
  private readonly hash = createHash('sha256');
  private readonly handoff = new Handoff();
  private fh: FileHandle | null = null;
  private pump: Promise<void> | null = null;
  private pumpError: unknown = undefined;
  /** Flushes run one after another even if a caller does not await write(). */
  private flushing: Promise<void> = Promise.resolve();
  private written = 0;
  private rowCount = 0;
  private state: 'open' | 'closing' | 'closed' | 'aborted' = 'open';

  constructor(opts: ShardWriterOptions<K>) {
    if (!(opts.kind in RECORDS)) throw new ConfigError(`unknown record kind ${JSON.stringify(opts.kind)}`);
    this.kind = opts.kind;
    this.dir = opts.dir;
    this.name = shardFileName(opts.index, opts.count, opts.prefix);
    this.path = join(opts.dir, this.name);
    this.tmpPath = join(opts.dir, tempFileName(this.name));
    this.rowGroupRows = positiveInt('rowGroupRows', opts.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS);
    this.rowGroupBytes = positiveInt('rowGroupBytes', opts.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES);
    this.groupRows = this.rowGroupRows;
    this.compression = opts.compression ?? 'zstd';
    if (!['zstd', 'snappy', 'none'].includes(this.compression)) throw new ConfigError(`unknown compression ${JSON.stringify(this.compression)}`);
    this.builder = new RowBatchBuilder(opts.kind);
  }

  /** Rows accepted so far. */
  get rows(): number {
    return this.rowCount;
  }

  /** Temp file currently being written (hidden, ends in .tmp). */
  get tempPath(): string {
    return this.tmpPath;
  }

  /**
   * Append one row. A row that does not fit the schema throws a RecordError (with the field) and is not
   * written; the writer stays usable.
   */
  async write(row: RecordOf<K> | z.input<(typeof RECORDS)[K]>): Promise<void> {
    if (this.state !== 'open') throw new ShardError(`writer is ${this.state}`, { file: this.path });
    this.throwIfPumpFailed();
    this.builder.append(row, this.rowCount);
    this.rowCount++;
    if (this.builder.rows >= this.groupRows || this.builder.bytes >= Math.min(BATCH_BYTES, this.rowGroupBytes)) await this.queueFlush();
  }

  private queueFlush(): Promise<void> {
    const next = this.flushing.then(() => (this.builder.rows > 0 || !this.pump ? this.flushBatch() : undefined));
    // Keep the chain alive after a failure; the failure itself reaches the caller through `next`.
    this.flushing = next.catch(() => undefined);
    return next;
  }

  private throwIfPumpFailed(): void {
    if (this.pumpError !== undefined) throw this.wrap(this.pumpError, 'encoding failed');
  }

  private wrap(err: unknown, what: string): UnivgError {
    if (err instanceof UnivgError) return err;
    return new ShardError(`${what}: ${err instanceof Error ? err.message : String(err)}`, { file: this.path }, { cause: err });
  }

  /**
   * Open the temp file and the encoder. parquet-rs cuts row groups at a fixed row count (its byte cap
   * counts encoded bytes, which say little about decoded size), so the row count is chosen here from
   * the first batch's uncompressed bytes per row: row groups then hold about `rowGroupBytes` of data
   * for readers, and the choice depends only on the data, so output stays deterministic.
   */
  private async start(firstRows: number, firstBytes: number): Promise<void> {
    if (this.pump) return;
    if (firstBytes > 0) this.groupRows = Math.max(1, Math.min(this.rowGroupRows, Math.floor((this.rowGroupBytes * firstRows) / firstBytes)));
    await mkdir(this.dir, { recursive: true });
    await this.removeStaleTemps();
    this.fh = await open(this.tmpPath, 'w');
    const codec = recordCodec(this.kind);
    const props = writerProperties({
      compression: this.compression,
      rowGroupRows: this.groupRows,
      rowGroupBytes: this.rowGroupBytes,
      keyValue: new Map([['huggingface', codec.huggingface]]),
    });
    const handoff = this.handoff;
    const input = new ReadableStream(
      {
        async pull(controller) {
          const item = await handoff.take();
          if (item === END) controller.close();
          else controller.enqueue(item);
        },
      },
      { highWaterMark: 0 },
    );
    const fh = this.fh;
    // Not awaited here: the encoder pulls the first batch (for its schema) before it hands back its
    // output stream, and that batch only arrives after start() returns.
    this.pump = (async () => {
      const output = await encodeStream(input, props);
      // Pulling the output drives the encoder, which pulls the input: disk speed sets the pace.
      for await (const chunk of output as unknown as AsyncIterable<Uint8Array>) {
        this.hash.update(chunk);
        await fh.write(chunk);
        this.written += chunk.length;
      }
    })().catch((err: unknown) => {
      this.pumpError = err;
      this.handoff.fail(this.wrap(err, 'encoding failed'));
    });
  }

  /** Temp files of this same part left by a crashed earlier run. */
  private async removeStaleTemps(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    const prefix = `.${this.name}.`;
    await Promise.all(names.filter((n) => n.startsWith(prefix) && n.endsWith('.tmp')).map((n) => rm(join(this.dir, n), { force: true })));
  }

  private async flushBatch(): Promise<void> {
    await this.start(this.builder.rows, this.builder.bytes);
    const batch = this.builder.flush();
    for (const rb of toWasmBatches(batch)) await this.handoff.put(rb);
  }

  /** Finish the file: write the last row group and footer, fsync, verify the footer, rename into place. */
  async close(): Promise<ShardFileInfo> {
    if (this.state !== 'open') throw new ShardError(`writer is ${this.state}`, { file: this.path });
    this.state = 'closing';
    try {
      // An empty part still gets a file with the schema, so every name of the -of-N set exists.
      await this.queueFlush();
      await this.handoff.put(END);
      await this.pump;
      this.throwIfPumpFailed();
      const fh = this.fh!;
      this.fh = null;
      await fh.sync();
      await fh.close();
      const file = await openParquet(this.tmpPath);
      const { footer } = file;
      file.close();
      if (footer.rows !== this.rowCount || footer.size !== this.written)
        throw new ShardError(`written file does not match what was written: ${footer.rows} rows / ${footer.size} bytes in the footer, ${this.rowCount} rows / ${this.written} bytes sent`, { file: this.path });
      await rename(this.tmpPath, this.path);
      await syncDir(this.dir);
      this.state = 'closed';
      return { file: this.name, rows: this.rowCount, bytes: this.written, sha256: this.hash.digest('hex'), rowGroups: footer.rowGroupRows.length };
    } catch (err) {
      await this.discard();
      throw this.wrap(err, 'cannot finish shard');
    }
  }

  /** Drop everything written so far; no file with the final name is created. Safe to call twice. */
  async abort(): Promise<void> {
    if (this.state === 'closed' || this.state === 'aborted') return;
    await this.discard();
  }

  private async discard(): Promise<void> {
    this.state = 'aborted';
    if (this.pump) {
      // Let the encoder finish into the temp file we are about to delete (the pump never rejects).
      this.handoff.end(new ShardError('writer aborted', { file: this.path }));
      await this.pump;
    }
    if (this.fh) {
      const fh = this.fh;
      this.fh = null;
      await fh.close().catch(() => undefined);
    }
    await rm(this.tmpPath, { force: true });
  }
}

export interface WriteShardsOptions<K extends RecordKind> {
  dir: string;
  /** Number of part files (the N of -of-N). */
  count: number;
  /** Partition key; default: the record's id (`id`, `sampleId` or `recordId`). */
  keyOf?: (row: RecordOf<K>) => string;
  prefix?: string;
  rowGroupRows?: number;
  rowGroupBytes?: number;
  /** Cap on data buffered by all `count` writers together; lowers rowGroupBytes to memoryBytes/count (default 128 MiB). */
  memoryBytes?: number;
  compression?: Compression;
  lineage?: z.input<typeof Lineage>;
  /** Parse every row with its zod schema first (refinements, enums, defaults) instead of the encoder's type checks only. */
  validate?: boolean;
}

/** The default partition key of each record kind. */
export function defaultKeyOf(kind: RecordKind): (row: Record<string, unknown>) => string {
  const field = kind === 'TeacherCandidate' || kind === 'Verdict' ? 'sampleId' : kind === 'QuarantineRecord' ? 'recordId' : 'id';
  return (row) => {
    const v = row[field];
    return typeof v === 'string' ? v : '';
  };
}

/**
 * Write a stream of rows as `count` part files partitioned by `stableTaskOf(keyOf(row), count)`, then
 * the manifest. Row order within a part follows input order, so equal input gives byte-identical
 * files. An old manifest is removed first (the stage is not done until the new one lands) and part
 * files of this prefix with another -of-N are removed after success.
 */
export async function writeShards<K extends RecordKind>(
  kind: K,
  rows: AsyncIterable<RecordOf<K>> | Iterable<RecordOf<K>>,
  opts: WriteShardsOptions<K>,
): Promise<Manifest> {
  const count = positiveInt('count', opts.count);
  const memory = positiveInt('memoryBytes', opts.memoryBytes ?? DEFAULT_MEMORY_BYTES);
  const rowGroupBytes = Math.max(1, Math.min(opts.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES, Math.floor(memory / count)));
  const keyOf = (opts.keyOf as ((row: Record<string, unknown>) => string) | undefined) ?? defaultKeyOf(kind);
  const zod = RECORDS[kind];
  await mkdir(opts.dir, { recursive: true });
  await rm(join(opts.dir, MANIFEST_NAME), { force: true });
  const writers = Array.from(
    { length: count },
    (_, index) =>
      new ShardWriter({ dir: opts.dir, kind, index, count, prefix: opts.prefix, rowGroupRows: opts.rowGroupRows, rowGroupBytes, compression: opts.compression }),
  );
  let i = 0;
  const infos: ShardFileInfo[] = [];
  try {
    for await (const row of rows as AsyncIterable<RecordOf<K>>) {
      let r: unknown = row;
      if (opts.validate) {
        const res = zod.safeParse(row);
        if (!res.success) {
          const issue = res.error.issues[0];
          throw new RecordError(`row does not match ${kind}: ${issue?.message ?? 'invalid'}`, { row: i, field: issue?.path.join('.') });
        }
        r = res.data;
      }
      const task = count === 1 ? 0 : stableTaskOf(keyOf(r as Record<string, unknown>), count);
      try {
        await writers[task]!.write(r as RecordOf<K>);
      } catch (err) {
        if (err instanceof RecordError) throw new RecordError(err.message, { ...err.context, row: i, part: writers[task]!.name }, { cause: err });
        throw err;
      }
      i++;
    }
    for (const w of writers) infos.push(await w.close());
  } catch (err) {
    await Promise.all(writers.map((w) => w.abort()));
    throw err;
  }
  await removeOtherSets(opts.dir, opts.prefix ?? 'part', count);
  return writeManifest(opts.dir, infos, { kind, lineage: opts.lineage, compression: opts.compression ?? 'zstd' });
}

/** Part files of the same prefix but another shard count: leftovers of an earlier run with a different N. */
export async function removeOtherSets(dir: string, prefix: string, count: number): Promise<void> {
  const names = await readdir(dir);
  await Promise.all(
    names
      .filter((n) => {
        const p = parseShardFileName(n);
        return p !== null && p.prefix === prefix && p.count !== count;
      })
      .map((n) => rm(join(dir, n), { force: true })),
  );
}
