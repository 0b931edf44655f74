/** The generate stage: k teacher candidates per sample, through the cached, rate-limited client. */
import type { GroundingSample, TeacherCandidate } from '../schema/records.js';
import { ConfigError } from '../errors.js';
import { readManifest } from '../store/manifest.js';
import { resolveEndpoint } from '../teacher/client.js';
import { generateCandidates } from './generate.js';
import type { Stage } from './stage.js';

export const generateStage: Stage = {
  name: 'generate',
  description: 'ask the teacher for k chain-of-thought candidates per sample (cached by request hash)',
  inputs: ['ingest'],
  outputs: [{ name: 'candidates', dir: 'candidates', kind: 'TeacherCandidate' }],
  mode: 'partitioned',
  // Only what changes the requests or the rows: limits, concurrency and the cache location do not.
  settings: (c) => {
    const t = c.teacher;
    if (!t) return null;
    return { model: t.model, mode: t.mode, promptVersion: t.promptVersion, candidates: t.candidates, convention: t.convention, temperature: t.temperature, maxTokens: t.maxTokens, minPixels: t.minPixels, maxPixels: t.maxPixels, nMode: t.nMode, seed: t.seed ?? null, simulated: t.simulated ?? null };
  },
  preflight(c) {
    if (!c.teacher) throw new ConfigError('the generate stage needs a teacher section in the pipeline', { field: 'teacher' });
    // A real endpoint needs its key before the first sample, not after an hour of ingest.
    if (!c.teacher.simulated) resolveEndpoint(c.teacher, process.env);
  },
  async runTask(ctx) {
    const teacher = await ctx.services.teacher();
    const manifest = await readManifest(`${ctx.runDir}/samples`);
    const part = manifest?.files.find((f) => f.file.includes(`-${String(ctx.task.index).padStart(5, '0')}-of-`));
    if (part) ctx.progress.setTotal(part.rows);
    const out = ctx.output<TeacherCandidate>('candidates');
    let last = 0;
    const rows = generateCandidates(ctx.read<GroundingSample>('ingest'), {
      config: teacher.config,
      client: teacher.client,
      cache: teacher.cache,
      imageLoader: (sha) => ctx.services.images.get(sha),
      signal: ctx.signal,
      totalSamples: part?.rows,
      onProgress: (p) => {
        ctx.progress.advance(p.samplesDone - last);
        last = p.samplesDone;
        ctx.progress.note({ spent: `$${p.costUsd.toFixed(4)}`, ...(p.projectedCostUsd !== null ? { projected: `$${p.projectedCostUsd.toFixed(4)}` } : {}), failed: p.failedCandidates, cached: p.cachedCandidates });
      },
    });
    const t = { requests: 0, spentUsd: 0, candidates: 0, fromCache: 0, replayedUsd: 0 };
    let lastHash = '';
    for await (const row of rows) {
      await out.write(row);
      t.candidates++;
      if (row.cached) {
        t.fromCache++;
        t.replayedUsd += row.costUsd;
      } else {
        t.spentUsd += row.costUsd;
        // A request's rows come out together; rows with no attempt never reached the endpoint.
        if (row.attempts > 0 && row.requestHash !== lastHash) t.requests++;
      }
      lastHash = row.requestHash;
    }
    ctx.tally(t);
  },
  summary: (t) => generateSummary(t),
};

const usd = (x: number) => `$${x.toFixed(x === 0 || x >= 1 ? 2 : 4)}`;

/** "0 requests sent, $0.00 spent by this run, 273 of 273 candidates replayed from the cache ($0.1358 not paid again)". */
export function generateSummary(t: Readonly<Record<string, number>>): string {
  const n = (k: string) => t[k] ?? 0;
  const cached = n('fromCache');
  return (
    `${n('requests')} request${n('requests') === 1 ? '' : 's'} sent, ${usd(n('spentUsd'))} spent by this run, ` +
    `${cached} of ${n('candidates')} candidates replayed from the cache${cached > 0 ? ` (${usd(n('replayedUsd'))} not paid again)` : ''}`
  );
}
