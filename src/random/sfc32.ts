/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit state): the one seeded generator
 * behind every random stream of the project (synthetic suite, simulated teacher, trainer, loader, audit
 * plan). Each caller keeps its own way of turning a seed into the four state words; the generator itself
 * is written once, so its output cannot drift between copies.
 */

export type Sfc32State = [number, number, number, number];

/** Draws thrown away after seeding: sfc32's first outputs are correlated with the seed words. */
const WARM_UP = 12;

export class Sfc32 {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** Continue from a state as `state()` returned it (no warm-up). */
  constructor(state: Readonly<Sfc32State>) {
    [this.a, this.b, this.c, this.d] = [state[0] | 0, state[1] | 0, state[2] | 0, state[3] | 0];
  }

  /** A fresh generator from four seed words, warmed up. */
  static seeded(a: number, b: number, c: number, d: number): Sfc32 {
    const g = new Sfc32([a, b, c, d]);
    for (let i = 0; i < WARM_UP; i++) g.u32();
    return g;
  }

  /** The next output, an unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** The state as four unsigned 32-bit integers (JSON-safe, for checkpoints). */
  state(): Sfc32State {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }
}
