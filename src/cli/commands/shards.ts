/** `univg shards verify|inspect DIR`: check and describe a stage directory of Parquet shards. */
import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { EXIT, InputError, ShardError } from '../../errors.js';
import { action } from '../action.js';

/** A directory named on the command line that is not there is a usage mistake (exit 2), not a failed check. */
function needDir(dir: string): void {
  if (!existsSync(dir)) throw new InputError('no such directory', { file: dir });
  if (!statSync(dir).isDirectory()) throw new InputError('not a directory (give a stage directory, e.g. runs/demo/samples)', { file: dir });
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function register(program: Command): void {
  const shards = program
    .command('shards')
    .description('check and describe stage directories of Parquet shards (part-*.parquet + _manifest.json)');

  shards
    .command('verify')
    .argument('<dir>', 'stage directory, e.g. runs/demo/samples')
    .description('recompute every checksum, size and row count against _manifest.json; exit 1 on any problem, 2 when the directory is missing')
    .option('--deep', 'also decode every row group and count its rows')
    .option('--json', 'print the full result as JSON')
    .addHelpText(
      'after',
      `
Checks: manifest present and valid; each listed file present, same size and sha256, footer row count,
row groups and schema fingerprint as the manifest; no unlisted *.parquet and no leftover temp files.

Example:
  $ univg shards verify runs/demo/samples
  OK    part-00000-of-00004.parquet  2500 rows  1.2 MiB
  FAIL  part-00001-of-00004.parquet  sha256 differs from the manifest (corrupted)
  1 problem in runs/demo/samples`,
    )
    .action(
      action(async (dir: string, opts: { deep?: boolean; json?: boolean }) => {
        needDir(dir);
        const { verifyShards } = await import('../../store/index.js');
        const res = await verifyShards(dir, { deep: opts.deep });
        if (opts.json) {
          out(JSON.stringify({ ok: res.ok, dir: res.dir, files: res.files, problems: res.problems }, null, 2));
          return res.ok ? EXIT.ok : EXIT.failed;
        }
        const byFile = new Map<string, string[]>();
        for (const p of res.problems) {
          const detail = p.expected !== undefined ? ` (expected ${p.expected}, found ${p.actual})` : '';
          byFile.set(p.file, [...(byFile.get(p.file) ?? []), `${p.problem}${detail}`]);
        }
        for (const f of res.files) {
          if (f.ok) out(`OK    ${f.file}  ${f.rows ?? '?'} rows  ${formatBytes(f.bytes ?? 0)}`);
          else for (const p of byFile.get(f.file) ?? ['failed']) out(`FAIL  ${f.file}  ${p}`);
          byFile.delete(f.file);
        }
        for (const [file, problems] of byFile) for (const p of problems) out(`FAIL  ${file}  ${p}`);
        const n = res.problems.length;
        out(res.ok ? `all ${res.files.length} files OK in ${dir}` : `${n} problem${n === 1 ? '' : 's'} in ${dir}`);
        return res.ok ? EXIT.ok : EXIT.failed;
      }),
    );

  shards
    .command('inspect')
    .argument('<dir>', 'stage directory')
    .description('print the record kind, files, rows, bytes and schema fingerprint from _manifest.json')
    .option('--json', 'print the manifest as JSON')
    .addHelpText(
      'after',
      `
Reads only the manifest (fast); run \`univg shards verify\` to check the files against it.

Example:
  $ univg shards inspect runs/demo/corpus/sft
  kind         SftRow
  rows         1200 in 4 files (18.4 MiB, zstd)
  schema       3f9c…  (sha256 of columns, types, nullability, HF features)
  writer       univg 0.1.0 (parquet-wasm)
  part-00000-of-00004.parquet   301 rows  4.6 MiB  2 row groups  sha256 9a1b…`,
    )
    .action(
      action(async (dir: string, opts: { json?: boolean }) => {
        needDir(dir);
        const { MANIFEST_NAME, readManifest } = await import('../../store/index.js');
        const m = await readManifest(dir);
        if (!m) throw new ShardError(`no ${MANIFEST_NAME}: the stage did not finish, or this is not a stage directory`, { file: dir });
        if (opts.json) {
          out(JSON.stringify(m, null, 2));
          return EXIT.ok;
        }
        out(`kind         ${m.kind}`);
        out(`rows         ${m.rows} in ${m.files.length} files (${formatBytes(m.bytes)}, ${m.compression})`);
        out(`schema       ${m.schemaFingerprint}`);
        out(`writer       ${m.writer}`);
        if (m.lineage.stage) out(`stage        ${m.lineage.stage}`);
        for (const i of m.lineage.inputs) out(`input        ${i.path}${i.kind ? ` (${i.kind}, ${i.rows ?? '?'} rows)` : ''}`);
        for (const f of m.files) out(`${f.file}  ${f.rows} rows  ${formatBytes(f.bytes)}  ${f.rowGroups} row group${f.rowGroups === 1 ? '' : 's'}  sha256 ${f.sha256.slice(0, 12)}`);
        return EXIT.ok;
      }),
    );
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
