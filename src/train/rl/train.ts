/**
 * Difficulty-aware GRPO (`univg train rl`): per step, `prompts` rows from the RL pool; per prompt, G
 * completions sampled from the current policy; rewards from the project's reward module (accuracy = IoU of
 * the `<answer>` box in the 0-1000 frame, format = UniVG's regex, summed as the paper's trainer does);
 * group-normalised advantages; phi(mIoU) from the prompt's own rollouts on the policy-gradient term; k3 KL
 * to the frozen SFT model; clipping by global norm and AdamW.
 *
 * Exact resume: the policy, AdamW moments and the loader's position are in the checkpoint, and every
 * rollout samples from a stream keyed by (seed, step, prompt slot), so a killed run resumed on the same
 * backend ends with the same weights bit for bit.
 *
 * Files under `out`: `checkpoints/step-*`, `rl-log.jsonl` (one line per step), `rl-curves.svg` and
 * `result.json` at the end.
 */
import { appendFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { accuracyReward, formatReward } from '../../completion/index.js';
import type { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { parseOptions } from '../../schema/options.js';
import { RlRunOptions } from '../../schema/train-options.js';
import { convertBox } from '../../geometry/index.js';
import { readManifest } from '../../store/index.js';
import { writeFileAtomic } from '../../store/fsutil.js';
import * as tf from '@tensorflow/tfjs-core';
import { announceBackend, deviceField, selectBackend, type BackendChoice, type BackendName } from '../backend.js';
import { watchGpuErrors } from '../backends/webgpu.js';
import { exampleBatch, promptIds, stackBatches } from '../batching.js';
import { checkpointName, logUpTo, prepareTrainingOut, pruneCheckpoints, readCheckpoint, resolveCheckpointDir, saveCheckpoint } from '../checkpoint.js';
import { createLoader, type Batch, type LoaderState } from '../loader/index.js';
import { GroundingModel, paramCount } from '../model/index.js';
import { AdamW, lrAt } from '../optim.js';
import { assertFinite } from '../readback.js';
import type { Tokenizer } from '../tokenizer.js';
import { bucketShares, groupAdvantages, mean, phi, std, type PhiKind, type StdKind } from './difficulty.js';
import { grpoUpdate, updateStatsOf, type GroupInput } from './objective.js';
import { rlCurvesSvg, type RlCurveStep } from './curves.js';
import { sampleGroup } from './rollout.js';

/**
 * What trainRl takes: RlRunOptions (src/schema/train-options.ts, the one definition of every option, its
 * help and its default; the CLI and the pipeline read the same schema), plus the process hooks. Only
 * `data`, `init` and `out` are required.
 */
export type RlOptions = z.input<typeof RlRunOptions> & {
  signal?: AbortSignal;
  log?: (line: string) => void;
};

export interface RlStepLog extends RlCurveStep {
  type: 'rl-step';
  prompts: number;
  rollouts: number;
  loss: number;
  lr: number;
  gradNorm: number;
  seconds: number;
  backend: BackendName;
  /** The GPU the step ran on (WebGPU only). */
  device?: string;
}

export interface RlResult {
  out: string;
  backend: BackendChoice;
  step: number;
  steps: number;
  stopped: 'done' | 'stopAfter' | 'aborted';
  checkpoint: string;
  seconds: number;
  resumedFrom: number | null;
}

/** Options that decide which rollouts and updates a run makes: a resume must keep them. */
const RESUME_KEYS = ['data', 'dataRoot', 'init', 'initWeights', 'prompts', 'G', 'lr', 'minLr', 'warmup', 'weightDecay', 'clip', 'beta', 'epsilon', 'phi', 'phiPower', 'std', 'iterations', 'temperature', 'topP', 'maxTokens', 'forceAnswer', 'seed'] as const;
/** What a checkpoint written before an option existed ran with. */
const RESUME_DEFAULTS: Partial<Record<(typeof RESUME_KEYS)[number], unknown>> = { forceAnswer: false };

/** The options a run uses: the schema's defaults, then the defaults computed from other options. */
export function resolveRlOptions(options: RlOptions) {
  const { signal: _signal, log: _log, ...given } = options;
  const o = parseOptions(RlRunOptions, given, 'trainRl options');
  const opt = {
    data: o.data.map((d) => resolve(d)),
    dataRoot: o.dataRoot === undefined ? null : resolve(o.dataRoot),
    init: resolve(o.init),
    steps: o.steps,
    prompts: o.prompts,
    G: o.G,
    lr: o.lr,
    minLr: o.minLr ?? o.lr,
    warmup: o.warmup,
    weightDecay: o.weightDecay,
    clip: o.clip,
    beta: o.beta,
    epsilon: o.epsilon,
    phi: o.phi as PhiKind,
    phiPower: o.phiPower,
    std: o.std as StdKind,
    iterations: o.iterations,
    temperature: o.temperature,
    topP: o.topP,
    maxTokens: o.maxTokens ?? null,
    forceAnswer: o.forceAnswer,
    seed: o.seed,
    checkpointEvery: o.checkpointEvery,
    keepCheckpoints: o.keepCheckpoints,
  };
  // Ranges and types were checked by the schema.
  return opt;
}

/** The reward's ground truth: the target box in the 0-1000 frame of its image (what the paper's solution holds). */
export function rewardGroundTruth(b: Pick<Batch, 'targetBox' | 'targetImage' | 'imageSize' | 'shapes'>, i: number): [number, number, number, number] {
  const M = b.shapes.imageMask![1]!;
  const t = b.targetImage[i]!;
  const box = Array.from(b.targetBox.subarray(i * 4, i * 4 + 4));
  return convertBox(box, 'pixels', 'qwen2vl', { width: b.imageSize[(i * M + t) * 2]!, height: b.imageSize[(i * M + t) * 2 + 1]! });
}

/** One loader row's decoded images and prompt ids. */
function rowInputs(b: Batch, i: number): { images: Float32Array[]; prompt: number[] } {
  const [, M, S] = b.shapes.images as [number, number, number, number, number];
  const img = S * S * 3;
  const images: Float32Array[] = [];
  for (let j = 0; j < M; j++) if (b.imageMask[i * M + j]) images.push(b.images.slice((i * M + j) * img, (i * M + j + 1) * img));
  const P = b.shapes.promptTokens![1]!;
  const prompt: number[] = [];
  for (let k = 0; k < P; k++) if (b.promptMask[i * P + k]) prompt.push(b.promptTokens[i * P + k]!);
  return { images, prompt };
}

interface PromptGroup {
  input: GroupInput;
  accuracy: number[];
  format: number[];
  rewards: number[];
  miou: number;
  lengths: number[];
}

/** Run (or continue) GRPO from an SFT checkpoint. */
export async function trainRl(options: RlOptions): Promise<RlResult> {
  const log = options.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const t0 = performance.now();
  const o = resolveRlOptions(options);
  const out = resolve(options.out);
  const backend = await selectBackend({ prefer: options.backend });
  const line = announceBackend(backend);
  if (line) log(line);
  const existing = await prepareTrainingOut(out, options.resume === true);

  const initDir = await resolveCheckpointDir(o.init);
  const init = await readCheckpoint(initDir, { optimizer: false });
  const convention = (init.state.train.convention as string | null | undefined) ?? null;
  if (convention !== null && convention !== 'qwen2vl')
    throw new ConfigError(`the SFT model writes boxes in ${convention}; GRPO's reward (the paper's) reads the 0-1000 qwen2vl frame`, { file: initDir, field: 'convention' });
  const trainJson: Record<string, unknown> = { ...o, init: initDir, initWeights: init.state.weights.sha256, convention };
  const tokenizer: Tokenizer = init.tokenizer;
  // The reference stays the SFT weights; the policy is a separate copy that trains.
  const reference = init.model;
  let policy: GroundingModel;
  let step = 0;
  let loaderState: LoaderState | undefined;
  const opt = new AdamW({ weightDecay: o.weightDecay });
  let resumedFrom: number | null = null;

  if (options.resume && existing.length > 0) {
    const ck = await readCheckpoint(existing[existing.length - 1]!.dir, { optimizer: true });
    const saved = ck.state.train;
    const diffs = RESUME_KEYS.filter((k) => JSON.stringify(saved[k] ?? RESUME_DEFAULTS[k] ?? null) !== JSON.stringify(trainJson[k] ?? null));
    if (diffs.length)
      throw new ConfigError(`cannot resume exactly: ${diffs.map((k) => `${k} was ${JSON.stringify(saved[k])}, now ${JSON.stringify(trainJson[k])}`).join('; ')}`, { file: ck.dir });
    if (ck.state.backend.name !== backend.name) log(`warning: the checkpoint was written on backend ${ck.state.backend.name}, resuming on ${backend.name}: the result will not be bit-identical`);
    policy = ck.model;
    step = ck.state.step;
    loaderState = (ck.state.loader ?? undefined) as LoaderState | undefined;
    if (ck.optimizer) opt.load(ck.optimizer, new Map(policy.specs.map((s) => [s.name, s.shape])));
    resumedFrom = step;
    log(`resumed from ${ck.dir} (step ${step})`);
  } else {
    policy = new GroundingModel(init.model.config, await init.model.values());
  }
  const cfg = policy.config;
  log(
    `GRPO: ${paramCount(cfg)} parameters from ${initDir}; ${o.prompts} prompts x G=${o.G} per step, beta ${o.beta}, epsilon ${o.epsilon}, phi ${o.phi}${o.phi === 'power' ? `^${o.phiPower}` : ''}, lr ${o.lr}`,
  );

  const manifest = await readManifest(o.data[0]!);
  if (!manifest) throw new ConfigError(`${o.data[0]} has no _manifest.json: not a finished shard directory`, { file: o.data[0]! });
  const kind = manifest.kind === 'SftRow' ? 'SftRow' : manifest.kind === 'RlRow' ? 'RlRow' : null;
  if (!kind) throw new ConfigError(`${o.data[0]} holds ${manifest.kind} rows; GRPO reads RlRow or SftRow shards`, { file: o.data[0]! });
  const loader = await createLoader({
    dirs: o.data,
    kind,
    batchSize: o.prompts,
    seed: o.seed,
    imageSize: cfg.imageSize,
    maxImages: cfg.maxImages,
    fit: 'stretch',
    encode: (row: { prompt: string }) => ({ promptTokens: promptIds(tokenizer, row.prompt), targetTokens: [] }),
    maxPromptTokens: cfg.maxPromptTokens,
    maxTargetTokens: 1,
    padId: tokenizer.pad,
    ...(loaderState ? { state: loaderState } : {}),
    ...(o.dataRoot !== null ? { imageBase: o.dataRoot } : {}),
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
  } as Parameters<typeof createLoader>[0]);

  const logFile = join(out, 'rl-log.jsonl');
  const history = await logUpTo<RlStepLog>(logFile, step);
  const schedule = { lr: o.lr, minLr: o.minLr, warmupSteps: o.warmup, totalSteps: o.steps };
  const coefs = { beta: o.beta, epsilon: o.epsilon };
  let lastSaved = -1;
  let doneHere = 0;
  let stopped: RlResult['stopped'] = 'done';
  const gpu = watchGpuErrors();

  const checkpoint = async () => {
    const dir = join(out, 'checkpoints', checkpointName(step));
    const last = history[history.length - 1];
    await saveCheckpoint(dir, {
      model: policy,
      tokenizer,
      step,
      backend,
      train: trainJson,
      optimizer: { state: await opt.state(), config: opt.cfg },
      loader: loaderState ?? null,
      metrics: { rewardMean: last?.rewardMean ?? null, accuracyMean: last?.accuracyMean ?? null, kl: last?.kl ?? null },
    });
    lastSaved = step;
    await pruneCheckpoints(out, o.keepCheckpoints);
  };

  const rolloutGroups = async (b: Batch): Promise<PromptGroup[]> => {
    const groups: PromptGroup[] = [];
    const real = Array.from({ length: b.batchSize }, (_, i) => i).filter((i) => b.rowMask[i]);
    for (const i of real) {
      const { images, prompt } = rowInputs(b, i);
      const gt = rewardGroundTruth(b, i);
      const rollouts = await sampleGroup(policy, tokenizer, images, prompt, {
        G: o.G,
        temperature: o.temperature,
        topP: o.topP,
        ...(o.maxTokens !== null ? { maxTokens: o.maxTokens } : {}),
        forceAnswer: o.forceAnswer,
        seed: `${o.seed}:${step}:${i}`,
      });
      const accuracy = rollouts.map((r) => accuracyReward(r.text, gt));
      const format = rollouts.map((r) => formatReward(r.text));
      const rewards = accuracy.map((a, g) => a + format[g]!);
      const miou = mean(accuracy);
      const batch = stackBatches(rollouts.map((r) => exampleBatch(cfg, images, prompt, r.targetIds, tokenizer.bos)));
      groups.push({
        input: {
          batch,
          advantages: groupAdvantages(rewards, o.std),
          weight: phi(miou, { kind: o.phi, power: o.phiPower }),
          // Constants on the device: the frozen reference's and (with several iterations) the sampling policy's.
          refLogProbs: reference.logProbs(batch, 1, { grad: false }),
          ...(o.iterations > 1 ? { oldLogProbs: policy.logProbs(batch, 1, { grad: false }) } : {}),
          scale: 1 / (real.length * o.G),
        },
        accuracy,
        format,
        rewards,
        miou,
        lengths: rollouts.map((r) => r.targetIds.length),
      });
    }
    return groups;
  };

  try {
    if (options.stopAfter === 0) stopped = 'stopAfter';
    while (step < o.steps && stopped === 'done') {
      if (options.signal?.aborted) {
        stopped = 'aborted';
        break;
      }
      const ts = performance.now();
      const b = await loader.next();
      if (!b) throw new Error('the loader ended (it is configured to repeat epochs)');
      const groups = await rolloutGroups(b);
      if (groups.length === 0) throw new ConfigError('a loader batch had no usable row (every row was skipped)', { field: 'data' });
      const lr = lrAt(step, schedule);
      let stats: tf.Tensor1D | null = null;
      try {
        for (let it = 0; it < o.iterations; it++) {
          stats?.dispose();
          stats = grpoUpdate(policy, opt, groups.map((g) => g.input), coefs, { lr, clip: o.clip });
        }
      } finally {
        for (const g of groups) {
          (g.input.refLogProbs as tf.Tensor).dispose();
          (g.input.oldLogProbs as tf.Tensor | undefined)?.dispose();
        }
      }
      // One read per step (a GRPO step is long: its rollouts already read tokens back).
      const values = await stats!.data();
      stats!.dispose();
      await gpu.check(`GRPO update ${step + 1}`);
      const { loss, kl, clipped, gradNorm } = updateStatsOf(values);
      assertFinite({ loss, gradNorm }, { step: step + 1, backend: backend.name });
      loaderState = b.state;
      step++;
      doneHere++;
      const mious = groups.map((g) => g.miou);
      const entry: RlStepLog = {
        type: 'rl-step',
        step,
        prompts: groups.length,
        rollouts: groups.length * o.G,
        rewardMean: mean(groups.flatMap((g) => g.rewards)),
        rewardStd: mean(groups.map((g) => std(g.rewards, o.std))),
        accuracyMean: mean(groups.flatMap((g) => g.accuracy)),
        formatRate: mean(groups.flatMap((g) => g.format)),
        buckets: bucketShares(mious),
        weightMean: mean(groups.map((g) => g.input.weight)),
        kl,
        clipFraction: clipped,
        completionLength: mean(groups.flatMap((g) => g.lengths)),
        loss,
        lr,
        gradNorm,
        seconds: (performance.now() - ts) / 1000,
        backend: backend.name,
        ...deviceField(backend),
      };
      history.push(entry);
      await appendFile(logFile, JSON.stringify(entry) + '\n');
      if (step === 1 || step % 10 === 0 || step === o.steps)
        log(
          `step ${step}/${o.steps} reward ${entry.rewardMean.toFixed(3)} IoU ${entry.accuracyMean.toFixed(3)} format ${entry.formatRate.toFixed(2)} phi ${entry.weightMean.toFixed(2)} KL ${entry.kl.toExponential(2)} len ${entry.completionLength.toFixed(0)} ${entry.seconds.toFixed(1)} s/step`,
        );
      if (step % o.checkpointEvery === 0 || step === o.steps) await checkpoint();
      if (options.stopAfter !== undefined && doneHere >= options.stopAfter && step < o.steps) {
        stopped = 'stopAfter';
        break;
      }
    }
    if (lastSaved !== step) await checkpoint();
  } finally {
    await gpu.close();
    await loader.close();
    // A pipeline runs several trainers in one process: free the weights and moments (the checkpoint has them).
    reference.dispose();
    policy.dispose();
    opt.dispose();
  }

  const seconds = (performance.now() - t0) / 1000;
  const ckDir = join(out, 'checkpoints', checkpointName(step));
  const result: RlResult = { out, backend, step, steps: o.steps, stopped, checkpoint: ckDir, seconds, resumedFrom };
  await writeFileAtomic(join(out, 'rl-curves.svg'), await rlCurvesSvg(history, `GRPO (phi ${o.phi}, backend ${backend.name})`));
  await writeFileAtomic(join(out, 'result.json'), JSON.stringify({ ...result, options: trainJson, model: cfg }, null, 2) + '\n');
  log(`${stopped === 'done' ? 'done' : `stopped (${stopped})`}: step ${step}/${o.steps}, checkpoint ${ckDir}, ${seconds.toFixed(1)} s`);
  return result;
}
