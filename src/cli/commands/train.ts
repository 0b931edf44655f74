/**
 * `univg train sft`: supervised fine-tuning of the in-repo grounding model on SftRow shards.
 *
 *   univg train sft --data runs/demo/corpus/sft --out runs/demo/sft --steps 300 --batch 4 --seed 0
 *   univg train sft ... --no-cot          # target <answer>...</answer> only (the paper's no-CoT ablation)
 *   univg train sft ... --resume          # continue from the latest checkpoint in --out, exactly
 *   univg train rl --data runs/demo/corpus/rl --init runs/demo/sft --out runs/demo/rl --steps 100
 */
import type { Command } from 'commander';
import { EXIT, InterruptedError } from '../../errors.js';
import { BACKEND_ORDER, type BackendName } from '../../train/backend-names.js';
import type { ModelShape } from '../../train/model/index.js';
import type { SftOptions } from '../../train/sft.js';
import type { RlOptions } from '../../train/rl/train.js';
import { PHI_KINDS, type PhiKind } from '../../train/rl/difficulty.js';
import { action, intOption, usage, numberOption, optionalInt } from '../action.js';

interface SftCliOptions {
  data?: string[];
  dataRoot?: string;
  out?: string;
  steps?: string;
  batch?: string;
  accum?: string;
  lr?: string;
  minLr?: string;
  warmup?: string;
  weightDecay?: string;
  clip?: string;
  seed?: string;
  cot?: boolean;
  coordSigma?: string;
  resume?: boolean;
  checkpointEvery?: string;
  keepCheckpoints?: string;
  evalEvery?: string;
  evalFraction?: string;
  dModel?: string;
  layers?: string;
  heads?: string;
  mlpHidden?: string;
  imageSize?: string;
  patchSize?: string;
  maxImages?: string;
  backend?: string;
  workers?: string;
  stopAfter?: string;
  json?: boolean;
}




export function parseSftOptions(o: SftCliOptions): SftOptions {
  if (!o.data || o.data.length === 0) throw usage('missing required option --data <dir> (an SftRow stage directory, e.g. runs/demo/corpus/sft)');
  if (!o.out) throw usage('missing required option --out <dir>');
  if (o.backend !== undefined && !(BACKEND_ORDER as readonly string[]).includes(o.backend)) throw usage(`--backend must be one of ${BACKEND_ORDER.join(', ')}, got ${JSON.stringify(o.backend)}`);
  const model: Partial<ModelShape> = {};
  const shape: Array<[keyof ModelShape, string | undefined, string]> = [
    ['dModel', o.dModel, 'd-model'],
    ['nLayers', o.layers, 'layers'],
    ['nHeads', o.heads, 'heads'],
    ['mlpHidden', o.mlpHidden, 'mlp-hidden'],
    ['imageSize', o.imageSize, 'image-size'],
    ['patchSize', o.patchSize, 'patch-size'],
    ['maxImages', o.maxImages, 'max-images'],
  ];
  for (const [key, v, flag] of shape) if (v !== undefined) model[key] = intOption(flag, v);
  const opts: SftOptions = {
    data: o.data,
    out: o.out,
    steps: intOption('steps', o.steps),
    batch: intOption('batch', o.batch, 4),
    cot: o.cot !== false,
    resume: o.resume === true,
    model,
  };
  const set = <K extends keyof SftOptions>(k: K, v: SftOptions[K] | undefined) => {
    if (v !== undefined) opts[k] = v;
  };
  set('dataRoot', o.dataRoot);
  set('accum', optionalInt('accum', o.accum));
  set('lr', numberOption('lr', o.lr));
  set('minLr', numberOption('min-lr', o.minLr));
  set('warmup', optionalInt('warmup', o.warmup));
  set('weightDecay', numberOption('weight-decay', o.weightDecay));
  set('clip', numberOption('clip', o.clip));
  set('seed', optionalInt('seed', o.seed));
  set('checkpointEvery', optionalInt('checkpoint-every', o.checkpointEvery));
  set('keepCheckpoints', optionalInt('keep-checkpoints', o.keepCheckpoints));
  set('evalEvery', optionalInt('eval-every', o.evalEvery));
  set('evalFraction', numberOption('eval-fraction', o.evalFraction));
  set('coordSigma', numberOption('coord-sigma', o.coordSigma));
  set('backend', o.backend as BackendName | undefined);
  set('workers', optionalInt('workers', o.workers));
  set('stopAfter', optionalInt('stop-after', o.stopAfter));
  return opts;
}

interface RlCliOptions {
  data?: string[];
  dataRoot?: string;
  init?: string;
  out?: string;
  steps?: string;
  prompts?: string;
  g?: string;
  lr?: string;
  minLr?: string;
  warmup?: string;
  weightDecay?: string;
  clip?: string;
  beta?: string;
  epsilon?: string;
  phi?: string;
  phiPower?: string;
  std?: string;
  iterations?: string;
  temperature?: string;
  maxTokens?: string;
  seed?: string;
  resume?: boolean;
  checkpointEvery?: string;
  keepCheckpoints?: string;
  backend?: string;
  workers?: string;
  stopAfter?: string;
  json?: boolean;
}

export function parseRlOptions(o: RlCliOptions): RlOptions {
  if (!o.data || o.data.length === 0) throw usage('missing required option --data <dir> (an RlRow or SftRow stage directory, e.g. runs/demo/corpus/rl)');
  if (!o.init) throw usage('missing required option --init <dir> (the SFT checkpoint or SFT output directory)');
  if (!o.out) throw usage('missing required option --out <dir>');
  if (o.backend !== undefined && !(BACKEND_ORDER as readonly string[]).includes(o.backend)) throw usage(`--backend must be one of ${BACKEND_ORDER.join(', ')}, got ${JSON.stringify(o.backend)}`);
  if (o.phi !== undefined && !(PHI_KINDS as readonly string[]).includes(o.phi)) throw usage(`--phi must be one of ${PHI_KINDS.join(', ')}, got ${JSON.stringify(o.phi)}`);
  if (o.std !== undefined && o.std !== 'sample' && o.std !== 'population') throw usage(`--std must be sample or population, got ${JSON.stringify(o.std)}`);
  const opts: RlOptions = { data: o.data, init: o.init, out: o.out, steps: intOption('steps', o.steps), resume: o.resume === true };
  const set = <K extends keyof RlOptions>(k: K, v: RlOptions[K] | undefined) => {
    if (v !== undefined) opts[k] = v;
  };
  set('dataRoot', o.dataRoot);
  set('prompts', optionalInt('prompts', o.prompts));
  set('G', optionalInt('g', o.g));
  set('lr', numberOption('lr', o.lr));
  set('minLr', numberOption('min-lr', o.minLr));
  set('warmup', optionalInt('warmup', o.warmup));
  set('weightDecay', numberOption('weight-decay', o.weightDecay));
  set('clip', numberOption('clip', o.clip));
  set('beta', numberOption('beta', o.beta));
  set('epsilon', numberOption('epsilon', o.epsilon));
  set('phi', o.phi as PhiKind | undefined);
  set('phiPower', numberOption('phi-power', o.phiPower));
  set('std', o.std as RlOptions['std']);
  set('iterations', optionalInt('iterations', o.iterations));
  set('temperature', numberOption('temperature', o.temperature));
  set('maxTokens', optionalInt('max-tokens', o.maxTokens));
  set('seed', optionalInt('seed', o.seed));
  set('checkpointEvery', optionalInt('checkpoint-every', o.checkpointEvery));
  set('keepCheckpoints', optionalInt('keep-checkpoints', o.keepCheckpoints));
  set('backend', o.backend as BackendName | undefined);
  set('workers', optionalInt('workers', o.workers));
  set('stopAfter', optionalInt('stop-after', o.stopAfter));
  return opts;
}

/** Ctrl-C finishes the current update and checkpoints; a second one kills. */
async function withInterrupt<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    process.stderr.write('univg: interrupt: finishing the current update and writing a checkpoint (Ctrl-C again to kill)\n');
    controller.abort();
    process.once('SIGINT', () => process.exit(EXIT.interrupted));
  };
  process.once('SIGINT', onSigint);
  try {
    return await run(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function register(program: Command): void {
  const train = program.command('train').description('Train the in-repo grounding model (TensorFlow.js)');
  train
    .command('sft')
    .description('Supervised fine-tuning on SftRow shards: cross-entropy on the completion, AdamW, warmup + cosine, checkpoints, exact resume')
    .addHelpText(
      'after',
      `
Examples:
  univg train sft --data runs/demo/corpus/sft --out runs/demo/sft --steps 300 --batch 4 --seed 0
  univg train sft --data runs/demo/corpus/sft --out runs/demo/sft-nocot --steps 300 --no-cot
  univg train sft --data runs/demo/corpus/sft --out runs/demo/sft --steps 300 --resume

The backend (tfjs-node-gpu, tfjs-node, wasm, cpu: the first that starts) is printed first and stored in
every checkpoint and in result.json. Files in --out: checkpoints/step-*/ (weights, optimizer, tokenizer,
config, RNG and loader state), train-log.jsonl, loss-curve.svg, result.json.`,
    )
    .option('--data <dir>', 'SftRow stage directory (repeat for several)', collect)
    .option('--data-root <dir>', 'directory relative image paths in the rows are resolved against')
    .option('--out <dir>', 'output directory (checkpoints, log, loss curve, result)')
    .option('--steps <n>', 'optimizer updates in the whole run')
    .option('--batch <n>', 'rows per micro-batch (default 4)')
    .option('--accum <n>', 'micro-batches per update (default 1)')
    .option('--lr <x>', 'peak learning rate (default 1e-3)')
    .option('--min-lr <x>', 'cosine floor (default lr/10)')
    .option('--warmup <n>', 'warmup updates (default min(100, steps/10))')
    .option('--weight-decay <x>', 'AdamW decoupled weight decay (default 0.01)')
    .option('--clip <x>', 'clip the global gradient norm (default 1; 0 = off)')
    .option('--seed <n>', 'seed of init, data order and sampling (default 0)')
    .option('--no-cot', 'train on <answer>...</answer> only (no chain of thought)')
    .option('--coord-sigma <x>', 'spread coordinate targets over neighbouring values (std dev, 0-1000 units; default 0 = exact)')
    .option('--resume', 'continue from the latest checkpoint in --out')
    .option('--checkpoint-every <n>', 'checkpoint every n updates (default 50)')
    .option('--keep-checkpoints <n>', 'keep the newest n checkpoints (default 3; 0 = all)')
    .option('--eval-every <n>', 'held-out loss every n updates (default 50)')
    .option('--eval-fraction <x>', 'share of rows held out by id hash (default 0.05)')
    .option('--d-model <n>', 'model width (default 128)')
    .option('--layers <n>', 'transformer layers (default 3)')
    .option('--heads <n>', 'attention heads (default 2)')
    .option('--mlp-hidden <n>', 'MLP width (default 512)')
    .option('--image-size <n>', 'images are resized to n x n (default 64)')
    .option('--patch-size <n>', 'patch side in pixels (default 8)')
    .option('--max-images <n>', 'image slots (default 6)')
    .option('--backend <name>', `force a backend: ${BACKEND_ORDER.join(', ')} (default: the first that starts)`)
    .option('--workers <n>', 'image decode threads of the loader')
    .option('--stop-after <n>', 'stop after n updates in this run (checkpointed), e.g. to split a run')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (o: SftCliOptions) => {
        const opts = parseSftOptions(o);
        // Loaded here, not at the top: TensorFlow.js takes a moment to load and other commands never need it.
        const { trainSft } = await import('../../train/sft.js');
        const r = await withInterrupt((signal) => trainSft({ ...opts, signal }));
        if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
        else
          process.stdout.write(
            `${r.stopped === 'done' ? 'trained' : 'stopped at'} step ${r.step}/${r.steps} on backend ${r.backend.name}: loss ${r.finalLoss?.toFixed(4) ?? 'n/a'}, held-out loss ${r.finalEvalLoss?.toFixed(4) ?? 'n/a'}, ${r.seconds.toFixed(1)} s\n  checkpoint ${r.checkpoint}\n`,
          );
        if (r.stopped === 'aborted') throw new InterruptedError(`interrupted at step ${r.step}; resume with --resume`);
      }),
    );

  train
    .command('rl')
    .description('Difficulty-aware GRPO from an SFT checkpoint: G rollouts per prompt, IoU + format rewards, group advantages, phi(mIoU) on the policy term, k3 KL to the SFT model')
    .addHelpText(
      'after',
      `
Examples:
  univg train rl --data runs/demo/corpus/rl --init runs/demo/sft --out runs/demo/rl --steps 100
  univg train rl --data runs/demo/scored --init runs/demo/sft --out runs/demo/rl-plain --steps 100 --phi none
  univg train rl --data runs/demo/corpus/rl --init runs/demo/sft --out runs/demo/rl --steps 100 --resume

Defaults are the paper's: 16 prompts x G=8 rollouts per step, temperature 1, beta 0.04 (k3 KL to the
frozen SFT model), epsilon 0.2, one update per rollout batch, phi = exp(1 - mIoU) on the policy-gradient
term, lr 1e-6 (set a larger --lr for the small in-repo model). Files in --out: checkpoints/step-*/,
rl-log.jsonl (reward, IoU, format rate, mIoU buckets, weight, KL, clip fraction, length per step),
rl-curves.svg, result.json.`,
    )
    .option('--data <dir>', 'RlRow (or SftRow) stage directory: the RL pool (repeat for several)', collect)
    .option('--data-root <dir>', 'directory relative image paths in the rows are resolved against')
    .option('--init <dir>', 'SFT checkpoint (or SFT output directory): the starting policy and the KL reference')
    .option('--out <dir>', 'output directory (checkpoints, log, curves, result)')
    .option('--steps <n>', 'optimizer steps in the whole run')
    .option('--prompts <n>', 'prompts per step (default 16)')
    .option('--g <n>', 'rollouts per prompt (default 8)')
    .option('--lr <x>', 'learning rate (default 1e-6, the paper\'s)')
    .option('--min-lr <x>', 'cosine floor (default: lr, a constant rate)')
    .option('--warmup <n>', 'warmup steps (default 0)')
    .option('--weight-decay <x>', 'AdamW decoupled weight decay (default 0)')
    .option('--clip <x>', 'clip the global gradient norm (default 1; 0 = off)')
    .option('--beta <x>', 'KL coefficient (default 0.04)')
    .option('--epsilon <x>', 'ratio clip range (default 0.2)')
    .option('--phi <kind>', `difficulty weight: ${PHI_KINDS.join(', ')} (default exp; none = plain GRPO)`)
    .option('--phi-power <w>', 'exponent of --phi power (default 1)')
    .option('--std <kind>', 'group std: sample (G-1, TRL; default) or population (G, verl)')
    .option('--iterations <n>', 'updates per batch of rollouts (default 1, on-policy)')
    .option('--temperature <x>', 'sampling temperature (default 1)')
    .option('--max-tokens <n>', 'completion token cap (default: the model\'s)')
    .option('--seed <n>', 'seed of data order and sampling (default 0)')
    .option('--resume', 'continue from the latest checkpoint in --out')
    .option('--checkpoint-every <n>', 'checkpoint every n steps (default 25)')
    .option('--keep-checkpoints <n>', 'keep the newest n checkpoints (default 3; 0 = all)')
    .option('--backend <name>', `force a backend: ${BACKEND_ORDER.join(', ')} (default: the first that starts)`)
    .option('--workers <n>', 'image decode threads of the loader')
    .option('--stop-after <n>', 'stop after n steps in this run (checkpointed)')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (o: RlCliOptions) => {
        const opts = parseRlOptions(o);
        const { trainRl } = await import('../../train/rl/train.js');
        const r = await withInterrupt((signal) => trainRl({ ...opts, signal }));
        if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
        else process.stdout.write(`${r.stopped === 'done' ? 'trained' : 'stopped at'} step ${r.step}/${r.steps} on backend ${r.backend.name}, ${r.seconds.toFixed(1)} s\n  checkpoint ${r.checkpoint}\n`);
        if (r.stopped === 'aborted') throw new InterruptedError(`interrupted at step ${r.step}; resume with --resume`);
      }),
    );
}
