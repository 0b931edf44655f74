/**
 * `univg ingest`: MGrounding-630k or MIG-Bench JSON (or a VLM-R1 / LLaMA-Factory file univg export wrote)
 * -> GroundingSample shards + quarantine.jsonl.
 *
 *   univg ingest --format mgrounding --input train.json --image-root data/ --out runs/x/samples [--shards 8]
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { FileSourceConfig } from '../../schema/config.js';
import type { IngestRun } from '../../sources/write.js';
import { action } from '../action.js';
import { schemaFlags } from '../flags.js';

/** `univg ingest`'s flags: a pipeline's file source section (the same keys and checks) plus the output. */
export const IngestFlags = FileSourceConfig.extend({
  out: z.string().min(1).describe('output directory: part-*.parquet, _manifest.json, quarantine.jsonl'),
  shards: z.number().int().min(1).max(99_999).default(1).describe('number of part files'),
  concurrency: z.number().int().positive().default(8).describe('image files read at once'),
  copyImages: z.boolean().default(false).describe('copy every referenced image into <out>/images/ (content-addressed)'),
});
export const INGEST_FLAGS = schemaFlags(IngestFlags);
type IngestCliOptions = z.output<typeof IngestFlags>;

export function register(program: Command): void {
  const cmd = program
    .command('ingest')
    .description('read a source dataset (MGrounding-630k or MIG-Bench JSON, or a VLM-R1 / LLaMA-Factory file of univg export) into GroundingSample shards; bad records go to quarantine.jsonl')
    .addHelpText('after', `
Examples:
  univg ingest --format mgrounding --input datasets/fixtures/mgrounding/train.json --image-root datasets/fixtures/mgrounding --out /tmp/mg --shards 2
  univg ingest --format migbench --input MIG_data.json --image-root MIG-Bench --out runs/mig/samples --copy-images --json
  univg ingest --format vlm-r1 --input runs/demo/export/vlm-r1/data/train-00000-of-00004.jsonl --image-root runs/demo/export/vlm-r1 --out /tmp/back`);
  INGEST_FLAGS.addTo(cmd)
    .option('--json', 'print a machine-readable summary on stdout')
    .action(
      action(async (values: Record<string, unknown>) => {
        const o = INGEST_FLAGS.parse(values);
        const { ingestToStore } = await import('../../sources/write.js');
        const run = await ingestToStore(o);
        process.stdout.write(values.json ? `${JSON.stringify(jsonSummary(o, run))}\n` : textSummary(o, run));
      }),
    );
}

function jsonSummary(o: IngestCliOptions, run: IngestRun) {
  return {
    format: o.format,
    input: o.input,
    out: o.out,
    records: run.records,
    samples: run.summary.samples,
    quarantined: run.summary.quarantined,
    byTask: run.summary.byTask,
    byReason: run.summary.byReason,
    shards: run.manifest.files.map((f) => ({ file: f.file, rows: f.rows })),
    inputSha256: run.reader.sha256 ?? null,
    imagesCopied: run.imagesCopied,
    quarantineFile: run.quarantineFile,
  };
}

function table(m: Record<string, number>): string {
  const keys = Object.keys(m);
  if (keys.length === 0) return '  (none)\n';
  const w = Math.max(...keys.map((k) => k.length));
  return keys.map((k) => `  ${k.padEnd(w)}  ${String(m[k]).padStart(7)}\n`).join('');
}

function textSummary(o: IngestCliOptions, run: IngestRun): string {
  const s = run.summary;
  return [
    `ingest ${o.format}: ${run.records} records read, ${s.samples} samples, ${s.quarantined} quarantined\n`,
    'samples by task:\n',
    table(s.byTask),
    'quarantined by reason:\n',
    table(s.byReason),
    `wrote ${run.manifest.files.length} shard(s) and _manifest.json to ${o.out}; quarantine: ${run.quarantineFile}\n`,
    o.copyImages ? `copied ${run.imagesCopied} image(s) into ${o.out}/images\n` : '',
  ].join('');
}
