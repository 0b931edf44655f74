/**
 * Issue 4 at full scale: 1,000 synthetic samples x 3 candidates against the simulated teacher with
 * faults on (10% 429, 5% 5xx, 2% hangs past the client timeout, 5% malformed), through the real client.
 * Checks the invariants the tests check at small scale and prints the figures for BENCHMARKS.md:
 *   every candidate answered or recorded as failed with its error, no duplicate rows, and the number of
 *   requests the server saw equal to the client's attempts (no silent extra calls).
 *
 *   npx tsx bench/generate-faults.ts [--samples 1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TeacherConfig } from '../src/schema/config.js';
import type { GroundingSample, TeacherCandidate } from '../src/schema/records.js';
import { ingestMigBench } from '../src/sources/ingest.js';
import { resolveUnderRoot } from '../src/sources/images.js';
import { generateSuite } from '../src/sources/synthetic/index.js';
import { generateCandidates } from '../src/stages/generate.js';
import { ResponseCache } from '../src/teacher/cache.js';
import { TeacherClient } from '../src/teacher/client.js';
import { totalAttempts } from '../src/teacher/metrics.js';
import { startSimTeacher } from '../src/teacher/sim/index.js';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const N = arg('samples', 1000);
const dir = mkdtempSync(join(tmpdir(), 'univg-bench-faults-'));
try {
  const t0 = Date.now();
  await generateSuite({ out: join(dir, 'suite'), samples: Math.ceil(N * 1.05) + 10, seed: 11, testFraction: 0.01 });
  const samples: GroundingSample[] = [];
  for await (const ev of ingestMigBench({ input: join(dir, 'suite', 'train.json'), imageRoot: join(dir, 'suite') })) {
    if (ev.kind === 'sample' && samples.length < N) samples.push(ev.sample);
  }
  const paths = new Map(samples.flatMap((s) => s.images.map((i) => [i.sha256, i.path] as const)));
  const imageLoader = async (sha: string) => {
    const r = resolveUnderRoot(join(dir, 'suite'), paths.get(sha)!);
    if (!r.ok) throw new Error(r.detail);
    return readFile(r.path);
  };
  if (samples.length < N) throw new Error(`suite gave ${samples.length} train samples, need ${N}`);
  console.log(`suite: ${samples.length} samples in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const sim = await startSimTeacher({
    port: 0, seed: 5, convention: 'qwen2vl', hangMs: 4000, retryAfterSeconds: 0.2,
    faults: { rate_limit: 0.1, server_error: 0.05, hang: 0.02, malformed: 0.05 },
    latency: { distribution: 'lognormal', medianMs: 30, sigma: 0.8 },
  });
  const config = TeacherConfig.parse({ model: 'sim', candidates: 3, concurrency: 16, timeoutMs: 1500, maxRetries: 4, cacheDir: join(dir, 'cache') });
  const client = new TeacherClient({ config, baseUrl: sim.url, env: {}, backoff: { baseMs: 50, capMs: 1000 } });
  const cache = await ResponseCache.open(config.cacheDir);
  const t1 = Date.now();
  const rows: TeacherCandidate[] = [];
  for await (const r of generateCandidates(samples, { config, client, cache, imageLoader })) rows.push(r);
  const secs = (Date.now() - t1) / 1000;
  await cache.close();

  const keys = new Set(rows.map((r) => `${r.sampleId}/${r.candidateIndex}`));
  const k = client.counters();
  const st = sim.stats();
  const answered = rows.filter((r) => r.error === null && r.completion !== null).length;
  const failed = rows.filter((r) => r.error !== null && r.completion === null).length;
  const checks = {
    everyCandidateAccountedFor: rows.length === N * 3 && answered + failed === rows.length,
    noDuplicateRows: keys.size === rows.length,
    serverRequestsEqualClientAttempts: st.requests === totalAttempts(k.attempts),
  };
  console.log(JSON.stringify({ samples: N, candidates: rows.length, answered, failed, seconds: secs, requestsPerSecond: +(st.requests / secs).toFixed(1), serverRequests: st.requests, serverByOutcome: st.byOutcome, clientAttempts: k.attempts, retries: k.retries, checks }, null, 2));
  client.close();
  await sim.close();
  if (!Object.values(checks).every(Boolean)) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
