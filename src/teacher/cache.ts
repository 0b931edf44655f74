/**
 * Teacher response cache: content-addressed by request hash, shared by runs, tasks and processes.
 *
 * Layout (`cache/teacher/` by default):
 *   seg-<pid>-<rand>.jsonl   one per writer process, append-only; each line one complete entry:
 *                            {"k":"<64 hex key>","s":"<16 hex sha256 of the value text>","v":<value>}
 *   seg-<pid>-<rand>.idx     48-byte records (key, offset, length, checksum) appended after each line,
 *                            so opening a cache of millions of entries reads ~48 bytes per entry
 *                            instead of every completion
 *
 * Why segments and not one file per key: at 2M entries one-file-per-key means 2M inodes and 2M small
 * writes+renames, slow to list, copy and sync on the shared file systems the cache is meant to live on;
 * segments are a handful of large sequential files. Why one segment per process: appends never
 * interleave and no lock is needed, so any number of workers can write concurrently, on one machine or
 * over NFS. Crash safety: an entry is one write() of one line; a process killed mid-run loses nothing it
 * wrote (the page cache keeps it); after a power loss at most the last unsynced batch (`syncEvery`) is
 * lost, and a torn or corrupt tail fails its checksum and is skipped, never misread. Entries a sidecar
 * index does not cover (killed between the two writes) are found by scanning the segment's tail.
 * A key written twice (two workers racing on the same request) keeps the first found.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasync, fdatasyncSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { UnivgError } from '../errors.js';
import { sha256Hex } from './request.js';

/** What the cache keeps per request: the server's body (never headers), and what it cost. */
export interface CachedResponse {
  format: 1;
  /** Model name as requested (the server's own name for it is in response.model). */
  requestModel: string;
  promptVersion: string;
  params: Record<string, unknown>;
  /** The chat-completion body exactly as returned: choices with content and finish_reason, usage, id. */
  response: unknown;
  usage: { promptTokens: number; completionTokens: number };
  costUsd: number;
  latencyMs: number;
  attempts: number;
  createdAt: string;
}

export interface CacheOptions {
  /** Entries between fsyncs of the segment (1 = every entry is on disk before put() resolves). */
  syncEvery?: number;
  /** Longest time an entry waits for its fsync. */
  syncMs?: number;
  /** Start a new segment past this size. */
  segmentMaxBytes?: number;
  /** On a miss, look for entries other processes wrote, at most this often. */
  refreshMs?: number;
}

export interface CacheStats {
  entries: number;
  segments: number;
  hits: number;
  misses: number;
  puts: number;
  /** Entries whose checksum failed (skipped, treated as missing). */
  corrupt: number;
  /** Segments whose last line was incomplete when read (a crash mid-write; ignored). */
  tornTails: number;
}

const KEY_RE = /^[0-9a-f]{64}$/;
const PREFIX_LEN = 99; // {"k":"<64>","s":"<16>","v":
const IDX_REC = 48; // key 32 | offset u64 | length u32 | checksum u32

interface Segment {
  name: string;
  /** End of the last complete, indexed line. */
  scannedEnd: number;
  /** Bytes of the .idx file consumed. */
  idxRead: number;
  torn: boolean;
  /** Read handle, opened once (a promise, so concurrent gets share one open). */
  fh?: Promise<FileHandle>;
}

function checksum(valueText: string): string {
  return sha256Hex(valueText).slice(0, 16);
}

function idxChecksum(rec: Buffer): number {
  return Buffer.from(sha256Hex(rec.subarray(0, 44)).slice(0, 8), 'hex').readUInt32LE(0);
}

function writeAll(fd: number, buf: Buffer, position: number | null): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position === null ? null : position + done);
}

/** Parse one line (without its newline); null when it is not a valid entry. */
function parseLine(line: string): { key: string; valueText: string } | null {
  if (line.length < PREFIX_LEN + 2 || !line.startsWith('{"k":"') || line[line.length - 1] !== '}') return null;
  const key = line.slice(6, 70);
  if (!KEY_RE.test(key) || line.slice(70, 77) !== '","s":"' || line.slice(93, 99) !== '","v":') return null;
  const valueText = line.slice(PREFIX_LEN, -1);
  return checksum(valueText) === line.slice(77, 93) ? { key, valueText } : null;
}

export class ResponseCache {
  private index = new Map<string, number>();
  private entSeg = new Uint32Array(1024);
  private entOff = new Float64Array(1024);
  private entLen = new Uint32Array(1024);
  private count = 0;
  private segments: Segment[] = [];
  private segByName = new Map<string, number>();
  private writer: { seg: number; fd: number; idxFd: number; offset: number; unsynced: number; timer: NodeJS.Timeout | null; syncing: Set<Promise<void>> } | null = null;
  /** Segments being closed once their pending fdatasyncs settle (closing an fd under one is EBADF, or worse, a reused fd). */
  private closing = new Set<Promise<void>>();
  /** A background sync or close that failed: the next put or close reports it (an entry may not be durable). */
  private syncError: unknown = null;
  private lastRefresh = 0;
  private refreshing: Promise<void> | null = null;
  private readonly s = { hits: 0, misses: 0, puts: 0, corrupt: 0 };
  private closed = false;
  private readonly o: Required<CacheOptions>;

  private constructor(
    readonly dir: string,
    opts: CacheOptions,
  ) {
    this.o = { syncEvery: opts.syncEvery ?? 16, syncMs: opts.syncMs ?? 200, segmentMaxBytes: opts.segmentMaxBytes ?? 256 * 1024 * 1024, refreshMs: opts.refreshMs ?? 1000 };
  }

  /** Open (creating if needed) a cache directory and index every entry already in it. */
  static async open(dir: string, opts: CacheOptions = {}): Promise<ResponseCache> {
    await mkdir(dir, { recursive: true });
    const c = new ResponseCache(dir, opts);
    await c.refresh();
    return c;
  }

  get size(): number {
    return this.index.size;
  }

  /** Every key indexed so far (this process's view; call refresh() first to include other writers). */
  keys(): IterableIterator<string> {
    return this.index.keys();
  }

  /** Is the key indexed (not verified: a dry run asks this for many keys). */
  has(key: string): boolean {
    return this.index.has(key);
  }

  async get(key: string): Promise<CachedResponse | undefined> {
    let id = this.index.get(key);
    if (id === undefined && Date.now() - this.lastRefresh >= this.o.refreshMs) {
      await this.refresh();
      id = this.index.get(key);
    }
    if (id === undefined) {
      this.s.misses++;
      return undefined;
    }
    const seg = this.segments[this.entSeg[id]!]!;
    const len = this.entLen[id]!;
    const buf = Buffer.allocUnsafe(len);
    seg.fh ??= open(join(this.dir, seg.name), 'r');
    const { bytesRead } = await (await seg.fh).read(buf, 0, len, this.entOff[id]!);
    const parsed = bytesRead === len ? parseLine(buf.toString('utf8', 0, len - 1)) : null;
    if (!parsed || parsed.key !== key) {
      // Changed under us (disk corruption): never serve it; the request will be made again.
      this.s.corrupt++;
      this.index.delete(key);
      this.s.misses++;
      return undefined;
    }
    this.s.hits++;
    return JSON.parse(parsed.valueText) as CachedResponse;
  }

  /** Append an entry. When this resolves the entry survives the process being killed. */
  async put(key: string, value: CachedResponse): Promise<void> {
    if (this.closed) throw new UnivgError('cache_closed', 'response cache is closed', { file: this.dir });
    this.throwSyncError();
    if (!KEY_RE.test(key)) throw new UnivgError('cache_key', `cache key must be 64 hex characters, got ${JSON.stringify(key.slice(0, 80))}`);
    const valueText = JSON.stringify(value);
    const line = Buffer.from(`{"k":"${key}","s":"${checksum(valueText)}","v":${valueText}}\n`, 'utf8');
    const w = this.ensureWriter();
    const offset = w.offset;
    writeAll(w.fd, line, offset);
    w.offset += line.length;
    const rec = Buffer.alloc(IDX_REC);
    rec.write(key, 0, 'hex');
    rec.writeBigUInt64LE(BigInt(offset), 32);
    rec.writeUInt32LE(line.length, 40);
    rec.writeUInt32LE(idxChecksum(rec), 44);
    writeAll(w.idxFd, rec, null);
    const seg = this.segments[w.seg]!;
    seg.scannedEnd = w.offset;
    seg.idxRead += IDX_REC;
    this.add(key, w.seg, offset, line.length);
    this.s.puts++;
    w.unsynced++;
    if (w.unsynced >= this.o.syncEvery) await this.sync();
    else w.timer ??= setTimeout(() => this.sync().catch((e: unknown) => (this.syncError ??= e)), this.o.syncMs);
    if (w.offset >= this.o.segmentMaxBytes) this.closeWriter();
  }

  /** fsync the current segment now. */
  async sync(): Promise<void> {
    const w = this.writer;
    if (!w) return;
    if (w.timer) clearTimeout(w.timer);
    w.timer = null;
    if (w.unsynced === 0) return;
    w.unsynced = 0;
    const p = Promise.all([w.fd, w.idxFd].map((fd) => new Promise<void>((res, rej) => fdatasync(fd, (e) => (e ? rej(e) : res()))))).then(() => undefined);
    w.syncing.add(p);
    try {
      await p;
    } finally {
      w.syncing.delete(p);
    }
  }

  private throwSyncError(): void {
    if (this.syncError === null) return;
    const e = this.syncError;
    this.syncError = null;
    throw new UnivgError('cache_sync', `response cache could not flush to disk: ${e instanceof Error ? e.message : String(e)}`, { file: this.dir });
  }

  private ensureWriter(): NonNullable<ResponseCache['writer']> {
    if (this.writer) return this.writer;
    const base = `seg-${process.pid}-${randomBytes(4).toString('hex')}`;
    const fd = openSync(join(this.dir, `${base}.jsonl`), 'wx');
    const idxFd = openSync(join(this.dir, `${base}.idx`), 'ax');
    // Make the new files' directory entries durable too.
    try {
      const dfd = openSync(this.dir, 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      // Some file systems refuse fsync on a directory; the entries still reach disk with the next sync.
    }
    const seg = this.segments.push({ name: `${base}.jsonl`, scannedEnd: 0, idxRead: 0, torn: false }) - 1;
    this.segByName.set(`${base}.jsonl`, seg);
    this.writer = { seg, fd, idxFd, offset: 0, unsynced: 0, timer: null, syncing: new Set() };
    return this.writer;
  }

  private closeWriter(): void {
    const w = this.writer;
    if (!w) return;
    if (w.timer) clearTimeout(w.timer);
    this.writer = null;
    const finish = (): void => {
      if (w.unsynced > 0) {
        fdatasyncSync(w.fd);
        fdatasyncSync(w.idxFd);
      }
      closeSync(w.fd);
      closeSync(w.idxFd);
    };
    if (w.syncing.size === 0) return finish();
    const p = Promise.allSettled([...w.syncing])
      .then(finish)
      .catch((e: unknown) => {
        this.syncError ??= e;
      })
      .finally(() => this.closing.delete(p));
    this.closing.add(p);
  }

  private add(key: string, seg: number, off: number, len: number): void {
    if (this.index.has(key)) return;
    if (this.count === this.entSeg.length) {
      const grow = <T extends Uint32Array | Float64Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.entSeg = grow(this.entSeg);
      this.entOff = grow(this.entOff);
      this.entLen = grow(this.entLen);
    }
    this.entSeg[this.count] = seg;
    this.entOff[this.count] = off;
    this.entLen[this.count] = len;
    this.index.set(key, this.count++);
  }

  /** Index entries other processes appended since the last look (new segments, grown segments). */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
      this.lastRefresh = Date.now();
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const names = (await readdir(this.dir)).filter((n) => /^seg-.+\.jsonl$/.test(n)).sort();
    for (const name of names) {
      let id = this.segByName.get(name);
      if (id === undefined) {
        id = this.segments.push({ name, scannedEnd: 0, idxRead: 0, torn: false }) - 1;
        this.segByName.set(name, id);
      }
      if (this.writer?.seg === id) continue;
      await this.catchUp(id);
    }
  }

  private async catchUp(id: number): Promise<void> {
    const seg = this.segments[id]!;
    const path = join(this.dir, seg.name);
    const size = (await stat(path)).size;
    if (size <= seg.scannedEnd) return;
    await this.readIdx(id, size);
    if (seg.scannedEnd < size) await this.scan(id, size);
  }

  /** Trust sidecar records that are intact, contiguous and point at bytes that exist. */
  private async readIdx(id: number, size: number): Promise<void> {
    const seg = this.segments[id]!;
    const idxPath = join(this.dir, seg.name.replace(/\.jsonl$/, '.idx'));
    let fh: FileHandle;
    try {
      fh = await open(idxPath, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      const idxSize = (await fh.stat()).size;
      const whole = Math.floor((idxSize - seg.idxRead) / IDX_REC) * IDX_REC;
      if (whole <= 0) return;
      const buf = Buffer.allocUnsafe(whole);
      await fh.read(buf, 0, whole, seg.idxRead);
      for (let p = 0; p < whole; p += IDX_REC) {
        const rec = buf.subarray(p, p + IDX_REC);
        const off = Number(rec.readBigUInt64LE(32));
        const len = rec.readUInt32LE(40);
        if (rec.readUInt32LE(44) !== idxChecksum(rec)) break;
        if (off + len <= seg.scannedEnd) {
          seg.idxRead += IDX_REC;
          continue;
        }
        if (off !== seg.scannedEnd || off + len > size) break;
        this.add(rec.toString('hex', 0, 32), id, off, len);
        seg.scannedEnd = off + len;
        seg.idxRead += IDX_REC;
      }
    } finally {
      await fh.close();
    }
  }

  /** Read lines from scannedEnd: index the valid ones; stop at an incomplete last line. */
  private async scan(id: number, size: number): Promise<void> {
    const seg = this.segments[id]!;
    const fh = await open(join(this.dir, seg.name), 'r');
    try {
      const CHUNK = 4 * 1024 * 1024;
      let pos = seg.scannedEnd;
      let carry = Buffer.alloc(0);
      while (pos < size) {
        const n = Math.min(CHUNK, size - pos);
        const chunk = Buffer.allocUnsafe(n);
        const { bytesRead } = await fh.read(chunk, 0, n, pos);
        pos += bytesRead;
        const buf = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
        let start = 0;
        for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
          const line = buf.toString('utf8', start, nl);
          const parsed = parseLine(line);
          const lineOff = seg.scannedEnd;
          const lineLen = nl - start + 1;
          if (parsed) this.add(parsed.key, id, lineOff, lineLen);
          else this.s.corrupt++;
          seg.scannedEnd += lineLen;
          start = nl + 1;
        }
        carry = Buffer.from(buf.subarray(start));
        if (bytesRead === 0) break;
      }
      // Bytes after the last newline: a line still being written by its process, or torn by a crash.
      seg.torn = carry.length > 0;
    } finally {
      await fh.close();
    }
  }

  stats(): CacheStats {
    return { entries: this.index.size, segments: this.segments.length, ...this.s, tornTails: this.segments.filter((s) => s.torn).length };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.refreshing;
    this.closeWriter();
    await Promise.all([...this.closing]);
    await Promise.all(this.segments.map(async (s) => (s.fh ? (await s.fh).close() : undefined)));
    for (const s of this.segments) delete s.fh;
    this.throwSyncError();
  }
}
