/**
 * Supervised fine-tuning: teacher-forced cross-entropy on the completion tokens only (or on
 * `<answer>...</answer>` alone with `cot: false`), AdamW with warmup + cosine, clipping by global norm,
 * gradient accumulation, a held-out loss every `evalEvery` updates, checkpoints every `checkpointEvery`
 * and exact resume: the checkpoint holds weights, AdamW moments, the step, the RNG and the loader's
 * state, so a killed run resumed on the same backend ends with the same weights bit for bit.
 *
 * Files under `out`: `checkpoints/step-*` (see checkpoint.ts), `train-log.jsonl` (one line per update and
 * per evaluation), `result.json` and `loss-curve.svg` at the end.
 */
import { appendFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseOptions } from '../schema/options.js';
import { SftRunOptions } from '../schema/train-options.js';
import { render, sftLossChart } from '../charts/index.js';
import { readBatches, readRows } from '../store/index.js';
import { writeFileAtomic } from '../store/fsutil.js';
import { announceBackend, deviceField, selectBackend, type BackendChoice, type BackendName } from './backend.js';
import { watchGpuErrors } from './backends/webgpu.js';
import { exampleBatch, promptIds, realTokens, sftEncoder, stackBatches, targetIds, targetText, targetTokenCount, toModelBatch } from './batching.js';
import { checkpointName, logUpTo, prepareTrainingOut, pruneCheckpoints, readCheckpoint, saveCheckpoint } from './checkpoint.js';
import { decodeImage } from './image.js';
import { createLoader, type LoaderState } from './loader/index.js';
import { GroundingModel, initParamValues, makeModelConfig, paramCount, type ModelBatch, type ModelConfig, type ModelShape } from './model/index.js';
import { readVisionCheckpoint } from './vision/train.js';
import { isHeldOut } from './heldout.js';
import { assertFinite, PendingStats } from './readback.js';
import { AdamW, lrAt, type AdamWConfig, type ScheduleConfig } from './optim.js';
import { update } from './step.js';
import { Rng } from './rng.js';
import { TokenizerBuilder, type Tokenizer } from './tokenizer.js';

/**
 * What trainSft takes: SftRunOptions (src/schema/train-options.ts, the one definition of every option,
 * its help and its default; the CLI and the pipeline read the same schema), plus the process hooks.
 * Only `data` and `out` are required.
 */
export type SftOptions = z.input<typeof SftRunOptions> & {
  /** Abort between updates (e.g. on SIGINT): a checkpoint is written first. */
  signal?: AbortSignal;
  /** Progress lines for people (default: stderr). */
  log?: (line: string) => void;
};

export interface StepLog {
  type: 'step';
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  rows: number;
  tokens: number;
  targetTokens: number;
  tokensPerSec: number;
  seconds: number;
  epoch: number;
  backend: BackendName;
  /** The GPU the update ran on (WebGPU only). */
  device?: string;
}

export interface EvalLog {
  type: 'eval';
  step: number;
  evalLoss: number | null;
  evalRows: number;
  evalTokens: number;
  backend: BackendName;
}

export interface SftResult {
  out: string;
  backend: BackendChoice;
  /** Updates done in total (all processes). */
  step: number;
  steps: number;
  stopped: 'done' | 'stopAfter' | 'aborted';
  checkpoint: string;
  params: number;
  finalLoss: number | null;
  finalEvalLoss: number | null;
  seconds: number;
  resumedFrom: number | null;
}

/** Updates whose loss and gradient norm are read back together (one GPU stall per this many updates). */
const LOG_EVERY = 10;

/** Options that change which batches or which updates a run makes: a resume must keep them. */
const RESUME_KEYS = ['data', 'batch', 'accum', 'lr', 'minLr', 'warmup', 'weightDecay', 'clip', 'seed', 'cot', 'coordSigma', 'evalFraction', 'evalMaxRows', 'dataRoot', 'vision', 'visionLrScale'] as const;


/** The options a run uses: the schema's defaults, then the defaults computed from other options. */
export function resolveSftOptions(options: SftOptions) {
  const { signal: _signal, log: _log, ...given } = options;
  const o = parseOptions(SftRunOptions, given, 'trainSft options');
  const opt = {
    data: o.data.map((d) => resolve(d)),
    dataRoot: o.dataRoot === undefined ? null : resolve(o.dataRoot),
    steps: o.steps,
    batch: o.batch,
    accum: o.accum,
    lr: o.lr,
    minLr: o.minLr ?? o.lr / 10,
    warmup: o.warmup ?? Math.min(100, Math.max(1, Math.floor(o.steps / 10))),
    weightDecay: o.weightDecay,
    clip: o.clip,
    seed: o.seed,
    cot: o.cot,
    coordSigma: o.coordSigma,
    checkpointEvery: o.checkpointEvery,
    keepCheckpoints: o.keepCheckpoints,
    evalEvery: o.evalEvery,
    evalFraction: o.evalFraction,
    evalMaxRows: o.evalMaxRows,
    model: o.model,
    vision: o.vision === undefined ? null : resolve(o.vision),
    visionLrScale: o.visionLrScale,
  };
  // Ranges and types were checked by the schema; the computed defaults are in range by construction.
  return opt;
}
type Resolved = ReturnType<typeof resolveSftOptions>;

/** Build the tokenizer from the corpus text (prompts and completions) and measure the longest rows. */
async function tokenizerFromCorpus(o: Resolved, log: (l: string) => void): Promise<{ tokenizer: Tokenizer; maxPrompt: number; maxTarget: number; rows: number; conventions: string[] }> {
  const b = new TokenizerBuilder();
  for (const dir of o.data)
    for await (const batch of readBatches(dir, { columns: ['prompt', 'completion'] })) {
      const p = batch.getChild('prompt')!;
      const c = batch.getChild('completion')!;
      for (let i = 0; i < batch.numRows; i++) {
        b.add(String(p.get(i)));
        b.add(String(c.get(i)));
      }
    }
  const tokenizer = b.finish();
  let maxPrompt = 1;
  let maxTarget = 1;
  let rows = 0;
  const conventions = new Set<string>();
  for (const dir of o.data)
    for await (const batch of readBatches(dir, { columns: ['prompt', 'completion', 'answer', 'convention'] })) {
      const p = batch.getChild('prompt')!;
      const c = batch.getChild('completion')!;
      const a = batch.getChild('answer')!;
      const cv = batch.getChild('convention')!;
      for (let i = 0; i < batch.numRows; i++) {
        rows++;
        conventions.add(String(cv.get(i)));
        maxPrompt = Math.max(maxPrompt, promptIds(tokenizer, String(p.get(i))).length);
        maxTarget = Math.max(maxTarget, targetIds(tokenizer, targetText({ completion: String(c.get(i)), answer: String(a.get(i)) }, o.cot)).length);
      }
    }
  if (rows === 0) throw new ConfigError('the training corpus has no rows', { field: 'data' });
  log(`tokenizer: ${tokenizer.vocabSize} tokens from ${b.texts} texts (${rows} rows); longest prompt ${maxPrompt}, longest target ${maxTarget} tokens`);
  if (conventions.size > 1) throw new ConfigError(`the corpus mixes box conventions (${[...conventions].join(', ')}): one model writes one convention`, { field: 'data' });
  return { tokenizer, maxPrompt, maxTarget, rows, conventions: [...conventions] };
}

/** The held-out rows, decoded and encoded once: batches of at most `batch` rows. */
async function heldOutBatches(o: Resolved, cfg: ModelConfig, tok: Tokenizer): Promise<{ ids: Set<string>; batches: ModelBatch[]; rows: number }> {
  const ids = new Set<string>();
  const parts: ModelBatch[] = [];
  if (o.evalFraction <= 0 || o.evalMaxRows === 0) return { ids, batches: [], rows: 0 };
  for (const dir of o.data) {
    for await (const row of readRows('SftRow', dir)) {
      if (!isHeldOut(row.id, o.evalFraction)) continue;
      ids.add(row.id);
      if (parts.length >= o.evalMaxRows) continue;
      const images = await Promise.all(
        row.images.map((im, k) => {
          if (im.bytes) return decodeImage(im.bytes, { size: cfg.imageSize, fit: 'stretch' });
          if (!im.path) throw new ConfigError(`row ${row.id}: image ${k} has neither bytes nor path`, { recordId: row.id, field: `images[${k}]` });
          if (!isAbsolute(im.path) && o.dataRoot === null) throw new ConfigError(`row ${row.id}: image paths are relative; pass --data-root`, { recordId: row.id, field: 'dataRoot' });
          return decodeImage(isAbsolute(im.path) ? im.path : join(o.dataRoot!, im.path), { size: cfg.imageSize, fit: 'stretch' });
        }),
      );
      if (images.length > cfg.maxImages) continue;
      const q = promptIds(tok, row.prompt).slice(0, cfg.maxPromptTokens);
      const t = targetIds(tok, targetText(row, o.cot)).slice(0, cfg.maxTargetTokens);
      parts.push(exampleBatch(cfg, images, q, t, tok.bos));
    }
  }
  const batches: ModelBatch[] = [];
  for (let i = 0; i < parts.length; i += o.batch) batches.push(stackBatches(parts.slice(i, i + o.batch)));
  return { ids, batches, rows: parts.length };
}

/** Mean cross-entropy per target token over the held-out batches (summed on the device, read once). */
export async function evaluateLoss(model: GroundingModel, batches: ModelBatch[], coordSigma = 0): Promise<{ loss: number | null; tokens: number }> {
  let sum: tf.Scalar | null = null;
  let tokens = 0;
  for (const b of batches) {
    const n = targetTokenCount(b);
    if (n === 0) continue;
    const l = tf.tidy(() => model.loss(b, 1, coordSigma, { grad: false }));
    if (sum) {
      const next = tf.add(sum, l) as tf.Scalar;
      sum.dispose();
      l.dispose();
      sum = next;
    } else sum = l;
    tokens += n;
  }
  if (!sum) return { loss: null, tokens };
  const total = (await sum.data())[0]!;
  sum.dispose();
  return { loss: total / tokens, tokens };
}

async function lossCurveSvg(steps: StepLog[], evals: EvalLog[], title: string): Promise<string> {
  const train = steps.map((s) => [s.step, s.loss] as const);
  const heldOut = evals.filter((e) => e.evalLoss !== null).map((e) => [e.step, e.evalLoss!] as const);
  return `${(await render(sftLossChart(train, heldOut, { title }))).svg}\n`;
}

/** Run (or continue) supervised fine-tuning. */
export async function trainSft(options: SftOptions): Promise<SftResult> {
  const log = options.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const t0 = performance.now();
  const o = resolveSftOptions(options);
  const out = resolve(options.out);
  const backend = await selectBackend({ prefer: options.backend });
  const line = announceBackend(backend);
  if (line) log(line);
  const existing = await prepareTrainingOut(out, options.resume === true);

  const trainJson: Record<string, unknown> = { ...o };
  let model: GroundingModel;
  let tokenizer: Tokenizer;
  let step = 0;
  let rng = new Rng(o.seed);
  let loaderState: LoaderState | undefined;
  const opt = new AdamW({ weightDecay: o.weightDecay } satisfies Partial<AdamWConfig>);
  let resumedFrom: number | null = null;

  if (options.resume && existing.length > 0) {
    const ck = await readCheckpoint(existing[existing.length - 1]!.dir, { optimizer: true });
    const saved = ck.state.train;
    const diffs = RESUME_KEYS.filter((k) => JSON.stringify(saved[k] ?? null) !== JSON.stringify(o[k] ?? null));
    if (diffs.length)
      throw new ConfigError(`cannot resume exactly: ${diffs.map((k) => `${k} was ${JSON.stringify(saved[k])}, now ${JSON.stringify(o[k])}`).join('; ')}`, { file: ck.dir });
    if (ck.state.backend.name !== backend.name) log(`warning: the checkpoint was written on backend ${ck.state.backend.name}, resuming on ${backend.name}: the result will not be bit-identical`);
    model = ck.model;
    tokenizer = ck.tokenizer;
    trainJson.convention = saved.convention ?? null;
    if (saved.visionFrom !== undefined) trainJson.visionFrom = saved.visionFrom;
    step = ck.state.step;
    if (ck.state.rng) rng = new Rng(ck.state.rng);
    loaderState = (ck.state.loader ?? undefined) as LoaderState | undefined;
    if (ck.optimizer) opt.load(ck.optimizer, new Map(model.specs.map((s) => [s.name, s.shape])));
    resumedFrom = step;
    log(`resumed from ${ck.dir} (step ${step})`);
  } else {
    const t = await tokenizerFromCorpus(o, log);
    tokenizer = t.tokenizer;
    // The box convention the rows (and so the model) write: evaluation reads it from the checkpoint.
    trainJson.convention = t.conventions[0] ?? null;
    // A pretrained tower brings its shape (image size, patches, width, layers) and its weights.
    const vision = o.vision !== null ? await readVisionCheckpoint(o.vision) : null;
    const shape = vision ? { ...o.model, ...vision.config.tower, tower: 'vit' as const } : o.model;
    const cfg = makeModelConfig(
      shape,
      { vocabSize: tokenizer.vocabSize, coordBase: tokenizer.coordId(0), coordMax: 1000, boxTokens: tokenizer.boxTokens() },
      { maxPromptTokens: t.maxPrompt, maxTargetTokens: t.maxTarget },
    );
    const values = initParamValues(cfg, rng.fork('init'));
    if (vision) {
      for (const [k, v] of vision.values) values.set(k, v);
      // Checkpoints record the tower they started from.
      trainJson.visionFrom = { dir: vision.dir, step: vision.step, tower: vision.config.tower };
      log(`vision tower from ${vision.dir} (step ${vision.step})${o.visionLrScale > 0 ? `, learning at ${o.visionLrScale} x lr` : ', frozen'}`);
    }
    model = new GroundingModel(cfg, values);
  }
  const cfg = model.config;
  log(
    `model: ${paramCount(cfg)} parameters (d=${cfg.dModel}, layers ${cfg.nLayers}, heads ${cfg.nHeads}, ${cfg.imageSize}px images in ${cfg.patchSize}px patches, up to ${cfg.maxImages} images); target: ${o.cot ? 'CoT completion' : 'answer only (no CoT)'}`,
  );

  // The pretrained tower (vit.*) learns at visionLrScale x lr; 0 freezes it (no gradients computed for it).
  const pretrained = trainJson.visionFrom !== undefined;
  const lrScale = pretrained ? (name: string) => (name.startsWith('vit.') ? o.visionLrScale : 1) : undefined;

  const held = await heldOutBatches(o, cfg, tokenizer);
  log(`held-out slice: ${held.rows} rows (${held.ids.size} rows excluded from training)`);

  const logFile = join(out, 'train-log.jsonl');
  const history = await logUpTo<StepLog | EvalLog>(logFile, step);

  const loader = await createLoader({
    dirs: o.data,
    kind: 'SftRow',
    batchSize: o.batch,
    seed: o.seed,
    imageSize: cfg.imageSize,
    maxImages: cfg.maxImages,
    fit: 'stretch',
    encode: sftEncoder(tokenizer, o.cot),
    maxPromptTokens: cfg.maxPromptTokens,
    maxTargetTokens: cfg.maxTargetTokens,
    padId: tokenizer.pad,
    ...(loaderState ? { state: loaderState } : {}),
    ...(o.dataRoot !== null ? { imageBase: o.dataRoot } : {}),
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
  });

  const schedule: ScheduleConfig = { lr: o.lr, minLr: o.minLr, warmupSteps: o.warmup, totalSteps: o.steps };
  let lastLoss: number | null = null;
  let lastEval: number | null = null;
  let lastSaved = -1;
  let doneHere = 0;
  let stopped: SftResult['stopped'] = 'done';
  const appendLog = async (entries: Array<StepLog | EvalLog>) => {
    if (!entries.length) return;
    history.push(...entries);
    await appendFile(logFile, entries.map((e) => JSON.stringify(e) + '\n').join(''));
  };
  // Each update's loss and gradient norm stay on the device until a logging interval's worth is read at
  // once (see readback.ts): every read stalls a GPU. Per-update seconds are the time to queue the update
  // plus an equal share of the wait for the read (on WASM and CPU, work runs as it is queued).
  type Pending = Omit<StepLog, 'loss' | 'gradNorm' | 'tokensPerSec'>;
  const pending = new PendingStats<Pending>();
  const gpu = watchGpuErrors();
  const flush = async () => {
    if (!pending.size) return;
    const n = pending.size;
    const t = performance.now();
    const read = await pending.flush();
    await gpu.check(`SFT updates ${read[0]!.meta.step}-${read[read.length - 1]!.meta.step}`);
    const waitShare = (performance.now() - t) / 1000 / n;
    const entries: StepLog[] = read.map(({ meta, values }) => {
      const [loss, gradNorm] = [values[0]!, values[1]!];
      assertFinite({ loss, gradNorm }, { step: meta.step, backend: backend.name });
      const seconds = meta.seconds + waitShare;
      return { ...meta, type: 'step', loss, gradNorm, seconds, tokensPerSec: meta.tokens / seconds };
    });
    lastLoss = entries[entries.length - 1]!.loss;
    await appendLog(entries);
    for (const e of entries)
      if (e.step === 1 || e.step % 10 === 0 || e.step === o.steps)
        log(`step ${e.step}/${o.steps} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} |g| ${e.gradNorm.toFixed(3)} ${e.tokensPerSec.toFixed(0)} tok/s ${e.seconds.toFixed(2)} s/step`);
  };
  const checkpoint = async () => {
    await flush();
    const dir = join(out, 'checkpoints', checkpointName(step));
    await saveCheckpoint(dir, {
      model,
      tokenizer,
      step,
      backend,
      train: trainJson,
      optimizer: { state: await opt.state(), config: opt.cfg },
      rng: rng.state(),
      loader: loaderState ?? null,
      metrics: { loss: lastLoss, evalLoss: lastEval },
    });
    lastSaved = step;
    await pruneCheckpoints(out, o.keepCheckpoints);
    return dir;
  };
  const evaluate = async () => {
    await flush();
    const e = await evaluateLoss(model, held.batches, o.coordSigma);
    await gpu.check(`the held-out loss at update ${step}`);
    if (e.loss !== null) assertFinite({ evalLoss: e.loss }, { step, backend: backend.name });
    lastEval = e.loss;
    await appendLog([{ type: 'eval', step, evalLoss: e.loss, evalRows: held.rows, evalTokens: e.tokens, backend: backend.name }]);
    return e;
  };

  try {
    if (step === 0 && o.evalEvery > 0 && held.batches.length) await evaluate();
    if (options.stopAfter === 0) stopped = 'stopAfter';
    while (step < o.steps && stopped === 'done') {
      if (options.signal?.aborted) {
        stopped = 'aborted';
        break;
      }
      const ts = performance.now();
      const micro: ModelBatch[] = [];
      let epoch = 0;
      // Held-out rows are dropped from training batches; keep pulling until the update has targets.
      for (let pulls = 0; micro.length < o.accum || micro.every((m) => targetTokenCount(m) === 0); pulls++) {
        if (pulls > 1000 + o.accum) throw new ConfigError('no trainable rows: every row is in the held-out slice (lower --eval-fraction)', { field: 'evalFraction' });
        const b = await loader.next();
        if (!b) throw new Error('the loader ended (it is configured to repeat epochs)');
        loaderState = b.state;
        epoch = b.epoch;
        const mb = toModelBatch(b, cfg, tokenizer.bos, held.ids);
        if (mb) micro.push(mb);
      }
      const lr = lrAt(step, schedule);
      const { stats, targetTokens: nTarget } = update(model, opt, micro, { clip: o.clip, lr, coordSigma: o.coordSigma, lrScale });
      step++;
      doneHere++;
      const seconds = (performance.now() - ts) / 1000;
      pending.push(
        {
          type: 'step',
          step,
          lr,
          rows: micro.reduce((n, m) => n + m.B, 0),
          tokens: micro.reduce((n, m) => n + realTokens(m, cfg), 0),
          targetTokens: nTarget,
          seconds,
          epoch,
          backend: backend.name,
          ...deviceField(backend),
        },
        stats,
      );
      if (step % LOG_EVERY === 0 || step === o.steps) await flush();
      if (held.batches.length && ((o.evalEvery > 0 && step % o.evalEvery === 0) || step === o.steps)) {
        const e = await evaluate();
        log(`step ${step}: held-out loss ${e.loss?.toFixed(4) ?? 'n/a'}`);
      }
      if (step % o.checkpointEvery === 0 || step === o.steps) await checkpoint();
      if (options.stopAfter !== undefined && doneHere >= options.stopAfter && step < o.steps) {
        stopped = 'stopAfter';
        break;
      }
    }
    if (lastSaved !== step) await checkpoint();
    await flush();
  } finally {
    pending.dispose();
    await gpu.close();
    await loader.close();
    // A pipeline runs several trainers in one process: free the weights and moments (the checkpoint has them).
    model.dispose();
    opt.dispose();
  }

  const seconds = (performance.now() - t0) / 1000;
  const ckDir = join(out, 'checkpoints', checkpointName(step));
  const result: SftResult = {
    out,
    backend,
    step,
    steps: o.steps,
    stopped,
    checkpoint: ckDir,
    params: paramCount(cfg),
    finalLoss: lastLoss,
    finalEvalLoss: lastEval,
    seconds,
    resumedFrom,
  };
  const steps = history.filter((h): h is StepLog => h.type === 'step');
  const evals = history.filter((h): h is EvalLog => h.type === 'eval');
  await writeFileAtomic(join(out, 'loss-curve.svg'), await lossCurveSvg(steps, evals, `SFT loss (${o.cot ? 'CoT' : 'no-CoT'}, backend ${backend.name})`));
  await writeFileAtomic(join(out, 'result.json'), JSON.stringify({ ...result, options: trainJson, model: cfg }, null, 2) + '\n');
  log(`${stopped === 'done' ? 'done' : `stopped (${stopped})`}: step ${step}/${o.steps}, checkpoint ${ckDir}, ${seconds.toFixed(1)} s`);
  return result;
}
