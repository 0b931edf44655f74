/**
 * `univg ingest`: MGrounding-630k or MIG-Bench JSON (or a VLM-R1 / LLaMA-Factory file univg export wrote)
 * -> GroundingSample shards + quarantine.jsonl.
 *
 *   univg ingest --format mgrounding --input train.json --image-root data/ --out runs/x/samples [--shards 8]
 */
import { Option, type Command } from 'commander';
import type { IngestRun } from '../../sources/write.js';
import { SOURCE_FORMATS, type SourceFormat } from '../../sources/ingest.js';
import { action, intOption } from '../action.js';

interface IngestCliOptions {
  format: SourceFormat;
  input: string;
  imageRoot: string;
  out: string;
  shards?: string;
  concurrency?: string;
  copyImages?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('ingest')
    .description('Read a source dataset (MGrounding-630k or MIG-Bench JSON, or a VLM-R1 / LLaMA-Factory file of univg export) into GroundingSample shards; bad records go to quarantine.jsonl')
    .addHelpText('after', `
Examples:
  univg ingest --format mgrounding --input datasets/fixtures/mgrounding/train.json --image-root datasets/fixtures/mgrounding --out /tmp/mg --shards 2
  univg ingest --format migbench --input MIG_data.json --image-root MIG-Bench --out runs/mig/samples --copy-images --json
  univg ingest --format vlm-r1 --input runs/demo/export/vlm-r1/data/train-00000-of-00004.jsonl --image-root runs/demo/export/vlm-r1 --out /tmp/back`)
    .addOption(new Option('--format <name>', 'source format').choices([...SOURCE_FORMATS]).makeOptionMandatory())
    .requiredOption('--input <file>', 'source JSON file (a top-level array; JSON lines for vlm-r1)')
    .requiredOption('--image-root <dir>', 'directory the image paths in the JSON are relative to')
    .requiredOption('--out <dir>', 'output directory: part-*.parquet, _manifest.json, quarantine.jsonl')
    .option('--shards <n>', 'number of part files', '1')
    .option('--concurrency <n>', 'image files read at once', '8')
    .option('--copy-images', 'copy every referenced image into <out>/images/ (content-addressed)')
    .option('--json', 'print a machine-readable summary on stdout')
    .action(
      action(async (o: IngestCliOptions) => {
        const shards = intOption('shards', o.shards, 1);
        const concurrency = intOption('concurrency', o.concurrency, 8);
        const { ingestToStore } = await import('../../sources/write.js');
        const run = await ingestToStore({
          format: o.format,
          input: o.input,
          imageRoot: o.imageRoot,
          out: o.out,
          shards,
          concurrency,
          copyImages: o.copyImages ?? false,
        });
        process.stdout.write(o.json ? `${JSON.stringify(jsonSummary(o, run))}\n` : textSummary(o, run));
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
