/**
 * `univg synth`: render the synthetic multi-image grounding suite in MIG-Bench format.
 *
 *   univg synth --out data/synth --samples 600 --seed 7 [--tasks diff,reasoning] [--difficulty mixed] [--test-fraction 0.2]
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { SyntheticSourceConfig } from '../../schema/config.js';
import { SYNTH_TASKS, generateSuite, type SuiteResult, type SynthTask } from '../../sources/synthetic/index.js';
import { action, usage } from '../action.js';
import { schemaFlags } from '../flags.js';

/** `univg synth`'s flags: a pipeline's synthetic source section (same keys, defaults, checks) plus the output. */
export const SynthFlags = SyntheticSourceConfig.omit({ format: true }).extend({
  out: z.string().min(1).describe('output directory: images/, all.json, train.json, test.json, scenes.jsonl, manifest.json'),
  tasks: z.array(z.enum(SYNTH_TASKS)).min(1).optional().describe('tasks to generate, round-robin (default: all)'),
  concurrency: z.number().int().positive().default(4).describe('samples rendered at once'),
});
export const SYNTH_FLAGS = schemaFlags(SynthFlags);

/** Options are checked by the schema, so every mistake is one line and exit code 2. */
function parse(values: Record<string, unknown>) {
  const o = SYNTH_FLAGS.parse(values);
  if (o.tasks !== undefined && o.tasks.length === 0) throw usage('--tasks lists no task');
  return { ...o, tasks: (o.tasks ?? [...SYNTH_TASKS]) as SynthTask[] };
}

function summary(r: SuiteResult, seconds: number): string {
  const fmt = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k} ${v}`).join(', ');
  const c = r.counts;
  return [
    `wrote ${c.samples} samples (${c.images} images) to ${r.out} in ${seconds.toFixed(1)} s`,
    `  splits:     ${fmt(c.bySplit)}  (train.json, test.json; all.json has both)`,
    `  tasks:      ${fmt(c.byTask)}`,
    `  difficulty: ${fmt(c.byDifficulty)}`,
    '',
  ].join('\n');
}

export function register(program: Command): void {
  const cmd = program
    .command('synth')
    .description('render the synthetic multi-image grounding suite (MIG-Bench-format JSON + PNG images)')
    .addHelpText('after', `
Examples:
  univg synth --out data/synth --samples 600 --seed 7
  univg synth --out data/hard --samples 120 --seed 7 --difficulty hard --tasks diff,object_tracking`);
  SYNTH_FLAGS.addTo(cmd)
    .option('--json', 'print the counts as JSON on stdout')
    .action(
      action(async (o: Record<string, unknown>) => {
        const opts = parse(o);
        const t0 = performance.now();
        const r = await generateSuite(opts);
        const seconds = (performance.now() - t0) / 1000;
        process.stdout.write(o.json ? `${JSON.stringify({ out: r.out, files: r.files, counts: r.counts, seconds })}\n` : summary(r, seconds));
      }),
    );
}
