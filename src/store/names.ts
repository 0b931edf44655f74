/**
 * Shard naming and task assignment. Both are contracts with files already on disk and with other
 * workers: they never change.
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.js';

function checkCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > 99_999) throw new ConfigError(`${what} must be an integer from 1 to 99999, got ${n}`);
}

/**
 * The task (0..n-1) that owns `id`: the first 8 bytes of sha256(utf-8 id), read as a big-endian unsigned
 * 64-bit integer, modulo n. Any worker on any machine computes the same answer, so N workers under any
 * scheduler produce the same part files one machine would.
 */
export function stableTaskOf(id: string, n: number): number {
  checkCount(n, 'task count');
  const digest = createHash('sha256').update(id, 'utf8').digest();
  return Number(digest.readBigUInt64BE(0) % BigInt(n));
}

/** `part-00003-of-00016.parquet`: the Hub convention `{split}-{i:05d}-of-{n:05d}.parquet`. */
export function shardFileName(i: number, n: number, prefix = 'part'): string {
  checkCount(n, 'shard count');
  if (!Number.isSafeInteger(i) || i < 0 || i >= n) throw new ConfigError(`shard index must be in 0..${n - 1}, got ${i}`);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(prefix) || prefix.includes('-of-'))
    throw new ConfigError(`shard prefix ${JSON.stringify(prefix)} must be letters, digits, "_", "." or "-" and not contain "-of-"`);
  return `${prefix}-${String(i).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.parquet`;
}

/** Inverse of shardFileName; null for a name that is not a shard file. */
export function parseShardFileName(name: string): { prefix: string; index: number; count: number } | null {
  const m = /^(.+)-(\d{5})-of-(\d{5})\.parquet$/.exec(name);
  if (!m) return null;
  const index = Number(m[2]);
  const count = Number(m[3]);
  if (count < 1 || index >= count) return null;
  return { prefix: m[1]!, index, count };
}

/** Temp files are hidden and end in `.tmp`, so no `*.parquet` glob (DuckDB, datasets, pyarrow) ever sees them. */
export function isTempFileName(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}

let tempCounter = 0;
/** A temp name for `name` unique within this process: `.<name>.<pid>-<n>.tmp`. */
export function tempFileName(name: string): string {
  return `.${name}.${process.pid}-${tempCounter++}.tmp`;
}
