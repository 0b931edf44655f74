/**
 * `univg teacher serve`: the simulated teacher in the foreground, for trying a pipeline or a client
 * against an OpenAI-compatible endpoint with no network. Ctrl-C closes it cleanly.
 */
import type { Command } from 'commander';
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import { UnivgError } from '../../errors.js';
import { SimTeacherOptions as SimSchema } from '../../teacher/sim/options.js';
import { parseFaultSpec, startSimTeacher, type SimFaultName as FaultName, type SimTeacherOptions } from '../../teacher/sim/index.js';
import { action, usage } from '../action.js';
import { schemaFlags } from '../flags.js';

const sim = SimSchema.shape;

/**
 * `univg teacher serve`'s flags: the simulated teacher's own options (src/teacher/sim/options.ts), except
 * the port, which is fixed here (8377) so clients can be pointed at it; faults and models are given once
 * per value.
 */
export const ServeFlags = z.object({
  port: sim.port.removeDefault().default(8377).describe('port to listen on; 0 picks a free port'),
  host: sim.host.describe('interface to bind; 0.0.0.0 listens on every interface (with a warning: any bearer token is accepted)'),
  seed: sim.seed.describe('seed of faults, phrasing and latency'),
  convention: sim.convention.describe('box convention of the answers: qwen2vl (0-1000), qwen25vl (resized pixels), norm (0-1)'),
  minPixels: sim.minPixels,
  maxPixels: sim.maxPixels.describe('largest image pixel budget of the simulated model'),
  fault: z.array(z.string()).optional().describe(`inject a fault at a rate 0..1, as name=rate: ${Object.keys(sim.faults.unwrap().shape).join(', ')}`),
  rpm: sim.rpm,
  tpm: sim.tpm,
  latencyMs: sim.latencyMs.describe('latency per request in milliseconds (the median when --latency-sigma is given)'),
  latencySigma: z.number().nonnegative().optional().describe('make the latency lognormal with this sigma'),
  hangMs: sim.hangMs,
  slowMs: sim.slowMs,
  retryAfterSeconds: sim.retryAfterSeconds,
  model: z.array(z.string().min(1)).optional().describe('model name to serve (default: any name is accepted)'),
  log: z.boolean().default(false).describe('print one line per request to stderr'),
});
export const SERVE_FLAGS = schemaFlags(ServeFlags, { placeholders: { host: '<host>', fault: '<name=rate>', model: '<name>' } });

/** The simulated teacher's options from the command line (exit 2 naming the flag on any bad value). */
export function serveOptions(values: Record<string, unknown>): SimTeacherOptions {
  const f = SERVE_FLAGS.parse(values);
  const faults: Partial<Record<FaultName, number>> = {};
  try {
    for (const spec of f.fault ?? []) {
      const [name, rate] = parseFaultSpec(spec);
      faults[name] = rate;
    }
  } catch (err) {
    throw err instanceof UnivgError ? usage(err.message) : err;
  }
  const opts: SimTeacherOptions = {
    port: f.port,
    host: f.host,
    seed: f.seed,
    convention: f.convention,
    faults,
    minPixels: f.minPixels,
    maxPixels: f.maxPixels,
    rpm: f.rpm,
    tpm: f.tpm,
    ...(f.latencyMs !== undefined ? (f.latencySigma !== undefined ? { latency: { distribution: 'lognormal' as const, medianMs: f.latencyMs, sigma: f.latencySigma } } : { latencyMs: f.latencyMs }) : {}),
    hangMs: f.hangMs,
    slowMs: f.slowMs,
    retryAfterSeconds: f.retryAfterSeconds,
    ...(f.model !== undefined && f.model.length > 0 ? { models: f.model } : {}),
  };
  // The options' own cross-field rules (fault rates per group add up to at most 1, min <= max pixels).
  const checked = SimSchema.safeParse(opts);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    throw usage(`${key === 'faults' ? '--fault' : key ? `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : 'options'}: ${issue.message}`);
  }
  return opts;
}

const WILDCARD = new Set(['0.0.0.0', '::', '[::]']);

/**
 * A URL other machines can use: a server bound to every interface (0.0.0.0) is not reached at
 * 0.0.0.0; the first external IPv4 address is named instead (127.0.0.1 when the machine has none).
 */
export function reachableUrl(url: string, host: string, nets = networkInterfaces()): string {
  if (!WILDCARD.has(host)) return url;
  const ip = Object.values(nets)
    .flat()
    .find((n) => n && n.family === 'IPv4' && !n.internal)?.address;
  const u = new URL(url);
  u.hostname = ip ?? '127.0.0.1';
  return u.toString().replace(/\/$/, '');
}

export function register(program: Command): void {
  const teacher = program.command('teacher').description('teacher endpoints: the built-in simulated teacher');
  const serve = teacher
    .command('serve')
    .description('run the simulated OpenAI-compatible teacher on localhost until Ctrl-C')
    .addHelpText('after', `
Examples:
  univg teacher serve --port 8377 --seed 1 --convention qwen2vl
  univg teacher serve --port 8377 --fault rate_limit=0.1 --fault hang=0.02 --rpm 600 --latency-ms 300
  curl -s http://127.0.0.1:8377/stats`);
  SERVE_FLAGS.addTo(serve)
    .action(
      action(async (flags: Record<string, unknown>) => {
        const opts = serveOptions(flags);
        const sim = await startSimTeacher(opts, {
          ...(flags.log === true ? { onRequest: (e) => process.stderr.write(`${e.method} ${e.path} ${e.status} ${e.outcome ?? '-'} ${e.ms}ms\n`) } : {}),
        });
        const url = reachableUrl(sim.url, opts.host ?? '127.0.0.1');
        if (WILDCARD.has(opts.host ?? '')) {
          process.stderr.write(`univg: warning: listening on every interface (${opts.host}): the simulated teacher accepts any bearer token, so anyone who can reach port ${sim.port} can use it\n`);
        }
        process.stdout.write(`univg simulated teacher listening on ${url}\n`);
        process.stderr.write(`set OPENAI_BASE_URL=${url} and any OPENAI_API_KEY; stats at ${url.replace(/\/v1$/, '')}/stats; Ctrl-C to stop\n`);
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        await sim.close();
        const st = sim.stats();
        const outcomes = Object.entries(st.byOutcome)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ');
        process.stderr.write(`stopped after ${st.requests} requests${outcomes ? ` (${outcomes})` : ''}\n`);
      }),
    );
}
