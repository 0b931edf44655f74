/**
 * The Parquet engine: parquet-wasm (Rust parquet-rs compiled to WebAssembly), chosen by measurement
 * (bench/store.ts). It writes straight from Arrow IPC with zstd, bounded row groups and key-value
 * metadata, and reads one row group at a time from a file-backed Blob, so neither side holds a whole
 * file. Everything that touches parquet-wasm lives here.
 *
 * Caveat measured on parquet-wasm 0.8.0: a corrupted data page can make its async reader panic in a
 * way no caller can catch, and some flipped bytes decode silently. Readers therefore check a file
 * against its manifest checksum before decoding it (see reader.ts).
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm/node';
import { ShardError } from '../errors.js';
import { isNotFound } from './fsutil.js';

export type Compression = 'zstd' | 'snappy' | 'none';

const CODECS: Record<Compression, pw.Compression> = {
  zstd: pw.Compression.ZSTD,
  snappy: pw.Compression.SNAPPY,
  none: pw.Compression.UNCOMPRESSED,
};

export interface WriterSettings {
  compression: Compression;
  rowGroupRows: number;
  rowGroupBytes: number;
  /** Parquet key-value metadata written in the footer (the `huggingface` features JSON). */
  keyValue: ReadonlyMap<string, string>;
  /**
   * Dictionary encoding. Off by default: measured (bench/store.ts) smaller and faster with zstd on our
   * rows (hashes, ids and free text rarely repeat), and 4x faster on embedded images, which HF also
   * writes without a dictionary. parquet-wasm cannot set it per nested column.
   */
  dictionary?: boolean;
}

export function writerProperties(s: WriterSettings): pw.WriterProperties {
  return new pw.WriterPropertiesBuilder()
    .setCompression(CODECS[s.compression])
    .setDictionaryEnabled(s.dictionary ?? false)
    .setMaxRowGroupSize(s.rowGroupRows)
    .setMaxRowGroupBytes(s.rowGroupBytes)
    .setKeyValueMetadata(new Map(s.keyValue))
    .build();
}

/** Serialize an Arrow JS batch into parquet-wasm's memory as record batches the writer stream accepts. */
export function toWasmBatches(batch: arrow.RecordBatch): pw.RecordBatch[] {
  const table = pw.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table([batch]), 'stream'));
  try {
    return table.recordBatches();
  } finally {
    table.free();
  }
}

/** Start a streaming Parquet encoder: Arrow record batches in, file bytes out, one row group buffered. */
export function encodeStream(input: ReadableStream, props: pw.WriterProperties): Promise<ReadableStream<Uint8Array>> {
  return pw.transformParquetStream(input, props) as Promise<ReadableStream<Uint8Array>>;
}

export interface Footer {
  rows: number;
  rowGroupRows: number[];
  /** Uncompressed size of each row group (what decoding it costs in memory). */
  rowGroupBytes: number[];
  keyValue: Map<string, string>;
  createdBy: string | undefined;
  schema: arrow.Schema;
  size: number;
}

/** Decoded data per batch when reading: bounds memory whatever the row-group size of the file. */
export const DECODE_BATCH_BYTES = 16 * 1024 * 1024;

export interface OpenParquet {
  footer: Footer;
  /**
   * Decode one row group as Arrow JS batches: the whole group in one batch when it is at most
   * DECODE_BATCH_BYTES uncompressed, otherwise in slices of about that size.
   */
  readRowGroup(i: number, columns?: string[]): AsyncGenerator<arrow.RecordBatch>;
  close(): void;
}

function shardError(file: string, message: string, cause?: unknown): ShardError {
  return new ShardError(message, { file }, cause === undefined ? undefined : { cause });
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Check the framing a truncated or overwritten file loses first (leading and trailing `PAR1`, a footer
 * length that fits), before parquet-wasm sees the file.
 */
export async function checkFraming(file: string): Promise<number> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    if (isNotFound(err)) throw shardError(file, 'file is missing');
    throw shardError(file, `cannot read file: ${errText(err)}`, err);
  }
  if (size < 12) throw shardError(file, `not a Parquet file: ${size} bytes is shorter than the Parquet framing (truncated?)`);
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(8);
    await fh.read(head, 0, 4, 0);
    await fh.read(tail, 0, 8, size - 8);
    if (head.toString('latin1') !== 'PAR1') throw shardError(file, 'not a Parquet file: missing leading PAR1 magic');
    if (tail.toString('latin1', 4) !== 'PAR1') throw shardError(file, 'truncated or corrupted Parquet file: missing trailing PAR1 magic');
    const footerLen = tail.readUInt32LE(0);
    if (footerLen + 12 > size) throw shardError(file, `truncated or corrupted Parquet file: footer length ${footerLen} exceeds file size ${size}`);
  } finally {
    await fh.close();
  }
  return size;
}

/**
 * What parquet-wasm reads a file through: the Blob interface it uses (`size`, `slice`, `arrayBuffer`),
 * backed by one file handle and one read per range. Node's file-backed Blob reads a range in 64 KiB pieces
 * and concatenates them, which cost about 40% of the CPU of reading shards of embedded images (measured in
 * bench/store.ts); this reads each range straight into the buffer parquet-wasm receives.
 */
interface RangeSource {
  readonly size: number;
  slice(start: number, end: number): RangeSource;
  arrayBuffer(): Promise<ArrayBuffer>;
}

function rangeSource(fh: FileHandle, start: number, end: number): RangeSource {
  return {
    size: end - start,
    slice: (a: number, b: number) => rangeSource(fh, start + Math.max(0, a), start + Math.min(Math.max(0, b), end - start)),
    async arrayBuffer() {
      const buf = new Uint8Array(end - start);
      let off = 0;
      while (off < buf.length) {
        const { bytesRead } = await fh.read(buf, off, buf.length - off, start + off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      // A file that shrank under us gives a short range; parquet-wasm then reports the truncation.
      return off === buf.length ? buf.buffer : buf.buffer.slice(0, off);
    },
  };
}

/** Open a Parquet file for row-group reads. Unreadable framing or footer is a ShardError naming the file. */
export async function openParquet(file: string): Promise<OpenParquet> {
  const size = await checkFraming(file);
  let pf: pw.ParquetFile;
  const fh = await open(file, 'r');
  try {
    pf = await pw.ParquetFile.fromFile(rangeSource(fh, 0, size) as unknown as Blob);
  } catch (err) {
    await fh.close();
    throw shardError(file, `unreadable Parquet footer: ${errText(err)}`, err);
  }
  let footer: Footer;
  try {
    const meta = pf.metadata();
    const fm = meta.fileMetadata();
    const rowGroupRows: number[] = [];
    const rowGroupBytes: number[] = [];
    for (const rg of meta.rowGroups()) {
      rowGroupRows.push(rg.numRows());
      rowGroupBytes.push(rg.totalByteSize());
      rg.free();
    }
    const keyValue = new Map<string, string>();
    for (const [k, v] of fm.keyValueMetadata()) keyValue.set(String(k), String(v));
    const wasmSchema = pf.schema();
    const ipcSchema = arrow.tableFromIPC(wasmSchema.intoIPCStream()).schema;
    // Keep only the footer metadata we own; ARROW:schema is parquet-rs bookkeeping.
    const md = new Map<string, string>();
    const hf = keyValue.get('huggingface') ?? ipcSchema.metadata.get('huggingface');
    if (hf !== undefined) md.set('huggingface', hf);
    footer = {
      rows: fm.numRows(),
      rowGroupRows,
      rowGroupBytes,
      keyValue,
      createdBy: fm.createdBy(),
      schema: new arrow.Schema(ipcSchema.fields, md),
      size,
    };
    fm.free();
    meta.free();
  } catch (err) {
    pf.free();
    await fh.close();
    throw shardError(file, `unreadable Parquet footer: ${errText(err)}`, err);
  }
  let closed = false;
  return {
    footer,
    async *readRowGroup(i, columns) {
      if (closed) throw shardError(file, 'file already closed');
      const rows = footer.rowGroupRows[i] ?? 0;
      const bytes = footer.rowGroupBytes[i] ?? 0;
      const batchSize = Math.max(1, Math.min(rows, bytes > 0 ? Math.floor((rows * DECODE_BATCH_BYTES) / bytes) : rows));
      let reader: ReadableStreamDefaultReader<pw.RecordBatch>;
      try {
        const stream = (await pf.stream({ rowGroups: [i], batchSize, ...(columns ? { columns } : {}) })) as ReadableStream<pw.RecordBatch>;
        reader = stream.getReader();
      } catch (err) {
        throw shardError(file, `cannot decode row group ${i}: ${errText(err)}`, err);
      }
      try {
        for (;;) {
          let next: Awaited<ReturnType<typeof reader.read>>;
          try {
            next = await reader.read();
          } catch (err) {
            throw shardError(file, `cannot decode row group ${i}: ${errText(err)}`, err);
          }
          if (next.done) return;
          const decoded = arrow.tableFromIPC(next.value.intoIPCStream());
          // Batches from IPC lose the schema metadata; give them the file's (same fields, same order).
          const schema = columns ? new arrow.Schema(decoded.schema.fields, footer.schema.metadata) : footer.schema;
          for (const b of decoded.batches) yield new arrow.RecordBatch(schema, b.data);
        }
      } finally {
        // Stop the decoder if the consumer stopped early.
        await reader.cancel().catch(() => undefined);
      }
    },
    close() {
      if (!closed) {
        pf.free();
        // Nothing reads through the handle once the file is freed; a failed close changes nothing for the caller.
        void fh.close().catch(() => undefined);
      }
      closed = true;
    },
  };
}
