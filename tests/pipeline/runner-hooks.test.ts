/**
 * The runner's hooks for stages whose shape depends on the config (the training stages): stages a config
 * turns off (and those that read them) are left out, inputs chosen per config, files outside the run
 * that join the staleness check, a work directory `--force` removes, and a finished stage whose input
 * set changed counts as stale. Real shards, tiny fake stages.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parsePipelineConfig } from '../../src/pipeline/load-config.js';
import { createReporter } from '../../src/pipeline/progress.js';
import { RunDir } from '../../src/pipeline/run-dir.js';
import { findStale, resolveStages, runPipeline } from '../../src/pipeline/runner.js';
import type { PipelineConfig } from '../../src/schema/config.js';
import type { GroundingSample } from '../../src/schema/records.js';
import type { Stage } from '../../src/stages/stage.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'univg-hooks-'));
  dirs.push(d);
  return d;
};

const sample = (i: number): GroundingSample => ({
  id: `s${i}`, source: 'test', task: 'diff', question: `q${i}`, context: [], targetImage: 0,
  targetBox: [1, 2, 10 + i, 20], difficulty: null, split: null, meta: {},
  images: [{ sha256: 'a'.repeat(64), path: 'a.png', width: 100, height: 100 }],
});

/** ingest -> fit (only with a train.sft section; writes a work dir and a done file) -> report (reads what runs). */
function stages(calls: string[], external?: string, derived = false): Stage[] {
  const ingest: Stage = {
    name: 'ingest', description: 'source', inputs: [], mode: 'whole',
    outputs: [{ name: 'samples', dir: 'samples', kind: 'GroundingSample' }],
    disabled: (c) => (c.source ? null : 'no source'),
    settings: () => 1,
    async runTask(ctx) {
      calls.push('ingest');
      for (let i = 0; i < 4; i++) await ctx.output<GroundingSample>('samples').write(sample(i));
    },
  };
  const fit: Stage = {
    name: 'fit', description: 'train', inputs: ['ingest'], inputsFor: (c) => (c.source ? ['ingest'] : []), outputs: [], mode: 'whole',
    doneFile: 'fit/done.json', workDir: 'fit',
    disabled: (c) => (c.train?.sft ? null : 'no train.sft section'),
    externalInputs: () => (external ? [{ name: 'corpus', file: external }] : []),
    settings: (c) => c.train?.sft?.steps ?? null,
    async runTask(ctx) {
      calls.push('fit');
      mkdirSync(join(ctx.runDir, 'fit', 'checkpoints'), { recursive: true });
      writeFileSync(join(ctx.runDir, 'fit', 'checkpoints', 'x'), 'w');
      writeFileSync(join(ctx.runDir, 'fit', 'done.json'), '{}');
    },
  };
  const report: Stage = {
    name: 'report', description: 'report', inputs: ['ingest'], outputs: [], mode: 'whole', doneFile: 'report.txt', derived,
    inputsFor: (c) => [...(c.source ? ['ingest'] : []), ...(c.train?.sft ? ['fit'] : [])],
    settings: () => 1,
    async runTask(ctx) {
      calls.push('report');
      writeFileSync(join(ctx.runDir, 'report.txt'), 'r');
    },
  };
  return [ingest, fit, report];
}

function config(dir: string, extra: string, source = true): { config: PipelineConfig; text: string } {
  const text = `name: t\n${source ? 'source: { format: synthetic, samples: 4 }\n' : ''}shards: { tasks: 2 }\nrunDir: ${dir}\n${extra}`;
  return { config: parsePipelineConfig(text, 'p.yaml').config, text };
}

const run = (dir: string, calls: string[], extra: string, more: Partial<Parameters<typeof runPipeline>[0]> = {}, source = true, external?: string, derived = false) => {
  const c = config(dir, extra, source);
  return runPipeline({ config: c.config, configText: c.text, configFile: 'p.yaml', stages: stages(calls, external, derived), reporter: createReporter('quiet'), ...more });
};

const SFT = 'train: { sft: { steps: 3 } }';

describe('runner hooks for config-shaped stages', () => {
  it('leaves out a stage its config turns off, and a stage whose input is left out', () => {
    const names = (extra: string, source = true) => resolveStages(stages([]), config('/x', extra, source).config).map((s) => ({ name: s.name, inputs: s.inputs }));
    expect(names('')).toEqual([
      { name: 'ingest', inputs: [] },
      { name: 'report', inputs: ['ingest'] },
    ]);
    expect(names(SFT)).toEqual([
      { name: 'ingest', inputs: [] },
      { name: 'fit', inputs: ['ingest'] },
      { name: 'report', inputs: ['ingest', 'fit'] },
    ]);
    // No source: a training-only pipeline (train.from); ingest is off and fit reads nothing of this run.
    expect(names(`train: { from: /corpus, sft: { steps: 3 } }`, false)).toEqual([
      { name: 'fit', inputs: [] },
      { name: 'report', inputs: ['fit'] },
    ]);
    expect(() => resolveStages(stages([]), config('/x', 'stages: [ingest, fit, report]').config)).toThrow(/stage fit is listed but cannot run: no train.sft section/);
  });

  it('a finished stage whose input set changed is stale; --force redoes it; --force of a stage removes its work dir', async () => {
    const dir = tmp();
    const calls: string[] = [];
    await run(dir, calls, '');
    expect(calls).toEqual(['ingest', 'report']);
    // Adding a training section: the report would now read fit too, so the old report is stale.
    const err = await run(dir, [], SFT).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/report \(its input stages changed from \[ingest\] to \[fit, ingest\]\)/);
    const again: string[] = [];
    await run(dir, again, SFT, { force: ['report'] });
    expect(again).toEqual(['fit', 'report']);
    // A training setting changed: fit and the report after it are stale, ingest is not.
    expect(findStale(new RunDir(dir), resolveStages(stages([]), config(dir, 'train: { sft: { steps: 4 } }').config), config(dir, 'train: { sft: { steps: 4 } }').config)).toEqual([
      { stage: 'fit', why: 'its settings in the pipeline changed' },
    ]);
    const forced: string[] = [];
    writeFileSync(join(dir, 'fit', 'stale-leftover'), 'x');
    await run(dir, forced, 'train: { sft: { steps: 4 } }', { force: ['fit'] });
    expect(forced).toEqual(['fit', 'report']);
    expect(existsSync(join(dir, 'fit', 'stale-leftover'))).toBe(false);
    expect(existsSync(join(dir, 'fit', 'checkpoints', 'x'))).toBe(true);
  });

  it('a derived stage (the report) is rebuilt instead of stale when its inputs change, and only then', async () => {
    const dir = tmp();
    const d = (calls: string[], extra: string, more = {}) => run(dir, calls, extra, more, true, undefined, true);
    await d([], '');
    const added: string[] = [];
    await d(added, SFT);
    expect(added).toEqual(['fit', 'report']);
    const nothing: string[] = [];
    expect(await d(nothing, SFT)).toMatchObject({ ran: [], skipped: ['ingest', 'fit', 'report'] });
    // An input redone: the report follows without --force report.
    const forced: string[] = [];
    await d(forced, SFT, { force: ['ingest'] });
    expect(forced).toEqual(['ingest', 'fit', 'report']);
    expect(findStale(new RunDir(dir), resolveStages(stages([], undefined, true), config(dir, '').config), config(dir, '').config)).toEqual([]);
  });

  it('a file read from outside the run joins the staleness check: a change there marks the stage stale', async () => {
    const dir = tmp();
    const ext = join(tmp(), 'manifest.json');
    writeFileSync(ext, '{"rows": 1}');
    const extra = 'train: { from: /corpus, sft: { steps: 3 } }';
    const calls: string[] = [];
    await run(dir, calls, extra, {}, false, ext);
    expect(calls).toEqual(['fit', 'report']);
    expect(await run(dir, [], extra, {}, false, ext)).toMatchObject({ ran: [], skipped: ['fit', 'report'] });
    writeFileSync(ext, '{"rows": 2}');
    await expect(run(dir, [], extra, {}, false, ext)).rejects.toThrow(/fit \(corpus, read from outside this run, changed since\)/);
  });
});
