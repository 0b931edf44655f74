/**
 * Hashing and a small seeded RNG. Every random choice the simulated teacher makes (phrasing, faults,
 * latency) comes from an Rng seeded by a hash of what decides it, so the same server seed and the same
 * request give the same bytes on any machine.
 */
import { createHash } from 'node:crypto';

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

/** sfc32: fast, well distributed, 128-bit state seeded from a SHA-256 of the seed parts. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(...seedParts: ReadonlyArray<string | number | Uint8Array>) {
    const hex = hashHex(...seedParts);
    this.a = Number.parseInt(hex.slice(0, 8), 16) >>> 0;
    this.b = Number.parseInt(hex.slice(8, 16), 16) >>> 0;
    this.c = Number.parseInt(hex.slice(16, 24), 16) >>> 0;
    this.d = Number.parseInt(hex.slice(24, 32), 16) >>> 0;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
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
