/**
 * Checkpoints: everything needed to use the model or continue training exactly.
 *
 *   <out>/checkpoints/step-000120/
 *     config.json      model config
 *     tokenizer.json
 *     weights.bin      float32 little-endian, parameters in paramSpecs order
 *     optimizer.bin    AdamW first then second moments, same order (absent when saved without optimizer)
 *     state.json       step, RNG and loader state, backend, training options, sha256 and layout of the .bin files
 *
 * A checkpoint is written to a temporary directory next to its final name and renamed into place, so a
 * directory named `step-*` is always complete; leftovers of a killed write are ignored and removed.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConfigError, InputError, TrainingError } from '../errors.js';
import { writeFileAtomic } from '../store/fsutil.js';
import type { BackendChoice } from './backend.js';
import { checkConfig, GroundingModel, paramSpecs, type ModelConfig, type ParamSpec } from './model/index.js';
import type { AdamWConfig, AdamWState } from './optim.js';
import type { RngState } from './rng.js';
import { Tokenizer, type TokenizerJson } from './tokenizer.js';

export const CHECKPOINT_FORMAT = 'univg-checkpoint';

export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  /** Optimizer updates done. */
  step: number;
  rng: RngState | null;
  /** The loader's state after the last batch consumed (continue from it). */
  loader: unknown;
  backend: Pick<BackendChoice, 'name' | 'tfBackend' | 'reasons' | 'detail'> & { adapter?: BackendChoice['adapter'] };
  /** Training options as given (JSON). */
  train: Record<string, unknown>;
  metrics: Record<string, number | null>;
  weights: { file: 'weights.bin'; sha256: string; params: Array<{ name: string; shape: number[] }> };
  optimizer: { file: 'optimizer.bin'; sha256: string; t: number; config: AdamWConfig } | null;
}

/** What a checkpoint stores the weights of: a grounding model, or a part trained on its own (the tower). */
export interface CheckpointParams {
  readonly specs: readonly ParamSpec[];
  values(): Promise<Map<string, Float32Array>>;
  readonly config: unknown;
}

export interface SaveInput {
  model: CheckpointParams;
  /** The model's tokenizer (none for a tower pretrained on images alone). */
  tokenizer: Tokenizer | null;
  step: number;
  backend: BackendChoice;
  train: Record<string, unknown>;
  optimizer?: { state: AdamWState; config: AdamWConfig };
  rng?: RngState;
  loader?: unknown;
  metrics?: Record<string, number | null>;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function concatFloats(parts: Float32Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  // Little-endian on every platform Node runs on; the format says so.
  return new Uint8Array(out.buffer);
}

export const checkpointName = (step: number) => `step-${String(step).padStart(6, '0')}`;

/** Write a checkpoint to `dir` atomically (temp directory, then rename). Returns `dir`. */
export async function saveCheckpoint(dir: string, s: SaveInput): Promise<string> {
  const specs = s.model.specs;
  const values = await s.model.values();
  // A checkpoint is what a run resumes from: never one of weights that are already NaN or infinite.
  for (const [name, v] of values)
    if (!v.every(Number.isFinite)) throw new TrainingError(`parameter ${name} is not finite at step ${s.step}: training diverged; no checkpoint written`, { file: dir, field: name });
  const weights = concatFloats(specs.map((p) => values.get(p.name)!));
  let optBytes: Uint8Array | null = null;
  if (s.optimizer) {
    const { m, v } = s.optimizer.state;
    const zeros = (name: string) => new Float32Array(values.get(name)!.length);
    optBytes = concatFloats([...specs.map((p) => m.get(p.name) ?? zeros(p.name)), ...specs.map((p) => v.get(p.name) ?? zeros(p.name))]);
  }
  const state: CheckpointState = {
    format: CHECKPOINT_FORMAT,
    version: 1,
    step: s.step,
    rng: s.rng ?? null,
    loader: s.loader ?? null,
    backend: { name: s.backend.name, tfBackend: s.backend.tfBackend, reasons: s.backend.reasons, detail: s.backend.detail, adapter: s.backend.adapter },
    train: s.train,
    metrics: s.metrics ?? {},
    weights: { file: 'weights.bin', sha256: sha256(weights), params: specs.map((p) => ({ name: p.name, shape: p.shape })) },
    optimizer: s.optimizer && optBytes ? { file: 'optimizer.bin', sha256: sha256(optBytes), t: s.optimizer.state.t, config: s.optimizer.config } : null,
  };
  await mkdir(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}-${Date.now()}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await writeFile(join(tmp, 'config.json'), JSON.stringify(s.model.config, null, 2) + '\n');
  if (s.tokenizer) await writeFile(join(tmp, 'tokenizer.json'), JSON.stringify(s.tokenizer.toJSON()) + '\n');
  await writeFile(join(tmp, 'weights.bin'), weights);
  if (optBytes) await writeFile(join(tmp, 'optimizer.bin'), optBytes);
  await writeFile(join(tmp, 'state.json'), JSON.stringify(state, null, 2) + '\n');
  // Replacing an existing checkpoint of the same step (a resumed run passing it again): move the old one
  // aside first, since a directory cannot be renamed over a non-empty one.
  const old = `${tmp}.old`;
  let moved = false;
  try {
    await rename(dir, old);
    moved = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await rename(tmp, dir);
  if (moved) await rm(old, { recursive: true, force: true });
  return dir;
}

/** Complete checkpoints under `<out>/checkpoints`, oldest first. Temp leftovers are skipped. */
export async function listCheckpoints(out: string): Promise<Array<{ step: number; dir: string }>> {
  const root = join(out, 'checkpoints');
  let names: string[];
  try {
    names = await readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), dir: join(root, m[0]) }))
    .sort((a, b) => a.step - b.step);
}

/** Remove temp directories a killed checkpoint write left behind. */
export async function removeTempCheckpoints(out: string): Promise<number> {
  const root = join(out, 'checkpoints');
  let names: string[];
  try {
    names = await readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  const temps = names.filter((n) => n.startsWith('.step-') && n.includes('.tmp-'));
  for (const n of temps) await rm(join(root, n), { recursive: true, force: true });
  return temps.length;
}

/** A checkpoint directory itself, or the latest checkpoint of a training output directory. */
export async function resolveCheckpointDir(dirOrOut: string): Promise<string> {
  try {
    await readFile(join(dirOrOut, 'state.json'));
    return dirOrOut;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const all = await listCheckpoints(dirOrOut);
  if (all.length === 0) throw new InputError('no checkpoint here (expected state.json, or checkpoints/step-* under a training output directory)', { file: dirOrOut });
  return all[all.length - 1]!.dir;
}

async function readJson<T>(file: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file }, { cause: err });
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new InputError(`not valid JSON: ${(err as Error).message}`, { file }, { cause: err });
  }
}

async function readFloats(file: string, expectedSha: string, expectedLength: number): Promise<Float32Array> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new InputError(`cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file }, { cause: err });
  }
  if (buf.length !== expectedLength * 4) throw new InputError(`${buf.length} bytes, expected ${expectedLength * 4} (truncated or from another model)`, { file });
  if (sha256(buf) !== expectedSha) throw new InputError('sha256 does not match state.json (corrupted)', { file });
  // Copy into an aligned buffer of its own.
  const out = new Float32Array(expectedLength);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

export interface LoadedCheckpoint {
  dir: string;
  model: GroundingModel;
  tokenizer: Tokenizer;
  config: ModelConfig;
  state: CheckpointState;
  /** The optimizer moments, when the checkpoint has them. */
  optimizer: AdamWState | null;
}

/**
 * Load a checkpoint (a `step-*` directory, or a training output directory: its latest checkpoint) into
 * a model on the current tfjs backend. Checksums and sizes are verified.
 */
export async function readCheckpoint(dirOrOut: string, opts: { optimizer?: boolean } = {}): Promise<LoadedCheckpoint> {
  const files = await readCheckpointFiles(dirOrOut, opts, (c) => {
    checkConfig(c as ModelConfig);
    return paramSpecs(c as ModelConfig);
  });
  const config = files.config as ModelConfig;
  const { dir } = files;
  const tokenizer = new Tokenizer(await readJson<TokenizerJson>(join(dir, 'tokenizer.json')));
  if (tokenizer.vocabSize !== config.vocabSize) throw new ConfigError(`tokenizer has ${tokenizer.vocabSize} tokens, the model ${config.vocabSize}`, { file: dir });
  return { dir, model: new GroundingModel(config, files.values), tokenizer, config, state: files.state, optimizer: files.optimizer };
}

export interface CheckpointFiles {
  dir: string;
  state: CheckpointState;
  config: unknown;
  values: Map<string, Float32Array>;
  optimizer: AdamWState | null;
}

/**
 * A checkpoint's state, config and parameters, checked against the parameters `specsOf(config)` says it
 * must hold (a config it refuses throws; the message becomes an InputError naming config.json).
 */
export async function readCheckpointFiles(dirOrOut: string, opts: { optimizer?: boolean }, specsOf: (config: unknown) => readonly ParamSpec[]): Promise<CheckpointFiles> {
  const dir = await resolveCheckpointDir(dirOrOut);
  const state = await readJson<CheckpointState>(join(dir, 'state.json'));
  if (state.format !== CHECKPOINT_FORMAT || state.version !== 1) throw new InputError(`not a univg checkpoint (format ${JSON.stringify(state.format)})`, { file: join(dir, 'state.json') });
  const config = await readJson<unknown>(join(dir, 'config.json'));
  let specs: readonly ParamSpec[];
  try {
    specs = specsOf(config);
  } catch (err) {
    throw new InputError((err as Error).message, { file: join(dir, 'config.json') }, { cause: err });
  }
  // Parameters are found by name in the layout the checkpoint records, so a change in the order parts
  // declare them does not misread older checkpoints; the names and shapes must be the model's.
  const layout = state.weights.params;
  const expected = new Map(specs.map((s) => [s.name, s.shape.join('x')]));
  const recorded = new Map(layout.map((s) => [s.name, s.shape.join('x')]));
  const missing = [...expected.keys()].filter((n) => recorded.get(n) !== expected.get(n));
  if (missing.length || recorded.size !== expected.size)
    throw new InputError(`the checkpoint's parameters do not match its config (${missing.slice(0, 3).map((n) => `${n}: ${recorded.get(n) ?? 'absent'} vs ${expected.get(n)}`).join('; ') || `${recorded.size} recorded vs ${expected.size}`})`, { file: join(dir, 'state.json') });
  const sizes = layout.map((s) => s.shape.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  const split = (flat: Float32Array, base: number) => {
    const out = new Map<string, Float32Array>();
    let o = base;
    layout.forEach((s, i) => {
      out.set(s.name, flat.slice(o, o + sizes[i]!));
      o += sizes[i]!;
    });
    return out;
  };
  const values = split(await readFloats(join(dir, 'weights.bin'), state.weights.sha256, total), 0);
  let optimizer: AdamWState | null = null;
  if (opts.optimizer !== false && state.optimizer) {
    const both = await readFloats(join(dir, 'optimizer.bin'), state.optimizer.sha256, 2 * total);
    optimizer = { t: state.optimizer.t, m: split(both, 0), v: split(both, total) };
  }
  return { dir, state, config, values, optimizer };
}

/**
 * Prepare a trainer's output directory: create it, drop half-written checkpoints of a killed run, and
 * refuse to start over existing checkpoints unless resuming. Returns the checkpoints found, oldest first.
 */
export async function prepareTrainingOut(out: string, resume: boolean): Promise<Array<{ step: number; dir: string }>> {
  await mkdir(out, { recursive: true });
  await removeTempCheckpoints(out);
  const existing = await listCheckpoints(out);
  if (existing.length > 0 && !resume)
    throw new ConfigError(`${out} already has checkpoints (latest step ${existing[existing.length - 1]!.step}); pass --resume to continue, or another --out`, { file: out });
  return existing;
}

/** Keep the newest `keep` checkpoints (0 keeps all). */
export async function pruneCheckpoints(out: string, keep: number): Promise<void> {
  if (keep <= 0) return;
  const all = await listCheckpoints(out);
  for (const c of all.slice(0, Math.max(0, all.length - keep))) await rm(c.dir, { recursive: true, force: true });
}

/**
 * A trainer's JSONL log cut back to the entries of steps <= `step` (what the checkpoint being resumed
 * saw), rewritten atomically, so a resumed run appends exactly what an uninterrupted one would have.
 */
export async function logUpTo<T extends { step: number }>(file: string, step: number): Promise<T[]> {
  let lines: string[];
  try {
    lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    lines = [];
  }
  const kept = lines.filter((l) => (JSON.parse(l) as T).step <= step);
  await writeFileAtomic(file, kept.map((l) => l + '\n').join(''));
  return kept.map((l) => JSON.parse(l) as T);
}
