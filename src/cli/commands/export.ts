/**
 * `univg export`: a corpus run's SFT or RL pool as verl / EasyR1 / TRL / LLaMA-Factory / VLM-R1 data,
 * with reward and difficulty plugins and launch recipes (src/export/).
 *
 *   univg export --run runs/demo --format verl,trl --model-family qwen2vl
 *   univg export --data runs/demo/train/scored --data-root runs/demo --out out/ --format verl --model-family qwen25vl --keep hard,medium --order hardest-first
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { ExportConfig, EXPORT_FORMATS, MODEL_FAMILIES } from '../../schema/config.js';
import { readManifest } from '../../store/manifest.js';
import { BUCKET_ALIASES, POOL_ORDERS, parseBuckets } from '../../train/score/pool.js';
import { MIOU_BUCKETS, PHI_KINDS } from '../../train/rl/difficulty.js';
import { action, numberOption, optionalInt, usage } from '../action.js';

interface ExportFlags {
  format?: string[];
  run?: string;
  data?: string;
  dataRoot?: string;
  pool?: string;
  out?: string;
  modelFamily?: string;
  minPixels?: string;
  maxPixels?: string;
  keep?: string;
  minMiou?: string;
  maxMiou?: string;
  order?: string;
  bands?: string;
  phi?: string;
  phiPower?: string;
  json?: boolean;
}

/** An option's help text is its description in the ExportConfig schema (one definition). */
const help = (key: keyof typeof ExportConfig.shape) => ExportConfig.shape[key].description ?? '';

export function register(program: Command): void {
  program
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
    )
    .option('--format <names...>', `${help('formats')} (comma- or space-separated)`)
    .option('--run <dir>', 'corpus run directory: reads corpus/sft, and train/scored (else corpus/rl) for RL')
    .option('--data <dir>', 'an SftRow or RlRow shard directory to export instead of the run\'s pools')
    .option('--data-root <dir>', 'directory relative image paths of the rows resolve under (default --run, else the working directory)')
    .option('--pool <pool>', help('pool'))
    .option('--out <dir>', 'output directory, one subdirectory per format (default <run>/export)')
    .option('--model-family <family>', `${MODEL_FAMILIES.join(' | ')}: ${help('modelFamily')}`)
    .option('--min-pixels <n>', help('minPixels'))
    .option('--max-pixels <n>', help('maxPixels'))
    .option('--keep <buckets>', `${help('keep')}, comma-separated: ${[...Object.keys(BUCKET_ALIASES), ...MIOU_BUCKETS].join(' | ')}`)
    .option('--min-miou <x>', help('minMiou'))
    .option('--max-miou <x>', help('maxMiou'))
    .option('--order <order>', `${POOL_ORDERS.join(' | ')}: ${help('order')}`)
    .option('--bands <n>', help('bands'))
    .option('--phi <kind>', `${PHI_KINDS.join(' | ')}: ${help('phi')}`)
    .option('--phi-power <w>', help('phiPower'))
    .option('--json', 'print the result as JSON')
    .action(
      action(async (f: ExportFlags) => {
        const formats = (f.format ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
        if (formats.length === 0) throw usage(`missing required option --format <names...> (${EXPORT_FORMATS.join(', ')})`);
        if (!f.run && !f.data) throw usage('say what to export: --run <corpus run dir> or --data <shard dir>');
        if (!f.out && !f.run) throw usage('missing required option --out <dir> (needed with --data)');
        let keep;
        try {
          keep = f.keep === undefined ? undefined : parseBuckets(f.keep.split(','));
        } catch (err) {
          throw usage(`--keep: ${(err as Error).message}`);
        }
        const { exportCorpus, runPools } = await import('../../export/index.js');
        let pools: Record<'sft' | 'rl', string | null>;
        let pool = f.pool;
        if (f.data) {
          const m = await readManifest(f.data);
          pool ??= m?.kind === 'SftRow' ? 'sft' : 'rl';
          pools = { sft: f.data, rl: f.data };
        } else pools = await runPools(f.run!);
        const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
        const config = defined({
          formats,
          modelFamily: f.modelFamily,
          pool,
          minPixels: optionalInt('min-pixels', f.minPixels),
          maxPixels: optionalInt('max-pixels', f.maxPixels),
          keep,
          minMiou: numberOption('min-miou', f.minMiou),
          maxMiou: numberOption('max-miou', f.maxMiou),
          order: f.order,
          bands: optionalInt('bands', f.bands),
          phi: f.phi,
          phiPower: numberOption('phi-power', f.phiPower),
        });
        const ac = new AbortController();
        const onSignal = () => ac.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          const r = await exportCorpus({
            config: config as never,
            pools,
            dataRoot: f.dataRoot ?? f.run ?? process.cwd(),
            out: f.out ?? join(f.run!, 'export'),
            signal: ac.signal,
            log: (l) => process.stderr.write(`univg ${l}\n`),
          });
          if (f.json) process.stdout.write(`${JSON.stringify(r)}\n`);
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
