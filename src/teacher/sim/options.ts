/**
 * Options of the simulated teacher, validated once at start (a bad rate or an unknown fault name is a
 * ConfigError naming the field, never a server that silently ignores it).
 */
import { z } from 'zod';
import { ConfigError } from '../../errors.js';

/** Faults decided once per request (what the transport does). */
export const TRANSPORT_FAULTS = ['rate_limit', 'server_error', 'unavailable', 'reset', 'hang', 'slow'] as const;
/** Faults decided per choice (what the model writes). */
export const CONTENT_FAULTS = ['truncate', 'malformed', 'refusal'] as const;
/**
 * Faults decided once per created batch (Batch API): it takes `batch.slowMs` longer, fails validation
 * (an enqueued-token limit), expires with part of its lines done, or completes with an output file cut
 * off in the middle of its last line (a truncated download as the client would see it).
 */
export const BATCH_FAULTS = ['batch_slow', 'batch_fail', 'batch_expire', 'batch_corrupt'] as const;
/** Faults decided per line of a batch: the line is answered with a 500 in the error file. */
export const LINE_FAULTS = ['line_error'] as const;
export const FAULT_NAMES = [...TRANSPORT_FAULTS, ...CONTENT_FAULTS, ...BATCH_FAULTS, ...LINE_FAULTS] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

/** What happened to a request, as `/stats` counts it. */
export const OUTCOMES = [
  'ok',
  'slow',
  'rate_limited',
  'server_error',
  'unavailable',
  'hang',
  'reset',
  'truncated',
  'malformed',
  'refusal',
  'bad_request',
  'unauthorized',
  'not_found',
  'client_closed',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

const rate = z.number().min(0).max(1);
const ms = z.number().nonnegative();

/**
 * How long the simulated Batch API takes: a batch is `validating` for validatingMs, then `in_progress`
 * while its lines are answered (lineMs each, `concurrency` at a time), then `finalizing` for finalizingMs
 * before `completed`. Real batches take minutes to hours; tests use milliseconds.
 */
export const SimBatchOptions = z
  .object({
    validatingMs: ms.default(100).describe('time a batch spends validating'),
    lineMs: ms.default(2).describe('time to answer one line of a batch'),
    concurrency: z.number().int().positive().default(4).describe('lines of one batch answered at a time (the output file is in the order they finish)'),
    finalizingMs: ms.default(100).describe('time a batch spends finalizing before its files exist'),
    cancellingMs: ms.default(100).describe('time a cancelled batch spends cancelling'),
    slowMs: ms.default(2_000).describe('time the batch_slow fault adds before a batch starts its lines'),
    windowMs: ms.default(24 * 3600_000).describe("the completion window ('24h'): lines not answered by then expire"),
    maxRequests: z.number().int().positive().default(50_000).describe('most lines in one batch input file'),
    maxFileBytes: z.number().int().positive().default(200_000_000).describe('largest batch input file accepted'),
  })
  .strict();

export const SimTeacherOptions = z
  .object({
    port: z.number().int().min(0).max(65535).default(0).describe('0 picks a free port'),
    host: z.string().min(1).default('127.0.0.1'),
    seed: z.number().int().default(0),
    convention: z.enum(['qwen2vl', 'qwen25vl', 'norm']).default('qwen2vl').describe('box convention of the answers'),
    minPixels: z.number().int().positive().default(3136).describe('pixel budget of the simulated model (qwen25vl boxes, image tokens)'),
    maxPixels: z.number().int().positive().default(401408),
    faults: z
      .object(Object.fromEntries(FAULT_NAMES.map((f) => [f, rate.optional()])) as Record<FaultName, z.ZodOptional<typeof rate>>)
      .strict()
      .default({}),
    rpm: z.number().positive().default(10_000).describe('requests per minute the server admits'),
    tpm: z.number().positive().default(10_000_000).describe('tokens per minute (prompt + max_tokens x n) the server admits'),
    latencyMs: z.number().nonnegative().optional().describe('fixed latency per request; shorthand for latency {fixed}'),
    latency: z
      .object({ distribution: z.enum(['fixed', 'lognormal']), medianMs: z.number().nonnegative(), sigma: z.number().nonnegative().default(0.5) })
      .optional(),
    hangMs: z.number().nonnegative().default(60_000).describe('how long a hung request holds the socket before answering late'),
    slowMs: z.number().nonnegative().default(5_000).describe('latency added by the slow fault'),
    retryAfterSeconds: z.number().positive().default(1).describe('retry-after sent with an injected 429'),
    models: z.array(z.string().min(1)).min(1).optional().describe('model names served; any name is accepted when absent'),
    batch: SimBatchOptions.default(SimBatchOptions.parse({})),
    /** Default model name listed by GET /v1/models when `models` is absent. */
    defaultModel: z.string().min(1).default('univg-sim'),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.minPixels > o.maxPixels) ctx.addIssue({ code: 'custom', path: ['minPixels'], message: 'minPixels must not exceed maxPixels' });
    for (const group of [TRANSPORT_FAULTS, CONTENT_FAULTS, BATCH_FAULTS, LINE_FAULTS] as const) {
      const sum = group.reduce((s, f) => s + (o.faults[f] ?? 0), 0);
      if (sum > 1 + 1e-9) ctx.addIssue({ code: 'custom', path: ['faults'], message: `rates of ${group.join(', ')} add up to ${Number(sum.toFixed(6))}; they must not exceed 1` });
    }
  });

export type SimTeacherOptions = z.input<typeof SimTeacherOptions>;
export type ResolvedSimOptions = z.output<typeof SimTeacherOptions>;

export function resolveOptions(input: SimTeacherOptions = {}): ResolvedSimOptions {
  const r = SimTeacherOptions.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.join('.');
    throw new ConfigError(`simulated teacher option ${field || '(root)'}: ${issue.message}`, { field: field || undefined });
  }
  return r.data;
}

/** `rate_limit=0.1` (CLI form) into a fault entry; throws ConfigError naming the bad part. */
export function parseFaultSpec(spec: string): [FaultName, number] {
  const m = /^([a-z_]+)=([0-9]*\.?[0-9]+)$/.exec(spec.trim());
  if (!m) throw new ConfigError(`--fault expects name=rate (e.g. rate_limit=0.1), got ${JSON.stringify(spec)}`, { field: 'fault' });
  const name = m[1] as FaultName;
  if (!(FAULT_NAMES as readonly string[]).includes(name)) throw new ConfigError(`unknown fault ${JSON.stringify(m[1])}; known: ${FAULT_NAMES.join(', ')}`, { field: 'fault' });
  const value = Number(m[2]);
  if (!(value >= 0 && value <= 1)) throw new ConfigError(`fault rate must be between 0 and 1, got ${m[2]}`, { field: 'fault' });
  return [name, value];
}
