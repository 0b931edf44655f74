/**
 * Seeded randomness for the synthetic suite. Every sample gets its own generator derived from
 * (suite seed, sample index, stream), so a sample's content does not depend on how many samples are
 * generated, in which order, or how many run in parallel.
 */
import { Sfc32 } from '../../random/sfc32.js';

/** 32-bit finaliser (murmur3 fmix32): spreads every input bit over the output. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash a list of unsigned 32-bit integers to one. Order matters. */
export function hash32(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) h = fmix32((h ^ fmix32(p >>> 0)) + 0x7f4a7c15);
  return h;
}

/** A uniform float in [0, 1) from a hash of the parts (no generator state). */
export function hashUnit(...parts: number[]): number {
  return hash32(...parts) / 4294967296;
}

/** Streams of one sample: scene content and split assignment never share a generator. */
export const STREAM = { scene: 1, split: 2, difficulty: 3, tiles: 4 } as const;

export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform float in [lo, hi). */
  float(lo: number, hi: number): number;
  /** Uniform integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** A shuffled copy. */
  shuffle<T>(items: readonly T[]): T[];
}

/** A generator keyed by integers, e.g. `makeRng(seed, index, STREAM.scene)`. */
export function makeRng(...key: number[]): Rng {
  const g = Sfc32.seeded(hash32(...key, 1), hash32(...key, 2), hash32(...key, 3), hash32(...key, 4));
  return wrap(() => g.next());
}

function wrap(next: () => number): Rng {
  const rng: Rng = {
    next,
    float: (lo, hi) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
    shuffle: <T>(items: readonly T[]): T[] => {
      const out = items.slice();
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
  };
  return rng;
}
