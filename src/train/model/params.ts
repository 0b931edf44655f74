/**
 * Parameters: each part of the model declares its own (name, shape, whether weight decay applies, how to
 * initialise), and the model holds them as tfjs variables by name. Initial values come from the seeded RNG
 * in plain JS, so they are identical on every backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../../errors.js';
import type { Rng } from '../rng.js';

export interface ParamSpec {
  name: string;
  shape: number[];
  /** Whether AdamW's decoupled weight decay applies (matrices yes; norms, biases, positions no). */
  decay: boolean;
  /** Initial values: all ones, all zeros, or normal with this standard deviation. */
  init: 'ones' | 'zeros' | { std: number };
}

export const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Initial values of the specs, drawn in the order given (the order fixes which draws each one gets). */
export function initValues(specs: readonly ParamSpec[], rng: Rng): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const s of specs) {
    const n = sizeOf(s.shape);
    out.set(s.name, s.init === 'ones' ? new Float32Array(n).fill(1) : s.init === 'zeros' ? new Float32Array(n) : rng.normals(n, s.init.std));
  }
  return out;
}

let nextSetId = 0;

/** A model's parameters as tfjs variables, by name. */
export class ParamSet {
  readonly specs: readonly ParamSpec[];
  private readonly vars = new Map<string, tf.Variable>();

  constructor(specs: readonly ParamSpec[], values: ReadonlyMap<string, Float32Array>) {
    const id = ++nextSetId;
    this.specs = specs;
    for (const s of specs) {
      const v = values.get(s.name);
      const n = sizeOf(s.shape);
      if (!v || v.length !== n) throw new ConfigError(`parameter ${s.name}: expected ${n} values, got ${v?.length ?? 'none'}`, { field: s.name });
      // tfjs variable names are global: a counter keeps two models in one process apart.
      this.vars.set(s.name, tf.variable(tf.tensor(v, s.shape), true, `${s.name}#${id}`));
    }
  }

  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`no parameter ${name}`);
    return v;
  }

  variables(): tf.Variable[] {
    return this.specs.map((s) => this.get(s.name));
  }

  /** Current values by name, read back asynchronously (GPU backends cannot read synchronously). */
  async values(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const s of this.specs) out.set(s.name, (await this.get(s.name).data()) as Float32Array);
    return out;
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

/** What a part's forward pass reads its parameters through. */
export type Params = (name: string) => tf.Variable;
