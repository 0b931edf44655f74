/**
 * A small seeded PRNG (sfc32) keyed by a string. The loader derives one stream per purpose, e.g.
 * `files:<seed>:<epoch>` and `shuffle:<seed>:<epoch>:<consumer>/<consumers>`, so an order depends only
 * on those values, never on timing or on how many numbers another stream drew.
 */
import { createHash } from 'node:crypto';
import { Sfc32 } from '../../random/sfc32.js';

export class Rng {
  private readonly g: Sfc32;

  constructor(key: string) {
    const h = createHash('sha256').update(key).digest();
    this.g = Sfc32.seeded(h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12));
  }

  u32(): number {
    return this.g.u32();
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }
}
