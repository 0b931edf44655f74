/**
 * `univg teacher serve`: the simulated teacher in the foreground, for trying a pipeline or a client
 * against an OpenAI-compatible endpoint with no network. Ctrl-C closes it cleanly.
 */
import type { Command } from 'commander';
import { ConfigError } from '../../errors.js';
import { parseFaultSpec, startSimTeacher, type SimFaultName as FaultName, type SimTeacherOptions } from '../../teacher/sim/index.js';
import { action, intOption } from '../action.js';

interface ServeFlags {
  port?: string;
  host: string;
  seed?: string;
  convention: string;
  minPixels?: string;
  maxPixels?: string;
  fault: string[];
  rpm?: string;
  tpm?: string;
  latencyMs?: string;
  latencySigma?: string;
  hangMs?: string;
  slowMs?: string;
  retryAfter?: string;
  model: string[];
  log?: boolean;
}

const collect = (v: string, prev: string[]) => [...prev, v];

function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new ConfigError(`--${name} must be a number, got ${JSON.stringify(value)}`, { field: name });
  return n;
}

/** Flags to options; validation of ranges is left to the options schema, which names the field. */
export function serveOptions(f: ServeFlags): SimTeacherOptions {
  const faults: Partial<Record<FaultName, number>> = {};
  for (const spec of f.fault) {
    const [name, rate] = parseFaultSpec(spec);
    faults[name] = rate;
  }
  if (!['qwen2vl', 'qwen25vl', 'norm'].includes(f.convention)) {
    throw new ConfigError(`--convention must be qwen2vl, qwen25vl or norm, got ${JSON.stringify(f.convention)}`, { field: 'convention' });
  }
  const sigma = numberOption('latency-sigma', f.latencySigma);
  const latencyMs = numberOption('latency-ms', f.latencyMs);
  const opts: SimTeacherOptions = {
    port: intOption('port', f.port, 8377),
    host: f.host,
    seed: intOption('seed', f.seed, 0),
    convention: f.convention as 'qwen2vl' | 'qwen25vl' | 'norm',
    faults,
    ...(f.minPixels !== undefined ? { minPixels: intOption('min-pixels', f.minPixels) } : {}),
    ...(f.maxPixels !== undefined ? { maxPixels: intOption('max-pixels', f.maxPixels) } : {}),
    ...(f.rpm !== undefined ? { rpm: numberOption('rpm', f.rpm) } : {}),
    ...(f.tpm !== undefined ? { tpm: numberOption('tpm', f.tpm) } : {}),
    ...(latencyMs !== undefined ? (sigma !== undefined ? { latency: { distribution: 'lognormal' as const, medianMs: latencyMs, sigma } } : { latencyMs }) : {}),
    ...(f.hangMs !== undefined ? { hangMs: numberOption('hang-ms', f.hangMs) } : {}),
    ...(f.slowMs !== undefined ? { slowMs: numberOption('slow-ms', f.slowMs) } : {}),
    ...(f.retryAfter !== undefined ? { retryAfterSeconds: numberOption('retry-after', f.retryAfter) } : {}),
    ...(f.model.length > 0 ? { models: f.model } : {}),
  };
  return opts;
}

export function register(program: Command): void {
  const teacher = program.command('teacher').description('teacher endpoints: the built-in simulated teacher');
  teacher
    .command('serve')
    .description('run the simulated OpenAI-compatible teacher on localhost until Ctrl-C')
    .addHelpText('after', `
Examples:
  univg teacher serve --port 8377 --seed 1 --convention qwen2vl
  univg teacher serve --port 8377 --fault rate_limit=0.1 --fault hang=0.02 --rpm 600 --latency-ms 300
  curl -s http://127.0.0.1:8377/stats`)
    .option('--port <n>', 'port to listen on (0 = any free port)', '8377')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--seed <n>', 'seed of faults, phrasing and latency', '0')
    .option('--convention <c>', 'box convention of answers: qwen2vl (0-1000), qwen25vl (resized pixels), norm (0-1)', 'qwen2vl')
    .option('--min-pixels <n>', 'pixel budget of the simulated model (qwen25vl boxes, image tokens)')
    .option('--max-pixels <n>', 'pixel budget of the simulated model (qwen25vl boxes, image tokens)')
    .option('--fault <name=rate>', 'inject a fault at a rate 0..1 (repeatable): rate_limit, server_error, unavailable, reset, hang, slow, truncate, malformed, refusal', collect, [])
    .option('--rpm <n>', 'requests per minute admitted (default 10000)')
    .option('--tpm <n>', 'tokens per minute admitted, prompt + max_tokens x n (default 10000000)')
    .option('--latency-ms <n>', 'latency per request (median when --latency-sigma is given)')
    .option('--latency-sigma <x>', 'make latency lognormal with this sigma')
    .option('--hang-ms <n>', 'how long a hung request holds the socket (default 60000)')
    .option('--slow-ms <n>', 'latency added by the slow fault (default 5000)')
    .option('--retry-after <s>', 'retry-after of injected 429s, seconds (default 1)')
    .option('--model <name>', 'model name to serve (repeatable; any name accepted when absent)', collect, [])
    .option('--log', 'print one line per request to stderr')
    .action(
      action(async (flags: ServeFlags) => {
        const opts = serveOptions(flags);
        const sim = await startSimTeacher(opts, {
          ...(flags.log ? { onRequest: (e) => process.stderr.write(`${e.method} ${e.path} ${e.status} ${e.outcome ?? '-'} ${e.ms}ms\n`) } : {}),
        });
        process.stdout.write(`univg simulated teacher listening on ${sim.url}\n`);
        process.stderr.write(`set OPENAI_BASE_URL=${sim.url} and any OPENAI_API_KEY; stats at ${sim.url.replace(/\/v1$/, '')}/stats; Ctrl-C to stop\n`);
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
