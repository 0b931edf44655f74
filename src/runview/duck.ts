/**
 * A small DuckDB session over a run: an in-memory database with views over the run's shards (the report,
 * the audit app). DuckDB streams Parquet, so nothing is computed by loading a stage into JS memory.
 *
 * One thread by default: parallel float aggregation (sum, avg) adds in an order that changes from run
 * to run, and the report must be byte-stable for equal input.
 */
import type { DuckDBConnection, DuckDBInstance, DuckDBValue } from '@duckdb/node-api';
import { ShardError } from '../errors.js';

export type Row = Record<string, unknown>;

export interface DuckOptions {
  /** Worker threads (default 1, which keeps float sums byte-stable). */
  threads?: number;
  /** DuckDB memory_limit, e.g. '512MB' (default '1GB'); DuckDB spills to disk beyond it. */
  memoryLimit?: string;
  /** Where DuckDB spills what exceeds memoryLimit (default: DuckDB's own choice). */
  tempDirectory?: string;
}

/** A SQL string literal: single quotes doubled. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A SQL identifier: double quotes doubled. */
export function sqlIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** DuckDB hands 64-bit integers back as bigint; the report's figures are plain JSON numbers. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof Date)) {
    const out: Row = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

export class Duck {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
  ) {}

  static async open(opts: DuckOptions = {}): Promise<Duck> {
    // Loaded on use: the native library is large, and commands that never query (training) never load it.
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(':memory:', {
      threads: String(opts.threads ?? 1),
      memory_limit: opts.memoryLimit ?? '1GB',
      ...(opts.tempDirectory ? { temp_directory: opts.tempDirectory } : {}),
      // Parquet and JSON are built in; never reach for the network to fetch an extension.
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    });
    return new Duck(instance, await instance.connect());
  }

  /** Run a query and return its rows with bigints as numbers. `what` names the query in errors. */
  async all(sql: string, params: DuckDBValue[] = [], what = 'report query'): Promise<Row[]> {
    try {
      const reader = await this.conn.runAndReadAll(sql, params.length ? params : undefined);
      return reader.getRowObjectsJS().map((r) => plain(r) as Row);
    } catch (err) {
      throw new ShardError(`${what} failed: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
    }
  }

  async one(sql: string, params: DuckDBValue[] = [], what?: string): Promise<Row> {
    const rows = await this.all(sql, params, what);
    return rows[0] ?? {};
  }

  async exec(sql: string, what?: string): Promise<void> {
    await this.all(sql, [], what);
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

/** Number or null from a query cell. */
export function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Number from a query cell, 0 when null (counts and sums over no rows). */
export function int(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
