/**
 * Choosing the next token on the device, and the decode loop that reads tokens back only every few
 * steps. Greedy (argmax, or class-greedy where the 1001 coordinate tokens compete as one class) or
 * temperature + top-p sampling. The uniform draws come from seeded per-row RNG streams on the host and
 * travel to the device (an upload, no stall), so the same seed gives the same text on every backend up to
 * fp32 rounding, and a row's draws do not depend on which other rows share its batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';
import type { DecodeState, GroundingModel } from './model/index.js';
import type { Rng } from './rng.js';

/** The token ids of coordinates, [first, last], for class-greedy decoding. */
export interface CoordinateRange {
  first: number;
  last: number;
}

export interface SamplerOptions {
  /** 0: greedy. Otherwise logits are divided by it before sampling. */
  temperature: number;
  /** Nucleus: keep the most likely tokens whose probability adds up to topP (at least one). */
  topP: number;
  /** Greedy only: let the coordinate tokens compete as one class (see SamplingOptions.greedy). */
  coords?: CoordinateRange;
}

/** Added to logits a choice must not take (finite, so no inf - inf turns into NaN). */
const HIDE = -1e30;

/** [1, V] additive bias that hides the coordinate tokens (`hide: 'coords'`) or every other token. */
function coordBias(V: number, coords: CoordinateRange, hide: 'coords' | 'others'): tf.Tensor2D {
  const b = new Float32Array(V).fill(hide === 'others' ? HIDE : 0);
  b.fill(hide === 'others' ? 0 : HIDE, coords.first, coords.last + 1);
  return tf.tensor2d(b, [1, V]);
}

/**
 * Next tokens [B] (int32, on the device) from logits [B, V]; `uniforms` [B] in [0, 1) when sampling.
 * Sampling follows the host reference (sampleTokenOnHost): tokens sorted by probability, the nucleus kept,
 * then the first token whose cumulative kept mass exceeds u times the kept mass.
 */
export function sampleTokens(logits: tf.Tensor2D, o: SamplerOptions, uniforms: Float32Array | null): tf.Tensor1D {
  return tf.tidy(() => {
    const [B, V] = logits.shape;
    if (!(o.temperature > 0)) {
      if (!o.coords) return tf.argMax(logits, 1) as tf.Tensor1D;
      const coordsOnly = tf.add(logits, coordBias(V, o.coords, 'others'));
      const others = tf.add(logits, coordBias(V, o.coords, 'coords'));
      const bestCoord = tf.argMax(coordsOnly, 1);
      const bestOther = tf.argMax(others, 1);
      const max = tf.max(logits, 1, true);
      const coordMass = tf.sum(tf.exp(tf.sub(coordsOnly, max)), 1);
      const otherP = tf.exp(tf.sub(tf.max(others, 1), tf.squeeze(max, [1])));
      return tf.where(tf.greaterEqual(otherP, coordMass), bestOther, bestCoord) as tf.Tensor1D;
    }
    if (!uniforms || uniforms.length !== B) throw new Error(`sampleTokens: ${uniforms?.length ?? 0} uniforms for ${B} rows`);
    const probs = tf.softmax(tf.div(logits, o.temperature));
    const { values: sp, indices: si } = tf.topk(probs, V, true);
    const before = tf.sub(tf.cumsum(sp, 1), sp);
    const keep = tf.less(before, o.topP);
    const kept = tf.where(keep, sp, tf.zerosLike(sp));
    const target = tf.mul(tf.tensor2d(uniforms, [B, 1]), tf.sum(kept, 1, true));
    const below = tf.logicalAnd(keep, tf.lessEqual(tf.cumsum(kept, 1), target));
    const idx = tf.minimum(tf.sum(tf.cast(below, 'int32'), 1), tf.sub(tf.sum(tf.cast(keep, 'int32'), 1), tf.scalar(1, 'int32'))) as tf.Tensor1D;
    return tf.sum(tf.mul(tf.oneHot(idx, V), si), 1) as tf.Tensor1D;
  });
}

/** One token from host logits (tests and one-off use; decoding uses sampleTokens on the device). */
export async function sampleToken(logits: Float32Array, temperature: number, topP: number, rng: Rng, coords?: CoordinateRange): Promise<number> {
  const t = tf.tensor2d(logits, [1, logits.length]);
  const tok = sampleTokens(t, { temperature, topP, ...(coords ? { coords } : {}) }, temperature > 0 ? Float32Array.of(rng.uniform()) : null);
  t.dispose();
  const v = (await tok.data())[0]!;
  tok.dispose();
  return v;
}

export interface DecodeRowsOptions extends SamplerOptions {
  /** At most this many tokens per row. */
  maxTokens: number;
  bos: number;
  eos: number;
  /** One RNG stream per row (used when temperature > 0). */
  rngs?: Rng[];
  /** Read the tokens back every this many steps (1 on CPU backends, where a read costs nothing). */
  readEvery?: number;
  /** Write an answer for rows that have not begun one when the budget is about to run out. */
  forceAnswer?: AnswerForcing;
}

/**
 * Budget forcing: the last `template.length` steps of the budget feed the template to every row that has
 * not written `answer` by then (and has not finished), so a model whose reasoning would run past the budget
 * still commits to a box. Fixed slots are fed as they are; a slot of -1 is a coordinate the model chooses
 * (its best coordinate token, or one sampled from the coordinate tokens alone). Everything else about
 * the row is unchanged: the forced tokens are fed back like any other, so the box grammar and the pointer
 * see an ordinary box.
 */
export interface AnswerForcing {
  template: readonly number[];
  answer: number;
  coords: CoordinateRange;
}

export interface DecodedRows {
  /** Per row, the tokens before `<eos>`. */
  tokens: number[][];
  /** Per row, whether it stopped at `<eos>` or at the token limit. */
  stop: Array<'eos' | 'length'>;
  /** Per row, whether its answer was forced (all false without `forceAnswer`). */
  forced: boolean[];
}

/** Steps between readbacks: GPU backends stall on every read; CPU backends do not. */
export function defaultReadEvery(): number {
  return ['wasm', 'cpu', 'tensorflow'].includes(tf.getBackend()) ? 1 : 16;
}

/**
 * Decode every row of a prefilled state until each has written `<eos>` or maxTokens. A finished row keeps
 * its slot and is fed `<eos>`. Tokens stay on the device between readbacks; after a readback that shows
 * every row finished, decoding stops (so up to readEvery - 1 steps may be computed and thrown away).
 */
export async function decodeRows(model: GroundingModel, state: DecodeState, o: DecodeRowsOptions): Promise<DecodedRows> {
  const B = state.B;
  const readEvery = Math.max(1, o.readEvery ?? defaultReadEvery());
  if (o.temperature > 0 && (!o.rngs || o.rngs.length !== B)) throw new Error(`decodeRows: sampling needs ${B} RNG streams`);
  const tokens: number[][] = Array.from({ length: B }, () => []);
  const stop: Array<'eos' | 'length' | null> = new Array(B).fill(null);
  const f = o.forceAnswer;
  const forceFrom = f ? o.maxTokens - f.template.length : Infinity;
  if (f && forceFrom < 0) throw new ConfigError(`a forced answer takes ${f.template.length} tokens; maxTokens is ${o.maxTokens}`, { field: 'maxTokens' });
  const eosRow = tf.fill([B], o.eos, 'int32') as tf.Tensor1D;
  let next = tf.fill([B], o.bos, 'int32') as tf.Tensor1D;
  let done = tf.zeros([B], 'bool') as tf.Tensor1D;
  // Forcing state, on the device: which rows have written `answer`, and which are being forced.
  let answered = f ? (tf.zeros([B], 'bool') as tf.Tensor1D) : null;
  let forced: tf.Tensor1D | null = null;
  const chunk: tf.Tensor1D[] = [];
  try {
    for (let t = 0; t < o.maxTokens; t++) {
      const logits = model.decodeStep(state, next);
      const u = o.temperature > 0 ? Float32Array.from(o.rngs!, (r) => r.uniform()) : null;
      if (f && t === forceFrom) forced = tf.tidy(() => tf.logicalAnd(tf.logicalNot(answered!), tf.logicalNot(done)) as tf.Tensor1D);
      const fed = tf.tidy(() => {
        let pick = sampleTokens(logits, o, u);
        if (f && forced) {
          const slot = f.template[t - forceFrom]!;
          const V = logits.shape[1];
          const put = slot >= 0 ? tf.fill([B], slot, 'int32') : sampleTokens(tf.add(logits, coordBias(V, f.coords, 'others')), { temperature: o.temperature, topP: o.topP }, u);
          pick = tf.where(forced, put, pick) as tf.Tensor1D;
        }
        return tf.where(done, eosRow, pick) as tf.Tensor1D;
      });
      logits.dispose();
      if (f) {
        const a = tf.tidy(() => tf.logicalOr(answered!, tf.equal(fed, tf.scalar(f.answer, 'int32'))) as tf.Tensor1D);
        answered!.dispose();
        answered = a;
      }
      const nowDone = tf.logicalOr(done, tf.equal(fed, eosRow)) as tf.Tensor1D;
      done.dispose();
      done = nowDone;
      if (next !== fed) next.dispose();
      next = fed;
      chunk.push(tf.clone(fed));
      if ((t + 1) % readEvery !== 0 && t + 1 < o.maxTokens) continue;
      const stacked = chunk.length === 1 ? chunk[0]! : tf.stack(chunk);
      const values = (await stacked.data()) as Int32Array;
      if (stacked !== chunk[0]) stacked.dispose();
      for (const c of chunk) c.dispose();
      const steps = chunk.length;
      chunk.length = 0;
      for (let k = 0; k < steps; k++)
        for (let r = 0; r < B; r++) {
          if (stop[r] !== null) continue;
          const tk = values[k * B + r]!;
          if (tk === o.eos) stop[r] = 'eos';
          else tokens[r]!.push(tk);
        }
      if (stop.every((s) => s !== null)) break;
    }
    const wasForced = forced ? Array.from(await forced.data(), (v) => v !== 0) : new Array<boolean>(B).fill(false);
    return { tokens, stop: stop.map((s) => s ?? 'length'), forced: wasForced };
  } finally {
    for (const c of chunk) c.dispose();
    eosRow.dispose();
    next.dispose();
    done.dispose();
    answered?.dispose();
    forced?.dispose();
  }
}
