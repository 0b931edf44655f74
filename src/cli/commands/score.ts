/**
 * `univg score`: offline difficulty of an RL (or SFT) pool from G rollouts per row of a checkpoint or of
 * any OpenAI-compatible endpoint; writes RlRow shards with difficulty (mIoU), weight phi(mIoU) and
 * bucket, optionally filtered and curriculum-ordered.
 *
 *   univg score --data runs/demo/corpus/rl --data-root runs/demo --out runs/demo/train/scored --checkpoint runs/demo/train/sft
 *   univg score --data corpus/rl --data-root . --out scored --endpoint http://localhost:8000/v1 --model univg-sft-7b --g 8
 */
import type { Command } from 'commander';
import { BoxConvention } from '../../schema/records.js';
import { BACKEND_ORDER, type BackendName } from '../../train/backend-names.js';
import { MIOU_BUCKETS, PHI_KINDS, type PhiKind } from '../../train/rl/difficulty.js';
import type { ScoreOptions, ScoreResult } from '../../train/score/options.js';
import { BUCKET_ALIASES, POOL_ORDERS, parseBuckets, type PoolOrder } from '../../train/score/pool.js';
import { action, intOption, usage, numberOption, optionalInt } from '../action.js';

interface ScoreFlags {
  data?: string[];
  dataRoot?: string;
  out?: string;
  checkpoint?: string;
  endpoint?: string;
  model?: string;
  apiKeyEnv?: string;
  concurrency?: string;
  cacheDir?: string;
  convention?: string;
  minPixels?: string;
  maxPixels?: string;
  backend?: string;
  g?: string;
  temperature?: string;
  maxTokens?: string;
  phi?: string;
  phiPower?: string;
  seed?: string;
  limit?: string;
  keep?: string;
  minMiou?: string;
  maxMiou?: string;
  order?: string;
  bands?: string;
  json?: boolean;
}




/** ScoreOptions from the flags; checks combinations before anything is read. */
export function scoreOptions(f: ScoreFlags): ScoreOptions {
  if (!f.data || f.data.length === 0) throw usage('missing required option --data <dir...> (RlRow or SftRow shard directories)');
  if (!f.out) throw usage('missing required option --out <dir>');
  if ((f.checkpoint === undefined) === (f.endpoint === undefined)) throw usage('say where rollouts come from: --checkpoint DIR or --endpoint URL --model NAME (one of them)');
  const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  if (f.checkpoint !== undefined) {
    for (const k of ['model', 'apiKeyEnv', 'concurrency', 'cacheDir', 'minPixels', 'maxPixels'] as const) if (f[k] !== undefined) throw usage(`${flag(k)} applies to --endpoint only`);
  } else {
    if (!f.model) throw usage('--endpoint needs --model <name> (the model the endpoint serves)');
    if (f.backend !== undefined) throw usage('--backend applies to --checkpoint only');
  }
  let convention: BoxConvention | undefined;
  if (f.convention !== undefined) {
    const c = BoxConvention.safeParse(f.convention);
    if (!c.success) throw usage(`--convention must be one of ${BoxConvention.options.join(', ')}, got ${JSON.stringify(f.convention)}`);
    convention = c.data;
  }
  if (f.backend !== undefined && !(BACKEND_ORDER as readonly string[]).includes(f.backend)) throw usage(`--backend must be one of ${BACKEND_ORDER.join(', ')}, got ${JSON.stringify(f.backend)}`);
  if (f.phi !== undefined && !(PHI_KINDS as readonly string[]).includes(f.phi)) throw usage(`--phi must be one of ${PHI_KINDS.join(', ')}, got ${JSON.stringify(f.phi)}`);
  if (f.order !== undefined && !(POOL_ORDERS as readonly string[]).includes(f.order)) throw usage(`--order must be one of ${POOL_ORDERS.join(', ')}, got ${JSON.stringify(f.order)}`);
  let keep;
  try {
    keep = f.keep === undefined ? undefined : parseBuckets(f.keep.split(','));
  } catch (err) {
    throw usage(`--keep: ${(err as Error).message}`);
  }
  const model: ScoreOptions['model'] =
    f.checkpoint !== undefined
      ? { checkpoint: f.checkpoint, ...(f.backend !== undefined ? { backend: f.backend as BackendName } : {}), ...(convention ? { convention } : {}) }
      : {
          endpoint: {
            baseUrl: f.endpoint!,
            model: f.model!,
            ...(f.apiKeyEnv !== undefined ? { apiKeyEnv: f.apiKeyEnv } : {}),
            ...(f.concurrency !== undefined ? { concurrency: intOption('concurrency', f.concurrency) } : {}),
            ...(f.cacheDir !== undefined ? { cacheDir: f.cacheDir } : {}),
            ...(convention ? { convention } : {}),
            ...(f.minPixels !== undefined ? { minPixels: intOption('min-pixels', f.minPixels) } : {}),
            ...(f.maxPixels !== undefined ? { maxPixels: intOption('max-pixels', f.maxPixels) } : {}),
          },
        };
  const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
  return {
    data: f.data,
    out: f.out,
    model,
    ...defined({
      dataRoot: f.dataRoot,
      G: optionalInt('g', f.g),
      temperature: numberOption('temperature', f.temperature),
      maxTokens: optionalInt('max-tokens', f.maxTokens),
      phi: f.phi as PhiKind | undefined,
      phiPower: numberOption('phi-power', f.phiPower),
      seed: optionalInt('seed', f.seed),
      limit: optionalInt('limit', f.limit),
      keep,
      minMiou: numberOption('min-miou', f.minMiou),
      maxMiou: numberOption('max-miou', f.maxMiou),
      order: f.order as PoolOrder | undefined,
      bands: optionalInt('bands', f.bands),
    }),
  };
}

function summary(r: ScoreResult): string {
  const lines = [
    `univg score: ${r.scored} rows scored by ${r.source}; mean mIoU ${r.meanDifficulty.toFixed(3)}; buckets ${MIOU_BUCKETS.map((b) => `${b} ${r.buckets[b]}`).join(', ')}`,
    `  ${r.rows} rows written to ${r.out}${r.dropped ? ` (${r.dropped} left out by the selection)` : ''}${r.quarantined ? `; ${r.quarantined} quarantined (${Object.entries(r.reasons).map(([k, v]) => `${k} ${v}`).join(', ')}), see ${r.out}/quarantine.jsonl` : ''}`,
  ];
  const c = r.counters;
  if (c.requests !== undefined) lines.push(`  requests: ${c.requests} sent, ${c.cached ?? 0} answered from the cache, ${c.failed ?? 0} failed`);
  if (r.resumedParts > 0) lines.push(`  ${r.resumedParts} part(s) kept from an earlier run`);
  lines.push(`  ${r.seconds.toFixed(1)} s`);
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('score')
    .description('difficulty of each row from G rollouts of a checkpoint or an OpenAI-compatible endpoint: mIoU, weight phi(mIoU), bucket (RlRow shards)')
    .addHelpText(
      'after',
      `
The accuracy of a rollout is UniVG-R1's accuracy reward (the IoU of the <answer> box in 0-1000 of the target
image); difficulty = mean over the G rollouts (mIoU: high = easy), weight = phi(mIoU) (exp: e^(1 - mIoU)),
bucket = lt0.3 | 0.3-0.7 | gt0.7. A killed run continues where it stopped when run again; endpoint answers
are cached (--cache-dir), so nothing already answered is requested twice. The API key is read from the
variable named by --api-key-env (default OPENAI_API_KEY), never from a flag.

Examples:
  univg score --data runs/demo/corpus/rl --data-root runs/demo --out runs/demo/scored --checkpoint runs/demo/train/sft
  univg score --data corpus/rl --data-root . --out scored --endpoint http://localhost:8000/v1 --model univg-sft-7b --g 8
  univg score --data corpus/rl --data-root . --out hard --checkpoint sft --keep hard,medium --order hardest-first`,
    )
    .option('--data <dirs...>', 'RlRow or SftRow shard directories (an SftRow row loses its chain and becomes an RlRow)')
    .option('--data-root <dir>', 'directory relative image paths are read under (the run directory for image-store paths)')
    .option('--out <dir>', 'output RlRow shard directory')
    .option('--checkpoint <dir>', 'a checkpoint of the in-repo model (or a training output directory: its latest checkpoint)')
    .option('--endpoint <url>', 'base URL of an OpenAI-compatible endpoint (a vLLM server, `univg teacher serve`, ...)')
    .option('--model <name>', 'model name sent to --endpoint')
    .option('--api-key-env <name>', 'environment variable holding the endpoint key (default OPENAI_API_KEY; localhost needs none)')
    .option('--concurrency <n>', 'requests in flight for --endpoint (default 8)')
    .option('--cache-dir <dir>', 'response cache for --endpoint (default cache/teacher)')
    .option('--convention <c>', 'box convention the model answers in (default: the checkpoint\'s, or each row\'s own for --endpoint)')
    .option('--min-pixels <n>', 'image pixel budget for --endpoint (default 3136)')
    .option('--max-pixels <n>', 'image pixel budget for --endpoint (default 401408)')
    .option('--backend <name>', `TensorFlow.js backend for --checkpoint, tried first: ${BACKEND_ORDER.join(' | ')}`)
    .option('-G, --g <n>', 'rollouts per row (default 8, the paper\'s num_generations)')
    .option('--temperature <t>', 'sampling temperature (default 1, as in UniVG-R1\'s GRPO)')
    .option('--max-tokens <n>', 'completion tokens per rollout (default: the model\'s maximum for --checkpoint, 256 for --endpoint)')
    .option('--phi <kind>', `difficulty weight: ${PHI_KINDS.join(' | ')} (default exp: e^(1 - mIoU))`)
    .option('--phi-power <w>', 'exponent of --phi power: (1.05 - mIoU)^w (default 1)')
    .option('--seed <n>', 'sampling seed (default 0); the same seed gives the same bytes')
    .option('--limit <n>', 'score only the first N rows in input order; the rest are not written')
    .option('--keep <buckets>', `keep only these buckets, comma-separated: ${[...Object.keys(BUCKET_ALIASES), ...MIOU_BUCKETS].join(' | ')}`)
    .option('--min-miou <x>', 'keep rows with mIoU >= x')
    .option('--max-miou <x>', 'keep rows with mIoU <= x (drops what the model already solves)')
    .option('--order <order>', `row order of the output: ${POOL_ORDERS.join(' | ')} (banded: one part file per mIoU band)`)
    .option('--bands <n>', 'mIoU bands of a hardest-first / easiest-first order (default 10)')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (f: ScoreFlags) => {
        const o = scoreOptions(f);
        const { scoreCorpus } = await import('../../train/score/score.js');
        const ac = new AbortController();
        const onSignal = () => ac.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        let last = 0;
        try {
          const r = await scoreCorpus({
            ...o,
            signal: ac.signal,
            log: (l) => process.stderr.write(`univg ${l}\n`),
            progress: (done, total) => {
              const now = Date.now();
              if (done === total || now - last > 5000) {
                last = now;
                process.stderr.write(`univg score: ${done}/${total ?? '?'} rows\n`);
              }
            },
          });
          process.stdout.write(f.json ? `${JSON.stringify(r)}\n` : summary(r));
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      }),
    );
}
