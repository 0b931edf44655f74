/**
 * `univg synth`: render the synthetic multi-image grounding suite in MIG-Bench format.
 *
 *   univg synth --out data/synth --samples 600 --seed 7 [--tasks diff,reasoning] [--difficulty mixed] [--test-fraction 0.2]
 */
import type { Command } from 'commander';
import { DIFFICULTY_CHOICES, SYNTH_TASKS, generateSuite, type DifficultyChoice, type SuiteResult, type SynthTask } from '../../sources/synthetic/index.js';
import { action, intOption, usage } from '../action.js';

interface SynthCliOptions {
  out?: string;
  samples?: string;
  seed?: string;
  tasks?: string;
  difficulty?: string;
  testFraction?: string;
  concurrency?: string;
  json?: boolean;
}


/** Options are checked here, not by commander, so every mistake is one line and exit code 2. */
function parse(o: SynthCliOptions) {
  if (!o.out) throw usage('missing required option --out <dir>');
  const samples = intOption('samples', o.samples);
  if (samples < 1) throw usage(`--samples must be at least 1, got ${samples}`);
  const seed = intOption('seed', o.seed);
  if (seed < 0 || seed > 0xffffffff) throw usage(`--seed must be in 0..4294967295, got ${seed}`);
  const tasks = o.tasks === undefined ? [...SYNTH_TASKS] : o.tasks.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (tasks.length === 0) throw usage('--tasks lists no task');
  for (const t of tasks) if (!(SYNTH_TASKS as readonly string[]).includes(t)) throw usage(`--tasks: unknown task ${JSON.stringify(t)} (one of ${SYNTH_TASKS.join(', ')})`);
  const difficulty = o.difficulty ?? 'mixed';
  if (!(DIFFICULTY_CHOICES as readonly string[]).includes(difficulty)) throw usage(`--difficulty must be one of ${DIFFICULTY_CHOICES.join(', ')}, got ${JSON.stringify(difficulty)}`);
  const testFraction = o.testFraction === undefined ? 0.2 : Number(o.testFraction);
  if (o.testFraction !== undefined && (o.testFraction.trim() === '' || !(testFraction >= 0 && testFraction <= 1))) throw usage(`--test-fraction must be a number in [0, 1], got ${JSON.stringify(o.testFraction)}`);
  const concurrency = intOption('concurrency', o.concurrency, 4);
  if (concurrency < 1) throw usage(`--concurrency must be at least 1, got ${concurrency}`);
  return { out: o.out, samples, seed, tasks: tasks as SynthTask[], difficulty: difficulty as DifficultyChoice, testFraction, concurrency };
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
  program
    .command('synth')
    .description('Render the synthetic multi-image grounding suite (MIG-Bench-format JSON + PNG images)')
    .addHelpText('after', `
Examples:
  univg synth --out data/synth --samples 600 --seed 7
  univg synth --out data/hard --samples 120 --seed 7 --difficulty hard --tasks diff,object_tracking`)
    .option('--out <dir>', 'output directory (images/, all.json, train.json, test.json, scenes.jsonl, manifest.json)')
    .option('--samples <n>', 'number of samples')
    .option('--seed <n>', 'seed, 0..4294967295: same seed and options give byte-identical files')
    .option('--tasks <list>', `comma-separated tasks, round-robin (default all: ${SYNTH_TASKS.join(',')})`)
    .option('--difficulty <level>', 'easy | medium | hard | mixed (default mixed: a level drawn per sample)')
    .option('--test-fraction <f>', 'fraction of samples in the test split (default 0.2)')
    .option('--concurrency <n>', 'samples rendered at once (default 4)')
    .option('--json', 'print the counts as JSON on stdout')
    .action(
      action(async (o: SynthCliOptions) => {
        const opts = parse(o);
        const t0 = performance.now();
        const r = await generateSuite(opts);
        const seconds = (performance.now() - t0) / 1000;
        process.stdout.write(o.json ? `${JSON.stringify({ out: r.out, files: r.files, counts: r.counts, seconds })}\n` : summary(r, seconds));
      }),
    );
}
