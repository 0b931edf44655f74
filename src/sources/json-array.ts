/**
 * Streaming reader for files that are one top-level JSON array of records (MGrounding-630k is 1.4 GB of
 * that). A byte-level scanner finds where each element starts and ends, then hands that slice alone to
 * the native `JSON.parse`, so memory is bounded by the largest element plus one read chunk, and every
 * element comes with its exact byte offset for error messages.
 *
 * Why not `stream-json`: it builds values token by token in JavaScript (several times slower than
 * `JSON.parse` on the same bytes, see bench/json-array.ts) and does not report element byte offsets.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { InputError } from '../errors.js';

/** One element of the array: parsed, or the reason it could not be (its boundaries were still clear). */
export type ArrayItem =
  | { ok: true; index: number; offset: number; length: number; value: unknown }
  | { ok: false; index: number; offset: number; length: number; error: string };

/** Counters a caller can pass in to watch the reader; `maxBufferedBytes` is what tests assert on. */
export interface ReaderStats {
  /** Bytes consumed so far. */
  bytesRead: number;
  /** Elements emitted so far. */
  elements: number;
  /** Largest number of bytes held at once: the pending element plus the chunk being scanned. */
  maxBufferedBytes: number;
  /** Largest single element, in bytes. */
  maxElementBytes: number;
  /** sha256 of every byte read, set once the whole input has been read (when `hash` was asked for). */
  sha256?: string;
}

export function newReaderStats(): ReaderStats {
  return { bytesRead: 0, elements: 0, maxBufferedBytes: 0, maxElementBytes: 0 };
}

export interface ScannerOptions {
  /** File name for error messages. */
  file?: string;
  /** An element larger than this is refused (InputError) instead of buffered without bound. */
  maxElementBytes?: number;
  /** Accept Python's `NaN`, `Infinity`, `-Infinity` (json.dump writes them); they become the strings "NaN", ... */
  pythonNonFinite?: boolean;
  stats?: ReaderStats;
}

const DEFAULT_MAX_ELEMENT = 256 * 1024 * 1024;

const enum S {
  BeforeArray,
  BeforeElement,
  InElement,
  AfterElement,
  Done,
}

const QUOTE = 0x22;
const BOM = [0xef, 0xbb, 0xbf];
const BACKSLASH = 0x5c;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * Push-based scanner: feed chunks with `push`, get completed elements back; `end` checks the array was
 * closed. Pure computation, no I/O, so it can be driven by any byte source.
 */
export class JsonArrayScanner {
  private state: S = S.BeforeArray;
  private pos = 0; // absolute offset of the start of the current chunk
  private index = 0;
  private afterComma = false;
  // current element
  private elStart = 0;
  private parts: Buffer[] = [];
  private partBytes = 0;
  private depth = 0;
  private kind: 'container' | 'string' | 'scalar' = 'container';
  private inString = false;
  private escape = false;
  private readonly file: string | undefined;
  private readonly maxElement: number;
  private readonly python: boolean;
  readonly stats: ReaderStats;

  constructor(opts: ScannerOptions = {}) {
    this.file = opts.file;
    this.maxElement = opts.maxElementBytes ?? DEFAULT_MAX_ELEMENT;
    this.python = opts.pythonNonFinite ?? false;
    this.stats = opts.stats ?? newReaderStats();
  }

  private fail(message: string, offset: number, extra: Record<string, unknown> = {}): never {
    throw new InputError(message, { ...(this.file === undefined ? {} : { file: this.file }), offset, ...extra });
  }

  /** Scan one chunk; returns the elements that ended inside it, in order. */
  push(chunk: Uint8Array): ArrayItem[] {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: ArrayItem[] = [];
    const n = buf.length;
    // The most this call can hold: the unfinished element carried over plus this whole chunk.
    this.stats.maxBufferedBytes = Math.max(this.stats.maxBufferedBytes, this.partBytes + n);
    let i = 0;
    let nextBackslash = -2; // cached position of the next backslash in this chunk (-2: not computed)

    while (i < n) {
      switch (this.state) {
        case S.BeforeArray: {
          const c = buf[i]!;
          // Whitespace, or a UTF-8 byte-order mark as the file's very first bytes.
          if (isWs(c) || (this.pos + i < 3 && c === BOM[this.pos + i])) {
            i++;
            break;
          }
          if (c !== 0x5b) this.fail(`expected a top-level JSON array ('['), found ${describeByte(c)}`, this.pos + i);
          this.state = S.BeforeElement;
          this.afterComma = false;
          i++;
          break;
        }
        case S.BeforeElement: {
          const c = buf[i]!;
          if (isWs(c)) {
            i++;
            break;
          }
          if (c === 0x5d) {
            if (this.afterComma) this.fail("trailing comma before ']'", this.pos + i);
            this.state = S.Done;
            i++;
            break;
          }
          if (c === 0x2c) this.fail("expected an array element, found ','", this.pos + i);
          this.elStart = this.pos + i;
          this.parts = [];
          this.partBytes = 0;
          this.depth = 0;
          this.escape = false;
          if (c === 0x7b || c === 0x5b) {
            this.kind = 'container';
            this.depth = 1;
            this.inString = false;
            i++;
          } else if (c === QUOTE) {
            this.kind = 'string';
            this.inString = true;
            i++;
          } else {
            this.kind = 'scalar';
            this.inString = false;
          }
          this.state = S.InElement;
          // Mark where this chunk's part of the element begins.
          this.segStart = i - (this.kind === 'scalar' ? 0 : 1);
          break;
        }
        case S.InElement: {
          if (this.inString) {
            if (this.escape) {
              this.escape = false;
              i++;
              break;
            }
            const q = buf.indexOf(QUOTE, i);
            if (nextBackslash !== -1 && nextBackslash < i) nextBackslash = buf.indexOf(BACKSLASH, i);
            const bs = nextBackslash;
            if (bs !== -1 && (q === -1 || bs < q)) {
              this.escape = true;
              i = bs + 1;
              break;
            }
            if (q === -1) {
              i = n;
              break;
            }
            this.inString = false;
            i = q + 1;
            if (this.kind === 'string') out.push(this.finish(buf, i));
            break;
          }
          if (this.kind === 'scalar') {
            // Scalars end at whitespace, ',' or ']' (not included).
            let j = i;
            while (j < n) {
              const c = buf[j]!;
              if (isWs(c) || c === 0x2c || c === 0x5d) break;
              j++;
            }
            i = j;
            if (j < n) out.push(this.finish(buf, j));
            break;
          }
          // Container: walk structural bytes; strings are skipped by the branch above.
          let j = i;
          let ended = false;
          while (j < n) {
            const c = buf[j]!;
            if (c === QUOTE) {
              this.inString = true;
              j++;
              break;
            }
            if (c === 0x7b || c === 0x5b) this.depth++;
            else if (c === 0x7d || c === 0x5d) {
              this.depth--;
              if (this.depth === 0) {
                j++;
                ended = true;
                break;
              }
            }
            j++;
          }
          i = j;
          if (ended) out.push(this.finish(buf, i));
          break;
        }
        case S.AfterElement: {
          const c = buf[i]!;
          if (isWs(c)) {
            i++;
            break;
          }
          if (c === 0x2c) {
            this.state = S.BeforeElement;
            this.afterComma = true;
            i++;
            break;
          }
          if (c === 0x5d) {
            this.state = S.Done;
            i++;
            break;
          }
          this.fail(`expected ',' or ']' after element ${this.index - 1}, found ${describeByte(c)}`, this.pos + i);
          break;
        }
        case S.Done: {
          const c = buf[i]!;
          if (!isWs(c)) this.fail(`unexpected ${describeByte(c)} after the end of the top-level array`, this.pos + i);
          i++;
          break;
        }
      }
    }

    if (this.state === S.InElement) {
      // Keep this chunk's part of the unfinished element.
      const seg = buf.subarray(this.segStart, n);
      this.parts.push(seg);
      this.partBytes += seg.length;
      if (this.partBytes > this.maxElement) {
        this.fail(`element ${this.index} is larger than the ${this.maxElement}-byte limit`, this.elStart, { row: this.index });
      }
    }
    this.pos += n;
    this.stats.bytesRead = this.pos;
    this.segStart = 0;
    return out;
  }

  private segStart = 0;

  private finish(buf: Buffer, end: number): ArrayItem {
    const seg = buf.subarray(this.segStart, end);
    const bytes = this.parts.length === 0 ? seg : Buffer.concat([...this.parts, seg], this.partBytes + seg.length);
    this.parts = [];
    this.partBytes = 0;
    this.segStart = end;
    this.state = S.AfterElement;
    const index = this.index++;
    const offset = this.elStart;
    const length = bytes.length;
    this.stats.elements++;
    this.stats.maxElementBytes = Math.max(this.stats.maxElementBytes, length);
    if (length > this.maxElement) this.fail(`element ${index} is larger than the ${this.maxElement}-byte limit`, offset, { row: index });
    const text = bytes.toString('utf8');
    try {
      return { ok: true, index, offset, length, value: JSON.parse(text) };
    } catch (err) {
      if (this.python) {
        const fixed = quotePythonNonFinite(text);
        if (fixed !== null) {
          try {
            return { ok: true, index, offset, length, value: JSON.parse(fixed) };
          } catch {
            // fall through to the original error, which names the real problem
          }
        }
      }
      return { ok: false, index, offset, length, error: (err as Error).message };
    }
  }

  /** The input ended: anything but a closed array is a truncated file. */
  end(): void {
    const at = this.pos;
    switch (this.state) {
      case S.Done:
        return;
      case S.BeforeArray:
        this.fail(at === 0 ? 'file is empty (expected a JSON array)' : 'no JSON array found (file is only whitespace)', at);
      case S.InElement:
        this.fail(`file is truncated inside element ${this.index}, which starts at byte ${this.elStart}`, at, {
          row: this.index,
          elementOffset: this.elStart,
        });
      default:
        this.fail(`file is truncated: it ends before the array is closed with ']'`, at);
    }
  }
}

function describeByte(c: number): string {
  return c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

/**
 * Rewrite Python's non-standard `NaN`, `Infinity`, `-Infinity` literals (outside strings) as JSON strings,
 * so a record written by `json.dump` with a NaN coordinate is still read and then quarantined for it.
 * Returns null when there is nothing to rewrite.
 */
export function quotePythonNonFinite(text: string): string | null {
  let out = '';
  let last = 0;
  let inStr = false;
  let changed = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inStr) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inStr = false;
      continue;
    }
    if (c === QUOTE) {
      inStr = true;
      continue;
    }
    for (const word of ['-Infinity', 'Infinity', 'NaN']) {
      if (text.startsWith(word, i) && !/[A-Za-z0-9_]/.test(text[i + word.length] ?? '') && !/[A-Za-z0-9_.]/.test(text[i - 1] ?? '')) {
        out += text.slice(last, i) + JSON.stringify(word);
        i += word.length - 1;
        last = i + 1;
        changed = true;
        break;
      }
    }
  }
  return changed ? out + text.slice(last) : null;
}

export interface ReadJsonArrayOptions extends ScannerOptions {
  /** Read size in bytes (default 64 KiB). */
  chunkSize?: number;
  /** Hash the input while reading it (result in `stats.sha256`), for lineage without a second pass. */
  hash?: boolean;
}

/**
 * Yield the elements of the JSON array in `source` (a file path or a byte stream) one at a time, in
 * order, each with its byte offset. Throws InputError for a missing file, a file that is not an array,
 * or a truncated one; a single element that is not valid JSON is yielded with `ok: false`.
 */
export async function* readJsonArray(source: string | AsyncIterable<Uint8Array>, opts: ReadJsonArrayOptions = {}): AsyncGenerator<ArrayItem> {
  const file = opts.file ?? (typeof source === 'string' ? source : undefined);
  const scanner = new JsonArrayScanner({ ...opts, ...(file === undefined ? {} : { file }) });
  const stream = typeof source === 'string' ? createReadStream(source, { highWaterMark: opts.chunkSize ?? 64 * 1024 }) : source;
  const hash = opts.hash ? createHash('sha256') : null;
  try {
    for await (const chunk of stream) {
      hash?.update(chunk as Uint8Array);
      for (const item of scanner.push(chunk as Uint8Array)) yield item;
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (typeof source === 'string' && e && typeof e.code === 'string' && (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR')) {
      throw new InputError(e.code === 'ENOENT' ? 'input file not found' : `cannot read input file (${e.code})`, { file: source }, { cause: err });
    }
    throw err;
  } finally {
    if (typeof source === 'string' && 'destroy' in stream) (stream as { destroy(): void }).destroy();
  }
  scanner.end();
  if (hash) scanner.stats.sha256 = hash.digest('hex');
}
