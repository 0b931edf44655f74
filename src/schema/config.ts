/**
 * Pipeline configuration: what a `pipelines/*.yaml` file may say. Validated before anything runs;
 * its JSON Schema is generated into `schemas/pipeline-config.schema.json` for editors and other tools.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { BoxConvention, PromptMode } from './records.js';

export const SyntheticSourceConfig = z.strictObject({
  format: z.literal('synthetic'),
  samples: z.number().int().positive().default(200).describe('number of samples'),
  seed: z.number().int().min(0).max(0xffffffff).default(0).describe('seed, 0..4294967295: the same seed and options give byte-identical files'),
  tasks: z.array(z.string()).optional().describe('tasks to generate, round-robin (default: all)'),
  difficulty: z.enum(['easy', 'medium', 'hard', 'mixed']).default('mixed').describe('scene difficulty; mixed draws a level per sample'),
  testFraction: z.number().min(0).max(1).default(0.2).describe('fraction of samples in the test split'),
});

/** Source files univg reads: the paper's two, and the files `univg export` writes (read back for round trips). */
export const SOURCE_FORMATS = ['mgrounding', 'migbench', 'vlm-r1', 'llamafactory'] as const;

export const FileSourceConfig = z.strictObject({
  format: z.enum(SOURCE_FORMATS).describe('source format'),
  input: z.string().min(1).describe('path of the source file (a top-level JSON array; JSON lines for vlm-r1)'),
  imageRoot: z.string().min(1).describe('directory image paths are resolved against; nothing outside it is read'),
});

export const SourceConfig = z.discriminatedUnion('format', [SyntheticSourceConfig, FileSourceConfig]);

export const PriceConfig = z.strictObject({
  inputPerMTok: z.number().nonnegative().describe('USD per million prompt tokens'),
  outputPerMTok: z.number().nonnegative().describe('USD per million completion tokens'),
});

/** Faults the simulated teacher can inject (src/teacher/sim checks it serves exactly these). */
export const SIM_FAULTS = ['rate_limit', 'server_error', 'unavailable', 'slow', 'hang', 'reset', 'truncate', 'malformed', 'refusal', 'batch_slow', 'batch_fail', 'batch_expire', 'batch_corrupt', 'line_error'] as const;

export const SimulatedTeacherConfig = z
  .strictObject({
    faults: z.partialRecord(z.enum(SIM_FAULTS), z.number().min(0).max(1)).default({}).describe('fault name -> rate (0..1)'),
    rpm: z.number().int().positive().optional(),
    tpm: z.number().int().positive().optional(),
    latencyMs: z.number().nonnegative().default(0),
    seed: z.number().int().default(0),
    batch: z
      .strictObject({
        validatingMs: z.number().nonnegative().optional(),
        lineMs: z.number().nonnegative().optional(),
        finalizingMs: z.number().nonnegative().optional(),
      })
      .optional()
      .describe('how long the simulated Batch API takes: validating, per line, finalizing (ms)'),
  })
  .describe('start the built-in simulated teacher in-process on a free localhost port');

/** How the generate stage uses the Batch API when teacher.api is batch. None of it changes an answer. */
export const TeacherBatchConfig = z.strictObject({
  price: PriceConfig.optional().describe("price of a request sent in a batch; default half of teacher.price (OpenAI's batch discount)"),
  maxRequestsPerBatch: z.number().int().positive().max(50_000).default(50_000).describe('most requests in one batch input file (the API allows 50,000)'),
  maxBytesPerBatch: z.number().int().positive().max(200_000_000).default(200_000_000).describe('largest batch input file in bytes (the API allows 200 MB); a task with more is split into several batches'),
  pollMs: z.number().int().positive().default(10_000).describe('first wait before asking a batch its status; each wait is 1.5 times the last, up to maxPollMs'),
  maxPollMs: z.number().int().positive().default(120_000).describe('longest wait between two status checks of a batch'),
  maxRetries: z
    .number()
    .int()
    .nonnegative()
    .default(2)
    .describe('follow-up batches for requests that got no answer (a line error, an expired, cancelled or failed batch) before they count as failed'),
  retryOnline: z.boolean().default(false).describe('ask requests still unanswered after the follow-up batches online (at the online price) instead of leaving their task undone'),
});

export const TeacherConfig = z.strictObject({
  baseUrl: z.string().optional().describe('OpenAI-compatible base URL; default $OPENAI_BASE_URL'),
  apiKeyEnv: z.string().default('OPENAI_API_KEY').describe('name of the environment variable that holds the key'),
  model: z.string().min(1),
  simulated: SimulatedTeacherConfig.optional(),
  mode: PromptMode.default('hinted'),
  api: z
    .enum(['online', 'batch'])
    .default('online')
    .describe('online: chat completions as samples stream; batch: the generate stage sends its requests through the Batch API (batch price, answers within 24 h, resumable). Same requests, same cache, same candidates; does not mark results stale'),
  batch: TeacherBatchConfig.default(TeacherBatchConfig.parse({})),
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
  maxFailureShare: z
    .number()
    .min(0)
    .max(1)
    .default(0.01)
    .describe(
      'largest share of samples generate may quarantine because they themselves are the problem (the endpoint refused their content, an image cannot be encoded); above it the stage fails the run (exit 1). Failures that can pass (connection, timeout, 5xx, 429) are never kept: their task is redone by the next run. Does not mark results stale',
    ),
  cacheDir: z.string().min(1).default('cache/teacher').describe('response cache; a relative path without ".." (a directory elsewhere, e.g. shared storage, is given with --cache-dir)'),
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
  breakerWindow: z.number().int().positive().default(50).describe('circuit breaker: last N HTTP attempts considered'),
  breakerFailureRate: z.number().min(0).max(1).default(0.5).describe('circuit breaker opens above this failure share of attempts (connection, timeout, 5xx)'),
  breakerConsecutiveFailures: z.number().int().positive().default(5).describe('circuit breaker opens at once after this many failed attempts in a row'),
  breakerCooldownMs: z.number().int().positive().default(2_000).describe('pause before the breaker probes again (doubles each time, at most 60 s)'),
  breakerMaxOpens: z
    .number()
    .int()
    .positive()
    .default(8)
    .describe('failed probes in a row before the stage fails (2 when the endpoint never answered: a closed port or a wrong URL fails in seconds)'),
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
  maxLoopRepeats: z
    .number()
    .int()
    .min(1)
    .default(2)
    .describe('repetitive: a span of words written more than this many times back to back (covering 12+ words) is a decoding loop'),
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

/** Reasons an auditor picks from when the pipeline does not list its own (keys 1-9 in `univg audit`). */
export const DEFAULT_AUDIT_REASONS = ['wrong_box', 'wrong_image', 'reasoning_flawed', 'think_contradicts_answer', 'hint_leak', 'question_ambiguous', 'ground_truth_wrong', 'other'] as const;

export const AuditConfig = z
  .strictObject({
    reasons: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'a reason is a lowercase key: letters, digits, _ or -'))
      .min(1)
      .max(9)
      .default([...DEFAULT_AUDIT_REASONS])
      .describe('reasons auditors pick from in univg audit (keys 1-9); changing them does not mark results stale'),
    labels: z
      .string()
      .min(1)
      .optional()
      .describe('labels written by `univg audit export` (.parquet or .jsonl): select leaves out the samples they reject and records the file in the corpus manifests'),
    remove: z
      .enum(['any-reject', 'majority-reject'])
      .default('any-reject')
      .describe("any-reject: a sample goes when any auditor's latest decision rejects it; majority-reject: when more of its auditors reject than accept"),
    removeFlagged: z.boolean().default(false).describe('also leave out samples an auditor flagged (and none accepted since)'),
  })
  .describe('auditing: the reasons offered in univg audit, and the labels select applies to the corpus');

export const ShardConfig = z.strictObject({
  tasks: z.number().int().positive().default(4).describe('work split into this many tasks by hash of sample id'),
  rowGroupSize: z.number().int().positive().default(10_000).describe('most rows per row group (the writer also caps a group by bytes)'),
  embedImages: z.boolean().default(false).describe('embed image bytes in training shards instead of referencing the image store'),
  compression: z.enum(['zstd', 'snappy', 'none']).default('zstd'),
});


/** Backends the in-repo trainer can use (kept equal to src/train/backend-names.ts by a test). */
export const TRAIN_BACKENDS = ['node-gpu', 'webgpu', 'node', 'wasm', 'cpu'] as const;
/** Difficulty weights phi(mIoU) (kept equal to src/train/rl/difficulty.ts by a test). */
export const PHI_KINDS = ['exp', 'power', 'log', 'none'] as const;
/** Models the eval stage can score: the untrained init, baselines, and the trained checkpoints. */
export const EVAL_MODELS = ['untrained', 'centre', 'random', 'whole-image', 'sft', 'rl'] as const;

const posInt = () => z.number().int().positive();

/**
 * Training options. These zod objects are the only definition of every trainer option and its default:
 * the pipeline YAML (train.sft, train.score, train.rl), the CLI flags and their help (`univg train sft`,
 * `univg train rl`, `univg score`: src/cli/flags.ts derives them) and the library (`trainSft`, `trainRl`,
 * `scoreCorpus` parse their options with them, src/schema/train-options.ts) all read them. A default
 * written as "(default: ...)" in a description is computed from other options when the field is absent.
 * Where the paper's value is for a 7B model and the in-repo model needs another, the description says so.
 */
export const TrainModelShape = z
  .strictObject({
    dModel: posInt().default(128).describe('model width'),
    nLayers: posInt().default(3).describe('transformer layers'),
    nHeads: posInt().default(2).describe('attention heads; the model width must be a multiple of it'),
    mlpHidden: posInt().default(512).describe('hidden width of the MLP blocks'),
    imageSize: posInt().default(64).describe('images are resized to n x n pixels'),
    patchSize: posInt().default(8).describe('patch side in pixels; the image size must be a multiple of it'),
    maxImages: posInt().default(6).describe('image slots; rows with more images are skipped'),
    coordFreqs: posInt().default(10).describe('Fourier frequencies of the coordinate embedding'),
    tower: z.enum(['patch', 'vit']).default('patch').describe('vision tower: patch (one matrix product, trained with the rest) or vit (per-image transformer layers with a box head, pretrained by `univg train vision`)'),
    towerLayers: posInt().default(2).describe('transformer layers of the vit tower (per image)'),
    pointer: z.boolean().default(false).describe('write coordinates by pointing at an image token: its box, predicted by the vit tower, spread by --pointer-sigma'),
    pointerSigma: z.number().positive().max(200).default(15).describe('spread of a pointed coordinate, 0-1000 units'),
  })
  .describe('shape of the compact grounding model');

/** The trainer's backend and loader threads: how a run computes, never what (they do not mark results stale). */
export const TrainBackend = z.enum(TRAIN_BACKENDS).optional().describe('TensorFlow.js backend to try first (default: the first that starts)');
export const TrainWorkers = posInt().optional().describe('image-decode threads of the loader (default: cores - 1, from 1 to 4)');

export const TrainSftConfig = z
  .strictObject({
    steps: posInt().default(2000).describe('optimizer updates in the whole run'),
    batch: posInt().default(8).describe('rows per micro-batch'),
    accum: posInt().default(1).describe('micro-batches per update (an update sees batch x accum rows)'),
    lr: z.number().positive().default(1e-3).describe('peak learning rate'),
    minLr: z.number().nonnegative().optional().describe('floor of the cosine schedule (default: lr/10)'),
    warmup: z.number().int().nonnegative().optional().describe('warmup updates (default: min(100, steps/10))'),
    weightDecay: z.number().nonnegative().default(0.01).describe('AdamW decoupled weight decay'),
    clip: z.number().nonnegative().default(1).describe('clip the global gradient norm to this; 0 turns clipping off'),
    cot: z.boolean().default(true).describe('train on the whole CoT completion; off: on <answer>...</answer> only (the no-CoT ablation)'),
    coordSigma: z.number().min(0).max(200).default(0).describe('spread coordinate targets over neighbouring values (std dev in 0-1000 units); 0: exact one-hot targets'),
    seed: z.number().int().optional().describe('seed of the initial weights, the data order and sampling (default: the pipeline seed)'),
    evalEvery: z.number().int().nonnegative().default(100).describe('held-out loss every N updates; 0: only at the end'),
    evalFraction: z.number().min(0).lt(1).default(0.05).describe('share of rows (by a hash of their id) held out for that loss'),
    evalMaxRows: z.number().int().nonnegative().default(64).describe('at most this many held-out rows'),
    checkpointEvery: posInt().default(100).describe('checkpoint every N updates; a killed run resumes from the last one'),
    keepCheckpoints: z.number().int().nonnegative().default(3).describe('keep the newest N checkpoints; 0 keeps all'),
    model: TrainModelShape.default(TrainModelShape.parse({})),
    vision: z.string().min(1).optional().describe('a pretrained vit tower (`univg train vision` output or one of its checkpoints): its shape and weights replace the model\'s tower'),
    visionLrScale: z.number().min(0).max(1).default(0).describe('learning rate of the pretrained tower, as a share of lr; 0 keeps it frozen'),
  })
  .describe('stage train-sft: supervised fine-tuning on the SFT pool (corpus/sft); checkpointEvery and keepCheckpoints do not mark results stale');

/** The vit tower's shape; SFT with `vision` takes it from the pretrained checkpoint. */
export const TrainVisionShape = z
  .strictObject({
    dModel: posInt().default(128).describe('tower width (the grounding model takes it)'),
    nHeads: posInt().default(4).describe('attention heads; the width must be a multiple of it'),
    mlpHidden: posInt().default(256).describe('hidden width of the MLP blocks'),
    imageSize: posInt().default(128).describe('images are resized to n x n pixels'),
    patchSize: posInt().default(16).describe('patch side in pixels: the image is an (n / patch)^2 grid of cells'),
    towerLayers: posInt().default(2).describe('transformer layers per image'),
    coordFreqs: posInt().default(10).describe('Fourier frequencies of positions and box edges'),
  })
  .describe('shape of the vit tower');

/** Tower pretraining (`univg train vision`): dense supervision per image cell (objects, attributes, boxes). */
export const TrainVisionConfig = z
  .strictObject({
    steps: posInt().default(1500).describe('optimizer updates in the whole run'),
    batch: posInt().default(32).describe('images per update'),
    lr: z.number().positive().default(2e-3).describe('peak learning rate'),
    minLr: z.number().nonnegative().optional().describe('floor of the cosine schedule (default: lr/10)'),
    warmup: z.number().int().nonnegative().optional().describe('warmup updates (default: min(100, steps/10))'),
    weightDecay: z.number().nonnegative().default(0.01).describe('AdamW decoupled weight decay'),
    clip: z.number().nonnegative().default(1).describe('clip the global gradient norm to this; 0 turns clipping off'),
    seed: z.number().int().optional().describe('seed of the initial weights and the image order (default: the pipeline seed)'),
    evalEvery: z.number().int().nonnegative().default(100).describe('held-out metrics every N updates; 0: only at the end'),
    evalFraction: z.number().min(0).lt(1).default(0.05).describe('share of samples (by a hash of their id) whose images are held out'),
    evalImages: posInt().default(256).describe('at most this many held-out images'),
    checkpointEvery: posInt().default(100).describe('checkpoint every N updates; a killed run resumes from the last one'),
    keepCheckpoints: z.number().int().nonnegative().default(3).describe('keep the newest N checkpoints; 0 keeps all'),
    model: TrainVisionShape.default(TrainVisionShape.parse({})),
  })
  .describe('stage train-vision: pretrain the vit tower on the corpus\'s images (the synthetic scenes say where every object is, and what)');

/** The paper's Figure-3 mIoU buckets (kept equal to src/train/rl/difficulty.ts MIOU_BUCKETS by a test). */
export const MIOU_BUCKET_NAMES = ['lt0.3', '0.3-0.7', 'gt0.7'] as const;
/** Friendlier names of those buckets: hard = lt0.3, medium = 0.3-0.7, easy = gt0.7. */
export const MIOU_BUCKET_ALIASES = ['hard', 'medium', 'easy'] as const;
/** A selection of mIoU buckets, by name or alias (score and export filter the same way). */
const MiouKeep = z.array(z.enum([...MIOU_BUCKET_ALIASES, ...MIOU_BUCKET_NAMES])).min(1).optional();
/** Orders of a scored pool (kept equal to src/train/score/pool.ts POOL_ORDERS by a test). */
export const SCORE_ORDERS = ['input', 'hardest-first', 'easiest-first'] as const;

export const ScoreEndpointConfig = z
  .strictObject({
    baseUrl: z.string().min(1).describe('OpenAI-compatible base URL (vLLM, for example)'),
    model: z.string().min(1).describe('model name sent to the endpoint'),
    apiKeyEnv: z.string().min(1).default('OPENAI_API_KEY').describe('environment variable holding the endpoint key (the key is never an option; localhost needs none)'),
    concurrency: posInt().default(8).describe('requests in flight'),
    cacheDir: z.string().min(1).default('cache/teacher').describe('response cache, shared with the teacher; a relative path without ".." (elsewhere: --cache-dir)'),
    maxTokens: posInt().optional().describe('completion tokens per rollout (default: train.score.maxTokens, else 256)'),
    convention: BoxConvention.optional().describe("box convention the model answers in (default: each row's own)"),
    minPixels: posInt().optional().describe('smallest image pixel budget (default: 3136)'),
    maxPixels: posInt().optional().describe('largest image pixel budget (default: 401408)'),
    timeoutMs: posInt().optional().describe('request timeout in milliseconds'),
    maxRetries: z.number().int().nonnegative().optional().describe('retries of a failed request'),
  })
  .describe('score with rollouts of a model behind an OpenAI-compatible endpoint instead of a checkpoint; concurrency, timeoutMs, maxRetries and apiKeyEnv do not mark results stale');

export const TrainScoreConfig = z
  .strictObject({
    checkpoint: z.string().min(1).optional().describe('model that scores the pool; default the train-sft checkpoint (required without train.sft or endpoint)'),
    endpoint: ScoreEndpointConfig.optional(),
    G: posInt().max(1024).default(8).describe("rollouts per row (the paper's num_generations)"),
    temperature: z.number().min(0).max(2).default(1).describe("sampling temperature (UniVG-R1's GRPO: 1)"),
    maxTokens: posInt().optional().describe("completion tokens per rollout (default: the model's maximum; 256 for an endpoint)"),
    phi: z.enum(PHI_KINDS).default('exp').describe('difficulty weight: exp e^(1-mIoU) (the paper), power (1.05-mIoU)^phiPower, log, none'),
    phiPower: z.number().positive().default(1).describe('exponent of phi power'),
    limit: posInt().optional().describe('score only the first N rows in input order; the rest are not written'),
    seed: z.number().int().optional().describe('sampling seed; the same seed gives the same bytes (default: the pipeline seed)'),
    keep: MiouKeep.describe('keep only rows in these mIoU buckets; hard = lt0.3, medium = 0.3-0.7, easy = gt0.7 (default: all)'),
    minMiou: z.number().min(0).max(1).optional().describe('keep rows with mIoU >= this'),
    maxMiou: z.number().min(0).max(1).optional().describe('keep rows with mIoU <= this (drops what the model already solves)'),
    order: z.enum(SCORE_ORDERS).default('input').describe('row order of the scored pool (a curriculum)'),
    bands: posInt().max(1000).default(10).describe('mIoU bands of a hardest-first or easiest-first order, one part file each'),
  })
  .describe('stage score: difficulty of every RL-pool row from G rollouts (mIoU, phi weight, bucket)');

/** Budget forcing (SamplingOptions.forceAnswer): one definition for evaluation, `univg eval` and GRPO rollouts. */
export const ForceAnswer = z
  .boolean()
  .default(false)
  .describe('checkpoints: a completion that has not begun its answer when only the answer\'s tokens are left gets </think><answer>(x1,y1),(x2,y2)</answer> written for it, the model choosing the coordinates (where it points counts even when its reasoning would run past the budget)');

export const TrainRlConfig = z
  .strictObject({
    init: z.string().min(1).optional().describe('checkpoint the policy starts from (and the KL reference); default the train-sft checkpoint (required without train.sft)'),
    steps: posInt().default(200).describe('GRPO steps in the whole run'),
    prompts: posInt().default(16).describe('prompts per step (paper: 16)'),
    G: z.number().int().min(2).default(8).describe('rollouts per prompt (paper: 8); advantages compare rollouts of one prompt, so at least 2'),
    lr: z.number().positive().default(1e-5).describe("learning rate; the paper's 1e-6 is for a 7B model (README: Training options)"),
    minLr: z.number().nonnegative().optional().describe('floor of the cosine schedule (default: lr, a constant rate)'),
    warmup: z.number().int().nonnegative().default(0).describe('warmup steps'),
    weightDecay: z.number().nonnegative().default(0).describe('AdamW decoupled weight decay'),
    clip: z.number().nonnegative().default(1).describe('clip the global gradient norm to this; 0 turns clipping off'),
    beta: z.number().nonnegative().default(0.04).describe('KL coefficient (paper: 0.04)'),
    epsilon: z.number().positive().lt(1).default(0.2).describe('ratio clip range (paper: 0.2)'),
    phi: z.enum(PHI_KINDS).default('exp').describe('difficulty weight on the policy-gradient term; none: plain GRPO'),
    phiPower: z.number().positive().default(1).describe('exponent of phi power'),
    std: z.enum(['sample', 'population']).default('sample').describe('group std: sample (G-1, TRL, the paper\'s trainer) or population (G, verl)'),
    iterations: posInt().default(1).describe('updates per batch of rollouts (1: on-policy, as in the paper)'),
    temperature: z.number().positive().max(2).default(1).describe('sampling temperature'),
    topP: z.number().positive().max(1).default(1).describe('nucleus sampling: keep the smallest set of tokens with this probability mass'),
    maxTokens: posInt().optional().describe("completion tokens per rollout (default: the model's maximum)"),
    forceAnswer: ForceAnswer,
    seed: z.number().int().optional().describe('seed of the data order and sampling (default: the pipeline seed)'),
    checkpointEvery: posInt().default(20).describe('checkpoint every N steps; a killed run resumes from the last one'),
    keepCheckpoints: z.number().int().nonnegative().default(3).describe('keep the newest N checkpoints; 0 keeps all'),
  })
  .describe('stage train-rl: difficulty-aware GRPO from the SFT checkpoint on the (scored) RL pool; checkpointEvery and keepCheckpoints do not mark results stale');

export const TrainEvalConfig = z
  .strictObject({
    bench: z
      .strictObject({
        file: z.string().min(1).describe('MIG-Bench-format JSON'),
        imageRoot: z.string().min(1),
      })
      .optional()
      .describe("default: the corpus run's synthetic test split, source/test.json with its images"),
    models: z
      .array(z.enum(EVAL_MODELS))
      .min(1)
      .optional()
      .describe('default: untrained, centre, sft, rl (those the pipeline trains)'),
    limit: posInt().optional().describe('score only the first N bench samples'),
    maxTokens: posInt().optional().describe("completion tokens per answer; default the model's maximum"),
    temperature: z.number().min(0).max(2).default(0).describe('0: greedy'),
    forceAnswer: ForceAnswer,
    seed: z.number().int().optional().describe('sampling and the random baseline; default the pipeline seed'),
  })
  .describe('stage eval: MIG-Bench metrics (Acc@0.3/0.5/0.7, mean IoU per task, AVG) of each model on the bench');

export const TrainConfig = z
  .strictObject({
    from: z
      .string()
      .min(1)
      .optional()
      .describe('a finished corpus run directory (e.g. runs/demo, relative to the working directory) whose corpus/sft, corpus/rl and source/test.json are read, never written; the pipeline then has no source section. Default: this run directory'),
    backend: TrainBackend,
    workers: TrainWorkers,
    vision: TrainVisionConfig.optional(),
    sft: TrainSftConfig.optional(),
    score: TrainScoreConfig.optional(),
    rl: TrainRlConfig.optional(),
    eval: TrainEvalConfig.optional(),
  })
  .describe('training stages: each runs when its section is present (train-vision, train-sft, score, train-rl, eval); backend and workers do not mark results stale');

/** Trainers `univg export` writes for (src/export/, one module each). */
export const EXPORT_FORMATS = ['verl', 'easyr1', 'trl', 'llamafactory', 'vlm-r1'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
/** Model families whose box convention an export writes: Qwen2-VL 0-1000, Qwen2.5-VL pixels of the model input. */
export const MODEL_FAMILIES = ['qwen2vl', 'qwen25vl'] as const;
export type ModelFamily = (typeof MODEL_FAMILIES)[number];

/** What shapes an export (the `export` pipeline section and the `univg export` flags). */
export const ExportConfig = z
  .strictObject({
    formats: z.array(z.enum(EXPORT_FORMATS)).min(1).describe(`trainers to write for: ${EXPORT_FORMATS.join(', ')}`),
    modelFamily: z
      .enum(MODEL_FAMILIES)
      .describe('model family the trainer fine-tunes; decides the box convention (qwen2vl: 0-1000; qwen25vl: pixels of the resized input). Required: never guessed'),
    pool: z
      .enum(['sft', 'rl'])
      .optional()
      .describe('corpus pool to export; unset: rl for verl, easyr1, trl and vlm-r1, sft for llamafactory'),
    minPixels: posInt().optional().describe("pixel budget of the trainer's image resize (Qwen2.5-VL boxes depend on it); unset: each trainer's own"),
    maxPixels: posInt().optional().describe("pixel budget of the trainer's image resize; unset: each trainer's own"),
    keep: MiouKeep.describe('keep only rows whose mIoU bucket (from univg score) is listed; hard = lt0.3, medium = 0.3-0.7, easy = gt0.7'),
    minMiou: z.number().min(0).max(1).optional().describe('keep rows with mIoU >= this (needs scored rows)'),
    maxMiou: z.number().min(0).max(1).optional().describe('keep rows with mIoU <= this (needs scored rows)'),
    order: z
      .enum(SCORE_ORDERS)
      .default('input')
      .describe('row order: input, or a curriculum over mIoU bands (one shard per band, in order; needs scored rows)'),
    bands: posInt().max(1000).optional().describe('mIoU bands of a curriculum order; unset: 10'),
    phi: z.enum(PHI_KINDS).default('exp').describe("difficulty weight the verl / TRL plugins apply to the current group: exp e^(1-mIoU) (the paper's), power, log, none"),
    phiPower: z.number().positive().default(1).describe('exponent of phi power'),
  })
  .describe('stage export: trainer-ready data, reward and difficulty plugins and launch recipes for verl, EasyR1, TRL, LLaMA-Factory and VLM-R1');
export type ExportConfig = z.infer<typeof ExportConfig>;

export const PipelineConfig = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be a plain name of letters, digits, '.', '_' and '-' starting with a letter or digit (no '/', '\\' or '..'): it names the run directory runs/<name>")
      .describe('names the run directory runs/<name>: letters, digits, ".", "_" and "-", no path separators'),
    seed: z.number().int().default(0),
    runDir: z
      .string()
      .min(1)
      .optional()
      .describe('default runs/<name>; a relative path without ".." (a directory elsewhere is given with --run-dir)'),
    source: SourceConfig.optional().describe('where samples come from; required unless train.from names a corpus run'),
    stages: z.array(z.string()).optional().describe('stages to run, in order; default every stage the config turns on'),
    teacher: TeacherConfig.optional(),
    verify: VerifyConfig.default(VerifyConfig.parse({})),
    select: SelectConfig.default(SelectConfig.parse({})),
    audit: AuditConfig.default(AuditConfig.parse({})),
    shards: ShardConfig.default(ShardConfig.parse({})),
    train: TrainConfig.optional(),
    export: ExportConfig.optional(),
  })
  .superRefine((c, ctx) => {
    // A training pipeline either builds its corpus (source) or reads another run's (train.from), never both.
    if (c.train?.from !== undefined && c.source !== undefined)
      ctx.addIssue({ code: 'custom', path: ['train', 'from'], message: 'train.from reads the corpus of another run, so the pipeline must not have a source section too (drop one of them)' });
    else if (c.train?.from === undefined && c.source === undefined)
      ctx.addIssue({ code: 'custom', path: ['source'], message: 'missing: a pipeline needs a source section, or train.from naming a finished corpus run' });
    const t = c.train;
    if (!t) return;
    // A later training stage starts from train-sft's checkpoint unless it names one itself.
    if (t.score && !t.sft && t.score.checkpoint === undefined && t.score.endpoint === undefined)
      ctx.addIssue({ code: 'custom', path: ['train', 'score'], message: 'train.score needs a model to score with: add a train.sft section, or set train.score.checkpoint or train.score.endpoint' });
    if (t.score?.minMiou !== undefined && t.score.maxMiou !== undefined && t.score.minMiou > t.score.maxMiou)
      ctx.addIssue({ code: 'custom', path: ['train', 'score', 'minMiou'], message: `minMiou ${t.score.minMiou} is above maxMiou ${t.score.maxMiou}` });
    if (t.score?.checkpoint !== undefined && t.score.endpoint !== undefined)
      ctx.addIssue({ code: 'custom', path: ['train', 'score', 'endpoint'], message: 'train.score has both checkpoint and endpoint: keep one' });
    if (t.rl && !t.sft && t.rl.init === undefined)
      ctx.addIssue({ code: 'custom', path: ['train', 'rl'], message: 'train.rl needs a starting checkpoint: add a train.sft section or set train.rl.init' });
    for (const [i, m] of (t.eval?.models ?? []).entries()) {
      const need = m === 'untrained' || m === 'sft' ? 'sft' : m === 'rl' ? 'rl' : null;
      if (need && !t[need]) ctx.addIssue({ code: 'custom', path: ['train', 'eval', 'models', i], message: `model ${m} needs a train.${need} section` });
    }
  });
export type PipelineConfig = z.infer<typeof PipelineConfig>;
export type TeacherConfig = z.infer<typeof TeacherConfig>;
export type TeacherBatchConfig = z.infer<typeof TeacherBatchConfig>;
export type VerifyConfig = z.infer<typeof VerifyConfig>;
export type ShardConfig = z.infer<typeof ShardConfig>;
export type SelectConfig = z.infer<typeof SelectConfig>;
export type AuditConfig = z.infer<typeof AuditConfig>;
export type SourceConfig = z.infer<typeof SourceConfig>;
export type TrainConfig = z.infer<typeof TrainConfig>;
export type TrainSftConfig = z.infer<typeof TrainSftConfig>;
export type TrainVisionConfig = z.infer<typeof TrainVisionConfig>;
export type TrainScoreConfig = z.infer<typeof TrainScoreConfig>;
export type TrainRlConfig = z.infer<typeof TrainRlConfig>;
export type TrainEvalConfig = z.infer<typeof TrainEvalConfig>;
export type EvalModel = (typeof EVAL_MODELS)[number];

/** The pipeline's source section; a ConfigError for a training-only pipeline (train.from), which has none. */
export function sourceOf(c: PipelineConfig): SourceConfig {
  if (!c.source) throw new ConfigError('this pipeline has no source section (it trains on train.from), so it has no corpus stages', { field: 'source' });
  return c.source;
}
