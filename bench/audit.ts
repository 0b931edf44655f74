/**
 * The audit app on a large run: how long it takes to open, to show the first page and a sample, and to
 * answer a filter change, a text search, a deep page and a decision, on N samples x 3 candidates (real
 * shards written with the store's writer), next to the same on 100 samples. Timed over HTTP, as the
 * page asks; the server runs in a child process that reports its own peak RSS.
 *
 *   npx tsx bench/audit.ts [samples=100000]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAuditServer } from '../src/audit/server.js';
import { AuditSession } from '../src/audit/session.js';
import { writeSyntheticRun } from './lib/synthetic-run.js';

const REPEAT = 7;

async function timeRun(root: string): Promise<Record<string, number>> {
  const t0 = performance.now();
  const session = await AuditSession.open(root, { sample: 400, seed: 1 });
  const openMs = performance.now() - t0;
  const server = await startAuditServer({ session, auditor: 'bench', token: null, runLabel: 'bench', port: 0 });
  const get = async (path: string) => {
    const r = await fetch(new URL(path, server.url));
    if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return r.json() as Promise<{ ids?: string[] }>;
  };
  const median = async (fn: () => Promise<unknown>) => {
    const times: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const t = performance.now();
      await fn();
      times.push(performance.now() - t);
    }
    return Math.round(times.sort((a, b) => a - b)[REPEAT >> 1]! * 10) / 10;
  };
  const firstT = performance.now();
  const first = await get('/api/list');
  const firstPageMs = performance.now() - firstT;
  const id = first.ids![0]!;
  const out = {
    openMs: Math.round(openMs),
    firstPageMs: Math.round(firstPageMs),
    pageMs: await median(() => get('/api/list')),
    filterChangeMs: await median(() => get('/api/list?task=diff&verdict=kept&iouMin=0.7&sort=-iou')),
    reasonAndStatusMs: await median(() => get('/api/list?reason=format&status=unlabelled&sort=random')),
    deepPageMs: await median(() => get('/api/list?page=1500')),
    searchMs: await median(() => get('/api/list?q=umbrella')),
    sampleMs: await median(() => get(`/api/sample/${encodeURIComponent(id)}`)),
    decideMs: await median(async () => {
      const r = await fetch(new URL('/api/labels', server.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sampleId: id, candidateIndex: 0, decision: 'accept', reason: null, note: '', auditor: 'bench' }),
      });
      if (!r.ok) throw new Error(await r.text());
    }),
    statsMs: await median(() => get('/api/stats')),
  };
  await server.close();
  await session.close();
  return { ...out, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) };
}

async function main(): Promise<void> {
  const N = Number(process.argv[2] ?? 100_000);
  const results: unknown[] = [];
  for (const n of [100, N]) {
    const root = mkdtempSync(join(tmpdir(), 'univg-bench-audit-'));
    try {
      const t = performance.now();
      await writeSyntheticRun(root, { samples: n });
      const built = Math.round(performance.now() - t);
      const child = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--time', root], { encoding: 'utf8' });
      results.push({ samples: n, candidates: n * 3, shardsWrittenMs: built, ...JSON.parse(child) });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
  for (const r of results) console.log(JSON.stringify(r));
}

if (process.argv[2] === '--time') process.stdout.write(JSON.stringify(await timeRun(process.argv[3]!)));
else await main();
