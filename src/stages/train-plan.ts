/**
 * What the training stages read and write, resolved from the pipeline config: the corpus (this run, or
 * the finished corpus run `train.from`), the trainer options of each stage, the benchmark and the models
 * to evaluate. Pure apart from small file checks; no TensorFlow.js here (the stages import the trainers
 * lazily, so `univg status` and the corpus stages never load it).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { ConfigError, InputError } from '../errors.js';
import type { EvalModel, PipelineConfig, TrainConfig } from '../schema/config.js';
import { writeFileAtomic } from '../store/fsutil.js';
import { MANIFEST_NAME } from '../store/manifest.js';
import { DONE_FILE, TRAIN_LAYOUT, type TrainDone } from '../report/training.js';
import type { RlOptions } from '../train/rl/train.js';
import type { ScoreOptions } from '../train/score/options.js';
import type { SftOptions } from '../train/sft.js';
import type { VisionOptions } from '../train/vision/train.js';

export function trainOf(c: PipelineConfig): TrainConfig {
  if (!c.train) throw new ConfigError('the pipeline has no train section', { field: 'train' });
  return c.train;
}

/** The run whose corpus/ and source/ the training reads: train.from (against the working directory), else this run. */
export function corpusRoot(c: PipelineConfig, runDir: string): string {
  return c.train?.from !== undefined ? resolve(c.train.from) : resolve(runDir);
}

export const corpusDir = (c: PipelineConfig, runDir: string, pool: 'sft' | 'rl'): string => join(corpusRoot(c, runDir), 'corpus', pool);

/** A corpus pool's manifest in another run (train.from), for staleness; none in same-run mode (the select stage is an input). */
export function externalPool(c: PipelineConfig, pool: 'sft' | 'rl'): Array<{ name: string; file: string }> {
  if (c.train?.from === undefined) return [];
  return [{ name: `${c.train.from}/corpus/${pool}`, file: join(resolve(c.train.from), 'corpus', pool, MANIFEST_NAME) }];
}

/** Preflight for train.from: the other run's pool is finished (its manifest exists). */
export function checkExternalPool(c: PipelineConfig, pool: 'sft' | 'rl'): void {
  for (const x of externalPool(c, pool)) {
    if (!existsSync(x.file))
      throw new InputError(`train.from: no finished corpus/${pool} pool in ${c.train!.from} (run its corpus pipeline first)`, { file: x.file, field: 'train.from' });
  }
}

/** Preflight for a checkpoint named in the config (train.score.checkpoint, train.rl.init): it exists. */
export function checkCheckpointPath(path: string | undefined, field: string): void {
  if (path !== undefined && !existsSync(resolve(path))) throw new InputError('checkpoint not found (a checkpoint directory, or a training output directory with checkpoints/)', { file: path, field });
}

export const seedOf = (c: PipelineConfig, own: number | undefined): number => own ?? c.seed;

/** Options that do not change what training computes: kept out of the stage settings (no staleness). */
export function withoutRuntime<T extends Record<string, unknown>>(o: T, keys: readonly string[]): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) if (!keys.includes(k)) out[k] = o[k];
  return out as Partial<T>;
}

/**
 * trainSft's options for this pipeline, except out/signal/log/resume: the train.sft section as parsed
 * (every key and default comes from the schema the trainer and the CLI read too), the pipeline seed when
 * the section has none, and the run's corpus.
 */
export function sftOptions(c: PipelineConfig, runDir: string): Omit<SftOptions, 'out'> {
  const t = trainOf(c);
  const s = t.sft;
  if (!s) throw new ConfigError('the pipeline has no train.sft section', { field: 'train.sft' });
  return {
    ...definedOnly(s),
    seed: seedOf(c, s.seed),
    data: [corpusDir(c, runDir, 'sft')],
    dataRoot: corpusRoot(c, runDir),
    // A pretrained tower from this run's train-vision stage, unless the section names one itself.
    ...(t.vision && s.vision === undefined ? { vision: join(resolve(runDir), TRAIN_LAYOUT.vision) } : {}),
    ...definedOnly({ backend: t.backend, workers: t.workers }),
  };
}

/** trainVision's options: the train.vision section, the pipeline seed, the corpus run's synthetic source. */
export function visionOptions(c: PipelineConfig, runDir: string): Omit<VisionOptions, 'out'> {
  const t = trainOf(c);
  const v = t.vision;
  if (!v) throw new ConfigError('the pipeline has no train.vision section', { field: 'train.vision' });
  return { ...definedOnly(v), seed: seedOf(c, v.seed), data: [join(corpusRoot(c, runDir), 'source')], ...definedOnly({ backend: t.backend, workers: t.workers }) };
}

/** trainRl's options for this pipeline, except signal/log: the train.rl section as parsed, the pipeline seed, `init` and the pool. */
export function rlOptions(c: PipelineConfig, runDir: string, paths: { data: string; init: string }): RlOptions {
  const t = trainOf(c);
  const r = t.rl;
  if (!r) throw new ConfigError('the pipeline has no train.rl section', { field: 'train.rl' });
  return {
    ...definedOnly(r),
    seed: seedOf(c, r.seed),
    data: [paths.data],
    dataRoot: corpusRoot(c, runDir),
    init: paths.init,
    out: join(runDir, TRAIN_LAYOUT.rl),
    resume: true,
    ...definedOnly({ backend: t.backend, workers: t.workers }),
  };
}

/** scoreCorpus's options for this pipeline, except the model and the hooks: the train.score settings as parsed, the pipeline seed, the pool. */
export function scoreRunOptions(c: PipelineConfig, runDir: string): Omit<ScoreOptions, 'model'> {
  const s = trainOf(c).score;
  if (!s) throw new ConfigError('the pipeline has no train.score section', { field: 'train.score' });
  const { checkpoint: _checkpoint, endpoint: _endpoint, ...settings } = s;
  return {
    ...definedOnly(settings),
    seed: seedOf(c, s.seed),
    data: [corpusDir(c, runDir, 'rl')],
    dataRoot: corpusRoot(c, runDir),
    out: join(runDir, TRAIN_LAYOUT.scored),
  };
}

/** An object without its undefined fields (an absent option, not an option set to undefined). */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** What shapes train-sft's checkpoints (hashed for staleness). */
export function sftSettings(c: PipelineConfig): unknown {
  const s = c.train?.sft;
  if (!s) return null;
  return { from: c.train?.from ?? null, ...withoutRuntime({ ...s, seed: seedOf(c, s.seed) }, ['checkpointEvery', 'keepCheckpoints']) };
}

export function visionSettings(c: PipelineConfig): unknown {
  const v = c.train?.vision;
  if (!v) return null;
  return { from: c.train?.from ?? null, ...withoutRuntime({ ...v, seed: seedOf(c, v.seed) }, ['checkpointEvery', 'keepCheckpoints']) };
}

/** The benchmark eval scores on: train.eval.bench, else the corpus run's synthetic test split (null when there is none). */
export function benchOf(c: PipelineConfig, runDir: string): { file: string; imageRoot: string } | null {
  const b = c.train?.eval?.bench;
  if (b) return { file: resolve(b.file), imageRoot: resolve(b.imageRoot) };
  // Same-run mode: only the synthetic suite renders a test split (source/test.json) into the run.
  if (c.train?.from === undefined && c.source?.format !== 'synthetic') return null;
  const root = corpusRoot(c, runDir);
  return { file: join(root, 'source', 'test.json'), imageRoot: join(root, 'source') };
}

/** The models eval scores, in table order: as configured, else untrained, centre, sft, rl (those trained here). */
export function evalModels(c: PipelineConfig): EvalModel[] {
  const t = c.train;
  const listed = t?.eval?.models;
  if (listed) {
    for (const m of listed) {
      const need = m === 'untrained' || m === 'sft' ? 'sft' : m === 'rl' ? 'rl' : null;
      if (need && !t?.[need]) throw new ConfigError(`train.eval.models lists ${m}, which needs a train.${need} section`, { field: 'train.eval.models' });
    }
    return [...new Set(listed)];
  }
  const out: EvalModel[] = [];
  if (t?.sft) out.push('untrained');
  out.push('centre');
  if (t?.sft) out.push('sft');
  if (t?.rl) out.push('rl');
  return out;
}

/** The checkpoint a later stage starts from: its own setting, else train-sft's (null when neither). */
export function sftCheckpointSetting(c: PipelineConfig, own: string | undefined): { kind: 'stage' } | { kind: 'path'; path: string } | null {
  if (own !== undefined) return { kind: 'path', path: resolve(own) };
  return c.train?.sft ? { kind: 'stage' } : null;
}

export async function writeDone(runDir: string, dir: string, checkpoint: string): Promise<TrainDone> {
  const state = JSON.parse(await readFile(join(checkpoint, 'state.json'), 'utf8')) as { step: number; weights: { sha256: string } };
  const done: TrainDone = { format: 1, checkpoint: relative(resolve(runDir), resolve(checkpoint)), step: state.step, weightsSha256: state.weights.sha256 };
  await writeFileAtomic(join(runDir, dir, DONE_FILE), `${JSON.stringify(done, null, 2)}\n`);
  return done;
}

/** The finished checkpoint of a training stage (from its done.json), as an absolute path. */
export async function readDone(runDir: string, dir: string): Promise<TrainDone & { path: string }> {
  const file = join(runDir, dir, DONE_FILE);
  let doc: TrainDone;
  try {
    doc = JSON.parse(await readFile(file, 'utf8')) as TrainDone;
  } catch (err) {
    throw new InputError(`cannot read the finished stage's ${DONE_FILE}: ${(err as Error).message}`, { file }, { cause: err });
  }
  return { ...doc, path: join(resolve(runDir), doc.checkpoint) };
}

/** Trainer progress lines ("step 40/2000 ...") drive the task's progress bar; every line is also logged. */
export function trainerLog(ctx: { log(m: string): void; progress: { setTotal(n: number): void; advance(n?: number): void } }): (line: string) => void {
  let done = 0;
  let total = -1;
  return (line) => {
    ctx.log(line);
    const m = /^step (\d+)\/(\d+)\b/.exec(line);
    if (!m) return;
    const [step, of] = [Number(m[1]), Number(m[2])];
    if (of !== total) ctx.progress.setTotal((total = of));
    if (step > done) {
      ctx.progress.advance(step - done);
      done = step;
    }
  };
}
