/**
 * Hashing and a small seeded RNG. Every random choice the simulated teacher makes (phrasing, faults,
 * latency) comes from an Rng seeded by a hash of what decides it, so the same server seed and the same
 * request give the same bytes on any machine.
 */
import { createHash } from 'node:crypto';
import { Sfc32 } from '../../random/sfc32.js';

/** SHA-256 hex of the parts joined with a separator that cannot occur in numbers or hex. */
export function hashHex(...parts: ReadonlyArray<string | number | Uint8Array>): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(typeof p === 'number' ? String(p) : p);
    h.update('\u0000');
  }
  return h.digest('hex');
}

/** A uniform number in [0, 1) drawn from a hash: one-shot decisions (faults) need no generator state. */
export function hashUniform(...parts: ReadonlyArray<string | number | Uint8Array>): number {
  return Number.parseInt(hashHex(...parts).slice(0, 13), 16) / 2 ** 52;
}

/** sfc32 seeded from a SHA-256 of the seed parts. */
export class Rng {
  private readonly g: Sfc32;

  constructor(...seedParts: ReadonlyArray<string | number | Uint8Array>) {
    const hex = hashHex(...seedParts);
    const word = (i: number) => Number.parseInt(hex.slice(8 * i, 8 * i + 8), 16);
    // This generator once added its counter after incrementing it: the same stream as sfc32 with the
    // counter word one higher, which keeps every seeded simulation (and cached response) byte-identical.
    this.g = Sfc32.seeded(word(0), word(1), word(2), word(3) + 1);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.g.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}
