/**
 * Pipeline configuration: what a `pipelines/*.yaml` file may say. Validated before anything runs;
 * its JSON Schema is generated into `schemas/pipeline-config.schema.json` for editors and other tools.
 */
import { z } from 'zod';
import { BoxConvention, PromptMode } from './records.js';

export const SyntheticSourceConfig = z.strictObject({
  format: z.literal('synthetic'),
  samples: z.number().int().positive().default(200),
  seed: z.number().int().default(0),
  tasks: z.array(z.string()).optional().describe('task keys to generate; all when absent'),
  difficulty: z.enum(['easy', 'medium', 'hard', 'mixed']).default('mixed'),
  testFraction: z.number().min(0).max(1).default(0.2),
});

export const FileSourceConfig = z.strictObject({
  format: z.enum(['mgrounding', 'migbench']),
  input: z.string().min(1).describe('path of the source JSON file'),
  imageRoot: z.string().min(1).describe('directory image paths are resolved against; nothing outside it is read'),
});

export const SourceConfig = z.discriminatedUnion('format', [SyntheticSourceConfig, FileSourceConfig]);

export const PriceConfig = z.strictObject({
  inputPerMTok: z.number().nonnegative().describe('USD per million prompt tokens'),
  outputPerMTok: z.number().nonnegative().describe('USD per million completion tokens'),
});

/** Faults the simulated teacher can inject (src/teacher/sim checks it serves exactly these). */
export const SIM_FAULTS = ['rate_limit', 'server_error', 'unavailable', 'slow', 'hang', 'reset', 'truncate', 'malformed', 'refusal'] as const;

export const SimulatedTeacherConfig = z
  .strictObject({
    faults: z.partialRecord(z.enum(SIM_FAULTS), z.number().min(0).max(1)).default({}).describe('fault name -> rate (0..1)'),
    rpm: z.number().int().positive().optional(),
    tpm: z.number().int().positive().optional(),
    latencyMs: z.number().nonnegative().default(0),
    seed: z.number().int().default(0),
  })
  .describe('start the built-in simulated teacher in-process on a free localhost port');

export const TeacherConfig = z.strictObject({
  baseUrl: z.string().optional().describe('OpenAI-compatible base URL; default $OPENAI_BASE_URL'),
  apiKeyEnv: z.string().default('OPENAI_API_KEY').describe('name of the environment variable that holds the key'),
  model: z.string().min(1),
  simulated: SimulatedTeacherConfig.optional(),
  mode: PromptMode.default('hinted'),
  promptVersion: z.string().default('v1'),
  candidates: z.number().int().positive().default(3),
  convention: BoxConvention.default('qwen2vl'),
  temperature: z.number().min(0).max(2).default(0.7),
  maxTokens: z.number().int().positive().default(1024),
  minPixels: z.number().int().positive().default(3136),
  maxPixels: z.number().int().positive().default(401408),
  concurrency: z.number().int().positive().default(16),
  rpm: z.number().positive().optional(),
  tpm: z.number().positive().optional(),
  timeoutMs: z.number().int().positive().default(120_000),
  maxRetries: z.number().int().nonnegative().default(6),
  price: PriceConfig.optional(),
  maxCostUsd: z.number().positive().optional(),
  cacheDir: z.string().default('cache/teacher'),
  nMode: z
    .enum(['n', 'seeds'])
    .default('n')
    .describe('n: one request with n=candidates; seeds: one request per candidate with seed+i (for providers without n)'),
  seed: z.number().int().optional().describe('request seed; in nMode seeds candidate i is sent seed+i (base 0 when absent)'),
  imageTokenMode: z
    .enum(['qwen', 'openai'])
    .default('qwen')
    .describe('how image tokens are estimated before a call: qwen (w/28)*(h/28) of the resized image, openai 85+170 per 512px tile'),
  expectedCompletionTokens: z
    .number()
    .int()
    .positive()
    .optional()
    .describe('completion tokens per choice assumed before any usage is seen (default maxTokens/2)'),
  maxRateLimitRetries: z.number().int().nonnegative().default(30).describe('retries on 429, counted apart from maxRetries'),
  breakerWindow: z.number().int().positive().default(50).describe('circuit breaker: last N requests (after retries) considered'),
  breakerFailureRate: z.number().min(0).max(1).default(0.5).describe('circuit breaker opens above this failure share'),
  breakerCooldownMs: z.number().int().positive().default(30_000).describe('pause before the breaker probes again (doubles each time)'),
  breakerMaxOpens: z.number().int().positive().default(4).describe('consecutive failed probes before the stage fails'),
  imageCacheBytes: z.number().int().positive().default(256 * 1024 * 1024).describe('LRU budget for resized, encoded images'),
  httpTransport: z
    .enum(['node', 'fetch'])
    .default('node')
    .describe('node: node:http keep-alive transport (about a third of the CPU per request); fetch: the global fetch (undici)'),
});

export const VerifyConfig = z.strictObject({
  iouThreshold: z.number().min(0).max(1).default(0.5),
  minThinkChars: z.number().int().nonnegative().default(40),
  maxThinkChars: z.number().int().positive().default(6000),
  maxRepeatedNgramShare: z.number().min(0).max(1).default(0.3),
  requireThinkBoxAgreement: z.boolean().default(true),
  requireTargetImageNamed: z.boolean().default(true),
});

export const SelectConfig = z.strictObject({
  judge: z
    .boolean()
    .default(false)
    .describe('ask a judge LLM on the teacher endpoint to pick the best chain when an SFT sample has 2+ passing candidates (cached; falls back to the deterministic order)'),
  judgeModel: z.string().min(1).optional().describe('model name for the judge on the teacher endpoint; default teacher.model'),
  rlFraction: z.number().min(0).max(1).default(0.1).describe('share of selected samples sent to the RL pool'),
  trainingConvention: BoxConvention.default('qwen2vl'),
  answerFrom: z
    .enum(['ground_truth', 'teacher'])
    .default('ground_truth')
    .describe("answer box written in training rows: the ground truth (the paper copies it) or the teacher's verified box"),
});

export const ShardConfig = z.strictObject({
  tasks: z.number().int().positive().default(4).describe('work split into this many tasks by hash of sample id'),
  rowGroupSize: z.number().int().positive().default(10_000).describe('most rows per row group (the writer also caps a group by bytes)'),
  embedImages: z.boolean().default(false).describe('embed image bytes in training shards instead of referencing the image store'),
  compression: z.enum(['zstd', 'snappy', 'none']).default('zstd'),
});

export const PipelineConfig = z.strictObject({
  name: z.string().min(1),
  seed: z.number().int().default(0),
  runDir: z.string().optional().describe('default runs/<name>'),
  source: SourceConfig,
  stages: z.array(z.string()).optional().describe('stages to run, in order; default every stage'),
  teacher: TeacherConfig.optional(),
  verify: VerifyConfig.default(VerifyConfig.parse({})),
  select: SelectConfig.default(SelectConfig.parse({})),
  shards: ShardConfig.default(ShardConfig.parse({})),
});
export type PipelineConfig = z.infer<typeof PipelineConfig>;
export type TeacherConfig = z.infer<typeof TeacherConfig>;
export type VerifyConfig = z.infer<typeof VerifyConfig>;
export type ShardConfig = z.infer<typeof ShardConfig>;
export type SelectConfig = z.infer<typeof SelectConfig>;
export type SourceConfig = z.infer<typeof SourceConfig>;
