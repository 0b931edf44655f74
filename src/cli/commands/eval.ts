/**
 * `univg eval`: MIG-Bench metrics (Acc@0.3/0.5/0.7 and mean IoU per task, AVG over tasks) for completions
 * from a predictions file, a built-in baseline, an OpenAI-compatible endpoint or a trained checkpoint.
 *
 *   univg eval --bench test.json [--image-root DIR] --predictions preds.jsonl --convention qwen2vl [--out DIR]
 *   univg eval --bench test.json --baseline centre|random|whole-image [--seed N]
 *   univg eval --bench test.json --endpoint --model NAME [--base-url URL] [--simulated]
 *   univg eval --bench test.json --checkpoint DIR
 */
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { BoxConvention } from '../../schema/records.js';
import { BASELINES, baselinePredictor, type Predictor } from '../../train/eval/predictor.js';
import type { CompletionSource, EvalReport } from '../../train/eval/evaluate.js';
import type { PixelBudget } from '../../train/eval/score.js';
import { action, intOption, usage } from '../action.js';

interface EvalFlags {
  bench?: string;
  imageRoot?: string;
  predictions?: string;
  baseline?: string;
  endpoint?: boolean;
  checkpoint?: string;
  convention?: string;
  minPixels?: string;
  maxPixels?: string;
  seed?: string;
  model?: string;
  baseUrl?: string;
  apiKeyEnv?: string;
  simulated?: boolean;
  maxTokens?: string;
  temperature?: string;
  concurrency?: string;
  cacheDir?: string;
  backend?: string;
  out?: string;
  json?: boolean;
}

/** The trainer's backends (src/train/backend.ts BACKEND_ORDER), listed here so the CLI loads no TensorFlow.js to check a flag. */
const BACKEND_NAMES = ['node-gpu', 'node', 'wasm', 'cpu'] as const;


function convention(v: string | undefined): BoxConvention | undefined {
  if (v === undefined) return undefined;
  const c = BoxConvention.safeParse(v);
  if (!c.success) throw usage(`--convention must be one of ${BoxConvention.options.join(', ')}, got ${JSON.stringify(v)}`);
  return c.data;
}

function budgetOf(f: EvalFlags): PixelBudget {
  return {
    ...(f.minPixels !== undefined ? { minPixels: intOption('min-pixels', f.minPixels) } : {}),
    ...(f.maxPixels !== undefined ? { maxPixels: intOption('max-pixels', f.maxPixels) } : {}),
  };
}

function needsBudget(c: BoxConvention, b: PixelBudget, what: string): void {
  if (c.startsWith('qwen25vl') && (b.minPixels === undefined || b.maxPixels === undefined)) {
    throw usage(`${what} is qwen25vl (pixels of the resized image): give --min-pixels and --max-pixels, the budget the model saw`);
  }
}

/** The one completion source the flags name; checks combinations before anything is read. */
function pickSource(f: EvalFlags): 'predictions' | 'baseline' | 'endpoint' | 'checkpoint' {
  const given = (['predictions', 'baseline', 'endpoint', 'checkpoint'] as const).filter((k) => f[k] !== undefined && f[k] !== false);
  if (given.length !== 1) {
    throw usage(given.length === 0 ? 'say where completions come from: --predictions FILE, --baseline KIND, --endpoint or --checkpoint DIR' : `--${given.join(' and --')} cannot be combined; give one`);
  }
  return given[0]!;
}

export async function evalCommand(f: EvalFlags): Promise<EvalReport> {
  // Loaded here: the evaluator pulls in sharp, parquet-wasm and the teacher client, which --help never needs.
  const [{ openaiPredictor, PAPER_EVAL }, { loadBench, quarantinedItems, quarantineReasons, runEval }, { readPredictionsFile }] = await Promise.all([
    import('../../train/eval/endpoint.js'),
    import('../../train/eval/evaluate.js'),
    import('../../train/eval/predictions-file.js'),
  ]);
  if (!f.bench) throw usage('missing required option --bench <file>');
  const kind = pickSource(f);
  const conv = convention(f.convention);
  const budget = budgetOf(f);
  if (kind === 'baseline' && !(BASELINES as readonly string[]).includes(f.baseline!)) throw usage(`--baseline must be one of ${BASELINES.join(', ')}, got ${JSON.stringify(f.baseline)}`);
  if (kind === 'endpoint' && !f.model && !f.simulated) throw usage('--endpoint needs --model <name> (the model the endpoint serves)');
  const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  if (kind !== 'endpoint') {
    for (const k of ['baseUrl', 'simulated', 'cacheDir', 'apiKeyEnv', 'concurrency'] as const) if (f[k] !== undefined) throw usage(`${flag(k)} applies to --endpoint only`);
  }
  if (kind !== 'endpoint' && kind !== 'checkpoint') {
    for (const k of ['maxTokens', 'temperature'] as const) if (f[k] !== undefined) throw usage(`${flag(k)} applies to --endpoint and --checkpoint only`);
  }
  if (kind !== 'checkpoint' && f.backend !== undefined) throw usage('--backend applies to --checkpoint only');
  const temperature = f.temperature === undefined ? undefined : Number(f.temperature);
  if (temperature !== undefined && (f.temperature!.trim() === '' || !(temperature >= 0 && temperature <= 2))) throw usage(`--temperature must be a number in [0, 2], got ${JSON.stringify(f.temperature)}`);
  if (kind === 'predictions' && conv !== undefined) needsBudget(conv, budget, '--convention');
  const imageRoot = f.imageRoot ?? dirname(f.bench);

  let source: CompletionSource;
  let predictor: Predictor | null = null;
  if (kind === 'predictions') {
    const predictions = await readPredictionsFile(f.predictions!, conv !== undefined ? { defaultConvention: conv } : {});
    for (const p of predictions.values()) needsBudget(p.convention, budget, `line ${p.line} of ${f.predictions}`);
    source = { kind: 'predictions', file: f.predictions!, predictions, ...(f.model ? { model: f.model } : {}) };
  } else if (kind === 'baseline') {
    if (conv !== undefined) throw usage('--convention does not apply to a baseline (baselines answer in qwen2vl)');
    predictor = baselinePredictor(f.baseline!, { seed: intOption('seed', f.seed, 0) });
    source = { kind: 'predictor', predictor };
  } else if (kind === 'endpoint') {
    const c = conv ?? 'qwen2vl';
    predictor = await openaiPredictor({
      model: f.model ?? 'univg-sim',
      ...(f.baseUrl !== undefined ? { baseUrl: f.baseUrl } : {}),
      ...(f.apiKeyEnv !== undefined ? { apiKeyEnv: f.apiKeyEnv } : {}),
      ...(f.simulated ? { simulated: { seed: 0 } } : {}),
      convention: c,
      minPixels: budget.minPixels ?? PAPER_EVAL.minPixels,
      maxPixels: budget.maxPixels ?? PAPER_EVAL.maxPixels,
      maxTokens: intOption('max-tokens', f.maxTokens, PAPER_EVAL.maxTokens),
      ...(temperature !== undefined ? { temperature } : {}),
      ...(f.seed !== undefined ? { seed: intOption('seed', f.seed) } : {}),
      concurrency: intOption('concurrency', f.concurrency, 8),
      ...(f.cacheDir !== undefined ? { cacheDir: f.cacheDir } : {}),
    });
    source = { kind: 'predictor', predictor };
  } else {
    const backend = f.backend;
    if (backend !== undefined && !(BACKEND_NAMES as readonly string[]).includes(backend)) throw usage(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got ${JSON.stringify(backend)}`);
    if (conv !== undefined) needsBudget(conv, budget, '--convention');
    // Loaded on demand: it brings TensorFlow.js, which no other eval path needs.
    const { checkpointPredictor } = await import('../../train/eval/checkpoint-predictor.js');
    predictor = await checkpointPredictor(f.checkpoint!, {
      ...(backend !== undefined ? { backend: backend as (typeof BACKEND_NAMES)[number] } : {}),
      ...(f.maxTokens !== undefined ? { maxTokens: intOption('max-tokens', f.maxTokens) } : {}),
      ...(temperature !== undefined ? { temperature } : {}),
      ...(f.seed !== undefined ? { seed: intOption('seed', f.seed) } : {}),
      ...(conv !== undefined ? { convention: conv } : {}),
    });
    process.stderr.write(`univg eval: ${String(predictor.info?.checkpoint)} (step ${String(predictor.info?.step)}) on backend ${String(predictor.info?.backend)}\n`);
    source = { kind: 'predictor', predictor };
  }

  // The endpoint's images were resized to its budget; a qwen25vl answer is read against the same one.
  const scoreBudget = kind === 'endpoint' ? { minPixels: budget.minPixels ?? PAPER_EVAL.minPixels, maxPixels: budget.maxPixels ?? PAPER_EVAL.maxPixels } : budget;
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
  program
    .command('eval')
    .description('MIG-Bench metrics (Acc@0.3/0.5/0.7, mean IoU per task, AVG over tasks) for predictions, a baseline, an endpoint or a checkpoint')
    .addHelpText('after', `
Examples:
  univg eval --bench runs/demo/source/test.json --baseline centre
  univg eval --bench MIG-Bench/MIG_data.json --image-root . --predictions preds.jsonl --convention qwen2vl --out runs/eval/qwen2vl-7b
  univg eval --bench runs/demo/source/test.json --endpoint --simulated --max-tokens 1024
  univg eval --bench runs/demo/source/test.json --checkpoint runs/sft/checkpoints/step-000400 --out runs/eval/sft
  OPENAI_API_KEY=... univg eval --bench test.json --endpoint --model Qwen2-VL-7B --base-url http://localhost:8000/v1 --out runs/eval/vllm`)
    .option('--bench <file>', 'MIG-Bench-format JSON (MIG-Bench, or the synthetic suite\'s test.json)')
    .option('--image-root <dir>', 'directory the bench\'s image paths are relative to (default: the bench file\'s directory)')
    .option('--predictions <file>', 'JSONL of {"id", "completion", "convention"?} made elsewhere')
    .option('--baseline <kind>', `built-in baseline: ${BASELINES.join(' | ')}`)
    .option('--endpoint', 'ask an OpenAI-compatible endpoint with the paper\'s eval prompt (key from $OPENAI_API_KEY)')
    .option('--checkpoint <dir>', 'a checkpoint of the in-repo model')
    .option('--convention <c>', 'box convention of the completions: qwen2vl (0-1000) | qwen25vl | norm | pixels (and -xywh forms)')
    .option('--min-pixels <n>', 'pixel budget: qwen25vl boxes; for --endpoint the image budget (default 3136)')
    .option('--max-pixels <n>', 'pixel budget: qwen25vl boxes; for --endpoint the image budget (default 401408)')
    .option('--seed <n>', 'seed of the random baseline; request seed for --endpoint; sampling seed for --checkpoint')
    .option('--model <name>', 'model name: sent to --endpoint; label of --predictions')
    .option('--base-url <url>', 'endpoint base URL (default $OPENAI_BASE_URL)')
    .option('--api-key-env <name>', 'environment variable holding the key (default OPENAI_API_KEY)')
    .option('--simulated', 'start the built-in simulated teacher and evaluate it (blind: no ground truth in the prompt)')
    .option('--max-tokens <n>', 'completion tokens per answer: --endpoint (default 256, the paper\'s), --checkpoint (default the model\'s maximum)')
    .option('--temperature <t>', 'sampling temperature for --endpoint and --checkpoint (default 0: greedy)')
    .option('--backend <name>', `TensorFlow.js backend for --checkpoint, tried first: ${BACKEND_NAMES.join(' | ')} (default the best available)`)
    .option('--concurrency <n>', 'requests in flight for --endpoint (default 8)')
    .option('--cache-dir <dir>', 'response cache for --endpoint (default cache/teacher)')
    .option('--out <dir>', 'write predictions.jsonl and metrics.json here')
    .option('--json', 'print metrics.json on stdout instead of the table')
    .action(
      action(async (f: EvalFlags) => {
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
