/**
 * `univg eval`: MIG-Bench metrics (Acc@0.3/0.5/0.7 and mean IoU per task, AVG over tasks) for completions
 * from a predictions file, a built-in baseline, an OpenAI-compatible endpoint or a trained checkpoint.
 *
 *   univg eval --bench test.json [--image-root DIR] --predictions preds.jsonl --convention qwen2vl [--out DIR]
 *   univg eval --bench test.json --baseline centre|random|whole-image [--seed N]
 *   univg eval --bench test.json --endpoint URL --model NAME
 *   univg eval --bench test.json --simulated
 *   univg eval --bench test.json --checkpoint DIR
 */
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { ForceAnswer, ScoreEndpointConfig, TrainBackend } from '../../schema/config.js';
import { BoxConvention } from '../../schema/records.js';
import { BASELINES, baselinePredictor, type Predictor } from '../../train/eval/predictor.js';
import type { CompletionSource, EvalReport } from '../../train/eval/evaluate.js';
import type { PixelBudget } from '../../train/eval/score.js';
import { action, usage } from '../action.js';
import { schemaFlags } from '../flags.js';

const ep = ScoreEndpointConfig.shape;

/** `univg eval`'s flags. Where they mean what `univg score`'s mean, they are the same schema fields. */
export const EvalFlags = z.object({
  bench: z.string().min(1).describe("MIG-Bench-format JSON (MIG-Bench, or the synthetic suite's test.json)"),
  imageRoot: z.string().min(1).optional().describe("directory the bench's image paths are relative to (default: the bench file's directory)"),
  predictions: z.string().min(1).optional().describe('score a JSONL file of {"id", "completion", "convention"?} made elsewhere'),
  baseline: z.enum(BASELINES).optional().describe('score a built-in baseline'),
  endpoint: ep.baseUrl.optional().describe("ask the model behind this OpenAI-compatible base URL, with the paper's eval prompt"),
  simulated: z.boolean().default(false).describe('start the built-in simulated teacher and evaluate it (blind: no ground truth in the prompt)'),
  checkpoint: z.string().min(1).optional().describe('evaluate a checkpoint of the in-repo model'),
  convention: BoxConvention.optional().describe('box convention of the completions (default: qwen2vl for --endpoint, the checkpoint\'s, or per line)'),
  minPixels: ep.minPixels.describe('pixel budget: of qwen25vl boxes; for --endpoint the image budget (default: 3136)'),
  maxPixels: ep.maxPixels.describe('pixel budget: of qwen25vl boxes; for --endpoint the image budget (default: 401408)'),
  seed: z.number().int().optional().describe('seed of the random baseline; request seed for --endpoint; sampling seed for --checkpoint'),
  model: z.string().min(1).optional().describe('model name: sent to --endpoint; label of --predictions'),
  apiKeyEnv: ep.apiKeyEnv,
  maxTokens: ep.maxTokens.describe("completion tokens per answer (default: 256 for --endpoint, the paper's; the model's maximum for --checkpoint)"),
  temperature: z.number().min(0).max(2).optional().describe('sampling temperature for --endpoint and --checkpoint (default: 0, greedy)'),
  forceAnswer: ForceAnswer,
  backend: TrainBackend,
  concurrency: ep.concurrency,
  cacheDir: ep.cacheDir,
  out: z.string().min(1).optional().describe('write predictions.jsonl and metrics.json here'),
});
export const EVAL_FLAGS = schemaFlags(EvalFlags, { placeholders: { endpoint: '<url>', model: '<name>', apiKeyEnv: '<name>', cacheDir: '<dir>', out: '<dir>' } });
type Flags = z.output<typeof EvalFlags>;

function needsBudget(c: BoxConvention, b: PixelBudget, what: string): void {
  if (c.startsWith('qwen25vl') && (b.minPixels === undefined || b.maxPixels === undefined)) {
    throw usage(`${what} is qwen25vl (pixels of the resized image): give --min-pixels and --max-pixels, the budget the model saw`);
  }
}

const SOURCES = ['predictions', 'baseline', 'endpoint', 'simulated', 'checkpoint'] as const;

/** The one completion source the flags name; checks combinations before anything is read. */
function pickSource(f: Flags): (typeof SOURCES)[number] {
  const given = SOURCES.filter((k) => f[k] !== undefined && f[k] !== false);
  if (given.length !== 1) {
    throw usage(given.length === 0 ? 'say where completions come from: --predictions FILE, --baseline KIND, --endpoint URL, --simulated or --checkpoint DIR' : `--${given.join(' and --')} cannot be combined; give one`);
  }
  return given[0]!;
}

export async function evalCommand(values: Record<string, unknown>): Promise<EvalReport> {
  const f = EVAL_FLAGS.parse(values);
  const kind = pickSource(f);
  const conv = f.convention;
  const budget: PixelBudget = { ...(f.minPixels !== undefined ? { minPixels: f.minPixels } : {}), ...(f.maxPixels !== undefined ? { maxPixels: f.maxPixels } : {}) };
  const remote = kind === 'endpoint' || kind === 'simulated';
  if (kind === 'endpoint' && !f.model) throw usage('--endpoint needs --model <name> (the model the endpoint serves)');
  if (!remote) {
    for (const k of ['apiKeyEnv', 'concurrency', 'cacheDir'] as const) if (EVAL_FLAGS.given(values, k)) throw usage(`${EVAL_FLAGS.flagOf(k)} applies to --endpoint and --simulated only`);
  }
  if (!remote && kind !== 'checkpoint') {
    for (const k of ['maxTokens', 'temperature'] as const) if (f[k] !== undefined) throw usage(`${EVAL_FLAGS.flagOf(k)} applies to --endpoint, --simulated and --checkpoint only`);
  }
  if (kind !== 'checkpoint' && f.backend !== undefined) throw usage('--backend applies to --checkpoint only');
  const temperature = f.temperature;
  if (kind === 'predictions' && conv !== undefined) needsBudget(conv, budget, '--convention');
  const imageRoot = f.imageRoot ?? dirname(f.bench);

  // Loaded here: the evaluator pulls in sharp, parquet-wasm and the teacher client, which --help never needs.
  const [{ openaiPredictor, PAPER_EVAL }, { loadBench, quarantinedItems, quarantineReasons, runEval }, { readPredictionsFile }] = await Promise.all([
    import('../../train/eval/endpoint.js'),
    import('../../train/eval/evaluate.js'),
    import('../../train/eval/predictions-file.js'),
  ]);

  let source: CompletionSource;
  let predictor: Predictor | null = null;
  if (kind === 'predictions') {
    const predictions = await readPredictionsFile(f.predictions!, conv !== undefined ? { defaultConvention: conv } : {});
    for (const p of predictions.values()) needsBudget(p.convention, budget, `line ${p.line} of ${f.predictions}`);
    source = { kind: 'predictions', file: f.predictions!, predictions, ...(f.model ? { model: f.model } : {}) };
  } else if (kind === 'baseline') {
    if (conv !== undefined) throw usage('--convention does not apply to a baseline (baselines answer in qwen2vl)');
    predictor = baselinePredictor(f.baseline!, { seed: f.seed ?? 0 });
    source = { kind: 'predictor', predictor };
  } else if (remote) {
    const c = conv ?? 'qwen2vl';
    predictor = await openaiPredictor({
      model: f.model ?? 'univg-sim',
      ...(f.endpoint !== undefined ? { baseUrl: f.endpoint } : {}),
      apiKeyEnv: f.apiKeyEnv,
      ...(f.simulated ? { simulated: { seed: 0 } } : {}),
      convention: c,
      minPixels: budget.minPixels ?? PAPER_EVAL.minPixels,
      maxPixels: budget.maxPixels ?? PAPER_EVAL.maxPixels,
      maxTokens: f.maxTokens ?? PAPER_EVAL.maxTokens,
      ...(temperature !== undefined ? { temperature } : {}),
      ...(f.seed !== undefined ? { seed: f.seed } : {}),
      concurrency: f.concurrency,
      cacheDir: f.cacheDir,
    });
    source = { kind: 'predictor', predictor };
  } else {
    const backend = f.backend;
    if (conv !== undefined) needsBudget(conv, budget, '--convention');
    // Loaded on demand: it brings TensorFlow.js, which no other eval path needs.
    const { checkpointPredictor } = await import('../../train/eval/checkpoint-predictor.js');
    predictor = await checkpointPredictor(f.checkpoint!, {
      ...(backend !== undefined ? { backend } : {}),
      ...(f.maxTokens !== undefined ? { maxTokens: f.maxTokens } : {}),
      ...(temperature !== undefined ? { temperature } : {}),
      ...(f.seed !== undefined ? { seed: f.seed } : {}),
      ...(conv !== undefined ? { convention: conv } : {}),
      forceAnswer: f.forceAnswer,
    });
    process.stderr.write(`univg eval: ${String(predictor.info?.checkpoint)} (step ${String(predictor.info?.step)}) on backend ${String(predictor.info?.backend)}\n`);
    source = { kind: 'predictor', predictor };
  }

  // The endpoint's images were resized to its budget; a qwen25vl answer is read against the same one.
  const scoreBudget = remote ? { minPixels: budget.minPixels ?? PAPER_EVAL.minPixels, maxPixels: budget.maxPixels ?? PAPER_EVAL.maxPixels } : budget;
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  try {
    const bench = await loadBench(f.bench, imageRoot);
    if (bench.quarantined.length > 0) {
      process.stderr.write(`univg eval: warning: ${quarantinedItems(bench.quarantined)} bench item(s) could not be read and are not scored (${Object.entries(quarantineReasons(bench.quarantined)).map(([k, v]) => `${k} ${v}`).join(', ')})\n`);
    }
    let last = Date.now();
    return await runEval({
      bench,
      source,
      budget: scoreBudget,
      signal: ac.signal,
      ...(f.out !== undefined ? { out: f.out } : {}),
      ...(predictor?.needsImages !== false && predictor !== null
        ? {
            onProgress: (done: number, total: number) => {
              const now = Date.now();
              if (done === total || now - last > 5000) {
                last = now;
                process.stderr.write(`univg eval: ${done}/${total} samples\n`);
              }
            },
          }
        : {}),
    });
  } finally {
    process.off('SIGINT', onSigint);
    await predictor?.close?.();
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description('MIG-Bench metrics (Acc@0.3/0.5/0.7, mean IoU per task, AVG over tasks) for predictions, a baseline, an endpoint or a checkpoint')
    .addHelpText('after', `
Examples:
  univg eval --bench runs/demo/source/test.json --baseline centre
  univg eval --bench MIG-Bench/MIG_data.json --image-root . --predictions preds.jsonl --convention qwen2vl --out runs/eval/qwen2vl-7b
  univg eval --bench runs/demo/source/test.json --simulated --max-tokens 1024
  univg eval --bench runs/demo/source/test.json --checkpoint runs/sft/checkpoints/step-000400 --out runs/eval/sft
  OPENAI_API_KEY=... univg eval --bench test.json --endpoint http://localhost:8000/v1 --model Qwen2-VL-7B --out runs/eval/vllm`);
  EVAL_FLAGS.addTo(cmd)
    .option('--json', 'print metrics.json on stdout instead of the table')
    .action(
      action(async (f: Record<string, unknown>) => {
        const report = await evalCommand(f);
        const { formatEvalTable } = await import('../../train/eval/table.js');
        if (f.json) {
          process.stdout.write(`${JSON.stringify(report)}\n`);
          return;
        }
        const p = report.predictor;
        process.stdout.write(formatEvalTable(report.metrics, `univg eval: ${p.model} on ${report.bench.file} (${report.bench.samples} samples, convention ${p.convention}); percent, tasks as columns, AVG = mean over tasks`));
        if (f.out !== undefined) process.stdout.write(`wrote ${f.out}/predictions.jsonl and ${f.out}/metrics.json\n`);
      }),
    );
}
