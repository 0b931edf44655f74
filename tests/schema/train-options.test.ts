/**
 * One definition of every training option (issue #12): the zod schemas in src/schema/config.ts. The same
 * option left unset on the command line, in a pipeline's train section and in a library call must
 * resolve to the same value, and the help must print that value. Before this, `checkpointEvery` was 50
 * (trainer) and 100 (YAML), the RL learning rate 1e-6 and 1e-5, `--batch` 4 and 8.
 */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { RL_FLAGS, SFT_FLAGS } from '../../src/cli/commands/train.js';
import { SCORE_FLAGS, scoreOptions } from '../../src/cli/commands/score.js';
import type { SchemaFlags } from '../../src/cli/flags.js';
import { buildProgram } from '../../src/cli/program.js';
import { parsePipelineConfig } from '../../src/pipeline/load-config.js';
import { TrainModelShape } from '../../src/schema/config.js';
import { rlOptions, scoreRunOptions, sftOptions } from '../../src/stages/train-plan.js';
import { DEFAULT_SHAPE } from '../../src/train/model/index.js';
import { resolveRlOptions } from '../../src/train/rl/train.js';
import { resolveOptions as resolveScoreOptions } from '../../src/train/score/options.js';
import { resolveSftOptions } from '../../src/train/sft.js';

/** What commander hands the action of `univg <path>` for these arguments (the action itself is not run). */
async function cliValues(path: string[], args: string[]): Promise<Record<string, unknown>> {
  const program = buildProgram();
  let cmd: Command = program;
  for (const name of path) cmd = cmd.commands.find((c) => c.name() === name)!;
  let values: Record<string, unknown> = {};
  cmd.action((v: Record<string, unknown>) => void (values = v));
  await program.parseAsync(['node', 'univg', ...path, ...args]);
  return values;
}

/** An empty train section of each kind (sft is there because rl and score start from its checkpoint). */
const { config } = parsePipelineConfig('name: t\ntrain:\n  from: runs/corpus\n  sft: {}\n  score: {}\n  rl: {}\n', 't.yaml');
const RUN = '/tmp/univg-defaults-run';

/** The option values a run would use, without the paths (which differ by construction). */
const hyper = <T extends object>(o: T, drop: readonly string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => !drop.includes(k)));

/** Every default printed in the help equals the value the run resolves. */
function helpMatches(flags: SchemaFlags<never>, resolved: Record<string, unknown>): void {
  let checked = 0;
  for (const s of flags.specs) {
    if (s.defaultText === undefined) continue;
    let v: unknown = resolved;
    for (const k of s.path) v = (v as Record<string, unknown>)[k];
    const shown = s.kind === 'boolean' ? (v === true ? 'on' : 'off') : typeof v === 'number' ? JSON.stringify(v) : String(v);
    expect(shown, s.flag).toBe(s.defaultText);
    checked++;
  }
  expect(checked).toBeGreaterThan(5);
}

describe('training options have one definition', () => {
  it('train sft: the CLI, the pipeline YAML and the library resolve the same defaults, and the help prints them', async () => {
    const cli = resolveSftOptions(SFT_FLAGS.parse(await cliValues(['train', 'sft'], ['--data', 'd', '--out', 'o'])));
    const yaml = resolveSftOptions({ ...sftOptions(config, RUN), out: 'o' });
    const lib = resolveSftOptions({ data: ['d'], out: 'o' });
    const drop = ['data', 'dataRoot'];
    expect(hyper(cli, drop)).toEqual(hyper(lib, drop));
    expect(hyper(yaml, drop)).toEqual(hyper(lib, drop));
    // The values chosen where they used to disagree (README "Training options" says why).
    expect(lib).toMatchObject({ steps: 2000, batch: 8, checkpointEvery: 100, evalEvery: 100, lr: 1e-3, minLr: 1e-4, warmup: 100, seed: 0 });
    helpMatches(SFT_FLAGS as unknown as SchemaFlags<never>, lib);
  });

  it('train rl: the same', async () => {
    const cli = resolveRlOptions(RL_FLAGS.parse(await cliValues(['train', 'rl'], ['--data', 'd', '--init', 'i', '--out', 'o'])));
    const yaml = resolveRlOptions({ ...rlOptions(config, RUN, { data: 'd', init: 'i' }) });
    const lib = resolveRlOptions({ data: ['d'], init: 'i', out: 'o' });
    const drop = ['data', 'dataRoot', 'init'];
    expect(hyper(cli, drop)).toEqual(hyper(lib, drop));
    expect(hyper(yaml, drop)).toEqual(hyper(lib, drop));
    expect(lib).toMatchObject({ steps: 200, prompts: 16, G: 8, lr: 1e-5, minLr: 1e-5, beta: 0.04, epsilon: 0.2, checkpointEvery: 20, std: 'sample', iterations: 1, seed: 0 });
    helpMatches(RL_FLAGS as unknown as SchemaFlags<never>, lib);
  });

  it('score: the same', async () => {
    const cli = resolveScoreOptions(scoreOptions(await cliValues(['score'], ['--data', 'd', '--out', 'o', '--checkpoint', 'c'])));
    const yaml = resolveScoreOptions({ ...scoreRunOptions(config, RUN), model: { checkpoint: 'c' } });
    const lib = resolveScoreOptions({ data: ['d'], out: 'o', model: { checkpoint: 'c' } });
    const drop = ['data', 'dataRoot', 'out'];
    expect(hyper(cli, drop)).toEqual(hyper(lib, drop));
    expect(hyper(yaml, drop)).toEqual(hyper(lib, drop));
    expect(lib).toMatchObject({ G: 8, temperature: 1, seed: 0, selection: { order: 'input', bands: 10 } });
    const flat = { ...lib, ...lib.selection, phi: lib.phi.kind, phiPower: 1 };
    helpMatches(SCORE_FLAGS as unknown as SchemaFlags<never>, { ...flat, apiKeyEnv: 'OPENAI_API_KEY', concurrency: 8, cacheDir: 'cache/teacher', minPixels: 3136, maxPixels: 401408 });
  });

  it("the model's shape: the trainer's fallback equals the schema's default", () => {
    expect(DEFAULT_SHAPE).toEqual(TrainModelShape.parse({}));
  });

  it('an option the schema rejects is rejected on every path with the same rule', async () => {
    expect(() => resolveSftOptions({ data: ['d'], out: 'o', batch: 0 })).toThrow(/batch/);
    expect(() => parsePipelineConfig('name: t\ntrain:\n  from: r\n  sft: { batch: 0 }\n', 't.yaml')).toThrow(/train\.sft\.batch/);
    expect(() => SFT_FLAGS.parse({ data: ['d'], out: 'o', batch: '0' })).toThrow(/--batch must be a positive integer, got "0"/);
    expect(() => resolveRlOptions({ data: ['d'], init: 'i', out: 'o', G: 1 })).toThrow(/G/);
    expect(() => RL_FLAGS.parse({ data: ['d'], init: 'i', out: 'o', g: '1' })).toThrow(/--g must be an integer >= 2, got "1"/);
  });
});
