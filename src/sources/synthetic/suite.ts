/**
 * generateSuite: render N synthetic samples into a directory in MIG-Bench format. Samples are
 * independent (each has its own generator keyed by seed and index), rendered with bounded
 * concurrency, and written in index order; every file is written to a temporary name and renamed.
 *
 *   DIR/images/000123_0.png ...   the images, RGB PNG
 *   DIR/all.json                  every sample (MIG-Bench array, with id / split / difficulty)
 *   DIR/train.json, DIR/test.json the same records split by `split`
 *   DIR/scenes.jsonl              scene graphs, one per line (debugging and statistics only)
 *   DIR/manifest.json             options, counts, renderer versions; written last
 */
import { mkdir, open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { ConfigError, EXIT, UnivgError } from '../../errors.js';
import type { Difficulty } from '../../schema/records.js';
import { SYNTH_TASKS, type SynthTask } from './vocabulary.js';
import { makeScene } from './make-scene.js';
import { type MigRecord, imagePath, sampleId, toMigRecord } from './mig.js';
import { renderScene } from './render.js';
import { STREAM, hashUnit, makeRng } from './rng.js';
import type { Scene } from './scene.js';

/** Bumped whenever the same options would produce different bytes. */
export const SYNTH_VERSION = 1;
export const DIFFICULTY_CHOICES = ['easy', 'medium', 'hard', 'mixed'] as const;
export type DifficultyChoice = (typeof DIFFICULTY_CHOICES)[number];

export interface SuiteOptions {
  out: string;
  samples: number;
  /** Unsigned 32-bit integer. */
  seed: number;
  /** Tasks to generate, round-robin by sample index (default: all six). */
  tasks?: readonly SynthTask[];
  /** One level for every sample, or `mixed` (default): a level drawn per sample. */
  difficulty?: DifficultyChoice;
  /** Fraction of samples in the test split, drawn per sample (default 0.2). */
  testFraction?: number;
  /** Samples rendered at once (default 4). */
  concurrency?: number;
}

export interface SuiteCounts {
  samples: number;
  images: number;
  byTask: Record<string, number>;
  byDifficulty: Record<string, number>;
  bySplit: Record<string, number>;
}

export interface SuiteResult {
  out: string;
  files: { all: string; train: string; test: string; scenes: string; manifest: string };
  counts: SuiteCounts;
}

interface Plan {
  index: number;
  id: string;
  task: SynthTask;
  difficulty: Difficulty;
  split: 'train' | 'test';
}

const LEVELS: readonly Difficulty[] = ['easy', 'medium', 'hard'];

export function validateOptions(o: SuiteOptions): Required<SuiteOptions> {
  if (typeof o.out !== 'string' || o.out.length === 0) throw new ConfigError('an output directory is required', { field: 'out' });
  if (!Number.isInteger(o.samples) || o.samples < 1) throw new ConfigError(`samples must be a positive integer, got ${o.samples}`, { field: 'samples' });
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) throw new ConfigError(`seed must be an integer in 0..4294967295, got ${o.seed}`, { field: 'seed' });
  const tasks = o.tasks ?? SYNTH_TASKS;
  if (tasks.length === 0) throw new ConfigError('at least one task is required', { field: 'tasks' });
  for (const t of tasks) if (!(SYNTH_TASKS as readonly string[]).includes(t)) throw new ConfigError(`unknown task ${JSON.stringify(t)} (expected one of ${SYNTH_TASKS.join(', ')})`, { field: 'tasks' });
  const difficulty = o.difficulty ?? 'mixed';
  if (!DIFFICULTY_CHOICES.includes(difficulty)) throw new ConfigError(`difficulty must be one of ${DIFFICULTY_CHOICES.join(', ')}, got ${JSON.stringify(difficulty)}`, { field: 'difficulty' });
  const testFraction = o.testFraction ?? 0.2;
  if (!(testFraction >= 0 && testFraction <= 1)) throw new ConfigError(`test fraction must be in [0, 1], got ${testFraction}`, { field: 'testFraction' });
  const concurrency = o.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError(`concurrency must be a positive integer, got ${concurrency}`, { field: 'concurrency' });
  return { out: o.out, samples: o.samples, seed: o.seed, tasks: [...new Set(tasks)], difficulty, testFraction, concurrency };
}

/** What sample `index` will be, from (seed, index) alone: independent of N and of scheduling. */
export function planSample(o: Required<SuiteOptions>, index: number): Plan {
  const difficulty = o.difficulty === 'mixed' ? LEVELS[Math.floor(hashUnit(o.seed, index, STREAM.difficulty) * 3)]! : o.difficulty;
  const split = hashUnit(o.seed, index, STREAM.split) < o.testFraction ? 'test' : 'train';
  return { index, id: sampleId(o.seed, index), task: o.tasks[index % o.tasks.length]!, difficulty, split };
}

/** The scene of one planned sample (pure). */
export function sceneFor(o: Required<SuiteOptions>, plan: Plan): Scene {
  return makeScene(plan.task, makeRng(o.seed, plan.index, STREAM.scene), plan.difficulty, { tileSeed: o.seed });
}

async function writeAtomic(path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** A file written in pieces under a temporary name, renamed into place by `commit`. */
class PendingFile {
  readonly tmp: string;
  private handle: FileHandle | null = null;
  constructor(readonly path: string) {
    this.tmp = `${path}.tmp-${process.pid}`;
  }
  async open(): Promise<void> {
    this.handle = await open(this.tmp, 'w');
  }
  async write(text: string): Promise<void> {
    await this.handle!.write(text);
  }
  async commit(): Promise<void> {
    await this.handle!.close();
    this.handle = null;
    await rename(this.tmp, this.path);
  }
  async discard(): Promise<void> {
    await this.handle?.close().catch(() => undefined); // already failing; the original error is what matters
    this.handle = null;
    await rm(this.tmp, { force: true });
  }
}

/** A JSON array written one record per line. */
class JsonArrayFile extends PendingFile {
  private count = 0;
  async add(record: unknown): Promise<void> {
    await this.write(`${this.count++ === 0 ? '[\n' : ',\n'}${JSON.stringify(record)}`);
  }
  async finish(): Promise<void> {
    await this.write(this.count === 0 ? '[]\n' : '\n]\n');
    await this.commit();
  }
}

export async function generateSuite(options: SuiteOptions): Promise<SuiteResult> {
  const o = validateOptions(options);
  const files = {
    all: join(o.out, 'all.json'),
    train: join(o.out, 'train.json'),
    test: join(o.out, 'test.json'),
    scenes: join(o.out, 'scenes.jsonl'),
    manifest: join(o.out, 'manifest.json'),
  };
  try {
    await mkdir(join(o.out, 'images'), { recursive: true });
  } catch (err) {
    throw new UnivgError('output', `cannot create the output directory: ${(err as Error).message}`, { file: o.out }, { cause: err, exitCode: EXIT.usage });
  }
  const all = new JsonArrayFile(files.all);
  const split = { train: new JsonArrayFile(files.train), test: new JsonArrayFile(files.test) };
  const scenes = new PendingFile(files.scenes);
  const outputs = [all, split.train, split.test, scenes];
  const counts: SuiteCounts = { samples: 0, images: 0, byTask: {}, byDifficulty: {}, bySplit: { train: 0, test: 0 } };
  const bump = (m: Record<string, number>, k: string) => void (m[k] = (m[k] ?? 0) + 1);

  // Finished samples wait here until every earlier one is written, so files are in index order;
  // workers stop taking new indices while they are more than `window` ahead of the writer.
  const done = new Map<number, { record: MigRecord; scene: Scene }>();
  const window = o.concurrency * 4;
  let written = 0;
  let nextIndex = 0;
  let failure: unknown = null;
  let wake: Array<() => void> = [];
  let flushing: Promise<void> = Promise.resolve();

  const flush = async () => {
    while (done.has(written)) {
      const { record, scene } = done.get(written)!;
      done.delete(written);
      await all.add(record);
      await split[record.split].add(record);
      await scenes.write(`${JSON.stringify({ id: record.id, split: record.split, ...scene })}\n`);
      counts.samples++;
      counts.images += record.images.length;
      bump(counts.byTask, record.task);
      bump(counts.byDifficulty, record.difficulty);
      bump(counts.bySplit, record.split);
      written++;
      const w = wake;
      wake = [];
      for (const f of w) f();
    }
  };

  const worker = async () => {
    while (failure === null && nextIndex < o.samples) {
      const index = nextIndex++;
      while (index - written >= window && failure === null) await new Promise<void>((r) => wake.push(r));
      if (failure !== null) return;
      const plan = planSample(o, index);
      const scene = sceneFor(o, plan);
      const pngs = await renderScene(scene);
      await Promise.all(pngs.map((png, k) => writeAtomic(join(o.out, imagePath(index, k)), png)));
      done.set(index, { record: toMigRecord(scene, plan), scene });
      flushing = flushing.then(flush);
      await flushing;
    }
  };

  try {
    await Promise.all(outputs.map((f) => f.open()));
    await Promise.all(
      Array.from({ length: Math.min(o.concurrency, o.samples) }, () =>
        worker().catch((err: unknown) => {
          failure ??= err;
          for (const f of wake) f();
          wake = [];
        }),
      ),
    );
    if (failure !== null) throw failure;
    await flushing;
    await Promise.all([all.finish(), split.train.finish(), split.test.finish(), scenes.commit()]);
  } catch (err) {
    await Promise.all(outputs.map((f) => f.discard()));
    throw err;
  }
  const manifest = {
    generator: 'univg synth',
    version: SYNTH_VERSION,
    options: { samples: o.samples, seed: o.seed, tasks: o.tasks, difficulty: o.difficulty, testFraction: o.testFraction },
    renderer: { sharp: sharp.versions.sharp, vips: sharp.versions.vips, rsvg: sharp.versions.rsvg ?? null },
    counts,
    files: { all: 'all.json', train: 'train.json', test: 'test.json', scenes: 'scenes.jsonl', images: 'images/' },
  };
  await writeAtomic(files.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  return { out: o.out, files, counts };
}
