/**
 * Token counts for `usage` and for truncation at `max_tokens`. Text: a small BPE-like splitter (a word with
 * its leading space is one token, long words several, every digit one token as in Qwen's tokenizer, every
 * punctuation mark one). Images: one token per 28x28 patch group of the image after Qwen2-VL's
 * smart-resize, plus the vision start/end tokens.
 */
import { smartResize } from '../../geometry/index.js';

const PIECE = /\s*[A-Za-z]+|\d|\s*[^A-Za-z\d\s]|\s+/gy;
/** Letters per token for long words. */
const WORD_CHUNK = 6;

/** End offset (exclusive) of every token of `text`, in order. */
export function tokenEnds(text: string): number[] {
  const ends: number[] = [];
  PIECE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = PIECE.exec(text)) !== null) {
    const start = m.index;
    const piece = m[0];
    const letters = piece.trimStart();
    const lead = piece.length - letters.length;
    if (/^[A-Za-z]+$/.test(letters) && letters.length > WORD_CHUNK + 2) {
      for (let k = WORD_CHUNK; k < letters.length; k += WORD_CHUNK) ends.push(start + lead + k);
    }
    ends.push(start + piece.length);
    if (PIECE.lastIndex === start) PIECE.lastIndex++;
  }
  return ends;
}

export function countTokens(text: string): number {
  return tokenEnds(text).length;
}

/** The first `n` tokens of `text`. */
export function firstTokens(text: string, n: number): string {
  if (n <= 0) return '';
  const ends = tokenEnds(text);
  return n >= ends.length ? text : text.slice(0, ends[n - 1]);
}

export function imageTokens(width: number, height: number, budget: { minPixels: number; maxPixels: number }): number {
  const r = smartResize(width, height, budget);
  return (r.width / 28) * (r.height / 28) + 2;
}

/** Chat-template tokens per message (`<|im_start|>role\n … <|im_end|>\n`) and for the reply's header. */
export const MESSAGE_OVERHEAD = 5;
export const REPLY_OVERHEAD = 3;
