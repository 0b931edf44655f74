/**
 * The label store: `audit/labels.log` in the run directory, append-only, written by every `univg audit`
 * process that has the run open, and never rewritten.
 *
 * A record is one line, `<crc32 of the JSON, 8 hex digits> <JSON>`, written as a single write(2) of
 * "\n" + line on a file opened with O_APPEND, then fdatasync'd before the caller hears it is stored:
 *   - several processes can append at once: O_APPEND puts each write whole at the end of the file, so
 *     records never interleave or overwrite each other;
 *   - a writer killed mid-write leaves a torn record, which fails its checksum and is skipped; the newline
 *     that starts every record ends the torn one, so no record written after it is lost;
 *   - the order of the lines is the order decisions were committed in: a record's `seq` is its position,
 *     and the latest decision of an auditor about a sample is the one with the highest seq.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import { InputError, RecordError, UnivgError } from '../errors.js';
import { AuditLabel } from '../schema/records.js';
import { isNotFound, syncDir } from '../store/fsutil.js';

/** The label log, relative to the run directory. */
export const LABEL_LOG = join('audit', 'labels.log');

/** What a caller decides; the store adds the id, the time and (when read back) the position. */
export type NewLabel = Omit<AuditLabel, 'seq' | 'id' | 'time'>;

/** A record as stored: the label without its position, plus the format version. */
const StoredLabel = AuditLabel.omit({ seq: true }).extend({ v: z.literal(1) });

/** Bytes of one record as appended: a newline, the checksum, a space, the JSON. */
export function encodeRecord(label: Omit<AuditLabel, 'seq'>): Buffer {
  const json = JSON.stringify({ v: 1, ...label });
  const body = Buffer.from(json, 'utf8');
  return Buffer.concat([Buffer.from(`\n${crc32(body).toString(16).padStart(8, '0')} `, 'ascii'), body]);
}

/** A line of the log read back: the label, or why it is not one. */
export function decodeLine(line: Buffer): { label: Omit<AuditLabel, 'seq'> } | { problem: string } {
  if (line.length < 10 || line[8] !== 0x20) return { problem: 'not a record (no checksum)' };
  const sum = line.subarray(0, 8).toString('ascii');
  const body = line.subarray(9);
  if (!/^[0-9a-f]{8}$/.test(sum) || crc32(body) !== Number.parseInt(sum, 16)) return { problem: 'checksum does not match (torn or damaged record)' };
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return { problem: 'checksum matches but the JSON does not parse' };
  }
  const r = StoredLabel.safeParse(json);
  if (!r.success) return { problem: `not a label record: ${r.error.issues[0]?.path.join('.') ?? ''} ${r.error.issues[0]?.message ?? ''}`.trim() };
  const { v: _v, ...label } = r.data;
  return { label };
}

/** Where a reader stopped: the byte offset of the first record not yet read, and the seq it will get. */
export interface LogPosition {
  offset: number;
  seq: number;
}

export interface SkippedRecord {
  /** Byte offset of the record's line. */
  offset: number;
  problem: string;
}

export interface LogRead {
  labels: AuditLabel[];
  /** Lines that are not valid records (torn by a crash, damaged): left out, never fatal. */
  skipped: SkippedRecord[];
  /** Where to continue from next time. */
  next: LogPosition;
  /**
   * Bytes at the end that are not (yet) a valid record: another process may be writing it now, so a
   * tailing reader reads it again next time; `readAllLabels` counts it as skipped instead.
   */
  pendingBytes: number;
}

const CHUNK = 1 << 16;
/** A record longer than this is not one (a note is at most 2,000 characters). */
const MAX_LINE = 64 * 1024;

/**
 * Read the records written since `from` (default: the start). Reads in 64 KiB chunks; the labels are
 * collected in `labels`, or handed to `each` one by one (then `labels` stays empty and memory does not
 * grow with the log). A missing log reads as empty.
 */
export async function readLabels(file: string, from: LogPosition = { offset: 0, seq: 0 }, each?: (label: AuditLabel) => void | Promise<void>): Promise<LogRead> {
  const out: LogRead = { labels: [], skipped: [], next: { ...from }, pendingBytes: 0 };
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if (isNotFound(err)) return out;
    throw new InputError(`cannot read the label log: ${(err as Error).message}`, { file }, { cause: err });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new InputError('the label log is not a regular file', { file });
    const size = st.size;
    let seq = from.seq;
    // The line being assembled: where it starts, its bytes so far, and whether it grew too long to be a record.
    let lineStart = from.offset;
    let parts: Buffer[] = [];
    let length = 0;
    let oversized = false;
    const decode = (): ReturnType<typeof decodeLine> | null => {
      if (oversized) return { problem: `line longer than ${MAX_LINE} bytes` };
      return length === 0 ? null : decodeLine(Buffer.concat(parts, length));
    };
    const take = async (l: AuditLabel) => {
      if (each) await each(l);
      else out.labels.push(l);
    };
    const buf = Buffer.alloc(CHUNK);
    for (let pos = from.offset; pos < size; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, size - pos), pos).catch((err: Error) => {
        throw new InputError(`cannot read the label log: ${err.message}`, { file, offset: pos }, { cause: err });
      });
      if (bytesRead === 0) break;
      let from = 0;
      for (let cut = buf.indexOf(0x0a, 0); cut >= 0 && cut < bytesRead; cut = buf.indexOf(0x0a, from)) {
        add(buf.subarray(from, cut));
        const d = decode();
        if (d && 'label' in d) await take({ seq: seq++, ...d.label });
        else if (d) out.skipped.push({ offset: lineStart, problem: d.problem });
        lineStart = pos + cut + 1;
        parts = [];
        length = 0;
        oversized = false;
        from = cut + 1;
      }
      add(buf.subarray(from, bytesRead));
      pos += bytesRead;
    }
    // The last line has no newline after it (the next record brings one): it is read when it is whole.
    const d = decode();
    if (d === null || 'label' in d || oversized) {
      if (d && 'label' in d) await take({ seq: seq++, ...d.label });
      else if (d) out.skipped.push({ offset: lineStart, problem: d.problem });
      out.next = { offset: size, seq };
    } else {
      out.next = { offset: lineStart, seq };
      out.pendingBytes = size - lineStart;
    }

    function add(bytes: Buffer): void {
      if (oversized || bytes.length === 0) return;
      if (length + bytes.length > MAX_LINE) {
        oversized = true;
        parts = [];
        return;
      }
      // Copied: `buf` is reused for the next chunk.
      parts.push(Buffer.from(bytes));
      length += bytes.length;
    }
  } finally {
    await fh.close();
  }
  return out;
}

/** Every record of the log; an unfinished last record counts as skipped (its writer is gone). */
export async function readAllLabels(file: string): Promise<{ labels: AuditLabel[]; skipped: SkippedRecord[] }> {
  const r = await readLabels(file);
  if (r.pendingBytes > 0) r.skipped.push({ offset: r.next.offset, problem: 'the last record is incomplete (a writer stopped mid-write)' });
  return { labels: r.labels, skipped: r.skipped };
}

/**
 * Appends labels to a run's log, one durable write at a time. Appends from one process are queued; other
 * processes append through their own LabelLog and the file system keeps the records whole.
 */
export class LabelLog {
  readonly file: string;
  private fh: FileHandle | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(runDir: string) {
    this.file = join(runDir, LABEL_LOG);
  }

  /** Write one decision durably (fsync'd) and return it with its id and time (not its seq: read the log for that). */
  append(fields: NewLabel): Promise<Omit<AuditLabel, 'seq'>> {
    const label = { id: randomUUID(), time: new Date().toISOString(), ...fields };
    const parsed = AuditLabel.omit({ seq: true }).safeParse(label);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return Promise.reject(new RecordError(`not a valid label: ${issue?.message ?? 'invalid'}`, { field: issue?.path.join('.') }));
    }
    const record = encodeRecord(parsed.data);
    const next = this.queue.then(() => this.write(record));
    this.queue = next.catch(() => undefined);
    return next.then(() => parsed.data);
  }

  private async write(record: Buffer): Promise<void> {
    try {
      await this.writeOnce(record);
    } catch (err) {
      if (err instanceof UnivgError) throw err;
      // The decision is not stored: the caller must not confirm it. Drop the handle so a later attempt reopens.
      const fh = this.fh;
      this.fh = null;
      await fh?.close().catch(() => undefined);
      throw new UnivgError('audit', `cannot write the label log (the decision was not saved): ${(err as Error).message}`, { file: this.file }, { cause: err });
    }
  }

  private async writeOnce(record: Buffer): Promise<void> {
    if (!this.fh) {
      const dir = dirname(this.file);
      const created = !existsSync(dir);
      await mkdir(dir, { recursive: true });
      const isNew = !existsSync(this.file);
      this.fh = await open(this.file, 'a');
      // A new file's name must survive a power cut too, not only its contents.
      if (isNew) await syncDir(dir);
      if (created) await syncDir(dirname(dir));
    }
    const { bytesWritten } = await this.fh.write(record, 0, record.length);
    // Another write would not be atomic with the first: a short write is a failure, never retried in pieces.
    if (bytesWritten !== record.length) throw new InputError(`short write to the label log (${bytesWritten} of ${record.length} bytes; disk full?)`, { file: this.file });
    await this.fh.datasync();
  }

  /** Size of the log in bytes (0 when it does not exist yet). */
  async size(): Promise<number> {
    try {
      return (await stat(this.file)).size;
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.queue;
    const fh = this.fh;
    this.fh = null;
    await fh?.close();
  }
}

/** The latest decision of each auditor about each sample (a `clear` removes the earlier one). */
export function latestDecisions(labels: Iterable<AuditLabel>): Map<string, AuditLabel> {
  const out = new Map<string, AuditLabel>();
  for (const l of labels) {
    const key = `${l.sampleId}\u0000${l.auditor}`;
    const prev = out.get(key);
    if (prev && prev.seq > l.seq) continue;
    if (l.decision === 'clear') out.delete(key);
    else out.set(key, l);
  }
  return out;
}
