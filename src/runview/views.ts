/**
 * DuckDB views over a run's tables, named after them (samples, candidates, verdicts, sft, rl,
 * predictions, quarantine), over the files that exist. DuckDB reads the Parquet files in place and
 * opens them read-only; nothing is loaded into JS memory.
 */
import { ShardError } from '../errors.js';
import { Duck, int, sqlString } from './duck.js';
import { TABLES, TABLE_NAMES, type RunFiles } from './run-files.js';

/** `read_parquet([...])` over a table's part files. */
export function parquetSource(files: readonly string[]): string {
  return `read_parquet([${files.map(sqlString).join(', ')}])`;
}

/** Views over what exists; returns the names of the views made. */
export async function createViews(duck: Duck, files: RunFiles): Promise<Set<string>> {
  const present = new Set<string>();
  for (const name of TABLE_NAMES) {
    const t = files.tables[name];
    if (t.files.length === 0) continue;
    await duck.exec(`CREATE OR REPLACE VIEW ${name} AS SELECT * FROM ${parquetSource(t.files)}`, `reading ${TABLES[name].dir}/`);
    present.add(name);
  }
  if (files.quarantine.length) {
    const cols = `{stage: 'VARCHAR', recordId: 'VARCHAR', file: 'VARCHAR', "row": 'BIGINT', field: 'VARCHAR', reason: 'VARCHAR', detail: 'VARCHAR'}`;
    await duck.exec(
      `CREATE OR REPLACE VIEW quarantine AS SELECT * FROM read_json([${files.quarantine.map(sqlString).join(', ')}], format = 'newline_delimited', columns = ${cols}, filename = true)`,
      'reading quarantine/*.jsonl',
    );
    present.add('quarantine');
  }
  return present;
}

/**
 * Open every part file's Parquet footer with DuckDB (a few KiB each, whatever the file's size): a file
 * DuckDB cannot read is left out of `files` and named in `files.problems`, so one corrupt shard costs its
 * own rows, not the whole run. Files of one table that disagree on their columns are a problem too.
 */
export async function probeShards(duck: Duck, files: RunFiles): Promise<void> {
  for (const name of TABLE_NAMES) {
    const t = files.tables[name];
    const ok: string[] = [];
    for (const file of t.files) {
      try {
        const meta = await duck.one(`SELECT num_rows FROM parquet_file_metadata(${sqlString(file)})`, [], `reading the footer of ${file}`);
        int(meta.num_rows);
        ok.push(file);
      } catch (err) {
        if (!(err instanceof ShardError)) throw err;
        files.problems.push({ table: name, file, message: `not a readable Parquet file: ${firstLine(err.message)}` });
      }
    }
    t.files = ok;
  }
}

const firstLine = (s: string) => s.split('\n')[0]!.replace(/^reading the footer of .*? failed: /, '');
