import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, InterruptedError } from '../../src/errors.js';
import { parsePipelineConfig } from '../../src/pipeline/load-config.js';
import { createReporter } from '../../src/pipeline/progress.js';
import { findStale, runPipeline } from '../../src/pipeline/runner.js';
import type { PipelineConfig } from '../../src/schema/config.js';
import type { GroundingSample, Verdict } from '../../src/schema/records.js';
import type { Stage } from '../../src/stages/stage.js';
import { readRows } from '../../src/store/reader.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'univg-runner-'));
  dirs.push(d);
  return d;
};

const sample = (i: number): GroundingSample => ({
  id: `s${i}`, source: 'test', task: i % 2 ? 'diff' : 'common_object', question: `q${i}`, context: [], targetImage: 0,
  targetBox: [1, 2, 10 + i, 20], difficulty: null, split: null, meta: {},
  images: [{ sha256: 'a'.repeat(64), path: 'a.png', width: 100, height: 100 }],
});

/** A tiny pipeline of real stages over real shards: a source, a partitioned map, a whole-run sink. */
function stages(calls: string[], opts: { failAt?: { task: number; after: number } } = {}): Stage[] {
  const source: Stage = {
    name: 'ingest', description: 'source', inputs: [], mode: 'whole',
    outputs: [{ name: 'samples', dir: 'samples', kind: 'GroundingSample' }],
    settings: (c) => ({ n: (c.source as { samples: number }).samples }),
    async runTask(ctx) {
      calls.push('ingest');
      const n = (ctx.config.source as { samples: number }).samples;
      for (let i = 0; i < n; i++) await ctx.output<GroundingSample>('samples').write(sample(i));
      await ctx.quarantine({ recordId: 'bad', file: null, row: 3, field: 'question', reason: 'question_empty', detail: 'empty' });
    },
  };
  const map: Stage = {
    name: 'verify', description: 'map', inputs: ['ingest'], mode: 'partitioned',
    outputs: [{ name: 'verdicts', dir: 'verdicts', kind: 'Verdict' }],
    settings: (c) => c.verify,
    async runTask(ctx) {
      calls.push(`verify#${ctx.task.index}`);
      let k = 0;
      for await (const s of ctx.read<GroundingSample>('ingest')) {
        if (opts.failAt && opts.failAt.task === ctx.task.index && k === opts.failAt.after) throw new Error('boom');
        const v: Verdict = {
          sampleId: s.id, candidateIndex: 0, task: s.task, difficulty: null, pass: s.targetBox[2] > ctx.config.verify.iouThreshold * 20,
          reasons: [], formatReward: 1, answerBox: s.targetBox, iou: 0.9, thinkBoxAgrees: null, namesTargetImage: null, completionChars: 10, verifierVersion: 't',
        };
        await ctx.output<Verdict>('verdicts').write(v);
        k++;
      }
    },
  };
  return [source, map];
}

function config(dir: string, extra = ''): { config: PipelineConfig; text: string } {
  const text = `name: t\nsource: { format: synthetic, samples: 40 }\nshards: { tasks: 4 }\nrunDir: ${dir}\n${extra}`;
  return { config: parsePipelineConfig(text, 'p.yaml').config, text };
}

const quiet = () => createReporter('quiet');
const run = (dir: string, calls: string[], more: Partial<Parameters<typeof runPipeline>[0]> = {}, extra = '', st = stages(calls)) => {
  const c = config(dir, extra);
  return runPipeline({ config: c.config, configText: c.text, configFile: 'p.yaml', stages: st, reporter: quiet(), ...more });
};

const files = (dir: string) => readdirSync(dir).filter((f) => !f.startsWith('.')).sort().map((f) => [f, readFileSync(join(dir, f)).toString('base64')]);

describe('runPipeline', () => {
  it('runs every task, writes manifests, and a rerun skips all work', async () => {
    const dir = tmp();
    const calls: string[] = [];
    await run(dir, calls);
    expect(calls).toEqual(['ingest', 'verify#0', 'verify#1', 'verify#2', 'verify#3']);
    expect(existsSync(join(dir, 'verdicts/_manifest.json'))).toBe(true);
    const rows = [];
    for await (const r of readRows('Verdict', join(dir, 'verdicts'))) rows.push(r.sampleId);
    expect(rows.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `s${i}`).sort());
    expect(readFileSync(join(dir, 'quarantine/ingest.jsonl'), 'utf8')).toContain('question_empty');
    const run2: string[] = [];
    const summary = await run(dir, run2);
    expect(run2).toEqual([]);
    expect(summary.skipped).toEqual(['ingest', 'verify']);
  });

  it('resumes after a failed task: finished tasks are not redone, no partial file is left, output equals a clean run', async () => {
    const a = tmp();
    const b = tmp();
    const calls: string[] = [];
    await expect(run(a, calls, {}, '', stages(calls, { failAt: { task: 2, after: 3 } }))).rejects.toThrow('boom');
    expect(calls).toEqual(['ingest', 'verify#0', 'verify#1', 'verify#2']);
    expect(readdirSync(join(a, 'verdicts')).sort()).toEqual(['part-00000-of-00004.parquet', 'part-00001-of-00004.parquet']);
    const again: string[] = [];
    await run(a, again);
    expect(again).toEqual(['verify#2', 'verify#3']);
    await run(b, []);
    expect(files(join(a, 'verdicts'))).toEqual(files(join(b, 'verdicts')));
    expect(files(join(a, 'samples'))).toEqual(files(join(b, 'samples')));
  });

  it('N task processes give the same files as one process', async () => {
    const one = tmp();
    const many = tmp();
    await run(one, []);
    await run(many, [], { only: ['ingest'] });
    await Promise.all([3, 1, 0, 2].map((i) => run(many, [], { task: { index: i, count: 4 } })));
    expect(files(join(many, 'verdicts'))).toEqual(files(join(one, 'verdicts')));
  });

  it('detects a changed config as stale, refuses to mix, and --force redoes the stage and its dependants', async () => {
    const dir = tmp();
    await run(dir, []);
    const c = config(dir, 'verify: { iouThreshold: 0.7 }');
    expect(findStale(new (await import('../../src/pipeline/run-dir.js')).RunDir(dir), stages([]), c.config).map((s) => s.stage)).toEqual(['verify']);
    const err = await run(dir, [], {}, 'verify: { iouThreshold: 0.7 }').catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('--force verify');
    const calls: string[] = [];
    await run(dir, calls, { force: ['verify'] }, 'verify: { iouThreshold: 0.7 }');
    expect(calls).toEqual(['verify#0', 'verify#1', 'verify#2', 'verify#3']);
    const forcedSource: string[] = [];
    await run(dir, forcedSource, { force: ['ingest'] }, 'verify: { iouThreshold: 0.7 }');
    expect(forcedSource).toEqual(['ingest', 'verify#0', 'verify#1', 'verify#2', 'verify#3']);
  });

  it('rejects a --task that does not match shards.tasks, and unknown stages, with a config error', async () => {
    const dir = tmp();
    await expect(run(dir, [], { task: { index: 0, count: 3 } })).rejects.toThrow(/shards.tasks is 4/);
    await expect(run(dir, [], { only: ['nope'] })).rejects.toThrow(ConfigError);
    await expect(run(dir, [], { only: ['verify'] })).rejects.toThrow(/needs stage ingest/);
  });

  it('stops on abort with an InterruptedError and leaves nothing that looks complete', async () => {
    const dir = tmp();
    const ac = new AbortController();
    const slow: Stage[] = stages([]);
    const orig = slow[1]!.runTask;
    slow[1]!.runTask = async (ctx) => {
      if (ctx.task.index === 1) ac.abort();
      await orig(ctx);
    };
    await expect(run(dir, [], { signal: ac.signal }, '', slow)).rejects.toBeInstanceOf(InterruptedError);
    expect(existsSync(join(dir, 'verdicts/_manifest.json'))).toBe(false);
    expect(readdirSync(join(dir, 'verdicts')).filter((f) => f.includes('00001'))).toEqual([]);
    await run(dir, []);
    expect(existsSync(join(dir, 'verdicts/_manifest.json'))).toBe(true);
  });
});

describe('pipeline config errors', () => {
  it('names the file, line and key of a wrong value', () => {
    const text = 'name: x\nsource:\n  format: synthetic\n  samples: -3\n';
    try {
      parsePipelineConfig(text, 'pipelines/x.yaml');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const err = e as ConfigError;
      expect(err.context.line).toBe(4);
      expect(err.describe()).toMatch(/pipelines\/x\.yaml:4/);
      expect(err.describe()).toContain('source.samples');
    }
  });
  it('names an unknown key and a YAML syntax error', () => {
    expect(() => parsePipelineConfig('name: x\nsource: { format: synthetic }\nverfy: {}\n', 'a.yaml')).toThrow(/verfy/);
    try {
      parsePipelineConfig('name: x\nsource: { format: synthetic }\nverify: {iouThreshold: 2}\n', 'a.yaml');
    } catch (e) {
      expect((e as ConfigError).context.line).toBe(3);
    }
    expect(() => parsePipelineConfig('name: [x\n', 'b.yaml')).toThrow(/invalid YAML/);
  });
  it('the shipped pipelines are valid', () => {
    for (const f of readdirSync('pipelines').filter((x) => x.endsWith('.yaml'))) {
      expect(() => parsePipelineConfig(readFileSync(join('pipelines', f), 'utf8'), f), f).not.toThrow();
    }
  });
});
