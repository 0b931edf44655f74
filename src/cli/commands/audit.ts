/**
 * `univg audit`: review a run's reasoning samples in a local web app, export the labels, and see how the
 * verifier compares with the auditors.
 *
 *   univg audit runs/demo --auditor ana                 # the app, on http://127.0.0.1:8642/
 *   univg audit runs/demo --sample 200 --seed 1         # with a stratified audit plan of 200 samples
 *   univg audit export runs/demo --out labels.parquet   # every decision, as Parquet (or .jsonl)
 *   univg audit stats runs/demo                         # precision and recall per task, kappa
 */
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { basename, relative } from 'node:path';
import { EXIT } from '../../errors.js';
import { z } from 'zod';
import { AuditorName } from '../../schema/records.js';
import { action, usage } from '../action.js';
import { schemaFlags } from '../flags.js';

export const TOKEN_ENV = 'UNIVG_AUDIT_TOKEN';

export const AuditServeFlags = z.object({
  host: z.string().min(1).default('127.0.0.1').describe('address to listen on; any but a loopback address needs a token'),
  port: z.number().int().min(0).max(65535).default(8642).describe('port, 0 for any free one'),
  auditor: AuditorName.optional().describe('name your decisions carry (1-64 letters, digits or . _ @ -); the page can change it (default: $USER)'),
  sample: z.number().int().positive().optional().describe('draw an audit plan: n samples at random within each task and verdict'),
  seed: z.number().int().default(0).describe('seed of the audit plan and of the random order'),
  imageRoot: z.string().min(1).optional().describe("where to find images missing from the run's images/ (default: the config's source imageRoot)"),
  reasons: z
    .array(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'a lowercase key of letters, digits, _ or -'))
    .min(1)
    .max(9)
    .optional()
    .describe("reasons to offer, up to 9 (default: the run's audit.reasons)"),
});
export const AUDIT_SERVE_FLAGS = schemaFlags(AuditServeFlags, { placeholders: { reasons: '<key>' } });
export const AuditExportFlags = z.object({
  out: z.string().min(1).describe('output file ending in .parquet or .jsonl'),
  latest: z.boolean().default(false).describe("only each auditor's latest decision per sample (default: the whole history)"),
});
export const AUDIT_EXPORT_FLAGS = schemaFlags(AuditExportFlags, { placeholders: { out: '<file>' } });
type ServeFlags = z.output<typeof AuditServeFlags>;

function defaultAuditor(): string {
  let name = process.env.USER ?? '';
  try {
    name ||= userInfo().username;
  } catch {
    // No user database entry (a container): fall through to the neutral name.
  }
  return AuditorName.safeParse(name).success ? name : 'auditor';
}

async function serve(runDir: string, f: ServeFlags): Promise<number> {
  const { host, port, sample, seed, reasons } = f;
  const auditor = f.auditor ?? defaultAuditor();
  const [{ AuditSession }, { startAuditServer, listeningLine, isLoopback }] = await Promise.all([import('../../audit/session.js'), import('../../audit/server.js')]);
  const token = isLoopback(host) ? null : process.env[TOKEN_ENV] || randomBytes(24).toString('base64url');
  const session = await AuditSession.open(runDir, { seed, ...(sample !== undefined ? { sample } : {}), ...(reasons ? { reasons } : {}), ...(f.imageRoot ? { imageRoot: f.imageRoot } : {}) });
  let server;
  try {
    for (const p of session.problems) process.stderr.write(`univg audit: left out ${p.file}: ${p.message}\n`);
    server = await startAuditServer({ session, host, port, auditor, token, runLabel: session.files.run?.name ?? basename(session.root) });
  } catch (err) {
    await session.close();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw usage(`port ${port} is in use: pick another with --port (0 takes any free one)`);
    if ((err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL' || (err as NodeJS.ErrnoException).code === 'ENOTFOUND') throw usage(`cannot listen on ${host}: no such address on this machine`);
    throw err;
  }
  process.stderr.write(`${listeningLine(server, await session.sampleCount())}\n`);
  if (session.plan) process.stderr.write(`univg audit: audit plan of ${session.plan.n} samples (seed ${session.plan.seed}) in ${relative(process.cwd(), session.root) || '.'}/audit/plan.json\n`);
  // The URL to open, once, on stdout (with the token when one is needed).
  process.stdout.write(`${server.openUrl}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  await session.close();
  process.stderr.write('univg audit: stopped; every decision is in audit/labels.log\n');
  return EXIT.ok;
}

export function register(program: Command): void {
  const audit = program.command('audit').description('review reasoning samples in a local web app, export the labels, compare the verifier with the auditors');
  const serveCmd = audit
    .command('serve', { isDefault: true })
    .description('start the audit app on a run directory (`univg audit RUN_DIR` does the same)')
    .argument('<run-dir>', 'run directory, e.g. runs/demo')
    .addHelpText(
      'after',
      `
Every decision is appended to RUN_DIR/audit/labels.log and synced to disk before the page confirms it;
several auditors (several processes) can label the same run at once. On an address other than
127.0.0.1 each request needs a token: set ${TOKEN_ENV}, or use the one printed (once) at start.

Examples:
  $ univg audit runs/demo --auditor ana
  $ univg audit runs/demo --sample 200 --seed 1
  $ ${TOKEN_ENV}=$(openssl rand -hex 16) univg audit runs/demo --host 0.0.0.0`,
    );
  AUDIT_SERVE_FLAGS.addTo(serveCmd).action(action((runDir: string, values: Record<string, unknown>) => serve(runDir, AUDIT_SERVE_FLAGS.parse(values))));

  const exportCmd = audit
    .command('export')
    .description('write the labels as Parquet or JSON lines (by the extension of --out)')
    .argument('<run-dir>', 'run directory, e.g. runs/demo')
    .addHelpText(
      'after',
      `
Name the file in the pipeline (audit.labels) and select leaves out the samples it rejects.

Examples:
  $ univg audit export runs/demo --out runs/demo/audit/labels.parquet
  runs/demo/audit/labels.parquet
  $ univg audit export runs/demo --out latest.jsonl --latest`,
    );
  AUDIT_EXPORT_FLAGS.addTo(exportCmd).action(
      action(async (runDir: string, values: Record<string, unknown>) => {
        const f = AUDIT_EXPORT_FLAGS.parse(values);
        const { exportLabels } = await import('../../audit/export.js');
        const r = await exportLabels(runDir, f.out, { latest: f.latest });
        process.stderr.write(`univg audit export: ${r.labels} decision${r.labels === 1 ? '' : 's'} as ${r.format}${r.skipped ? `; ${r.skipped} damaged record(s) of the log left out` : ''}\n`);
        process.stdout.write(`${relative(process.cwd(), r.file) || r.file}\n`);
      }),
    );

  audit
    .command('stats')
    .description("the verifier's precision and recall per task against the auditors (95% intervals), and Cohen's kappa")
    .argument('<run-dir>', 'run directory, e.g. runs/demo')
    .option('--json', 'print the figures as JSON')
    .addHelpText(
      'after',
      `
Precision: the share of chains the verifier passed that the auditors accept. Recall: the share of
acceptable chains it passed, rebuilt from the accept rates of passed and failed candidates and their
numbers in the run (an audit plan samples them at different rates). 95% Wilson intervals.

Examples:
  $ univg audit stats runs/demo
  $ univg audit stats runs/demo --json | jq '.byTask[] | {key, precision: .precision.p}'`,
    )
    .action(
      action(async (runDir: string, f: { json?: boolean }) => {
        const { AuditSession } = await import('../../audit/session.js');
        const { statsText } = await import('../../audit/render.js');
        const session = await AuditSession.open(runDir);
        try {
          const stats = await session.stats();
          process.stdout.write(f.json ? `${JSON.stringify(stats, null, 2)}\n` : statsText(stats));
        } finally {
          await session.close();
        }
      }),
    );
}
