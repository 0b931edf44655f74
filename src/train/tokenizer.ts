/**
 * A word-level tokenizer built from the training corpus that round-trips any JavaScript string exactly.
 *
 * Ids, fixed part first:
 * - 0..7 specials: `<pad>`, `<bos>`, `<eos>` (never produced from text, decoded to nothing) and
 *   `<think>`, `</think>`, `<answer>`, `</answer>`, `<image>` (matched literally in text);
 * - 256 byte tokens, the last-resort fallback (WTF-8 bytes, so even lone surrogates survive);
 * - 1001 coordinate tokens `0`..`1000`: a run of digits without a leading zero and at most 1000 is one
 *   token, any other run is spelled digit by digit with the same tokens;
 * - then the corpus pieces, most frequent first: words (with their leading space), whitespace runs,
 *   `<|...|>` markers and every single character seen.
 * Encoding a piece the vocabulary lacks falls back to: leading space + rest, then characters, then bytes.
 */
import { ConfigError } from '../errors.js';

export const SPECIAL_TOKENS = ['<pad>', '<bos>', '<eos>', '<think>', '</think>', '<answer>', '</answer>', '<image>'] as const;
/** Specials that text can contain (and that encode to one token each). */
const TEXT_SPECIALS = ['<think>', '</think>', '<answer>', '</answer>', '<image>'] as const;
export const COORD_MAX = 1000;
const BYTE_BASE = SPECIAL_TOKENS.length;
const COORD_BASE = BYTE_BASE + 256;
const PIECE_BASE = COORD_BASE + COORD_MAX + 1;

export interface TokenizerJson {
  format: 'univg-tokenizer';
  version: 1;
  specials: string[];
  byteBase: number;
  coordBase: number;
  coordMax: number;
  /** Corpus pieces; piece i has id pieceBase + i. */
  pieceBase: number;
  pieces: string[];
}

export interface BuildOptions {
  /** A word or whitespace run must occur this often to get its own token (default 2). Characters always do. */
  minCount?: number;
  /** At most this many corpus pieces (default 4000), most frequent first. */
  maxPieces?: number;
}

type PieceKind = 'special' | 'word' | 'digits' | 'space' | 'marker' | 'char';

const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isDigit = (c: number) => c >= 48 && c <= 57;
const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;

/** Split text into pre-tokens. Concatenating them gives the text back. */
export function* pretokenize(text: string): Generator<[PieceKind, string]> {
  let i = 0;
  const n = text.length;
  outer: while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 60 /* < */) {
      for (const s of TEXT_SPECIALS) {
        if (text.startsWith(s, i)) {
          yield ['special', s];
          i += s.length;
          continue outer;
        }
      }
      // `<|box_start|>`-style markers (Qwen's grounding tags) are one piece when the corpus has them.
      if (text.charCodeAt(i + 1) === 124 /* | */) {
        let j = i + 2;
        while (j < n && (isLetter(text.charCodeAt(j)) || text.charCodeAt(j) === 95)) j++;
        if (j > i + 2 && text.startsWith('|>', j)) {
          yield ['marker', text.slice(i, j + 2)];
          i = j + 2;
          continue;
        }
      }
    }
    if (c === 32 && i + 1 < n && isLetter(text.charCodeAt(i + 1))) {
      let j = i + 1;
      while (j < n && isLetter(text.charCodeAt(j))) j++;
      yield ['word', text.slice(i, j)];
      i = j;
      continue;
    }
    if (isLetter(c)) {
      let j = i;
      while (j < n && isLetter(text.charCodeAt(j))) j++;
      yield ['word', text.slice(i, j)];
      i = j;
      continue;
    }
    if (isDigit(c)) {
      let j = i;
      while (j < n && isDigit(text.charCodeAt(j))) j++;
      yield ['digits', text.slice(i, j)];
      i = j;
      continue;
    }
    if (isSpace(c)) {
      let j = i;
      while (j < n && text.charCodeAt(j) === c) j++;
      // Leave a final space to the word after it (" the" is one token).
      if (c === 32 && j < n && j - i > 1 && isLetter(text.charCodeAt(j))) j--;
      yield ['space', text.slice(i, j)];
      i = j;
      continue;
    }
    // One code point (a surrogate pair stays together; a lone surrogate is its own piece).
    const hi = c >= 0xd800 && c <= 0xdbff;
    const lo = i + 1 < n ? text.charCodeAt(i + 1) : 0;
    const len = hi && lo >= 0xdc00 && lo <= 0xdfff ? 2 : 1;
    yield ['char', text.slice(i, i + len)];
    i += len;
  }
}

/** WTF-8: UTF-8 that also encodes lone surrogates (3 bytes each), so any JS string has bytes. */
export function wtf8Encode(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let cp = s.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < s.length) {
      const lo = s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return out;
}

/** Inverse of wtf8Encode; an invalid sequence (only a model can produce one) becomes U+FFFD per byte. */
export function wtf8Decode(bytes: readonly number[]): string {
  let out = '';
  let i = 0;
  const cont = (k: number) => i + k < bytes.length && (bytes[i + k]! & 0xc0) === 0x80;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let cp = -1;
    let len = 1;
    if (b < 0x80) cp = b;
    else if (b >= 0xc2 && b < 0xe0 && cont(1)) {
      cp = ((b & 31) << 6) | (bytes[i + 1]! & 63);
      len = 2;
    } else if (b >= 0xe0 && b < 0xf0 && cont(1) && cont(2)) {
      cp = ((b & 15) << 12) | ((bytes[i + 1]! & 63) << 6) | (bytes[i + 2]! & 63);
      len = 3;
      if (cp < 0x800) cp = -1;
    } else if (b >= 0xf0 && b < 0xf5 && cont(1) && cont(2) && cont(3)) {
      cp = ((b & 7) << 18) | ((bytes[i + 1]! & 63) << 12) | ((bytes[i + 2]! & 63) << 6) | (bytes[i + 3]! & 63);
      len = 4;
      if (cp < 0x10000 || cp > 0x10ffff) cp = -1;
    }
    if (cp < 0) {
      out += '\ufffd';
      i += 1;
      continue;
    }
    out += cp >= 0x10000 ? String.fromCodePoint(cp) : String.fromCharCode(cp);
    i += len;
  }
  return out;
}

/** Counts pieces over a stream of texts; `finish()` gives the tokenizer. */
export class TokenizerBuilder {
  private counts = new Map<string, number>();
  private chars = new Set<string>();
  texts = 0;

  add(text: string): void {
    this.texts++;
    for (const [kind, piece] of pretokenize(text)) {
      if (kind === 'special' || kind === 'digits') continue;
      if (kind === 'char') {
        this.chars.add(piece);
        continue;
      }
      this.counts.set(piece, (this.counts.get(piece) ?? 0) + 1);
      // Every character of a word or run can be needed on its own by the fallback.
      for (const ch of piece) this.chars.add(ch);
    }
  }

  finish(opts: BuildOptions = {}): Tokenizer {
    const minCount = opts.minCount ?? 2;
    const maxPieces = opts.maxPieces ?? 4000;
    const frequent = [...this.counts.entries()]
      .filter(([p, n]) => n >= minCount && [...p].length > 1)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([p]) => p);
    const chars = [...this.chars].filter((c) => !/^[0-9]$/.test(c)).sort();
    const pieces = [...chars, ...frequent].slice(0, Math.max(maxPieces, chars.length));
    return new Tokenizer({
      format: 'univg-tokenizer',
      version: 1,
      specials: [...SPECIAL_TOKENS],
      byteBase: BYTE_BASE,
      coordBase: COORD_BASE,
      coordMax: COORD_MAX,
      pieceBase: PIECE_BASE,
      pieces,
    });
  }
}

export class Tokenizer {
  readonly json: TokenizerJson;
  private byPiece = new Map<string, number>();
  readonly vocabSize: number;
  readonly pad = 0;
  readonly bos = 1;
  readonly eos = 2;
  readonly think = 3;
  readonly thinkEnd = 4;
  readonly answer = 5;
  readonly answerEnd = 6;
  readonly image = 7;

  constructor(json: TokenizerJson) {
    if (json.format !== 'univg-tokenizer' || json.version !== 1)
      throw new ConfigError(`not a univg tokenizer (format ${JSON.stringify(json.format)}, version ${json.version})`, { field: 'tokenizer' });
    if (json.byteBase !== BYTE_BASE || json.coordBase !== COORD_BASE || json.pieceBase !== PIECE_BASE || json.coordMax !== COORD_MAX)
      throw new ConfigError('tokenizer layout differs from this version (byte/coordinate/piece bases)', { field: 'tokenizer' });
    if (json.specials.join('\u0000') !== SPECIAL_TOKENS.join('\u0000')) throw new ConfigError('tokenizer special tokens differ from this version', { field: 'tokenizer' });
    this.json = json;
    json.pieces.forEach((p, i) => {
      if (this.byPiece.has(p)) throw new ConfigError(`tokenizer piece ${JSON.stringify(p)} appears twice`, { field: 'tokenizer' });
      this.byPiece.set(p, PIECE_BASE + i);
    });
    this.vocabSize = PIECE_BASE + json.pieces.length;
  }

  static fromJSON(json: unknown): Tokenizer {
    return new Tokenizer(json as TokenizerJson);
  }

  toJSON(): TokenizerJson {
    return this.json;
  }

  /** The id of a corpus piece (a word, a character...), if the vocabulary has it. */
  idOf(piece: string): number | undefined {
    return this.byPiece.get(piece);
  }

  /** Ids of `(`, `,` and `)` when all three are in the vocabulary (the model's box-structure embedding). */
  boxTokens(): [number, number, number] | null {
    const ids = ['(', ',', ')'].map((p) => this.byPiece.get(p));
    return ids.every((i) => i !== undefined) ? (ids as [number, number, number]) : null;
  }

  /** Token id of coordinate value v (an integer in 0..1000). */
  coordId(v: number): number {
    if (!Number.isInteger(v) || v < 0 || v > COORD_MAX) throw new RangeError(`coordinate ${v} is not an integer in 0..${COORD_MAX}`);
    return COORD_BASE + v;
  }

  /** The coordinate value of a token id, or null for any other token. */
  coordValue(id: number): number | null {
    return id >= COORD_BASE && id <= COORD_BASE + COORD_MAX ? id - COORD_BASE : null;
  }

  private pushBytes(out: number[], s: string): void {
    for (const b of wtf8Encode(s)) out.push(BYTE_BASE + b);
  }

  private pushChars(out: number[], s: string): void {
    for (const ch of s) {
      // `for...of` walks code points; a lone surrogate comes out on its own.
      const id = this.byPiece.get(ch);
      if (id !== undefined) out.push(id);
      else this.pushBytes(out, ch);
    }
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const [kind, piece] of pretokenize(text)) {
      if (kind === 'special') {
        out.push(SPECIAL_TOKENS.indexOf(piece as (typeof SPECIAL_TOKENS)[number]));
        continue;
      }
      if (kind === 'digits') {
        if (piece.length <= 4 && (piece === '0' || piece[0] !== '0') && Number(piece) <= COORD_MAX) out.push(COORD_BASE + Number(piece));
        else for (const d of piece) out.push(COORD_BASE + Number(d));
        continue;
      }
      const id = this.byPiece.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      if (kind === 'word' && piece.startsWith(' ')) {
        this.pushChars(out, ' ');
        const rest = this.byPiece.get(piece.slice(1));
        if (rest !== undefined) out.push(rest);
        else this.pushChars(out, piece.slice(1));
        continue;
      }
      this.pushChars(out, piece);
    }
    return out;
  }

  /** The text of one id (bytes decode only in sequence, see `decode`). */
  pieceOf(id: number): string {
    if (id < BYTE_BASE) return id <= 2 ? '' : SPECIAL_TOKENS[id]!;
    if (id < COORD_BASE) return wtf8Decode([id - BYTE_BASE]);
    if (id <= COORD_BASE + COORD_MAX) return String(id - COORD_BASE);
    const p = this.json.pieces[id - PIECE_BASE];
    if (p === undefined) throw new RangeError(`token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
    return p;
  }

  /** Text of a token sequence; `<pad>`, `<bos>`, `<eos>` decode to nothing. */
  decode(ids: ArrayLike<number>): string {
    let out = '';
    let bytes: number[] = [];
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k]!;
      if (id >= BYTE_BASE && id < COORD_BASE) {
        bytes.push(id - BYTE_BASE);
        continue;
      }
      if (bytes.length) {
        out += wtf8Decode(bytes);
        bytes = [];
      }
      out += this.pieceOf(id);
    }
    if (bytes.length) out += wtf8Decode(bytes);
    return out;
  }
}

/** Build a tokenizer from texts (prompts and completions). */
export function buildTokenizer(texts: Iterable<string>, opts: BuildOptions = {}): Tokenizer {
  const b = new TokenizerBuilder();
  for (const t of texts) b.add(t);
  return b.finish(opts);
}
