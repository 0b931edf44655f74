/**
 * `univg train vision`: pretrain the vit tower on the corpus's images before SFT, as real VLMs pair a
 * pretrained ViT with the language model. Dense supervision per image cell (objective.ts) from the
 * synthetic scene file; AdamW with warmup + cosine, clipping, held-out metrics every `evalEvery` updates,
 * checkpoints with exact resume (weights, moments, step, data position).
 *
 * Files under `out`: `checkpoints/step-*` (config.json says `univg-vision`; SFT loads the `vit.*`
 * parameters with `vision: <out>`), `vision-log.jsonl`, `result.json`.
 */
import { appendFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { parseOptions } from '../../schema/options.js';
import { VisionRunOptions } from '../../schema/train-options.js';
import { writeFileAtomic } from '../../store/fsutil.js';
import { announceBackend, deviceField, selectBackend, type BackendChoice } from '../backend.js';
import { watchGpuErrors } from '../backends/webgpu.js';
import { checkpointName, logUpTo, prepareTrainingOut, pruneCheckpoints, readCheckpointFiles, saveCheckpoint } from '../checkpoint.js';
import { initValues, makeModelConfig, opsFor, ParamSet, sizeOf, type ModelConfig, type ModelShape, type ParamSpec } from '../model/index.js';
import { VitTower } from '../model/vision-vit.js';
import { AdamW, clipByGlobalNorm, lrAt } from '../optim.js';
import { assertFinite } from '../readback.js';
import { Rng } from '../rng.js';
import { indexScenes, loadBatch, nextEntries, type SceneIndex, type VisionBatch, type VisionDataState } from './data.js';
import { headSpecs, visionLoss, visionMetrics, type VisionMetrics } from './objective.js';

export type VisionOptions = z.input<typeof VisionRunOptions> & { log?: (line: string) => void; signal?: AbortSignal };

export const VISION_FORMAT = 'univg-vision';

/** What a vision checkpoint's config.json holds: the tower's shape (the grounding model takes it). */
export interface VisionConfig {
  format: typeof VISION_FORMAT;
  version: 1;
  tower: Pick<ModelShape, 'dModel' | 'nHeads' | 'mlpHidden' | 'imageSize' | 'patchSize' | 'coordFreqs' | 'towerLayers'>;
}

/** A model config carrying just the tower's shape (the tower reads nothing else). */
export function towerModelConfig(t: VisionConfig['tower']): ModelConfig {
  return makeModelConfig({ ...t, tower: 'vit', maxImages: 1, nLayers: 1 }, { vocabSize: 1002, coordBase: 1, coordMax: 1000 }, { maxPromptTokens: 1, maxTargetTokens: 1 });
}

/** The pretrained parameters: the tower's own (`vit.*`), not what the grounding model adds to it. */
export function towerSpecs(c: ModelConfig): ParamSpec[] {
  const tower = new VitTower(c);
  try {
    return tower.specs.filter((s) => s.name.startsWith('vit.'));
  } finally {
    tower.dispose();
  }
}

function checkVisionConfig(raw: unknown): VisionConfig {
  const c = raw as VisionConfig;
  if (c?.format !== VISION_FORMAT || c.version !== 1) throw new ConfigError(`not a univg vision checkpoint (config format ${JSON.stringify(c?.format)})`, { field: 'vision' });
  towerModelConfig(c.tower);
  return c;
}

/** The pretrained tower of a vision checkpoint (or training output directory): its shape and `vit.*` weights. */
export async function readVisionCheckpoint(dirOrOut: string): Promise<{ dir: string; config: VisionConfig; values: Map<string, Float32Array>; step: number }> {
  const f = await readCheckpointFiles(dirOrOut, { optimizer: false }, (raw) => {
    const c = checkVisionConfig(raw);
    const mc = towerModelConfig(c.tower);
    return [...towerSpecs(mc), ...headSpecs(mc)];
  });
  const config = f.config as VisionConfig;
  const values = new Map([...f.values].filter(([k]) => k.startsWith('vit.')));
  return { dir: f.dir, config, values, step: f.state.step };
}

export interface VisionStepLog {
  type: 'vision-step';
  step: number;
  loss: number;
  objectness: number;
  color: number;
  shape: number;
  box: number;
  lr: number;
  gradNorm: number;
  images: number;
  seconds: number;
  epoch: number;
  backend: string;
  device?: string;
}

export interface VisionEvalLog extends VisionMetrics {
  type: 'vision-eval';
  step: number;
  images: number;
}

export interface VisionResult {
  out: string;
  backend: BackendChoice;
  step: number;
  steps: number;
  stopped: 'done' | 'stopAfter' | 'aborted';
  checkpoint: string;
  params: number;
  metrics: VisionMetrics | null;
  seconds: number;
  resumedFrom: number | null;
}

/** Options that change the result: a resume must keep them. */
const RESUME_KEYS = ['data', 'batch', 'lr', 'minLr', 'warmup', 'weightDecay', 'clip', 'seed', 'evalFraction', 'model'] as const;

export function resolveVisionOptions(o: VisionOptions) {
  const { signal: _signal, log: _log, ...given } = o;
  const r = parseOptions(VisionRunOptions, given, 'trainVision options');
  const warmup = r.warmup ?? Math.min(100, Math.max(1, Math.floor(r.steps / 10)));
  return { ...r, data: r.data.map((d) => resolve(d)), warmup, minLr: r.minLr ?? r.lr / 10 };
}

async function metricsOn(params: ParamSet, tower: VitTower, batches: VisionBatch[]): Promise<VisionMetrics | null> {
  if (!batches.length) return null;
  const p = (n: string) => params.get(n);
  const parts = { boxes: [] as Float32Array[], obj: [] as Float32Array[], color: [] as Float32Array[], shape: [] as Float32Array[] };
  for (const b of batches) {
    const r = tf.tidy(() => {
      const out = visionLoss(p, opsFor(false), tower, b);
      return [out.boxes, out.objLogits, out.colorLogits, out.shapeLogits];
    });
    const [boxes, obj, color, shape] = await Promise.all(r.map((t) => t.data() as Promise<Float32Array>));
    r.forEach((t) => t.dispose());
    parts.boxes.push(boxes!);
    parts.obj.push(obj!);
    parts.color.push(color!);
    parts.shape.push(shape!);
  }
  const cat = (xs: Float32Array[]) => {
    const out = new Float32Array(xs.reduce((a, x) => a + x.length, 0));
    let o = 0;
    for (const x of xs) {
      out.set(x, o);
      o += x.length;
    }
    return out;
  };
  return visionMetrics(
    batches.flatMap((b) => b.targets),
    cat(parts.boxes),
    cat(parts.obj),
    cat(parts.color),
    cat(parts.shape),
  );
}

/** Run (or continue) tower pretraining. */
export async function trainVision(options: VisionOptions): Promise<VisionResult> {
  const log = options.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const t0 = performance.now();
  const o = resolveVisionOptions(options);
  if (o.data.length !== 1) throw new ConfigError('train vision reads one suite directory (--data)', { field: 'data' });
  const out = resolve(o.out);
  const backend = await selectBackend({ prefer: o.backend });
  const line = announceBackend(backend);
  if (line) log(line);
  const existing = await prepareTrainingOut(out, o.resume);

  const vc: VisionConfig = {
    format: VISION_FORMAT,
    version: 1,
    tower: o.model,
  };
  const mc = towerModelConfig(vc.tower);
  const tower = new VitTower(mc);
  const specs = [...towerSpecs(mc), ...headSpecs(mc)];
  const trainJson: Record<string, unknown> = { ...o };
  let step = 0;
  let data: VisionDataState = { epoch: 0, position: 0 };
  let values = initValues(specs, new Rng(o.seed).fork('init'));
  const opt = new AdamW({ weightDecay: o.weightDecay });
  let resumedFrom: number | null = null;
  if (o.resume && existing.length) {
    const f = await readCheckpointFiles(existing[existing.length - 1]!.dir, { optimizer: true }, () => specs);
    const saved = f.state.train;
    const diffs = RESUME_KEYS.filter((k) => JSON.stringify(saved[k] ?? null) !== JSON.stringify(trainJson[k] ?? null));
    if (diffs.length) throw new ConfigError(`cannot resume exactly: ${diffs.map((k) => `${k} was ${JSON.stringify(saved[k])}, now ${JSON.stringify(trainJson[k])}`).join('; ')}`, { file: f.dir });
    values = f.values;
    step = f.state.step;
    data = f.state.loader as VisionDataState;
    if (f.optimizer) opt.load(f.optimizer, new Map(specs.map((s) => [s.name, s.shape])));
    resumedFrom = step;
    log(`resumed from ${f.dir} (step ${step})`);
  }
  const params = new ParamSet(specs, values);
  const nParams = specs.reduce((n, s) => n + sizeOf(s.shape), 0);
  const G = tower.grid;
  log(`vision tower: ${nParams} parameters (d=${mc.dModel}, ${mc.towerLayers} layers, ${mc.imageSize}px images in ${G}x${G} cells of ${mc.patchSize}px)`);

  const idx: SceneIndex = await indexScenes(o.data[0]!, o.evalFraction);
  log(`images: ${idx.train.length} to train on, ${idx.heldOut.length} held out; the ${idx.testSamples} test-split samples are never seen`);
  const shape = { imageSize: mc.imageSize, patchSize: mc.patchSize };
  const heldOut: VisionBatch[] = [];
  for (let i = 0; i < Math.min(o.evalImages, idx.heldOut.length); i += o.batch) heldOut.push(await loadBatch(idx, idx.heldOut.slice(i, Math.min(i + o.batch, o.evalImages, idx.heldOut.length)), shape));

  const logFile = join(out, 'vision-log.jsonl');
  const history = await logUpTo<VisionStepLog | VisionEvalLog>(logFile, step);
  const schedule = { lr: o.lr, minLr: o.minLr, warmupSteps: o.warmup, totalSteps: o.steps };
  const gpu = watchGpuErrors();
  const p = (n: string) => params.get(n);
  let lastMetrics: VisionMetrics | null = null;
  let lastSaved = -1;
  let doneHere = 0;
  let stopped: VisionResult['stopped'] = 'done';
  const append = async (e: VisionStepLog | VisionEvalLog) => {
    history.push(e);
    await appendFile(logFile, JSON.stringify(e) + '\n');
  };
  const model = { specs, config: vc, values: () => params.values() };
  const checkpoint = async () => {
    const dir = join(out, 'checkpoints', checkpointName(step));
    await saveCheckpoint(dir, { model, tokenizer: null, step, backend, train: trainJson, optimizer: { state: await opt.state(), config: opt.cfg }, loader: data, metrics: { boxAcc50: lastMetrics?.boxAcc50 ?? null } });
    lastSaved = step;
    await pruneCheckpoints(out, o.keepCheckpoints);
  };
  const evaluate = async () => {
    lastMetrics = await metricsOn(params, tower, heldOut);
    await gpu.check(`held-out metrics at update ${step}`);
    if (lastMetrics) {
      await append({ type: 'vision-eval', step, images: heldOut.reduce((n, b) => n + b.n, 0), ...lastMetrics });
      const m = lastMetrics;
      log(`step ${step}: held-out boxes IoU>=0.5 ${(100 * m.boxAcc50).toFixed(1)}% (>=0.7 ${(100 * m.boxAcc70).toFixed(1)}%, mean ${m.meanIou.toFixed(3)}), objects found ${(100 * m.objRecall).toFixed(1)}% at precision ${(100 * m.objPrecision).toFixed(1)}%, colour ${(100 * m.colorAcc).toFixed(1)}%, shape ${(100 * m.shapeAcc).toFixed(1)}%`);
    }
  };

  let order: { epoch: number; order: Int32Array } | null = null;
  const fetch = (state: VisionDataState) => {
    const next = nextEntries(idx, state, o.batch, o.seed, order);
    order = next.cache;
    return { state: next.state, batch: loadBatch(idx, next.entries, shape) };
  };
  let pending = step < o.steps ? fetch(data) : null;
  try {
    if (step === 0 && o.evalEvery > 0) await evaluate();
    if (o.stopAfter === 0) stopped = 'stopAfter';
    while (step < o.steps && stopped === 'done') {
      if (options.signal?.aborted) {
        stopped = 'aborted';
        break;
      }
      const ts = performance.now();
      const cur = pending!;
      const batch = await cur.batch;
      // The next batch decodes while this one trains.
      pending = step + 1 < o.steps ? fetch(cur.state) : null;
      const lr = lrAt(step, schedule);
      const vars = params.variables();
      let terms: tf.Tensor1D | null = null;
      const { value, grads } = tf.variableGrads(() => {
        const r = visionLoss(p, opsFor(true), tower, batch);
        terms = tf.keep(r.terms);
        return r.loss;
      }, vars);
      value.dispose();
      const g = new Map(specs.map((s) => [s.name, grads[params.get(s.name).name] ?? tf.zerosLike(params.get(s.name))]));
      const norm = clipByGlobalNorm(g, o.clip);
      opt.apply(
        specs.map((s) => ({ name: s.name, variable: params.get(s.name), decay: s.decay })),
        g,
        lr,
      );
      for (const t of g.values()) t.dispose();
      const stats = tf.concat([terms!, tf.reshape(norm, [1])]);
      const v = await stats.data();
      stats.dispose();
      (terms as tf.Tensor | null)?.dispose();
      norm.dispose();
      step++;
      doneHere++;
      data = cur.state;
      assertFinite({ loss: v[0]!, gradNorm: v[5]! }, { step, backend: backend.name });
      const entry: VisionStepLog = { type: 'vision-step', step, loss: v[0]!, objectness: v[1]!, color: v[2]!, shape: v[3]!, box: v[4]!, lr, gradNorm: v[5]!, images: batch.n, seconds: (performance.now() - ts) / 1000, epoch: data.epoch, backend: backend.name, ...deviceField(backend) };
      await append(entry);
      if (step === 1 || step % 10 === 0 || step === o.steps)
        log(`step ${step}/${o.steps} loss ${entry.loss.toFixed(4)} (obj ${entry.objectness.toFixed(3)}, colour ${entry.color.toFixed(3)}, shape ${entry.shape.toFixed(3)}, box ${entry.box.toFixed(3)}) lr ${lr.toExponential(2)} ${entry.seconds.toFixed(2)} s/step`);
      if ((o.evalEvery > 0 && step % o.evalEvery === 0) || step === o.steps) await evaluate();
      if (step % o.checkpointEvery === 0 || step === o.steps) await checkpoint();
      if (o.stopAfter !== undefined && doneHere >= o.stopAfter && step < o.steps) {
        stopped = 'stopAfter';
        break;
      }
    }
    if (lastSaved !== step) await checkpoint();
  } finally {
    // A batch still decoding is awaited so nothing is left running.
    await pending?.batch.catch(() => undefined);
    await gpu.close();
    params.dispose();
    tower.dispose();
    opt.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;
  const ckDir = join(out, 'checkpoints', checkpointName(step));
  const result: VisionResult = { out, backend, step, steps: o.steps, stopped, checkpoint: ckDir, params: nParams, metrics: lastMetrics, seconds, resumedFrom };
  await writeFileAtomic(join(out, 'result.json'), JSON.stringify({ ...result, options: trainJson, tower: vc }, null, 2) + '\n');
  log(`${stopped === 'done' ? 'done' : `stopped (${stopped})`}: step ${step}/${o.steps}, checkpoint ${ckDir}, ${seconds.toFixed(1)} s`);
  return result;
}
