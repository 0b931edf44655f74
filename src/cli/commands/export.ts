/**
 * `univg export`: a corpus run's SFT or RL pool as verl / EasyR1 / TRL / LLaMA-Factory / VLM-R1 data,
 * with reward and difficulty plugins and launch recipes (src/export/).
 *
 *   univg export --run runs/demo --format verl,trl --model-family qwen2vl
 *   univg export --data runs/demo/train/scored --data-root runs/demo --out out/ --format verl --model-family qwen25vl --keep hard,medium --order hardest-first
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { z } from 'zod';
import { ExportConfig } from '../../schema/config.js';
import { readManifest } from '../../store/manifest.js';
import { action, usage } from '../action.js';
import { schemaFlags } from '../flags.js';

/** `univg export`'s flags: the pipeline's export section (same keys, checks and defaults) plus where from and to. */
export const ExportFlags = ExportConfig.omit({ formats: true }).extend({
  format: ExportConfig.shape.formats,
  run: z.string().min(1).optional().describe('corpus run directory: reads corpus/sft, and train/scored (else corpus/rl) for RL'),
  data: z.string().min(1).optional().describe("an SftRow or RlRow shard directory to export instead of the run's pools"),
  dataRoot: z.string().min(1).optional().describe('directory relative image paths of the rows resolve under; unset: --run, else the working directory'),
  out: z.string().min(1).optional().describe('output directory, one subdirectory per format; unset: <run>/export'),
});
export const EXPORT_FLAGS = schemaFlags(ExportFlags, { placeholders: { run: '<dir>', modelFamily: '<kind>', pool: '<kind>' } });

export function register(program: Command): void {
  const cmd = program
    .command('export')
    .description('write a corpus pool for verl, EasyR1, TRL, LLaMA-Factory or VLM-R1: data, reward and difficulty plugins, launch recipes, dataset card')
    .addHelpText(
      'after',
      `
Boxes (the ground truth and every box in a chain of thought) are rewritten into the model family's
convention and stored beside the image size and convention; --model-family is required. Rows scored by
univg score carry difficulty, weight and bucket; --keep / --min-miou / --max-miou filter on them and
--order hardest-first writes a curriculum. A row a format cannot use fails the export and is named;
nothing half-written is left. A killed export resumes; an unchanged one is not written again.

Examples:
  univg export --run runs/demo --format verl,easyr1,trl,llamafactory,vlm-r1 --model-family qwen2vl
  univg export --run runs/demo --format llamafactory --model-family qwen25vl --max-pixels 401408
  univg export --data runs/demo/train/scored --data-root runs/demo --out out --format verl --model-family qwen2vl --keep hard,medium --order hardest-first`,
    );
  EXPORT_FLAGS.addTo(cmd)
    .option('--json', 'print the result as JSON')
    .action(
      action(async (values: Record<string, unknown>) => {
        const f = EXPORT_FLAGS.parse(values);
        if (!f.run && !f.data) throw usage('say what to export: --run <dir> (a corpus run) or --data <dir> (a shard directory)');
        if (!f.out && !f.run) throw usage('missing required option --out <dir> (needed with --data)');
        const { exportCorpus, runPools } = await import('../../export/index.js');
        let pools: Record<'sft' | 'rl', string | null>;
        let pool = f.pool;
        if (f.data) {
          const m = await readManifest(f.data);
          pool ??= m?.kind === 'SftRow' ? 'sft' : 'rl';
          pools = { sft: f.data, rl: f.data };
        } else pools = await runPools(f.run!);
        const { format, run, data, dataRoot, out, ...rest } = f;
        const config: ExportConfig = { ...rest, formats: format, ...(pool !== undefined ? { pool } : {}) };
        const ac = new AbortController();
        const onSignal = () => ac.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          const r = await exportCorpus({
            config,
            pools,
            dataRoot: f.dataRoot ?? f.run ?? process.cwd(),
            out: f.out ?? join(f.run!, 'export'),
            signal: ac.signal,
            log: (l) => process.stderr.write(`univg ${l}\n`),
          });
          if (values.json) process.stdout.write(`${JSON.stringify(r)}\n`);
          else {
            const lines = r.formats.map((x) => `  ${x.format.padEnd(12)} ${x.pool} pool  ${String(x.rows).padStart(7)} rows  ${x.files} file(s)  ${x.dir}${x.upToDate ? '  (up to date)' : ''}`);
            process.stdout.write(`univg export: ${r.formats.length} format(s) in ${r.seconds.toFixed(1)} s\n${lines.join('\n')}\n`);
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );
}
