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
import { ParityOptions, RlRunOptions, SftRunOptions, VisionRunOptions } from '../../schema/train-options.js';
import type { RlOptions } from '../../train/rl/train.js';
import type { SftOptions } from '../../train/sft.js';
import { action } from '../action.js';
import { schemaFlags } from '../flags.js';

/** `univg train sft`'s flags: every field of SftRunOptions, the model shape flattened (--d-model, --n-layers, ...). */
export const SFT_FLAGS = schemaFlags(SftRunOptions, { flatten: ['model'] });
/** `univg train rl`'s flags: every field of RlRunOptions. */
export const RL_FLAGS = schemaFlags(RlRunOptions);
/** `univg train vision`'s flags: every field of VisionRunOptions, the tower's shape flattened. */
export const VISION_FLAGS = schemaFlags(VisionRunOptions, { flatten: ['model'] });
/** `univg train parity`'s flags. */
export const PARITY_FLAGS = schemaFlags(ParityOptions);

const json = { json: 'print the result as JSON' };

/** trainSft's options from the command line's values (exit 2 naming every bad or missing flag). */
export function parseSftOptions(values: Record<string, unknown>): SftOptions {
  return SFT_FLAGS.parse(values);
}

/** trainRl's options from the command line's values. */
export function parseRlOptions(values: Record<string, unknown>): RlOptions {
  return RL_FLAGS.parse(values);
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

export function register(program: Command): void {
  const train = program.command('train').description('train the in-repo grounding model (TensorFlow.js)');
  const sft = train
    .command('sft')
    .description('supervised fine-tuning on SftRow shards: cross-entropy on the completion, AdamW, warmup + cosine, checkpoints, exact resume')
    .addHelpText(
      'after',
      `
Examples:
  univg train sft --data runs/demo/corpus/sft --out runs/demo/sft --steps 300 --batch 4 --seed 0
  univg train sft --data runs/demo/corpus/sft --out runs/demo/sft-nocot --steps 300 --no-cot
  univg train sft --data runs/demo/corpus/sft --out runs/demo/sft --steps 300 --resume

The backend (the first of --backend's choices that starts) is printed first and stored in
every checkpoint and in result.json. Files in --out: checkpoints/step-*/ (weights, optimizer, tokenizer,
config, RNG and loader state), train-log.jsonl, loss-curve.svg, result.json. Every option is also a key
of a pipeline's train.sft section (--n-layers is model.nLayers), with the same default.`,
    );
  SFT_FLAGS.addTo(sft)
    .option('--json', json.json)
    .action(
      action(async (o: Record<string, unknown>) => {
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

  const rl = train
    .command('rl')
    .description('difficulty-aware GRPO from an SFT checkpoint: G rollouts per prompt, IoU + format rewards, group advantages, phi(mIoU) on the policy term, k3 KL to the SFT model')
    .addHelpText(
      'after',
      `
Examples:
  univg train rl --data runs/demo/corpus/rl --init runs/demo/sft --out runs/demo/rl --steps 100
  univg train rl --data runs/demo/scored --init runs/demo/sft --out runs/demo/rl-plain --steps 100 --phi none
  univg train rl --data runs/demo/corpus/rl --init runs/demo/sft --out runs/demo/rl --steps 100 --resume

Defaults are the paper's: 16 prompts x G=8 rollouts per step, temperature 1, beta 0.04 (k3 KL to the
frozen SFT model), epsilon 0.2, one update per rollout batch, phi = exp(1 - mIoU) on the policy-gradient
term; except the learning rate, 1e-5: the paper's 1e-6 is for a 7B model. Files in --out: checkpoints/step-*/,
rl-log.jsonl (reward, IoU, format rate, mIoU buckets, weight, KL, clip fraction, length per step),
rl-curves.svg, result.json. Every option is also a key of a pipeline's train.rl section, with the same
default.`,
    );
  RL_FLAGS.addTo(rl)
    .option('--json', json.json)
    .action(
      action(async (o: Record<string, unknown>) => {
        const opts = parseRlOptions(o);
        const { trainRl } = await import('../../train/rl/train.js');
        const r = await withInterrupt((signal) => trainRl({ ...opts, signal }));
        if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
        else process.stdout.write(`${r.stopped === 'done' ? 'trained' : 'stopped at'} step ${r.step}/${r.steps} on backend ${r.backend.name}, ${r.seconds.toFixed(1)} s\n  checkpoint ${r.checkpoint}\n`);
        if (r.stopped === 'aborted') throw new InterruptedError(`interrupted at step ${r.step}; resume with --resume`);
      }),
    );

  const vision = train
    .command('vision')
    .description('pretrain the vit vision tower on the corpus\'s images (objects, colours, shapes, markers and boxes per image cell), for SFT to start from')
    .addHelpText(
      'after',
      `
Examples:
  univg train vision --data runs/lab-corpus/source --out runs/lab/vision --steps 1500
  univg train sft --data runs/lab-corpus/corpus/sft --data-root runs/lab-corpus --vision runs/lab/vision --pointer --out runs/lab/sft

--data is a synthetic suite directory (univg synth output, or a run's source/): its scene file says where
every object is and what it is. Files in --out: checkpoints/step-*/ (config.json: univg-vision),
vision-log.jsonl (losses per step, held-out box accuracy, objectness, colour and shape per evaluation),
result.json. SFT takes the tower's shape and weights with --vision (frozen unless --vision-lr-scale).`,
    );
  VISION_FLAGS.addTo(vision)
    .option('--json', json.json)
    .action(
      action(async (o: Record<string, unknown>) => {
        const opts = VISION_FLAGS.parse(o);
        const { trainVision } = await import('../../train/vision/train.js');
        const r = await withInterrupt((signal) => trainVision({ ...opts, signal }));
        if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
        else {
          const m = r.metrics;
          process.stdout.write(
            `${r.stopped === 'done' ? 'trained' : 'stopped at'} step ${r.step}/${r.steps} on backend ${r.backend.name}${m ? `: held-out boxes IoU>=0.5 ${(100 * m.boxAcc50).toFixed(1)}%, colour ${(100 * m.colorAcc).toFixed(1)}%, shape ${(100 * m.shapeAcc).toFixed(1)}%` : ''}, ${r.seconds.toFixed(1)} s\n  checkpoint ${r.checkpoint}\n`,
          );
        }
        if (r.stopped === 'aborted') throw new InterruptedError(`interrupted at step ${r.step}; resume with --resume`);
      }),
    );

  const parity = train
    .command('parity')
    .description('check that a backend trains as the cpu backend does: one SFT update, one GRPO update and greedy generation from the same weights, within stated fp32 tolerances')
    .addHelpText(
      'after',
      `
Examples:
  univg train parity --backend webgpu      # on a GPU machine, before trusting it with a long run
  univg train parity --backend wasm --json

Exit 0 when every check is within its tolerance, 1 when one is not (the table says which). Dawn prints
GPU validation errors and carries on, so a backend that compiles a kernel wrongly trains silently into
NaN: this is the check that catches it.`,
    );
  PARITY_FLAGS.addTo(parity)
    .option('--json', json.json)
    .action(
      action(async (o: Record<string, unknown>) => {
        const opts = PARITY_FLAGS.parse(o);
        const { backendParity, formatParity } = await import('../../train/parity.js');
        const r = await backendParity({ ...opts, log: (l) => process.stderr.write(l + '\n') });
        process.stdout.write(o.json ? JSON.stringify(r) + '\n' : formatParity(r) + '\n');
        return r.ok ? EXIT.ok : EXIT.failed;
      }),
    );
}
