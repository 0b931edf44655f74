/**
 * The trainer's seeded PRNG (sfc32) with a state that can be saved and restored, so weight init,
 * sampling and anything else random continue exactly after a resume. Deterministic in plain JS (no
 * backend involved), so the same seed gives the same numbers on every backend.
 */
import { createHash } from 'node:crypto';
import { Sfc32, type Sfc32State } from '../random/sfc32.js';

export type RngState = Sfc32State;

export class Rng {
  private readonly g: Sfc32;

  constructor(seedOrState: string | number | RngState) {
    if (Array.isArray(seedOrState)) {
      this.g = new Sfc32(seedOrState);
      return;
    }
    const h = createHash('sha256').update(`univg-train:${seedOrState}`).digest();
    this.g = Sfc32.seeded(h.readUInt32LE(0), h.readUInt32LE(4), h.readUInt32LE(8), h.readUInt32LE(12));
  }

  /** A child stream keyed by this one's next output and a label: draws from it never shift ours. */
  fork(label: string): Rng {
    return new Rng(`${this.u32()}:${label}`);
  }

  state(): RngState {
    return this.g.state();
  }

  u32(): number {
    return this.g.u32();
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.u32() / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box-Muller; one draw per call keeps the state a pure function of call count). */
  normal(): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** n normal draws times std, as float32. */
  normals(n: number, std: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * std;
    return out;
  }
}
