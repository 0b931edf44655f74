/**
 * Images and their cell targets for tower pretraining, from a synthetic suite directory (`univg synth`
 * output, or a run's `source/`: scenes.jsonl + images/). The scene file is indexed once by line offsets
 * (a few bytes per sample, so a 630k-sample suite indexes in megabytes) and read at random; each epoch
 * visits the training images in a seeded order, and a resume continues at (epoch, position) exactly.
 * Images are decoded with the same kernel and fit the SFT loader uses, so the tower sees what SFT sees.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../../errors.js';
import { imagePath, type SceneImage } from '../../sources/synthetic/index.js';
import { patchify } from '../batching.js';
import { isHeldOut } from '../heldout.js';
import { decodeImage } from '../image.js';
import { Rng } from '../rng.js';
import { sceneTargets, type CellTargets } from './targets.js';

interface Entry {
  /** Byte offset and length of the sample's line in scenes.jsonl. */
  offset: number;
  length: number;
  /** Image k of the sample, and the sample's index (its image files are named by it). */
  k: number;
  index: number;
  id: string;
}

export interface SceneIndex {
  dir: string;
  train: Entry[];
  heldOut: Entry[];
  /** Samples of the test split, skipped. */
  testSamples: number;
}

interface SceneLine {
  id: string;
  split?: 'train' | 'test';
  images: SceneImage[];
}

/**
 * Index a suite directory's scene file; images of held-out samples (by id hash) are kept apart, and the
 * test split's samples are skipped: evaluation scores on them, so the tower must never have seen their
 * objects' boxes.
 */
export async function indexScenes(dir: string, heldOutFraction: number): Promise<SceneIndex> {
  const file = join(dir, 'scenes.jsonl');
  try {
    await stat(file);
  } catch {
    throw new InputError('not a synthetic suite directory: no scenes.jsonl (point --data at `univg synth` output or a run\'s source/)', { file });
  }
  const text = await readFile(file);
  const train: Entry[] = [];
  const heldOut: Entry[] = [];
  let start = 0;
  let line = 0;
  let testSamples = 0;
  while (start < text.length) {
    let end = text.indexOf(10, start);
    if (end < 0) end = text.length;
    line++;
    if (end > start) {
      let scene: SceneLine;
      try {
        scene = JSON.parse(text.subarray(start, end).toString('utf8')) as SceneLine;
      } catch (err) {
        throw new InputError(`scenes.jsonl line ${line} is not JSON`, { file, line }, { cause: err });
      }
      const m = /-(\d+)$/.exec(scene.id ?? '');
      if (!m || !Array.isArray(scene.images)) throw new InputError(`scenes.jsonl line ${line} is not a synthetic scene (id and images)`, { file, line });
      if (scene.split === 'test') {
        testSamples++;
        start = end + 1;
        continue;
      }
      const to = isHeldOut(scene.id, heldOutFraction) ? heldOut : train;
      scene.images.forEach((_, k) => to.push({ offset: start, length: end - start, k, index: Number(m[1]), id: scene.id }));
    }
    start = end + 1;
  }
  if (!train.length) throw new InputError('the scene file has no training images', { file });
  return { dir, train, heldOut, testSamples };
}

export interface VisionBatch {
  /** Images in the batch. */
  n: number;
  /** [n, P, patchDim] pixels scaled to [-1, 1]. */
  patches: Float32Array;
  targets: CellTargets[];
}

/** Decode entries into a batch (scene lines re-read by offset; images decoded concurrently). */
export async function loadBatch(idx: SceneIndex, entries: readonly Entry[], o: { imageSize: number; patchSize: number }): Promise<VisionBatch> {
  const file = join(idx.dir, 'scenes.jsonl');
  const fh = await open(file, 'r');
  const G = o.imageSize / o.patchSize;
  const P = G * G;
  const pd = o.patchSize * o.patchSize * 3;
  const patches = new Float32Array(entries.length * P * pd);
  try {
    const targets = await Promise.all(
      entries.map(async (e, i) => {
        const buf = Buffer.alloc(e.length);
        await fh.read(buf, 0, e.length, e.offset);
        const scene = JSON.parse(buf.toString('utf8')) as SceneLine;
        const img = scene.images[e.k]!;
        const pixels = await decodeImage(join(idx.dir, imagePath(e.index, e.k)), { size: o.imageSize, fit: 'stretch' });
        patchify(pixels, o.imageSize, o.patchSize, patches, i * P * pd);
        return sceneTargets(img, G);
      }),
    );
    return { n: entries.length, patches, targets };
  } finally {
    await fh.close();
  }
}

/** Where a stream of training batches is: the epoch and the next image of that epoch's order. */
export interface VisionDataState {
  epoch: number;
  position: number;
}

/** The training images of `epoch` in a seeded order (Fisher-Yates on indices). */
export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(`vision-order:${seed}:${epoch}`);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** The next `size` training entries from `state`, and the state after them. */
export function nextEntries(idx: SceneIndex, state: VisionDataState, size: number, seed: number, cache: { epoch: number; order: Int32Array } | null): { entries: Entry[]; state: VisionDataState; cache: { epoch: number; order: Int32Array } } {
  let { epoch, position } = state;
  let c = cache && cache.epoch === epoch ? cache : { epoch, order: epochOrder(idx.train.length, seed, epoch) };
  const entries: Entry[] = [];
  while (entries.length < size) {
    if (position >= idx.train.length) {
      epoch++;
      position = 0;
      c = { epoch, order: epochOrder(idx.train.length, seed, epoch) };
    }
    entries.push(idx.train[c.order[position++]!]!);
  }
  return { entries, state: { epoch, position }, cache: c };
}
