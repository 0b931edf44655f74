/**
 * Report build time and peak memory on a synthetic run of N samples x 3 candidates (real shards).
 *
 *   npx tsx bench/report.ts [samples=20000]
 *
 * The shards are written first (not timed); then a fresh child process runs `buildReport` once to
 * warm up and three times timed, and reports its own peak RSS, so the writers' buffers do not count.
 * DuckDB streams the Parquet files, so the report's memory should grow far slower than the corpus.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildReport } from '../src/report/index.js';
import { writeSyntheticRun } from './lib/synthetic-run.js';

const N = process.argv[2] === '--build' ? 0 : Number(process.argv[2] ?? 20_000);

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'univg-bench-report-'));
  const t0 = performance.now();
  await writeSyntheticRun(root, { samples: N });
  const writeMs = performance.now() - t0;
  const child = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--build', root], { encoding: 'utf8' });
  console.log(JSON.stringify({ samples: N, candidates: N * 3, shardsWrittenMs: Math.round(writeMs), ...JSON.parse(child) }));
  rmSync(root, { recursive: true, force: true });
}

/** In the child: build the report of `root` four times, print timings and this process's peak RSS. */
async function timeBuild(root: string): Promise<void> {
  await buildReport(root);
  const times: number[] = [];
  let size = 0;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const r = await buildReport(root);
    times.push(performance.now() - t);
    size = statSync(r.file).size;
  }
  times.sort((a, b) => a - b);
  process.stdout.write(
    JSON.stringify({ reportMedianMs: Math.round(times[1]!), reportMinMs: Math.round(times[0]!), htmlKiB: Math.round(size / 1024), reportPeakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }),
  );
}

if (process.argv[2] === '--build') await timeBuild(process.argv[3]!);
else await main();
