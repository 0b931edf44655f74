/**
 * Issue 11: the generate stage says on the console what it sent, what it spent and what it replayed from
 * the response cache, so a run served entirely from the cache reads as such ("0 requests sent, $0.00").
 * Two runs of the same pipeline into two run directories share one cache: the second sends nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../src/pipeline/load-config.js';
import { createReporter } from '../../src/pipeline/progress.js';
import { runPipeline } from '../../src/pipeline/runner.js';
import { STANDARD_STAGES } from '../../src/stages/index.js';
import { generateSummary } from '../../src/stages/generate-stage.js';

const root = mkdtempSync(join(tmpdir(), 'univg-gen-summary-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function run(name: string): Promise<string> {
  const text = `name: ${name}
runDir: ${JSON.stringify(join(root, name))}
source: { format: synthetic, samples: 8, seed: 3, testFraction: 0 }
teacher:
  model: univg-sim-teacher
  simulated: { seed: 3 }
  candidates: 3
  price: { inputPerMTok: 0.4, outputPerMTok: 1.2 }
  cacheDir: ${JSON.stringify(join(root, 'cache'))}
shards: { tasks: 2 }
`;
  const { config } = parsePipelineConfig(text, 'p.yaml');
  const out = new PassThrough();
  let log = '';
  out.on('data', (d: Buffer) => (log += d.toString()));
  const reporter = createReporter('plain', out, 60_000);
  await runPipeline({ config, configText: text, configFile: 'p.yaml', stages: STANDARD_STAGES, only: ['ingest', 'generate'], reporter });
  reporter.close();
  return log;
}

const line = (log: string) => log.split('\n').find((l) => l.startsWith('generate: ') && l.includes('requests sent'));

describe('the generate stage summary line', () => {
  it('counts requests, spend and cache replays; a run served from the cache says 0 requests, $0.00', async () => {
    const first = line(await run('first'));
    expect(first).toBeDefined();
    const m = /^generate: (\d+) requests sent, \$([\d.]+) spent by this run, 0 of (\d+) candidates replayed from the cache$/.exec(first!);
    expect(m, first).not.toBeNull();
    const [requests, spent, candidates] = [Number(m![1]), Number(m![2]), Number(m![3])];
    // n=3 per request: one request per sample, three candidates each.
    expect(candidates).toBe(3 * requests);
    expect(spent).toBeGreaterThan(0);

    const second = line(await run('second'));
    expect(second).toBe(`generate: 0 requests sent, $0.00 spent by this run, ${candidates} of ${candidates} candidates replayed from the cache ($${m![2]} not paid again)`);
  }, 120_000);

  it('formats what it is given', () => {
    expect(generateSummary({ requests: 1, spentUsd: 2.5, candidates: 3, fromCache: 0, replayedUsd: 0 })).toBe('1 request sent, $2.50 spent by this run, 0 of 3 candidates replayed from the cache');
    expect(generateSummary({})).toBe('0 requests sent, $0.00 spent by this run, 0 of 0 candidates replayed from the cache');
  });
});
