/**
 * Where a token leaves the box grammar `(x1,y1),(x2,y2)`: 0 outside a box, 1..11 after each of its 11
 * tokens (1 `(`, 2 x1, 3 `,`, 4 y1, 5 `)`, 6 `,`, 7 `(`, 8 x2, 9 `,`, 10 y2, 11 `)`). The state of each
 * completion token so far is added to its input as a learned embedding: the model then knows which part
 * of a box comes next from its input instead of counting tokens back (a structure feature computed from
 * the text alone, the same in training and generation).
 */
import type { ModelConfig } from './config.js';

export const BOX_STATES = 12;
type Grammar = Pick<ModelConfig, 'coordBase' | 'coordMax' | 'boxTokens'>;

export function boxStateAfter(state: number, token: number, c: Grammar): number {
  if (!c.boxTokens) return 0;
  const [open, comma, close] = c.boxTokens;
  const coord = token >= c.coordBase && token <= c.coordBase + c.coordMax;
  if (token === open) return state === 6 ? 7 : 1;
  if (coord) return state === 1 ? 2 : state === 3 ? 4 : state === 7 ? 8 : state === 9 ? 10 : 0;
  if (token === comma) return state === 2 ? 3 : state === 5 ? 6 : state === 8 ? 9 : 0;
  if (token === close) return state === 4 ? 5 : state === 10 ? 11 : 0;
  return 0;
}

/** Box states of each row's tokens [B, L] (each row read from its start). */
export function boxStates(ids: Int32Array, B: number, L: number, c: Grammar): Int32Array {
  const out = new Int32Array(B * L);
  for (let i = 0; i < B; i++) {
    let s = 0;
    for (let k = 0; k < L; k++) out[i * L + k] = s = boxStateAfter(s, ids[i * L + k]!, c);
  }
  return out;
}

/**
 * The whole transition function as a table [BOX_STATES * V]: entry state * V + token is the next state.
 * Decoding on a GPU advances every row's state with one gather instead of reading the tokens back.
 */
export function boxTransitionTable(c: Grammar & Pick<ModelConfig, 'vocabSize'>): Int32Array {
  const V = c.vocabSize;
  const t = new Int32Array(BOX_STATES * V);
  for (let s = 0; s < BOX_STATES; s++) for (let v = 0; v < V; v++) t[s * V + v] = boxStateAfter(s, v, c);
  return t;
}
