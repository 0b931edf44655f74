/**
 * JSON lines, streamed: one ArrayItem per non-blank line (as readJsonArray yields per array element), a
 * line that does not parse reported as such with its byte offset. Memory holds one line at a time.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { InputError } from '../errors.js';
import type { ArrayItem, ReaderStats } from './json-array.js';

export interface ReadJsonLinesOptions {
  stats?: ReaderStats;
  hash?: boolean;
}

export async function* readJsonLines(path: string, opts: ReadJsonLinesOptions = {}): AsyncGenerator<ArrayItem> {
  const hash = opts.hash ? createHash('sha256') : null;
  const stats = opts.stats;
  let pending: Buffer = Buffer.alloc(0);
  let offset = 0;
  let index = 0;
  function* lines(final: boolean): Generator<ArrayItem> {
    let start = 0;
    for (;;) {
      const nl = pending.indexOf(10, start);
      if (nl < 0 && !final) break;
      const end = nl < 0 ? pending.length : nl;
      const text = pending.toString('utf8', start, end).trim();
      const at = offset + start;
      if (text !== '') {
        const length = end - start;
        if (stats) {
          stats.elements++;
          stats.maxElementBytes = Math.max(stats.maxElementBytes, length);
        }
        try {
          yield { ok: true, index: index++, offset: at, length, value: JSON.parse(text) as unknown };
        } catch (err) {
          yield { ok: false, index: index++, offset: at, length, error: (err as Error).message };
        }
      }
      if (nl < 0) {
        start = pending.length;
        break;
      }
      start = nl + 1;
    }
    offset += start;
    pending = pending.subarray(start);
  }
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) {
      const c = chunk as Buffer;
      hash?.update(c);
      pending = pending.length ? Buffer.concat([pending, c]) : c;
      if (stats) {
        stats.bytesRead += c.length;
        stats.maxBufferedBytes = Math.max(stats.maxBufferedBytes, pending.length);
      }
      yield* lines(false);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw new InputError(code === 'ENOENT' ? 'input file not found' : `cannot read input file (${code})`, { file: path }, { cause: err });
    throw err;
  }
  yield* lines(true);
  if (hash && stats) stats.sha256 = hash.digest('hex');
}
