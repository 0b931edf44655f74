/** The order as integers: partition arithmetic, the shuffle buffer, replay. */
import { describe, expect, it } from 'vitest';
import { consumerRows, ShuffleStream, shuffleFiles } from '../../../src/train/loader/index.js';
import { anyNeeded, globalPosition, replay, substreamRange } from '../../../src/train/loader/order.js';

function drain(s: ShuffleStream): number[] {
  const out: number[] = [];
  for (let x = s.next(); x !== null; x = s.next()) out.push(x);
  return out;
}

describe('partition arithmetic', () => {
  it('consumers together get every position once, counts differing by at most one', () => {
    for (const total of [1, 7, 10, 33]) {
      for (const consumers of [1, 2, 3, 4, 8]) {
        const seen = new Array<number>(total).fill(0);
        const counts: number[] = [];
        for (let c = 0; c < consumers; c++) {
          const n = consumerRows(total, { consumer: c, consumers });
          counts.push(n);
          for (let i = 0; i < n; i++) seen[globalPosition(i, { consumer: c, consumers })]!++;
        }
        expect(seen.every((x) => x === 1), `${total}/${consumers}`).toBe(true);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('substreamRange returns exactly the indices whose positions fall in the range', () => {
    const part = { consumer: 2, consumers: 3 };
    for (let from = 0; from < 12; from++)
      for (let to = from; to < 14; to++) {
        const [lo, hi] = substreamRange(from, to, part);
        const want: number[] = [];
        for (let i = 0; i < 10; i++) {
          const p = globalPosition(i, part);
          if (p >= from && p < to) want.push(i);
        }
        expect(Array.from({ length: hi - lo }, (_, k) => lo + k), `${from}-${to}`).toEqual(want);
      }
  });
});

describe('ShuffleStream', () => {
  const part = { consumer: 0, consumers: 1 };
  it('emits a permutation of 0..n-1, deterministic per (seed, epoch), different across them', () => {
    const a = drain(new ShuffleStream(100, 16, 1, 0, part));
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(drain(new ShuffleStream(100, 16, 1, 0, part))).toEqual(a);
    expect(drain(new ShuffleStream(100, 16, 1, 1, part))).not.toEqual(a);
    expect(drain(new ShuffleStream(100, 16, 2, 0, part))).not.toEqual(a);
    expect(a).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('is bounded: an output is never more than K-1 ahead of the input, and K = 1 keeps order', () => {
    const s = new ShuffleStream(200, 8, 3, 0, part);
    for (let x = s.next(); x !== null; x = s.next()) expect(x).toBeLessThan(s.inNext);
    expect(s.inNext).toBe(200);
    expect(drain(new ShuffleStream(20, 1, 3, 0, part))).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('replay leaves exactly the waiting indices and everything after them needed', () => {
    const full = drain(new ShuffleStream(50, 8, 9, 2, part));
    for (const q of [0, 1, 7, 8, 20, 45, 50]) {
      const s = new ShuffleStream(50, 8, 9, 2, part);
      const needed = replay(s, q);
      const rest = drain(s);
      expect(rest).toEqual(full.slice(q));
      // needed covers the rest and nothing already emitted
      for (const i of rest) expect(i >= needed.from || needed.extra.has(i)).toBe(true);
      for (const i of full.slice(0, q)) expect(i >= needed.from || needed.extra.has(i)).toBe(false);
      expect(anyNeeded(needed, 0, 50)).toBe(q < 50);
    }
  });
});

describe('shuffleFiles', () => {
  it('permutes per (seed, epoch) and leaves its input alone', () => {
    const files = Array.from({ length: 12 }, (_, i) => `f${i}`);
    const a = shuffleFiles(files, 5, 0);
    expect([...a].sort()).toEqual([...files].sort());
    expect(shuffleFiles(files, 5, 0)).toEqual(a);
    expect(shuffleFiles(files, 5, 1)).not.toEqual(a);
    expect(files[0]).toBe('f0');
  });
});
