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
import { AuditorName } from '../../schema/records.js';
import { action, intOption, optionalInt, usage } from '../action.js';

const DEFAULT_PORT = 8642;
export const TOKEN_ENV = 'UNIVG_AUDIT_TOKEN';

interface ServeFlags {
  host?: string;
  port?: string;
  auditor?: string;
  sample?: string;
  seed?: string;
  imageRoot?: string;
  reasons?: string;
}

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
  const host = f.host ?? '127.0.0.1';
  const port = intOption('port', f.port, DEFAULT_PORT);
  if (port < 0 || port > 65535) throw usage(`--port must be from 0 to 65535, got ${port}`);
  const auditor = f.auditor ?? defaultAuditor();
  if (!AuditorName.safeParse(auditor).success) throw usage(`--auditor must be 1-64 letters, digits or . _ @ -, got ${JSON.stringify(auditor)}`);
  const sample = optionalInt('sample', f.sample);
  if (sample !== undefined && sample < 1) throw usage(`--sample must be a positive integer, got ${sample}`);
  const seed = intOption('seed', f.seed, 0);
  const reasons = f.reasons?.split(',').map((r) => r.trim()).filter(Boolean);
  if (reasons && (reasons.length < 1 || reasons.length > 9 || reasons.some((r) => !/^[a-z0-9][a-z0-9_-]{0,39}$/.test(r))))
    throw usage('--reasons must be 1 to 9 comma-separated lowercase keys (letters, digits, _ or -)');
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
  audit
    .command('serve', { isDefault: true })
    .description('start the audit app on a run directory (`univg audit RUN_DIR` does the same)')
    .argument('<run-dir>', 'run directory, e.g. runs/demo')
    .option('--host <name>', 'address to listen on; any but a loopback address needs a token (default: 127.0.0.1)')
    .option('--port <n>', 'port, 0 for any free one (default: 8642)')
    .option('--auditor <name>', 'name your decisions carry; the page can change it (default: $USER)')
    .option('--sample <n>', 'draw an audit plan: n samples at random within each task and verdict')
    .option('--seed <n>', 'seed of the audit plan and of the random order (default: 0)')
    .option('--image-root <dir>', "where to find images missing from the run's images/ (default: the config's source imageRoot)")
    .option('--reasons <list>', "comma-separated reasons to offer, up to 9 (default: the run's audit.reasons)")
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
    )
    .action(action(serve));

  audit
    .command('export')
    .description('write the labels as Parquet or JSON lines (by the extension of --out)')
    .argument('<run-dir>', 'run directory, e.g. runs/demo')
    .option('--out <file>', 'output file ending in .parquet or .jsonl (required)')
    .option('--latest', "only each auditor's latest decision per sample (default: the whole history)")
    .addHelpText(
      'after',
      `
Name the file in the pipeline (audit.labels) and select leaves out the samples it rejects.

Examples:
  $ univg audit export runs/demo --out runs/demo/audit/labels.parquet
  runs/demo/audit/labels.parquet
  $ univg audit export runs/demo --out latest.jsonl --latest`,
    )
    .action(
      action(async (runDir: string, f: { out?: string; latest?: boolean }) => {
        if (!f.out) throw usage('missing required option --out <file>');
        const { exportLabels } = await import('../../audit/export.js');
        const r = await exportLabels(runDir, f.out, { latest: f.latest === true });
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
