/**
 * `univg report RUN_DIR`: build the run report (report/index.html + report/figures.json) and print its path.
 *
 *   univg report runs/demo                 # prints runs/demo/report/index.html
 *   xdg-open "$(univg report runs/demo --open-path)"
 */
import type { Command } from 'commander';
import { relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import type { ReportFigures } from '../../report/index.js';
import { action } from '../action.js';
import { schemaFlags } from '../flags.js';

export const ReportFlags = z.object({
  openPath: z.boolean().default(false).describe('print a file:// URL instead of a path (for a browser or xdg-open)'),
  imageRoot: z.string().min(1).optional().describe("where to find images missing from the run's images/ (default: the config's source imageRoot)"),
  examples: z.number().int().min(0).max(100).default(3).describe('examples per rejection reason'),
  out: z.string().min(1).optional().describe('write index.html and figures.json here (default: <run-dir>/report)'),
});
export const REPORT_FLAGS = schemaFlags(ReportFlags);

/** One line for stderr: what the report covers. */
function summaryLine(f: ReportFigures): string {
  const parts: string[] = [];
  if (f.samples) parts.push(`${f.samples.total} samples`);
  if (f.teacher) parts.push(`${f.teacher.candidates} candidates`);
  if (f.quality) parts.push(`pass rate ${f.quality.overall.passRate === null ? '-' : `${(f.quality.overall.passRate * 100).toFixed(1)}%`}`);
  if (f.corpus.sft || f.corpus.rl) parts.push(`${f.corpus.sft?.rows ?? 0} SFT / ${f.corpus.rl?.rows ?? 0} RL rows`);
  if (f.teacher) parts.push(`spent $${f.teacher.spentUsd.toFixed(4)} (+ $${f.teacher.replayedUsd.toFixed(4)} replayed from the cache)`);
  if (f.quarantine) parts.push(`${f.quarantine.total} quarantined`);
  return `report: ${parts.length ? parts.join(', ') : 'no stage output yet'}\n`;
}

export function register(program: Command): void {
  const cmd = program
    .command('report')
    .description('build the run report: funnel, pass rate and IoU per task, teacher cost and latency, rejection examples with boxes, quarantine')
    .argument('<run-dir>', 'run directory, e.g. runs/demo')
    .addHelpText(
      'after',
      `
The page is one self-contained file (inline CSS, SVG plots, images as data URLs): it opens from disk
with no network and can be mailed or attached to a ticket. Every number is also in figures.json.

Examples:
  $ univg report runs/demo
  runs/demo/report/index.html
  $ xdg-open "$(univg report runs/demo --open-path)"`,
    );
  REPORT_FLAGS.addTo(cmd)
    .action(
      action(async (runDir: string, values: Record<string, unknown>) => {
        const o = REPORT_FLAGS.parse(values);
        const { buildReport } = await import('../../report/index.js');
        const { file, figures } = await buildReport(runDir, { examplesPerReason: o.examples, imageRoot: o.imageRoot, outDir: o.out });
        process.stderr.write(summaryLine(figures));
        const rel = relative(process.cwd(), file);
        process.stdout.write(`${o.openPath ? pathToFileURL(file).href : rel && !rel.startsWith('..') ? rel : file}\n`);
      }),
    );
}
