/**
 * Reading and writing completions in UniVG-R1's `<think>…</think><answer>(x1,y1),(x2,y2)</answer>` format.
 *
 * The parser is lenient about how real teachers write boxes (spaces, floats, `[x1, y1, x2, y2]`,
 * `<|box_start|>…<|box_end|>`, `{"bbox_2d": […]}`) and strict about which box is the answer: only the first
 * `<answer>` block counts, never the first box in the text. Everything unusual is reported as a problem
 * rather than thrown, so verification can decide what to reject.
 */
import { GeometryError, RecordError } from '../errors.js';
import { isIntegerConvention } from '../geometry/index.js';
import type { BoxConvention } from '../schema/records.js';
import { scanAsciiBox } from './ascii-box.js';

export const COMPLETION_PROBLEM_CODES = [
  'missing_think',
  'missing_answer',
  'unclosed_tag',
  'repeated_think',
  'repeated_answer',
  'text_before_think',
  'text_after_answer',
  'answer_before_think',
  'answer_unparsable',
  'answer_multiple_boxes',
  'box_out_of_range',
  'box_inverted',
  'box_degenerate',
  'box_not_integer',
] as const;
export type CompletionProblemCode = (typeof COMPLETION_PROBLEM_CODES)[number];

export type Box4 = [number, number, number, number];

export interface CompletionProblem {
  code: CompletionProblemCode;
  detail: string;
}

export interface ParsedCompletion {
  /** Text inside the first `<think>…</think>`; when `<think>` is missing but `</think>` is present, the text before it. */
  think: string | null;
  /** Raw text inside the first `<answer>…</answer>`; for an unclosed `<answer>`, the rest of the text. */
  answer: string | null;
  /** Box of the answer block, numbers as written in the convention; xywh conventions are turned into xyxy. */
  answerBox: Box4 | null;
  /** Every box written in the think, in order; `offset` and `end` delimit its text in the completion. */
  thinkBoxes: Array<{ box: Box4; offset: number; end: number }>;
  /** 0-based indices of the images the think names ("image 2", "the second image", "Image-3"), first mention order, no repeats. */
  mentionedImages: number[];
  /** Where `think` starts in the completion text (for the offsets of `thinkBoxes`); null without a think. */
  thinkOffset: number | null;
  problems: CompletionProblem[];
}

const T_OPEN = '<think>';
const T_CLOSE = '</think>';
const A_OPEN = '<answer>';
const A_CLOSE = '</answer>';

const NUM = '[-+]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][-+]?\\d+)?';
const N = `\\s*(${NUM})\\s*`;
/** `(x1,y1),(x2,y2)` (comma between the pairs optional), `(x1,y1,x2,y2)`, `[x1,y1,x2,y2]`; sticky: tried only where '(' or '[' is. */
const PAREN_BOX_RE = new RegExp(`\\(${N},${N}\\)\\s*,?\\s*\\(${N},${N}\\)|\\(${N},${N},${N},${N}\\)`, 'y');
const BRACKET_BOX_RE = new RegExp(`\\[${N},${N},${N},${N}\\]`, 'y');
/** An answer that is nothing but four numbers: `120, 45, 560, 980` or `120 45 560 980`. */
const BARE_RE = new RegExp(`^${N}[,\\s]${N}[,\\s]${N}[,\\s]${N}$`);
const INT_TOKEN = /^[-+]?\d+$/;

interface FoundBox {
  box: Box4;
  offset: number;
  /** Where the box's text ends (exclusive). */
  end: number;
  /** The numbers as written; kept for the answer box only. */
  tokens?: string[];
}

/**
 * Every box in `s`, left to right, not overlapping. Jumping between '(' and '[' with indexOf and matching
 * with sticky regexes there is several times faster than letting a regex scan a long reasoning text.
 */
function findBoxes(s: string, base: number, xywh: boolean, keepTokens: boolean): FoundBox[] {
  const out: FoundBox[] = [];
  let paren = s.indexOf('(');
  let bracket = s.indexOf('[');
  while (paren >= 0 || bracket >= 0) {
    const isParen = bracket < 0 || (paren >= 0 && paren < bracket);
    const at = isParen ? paren : bracket;
    const re = isParen ? PAREN_BOX_RE : BRACKET_BOX_RE;
    re.lastIndex = at;
    const m = re.exec(s);
    let next = at + 1;
    if (m !== null) {
      const k = m[1] !== undefined ? 1 : 5;
      const box = toBox(m[k]!, m[k + 1]!, m[k + 2]!, m[k + 3]!, xywh);
      out.push(keepTokens ? { box, offset: base + at, end: base + re.lastIndex, tokens: [m[k]!, m[k + 1]!, m[k + 2]!, m[k + 3]!] } : { box, offset: base + at, end: base + re.lastIndex });
      next = re.lastIndex;
    }
    if (paren >= 0 && paren < next) paren = s.indexOf('(', next);
    if (bracket >= 0 && bracket < next) bracket = s.indexOf('[', next);
  }
  return out;
}

function toBox(a: string, b: string, c: string, d: string, xywh: boolean): Box4 {
  const x1 = Number(a);
  const y1 = Number(b);
  const v3 = Number(c);
  const v4 = Number(d);
  return xywh ? [x1, y1, x1 + v3, y1 + v4] : [x1, y1, v3, v4];
}

// A plain function, not a closure: tsx/esbuild wrap every closure creation in a name-setting helper that
// costs more than the rest of the parse of a short completion.
function add(problems: CompletionProblem[], code: CompletionProblemCode, detail: string): void {
  problems.push({ code, detail });
}

function hasNonSpace(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!(c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x3000 || c === 0xfeff)) return true;
  }
  return false;
}

/** Parse one completion. Never throws on bad text; everything odd is in `problems`. */
export function parseCompletion(text: string, convention: BoxConvention): ParsedCompletion {
  const problems: CompletionProblem[] = [];
  const conv = CONVENTIONS[convention];
  if (conv === undefined) throw new GeometryError(`unknown box convention ${JSON.stringify(convention)}`);
  const xywh = conv.xywh;

  // --- think ---
  let think: string | null = null;
  let thinkFrom = -1;
  let thinkEnd = -1; // offset of </think>
  const t0 = text.indexOf(T_OPEN);
  if (t0 >= 0) {
    if (hasNonSpace(text, 0, t0)) add(problems, 'text_before_think', `${t0} characters before <think>`);
    const t1 = text.indexOf(T_CLOSE, t0 + T_OPEN.length);
    if (t1 >= 0) {
      think = text.slice(t0 + T_OPEN.length, t1);
      thinkFrom = t0 + T_OPEN.length;
      thinkEnd = t1;
    } else {
      add(problems, 'unclosed_tag', `<think> at offset ${t0} is never closed`);
    }
    const again = text.indexOf(T_OPEN, t0 + T_OPEN.length);
    if (again >= 0) add(problems, 'repeated_think', `another <think> at offset ${again}`);
  } else {
    const c = text.indexOf(T_CLOSE);
    if (c >= 0) {
      // Reasoning models whose chat template opens <think> for them emit only the closing tag.
      think = text.slice(0, c);
      thinkFrom = 0;
      thinkEnd = c;
      add(problems, 'missing_think', `no <think>; the text before </think> at offset ${c} is taken as the reasoning`);
    } else {
      add(problems, 'missing_think', 'no <think> tag');
    }
  }

  // --- answer ---
  let answer: string | null = null;
  let answerFrom = -1;
  const a0 = text.indexOf(A_OPEN);
  if (a0 >= 0) {
    answerFrom = a0 + A_OPEN.length;
    const a1 = text.indexOf(A_CLOSE, answerFrom);
    if (a1 >= 0) {
      answer = text.slice(answerFrom, a1);
      const after = a1 + A_CLOSE.length;
      if (hasNonSpace(text, after, text.length)) add(problems, 'text_after_answer', `${text.length - after} characters after </answer> at offset ${a1}`);
    } else {
      answer = text.slice(answerFrom);
      add(problems, 'unclosed_tag', `<answer> at offset ${a0} is never closed`);
    }
    const again = text.indexOf(A_OPEN, answerFrom);
    if (again >= 0) add(problems, 'repeated_answer', `another <answer> at offset ${again}; only the first counts`);
    if (t0 >= 0 && a0 < t0) add(problems, 'answer_before_think', `<answer> at offset ${a0} comes before <think> at offset ${t0}`);
    else if (thinkEnd >= 0 && a0 < thinkEnd) add(problems, 'answer_before_think', `<answer> at offset ${a0} is inside the think block`);
  } else {
    add(problems, 'missing_answer', 'no <answer> tag');
  }

  // --- answer box ---
  let answerBox: Box4 | null = null;
  if (answer !== null) {
    let found: FoundBox[];
    const s = SCRATCH;
    if (scanAsciiBox(answer, 0, s) === answer.length) {
      // The answer is exactly `(x1,y1),(x2,y2)` in ASCII integers: what findBoxes would return, sooner.
      found = [{ box: xywh ? [s[0]!, s[1]!, s[0]! + s[2]!, s[1]! + s[3]!] : [s[0]!, s[1]!, s[2]!, s[3]!], offset: answerFrom, end: answerFrom + answer.length }];
    } else {
      found = findBoxes(answer, answerFrom, xywh, true);
    }
    if (found.length === 0) {
      const m = BARE_RE.exec(answer);
      if (m) found = [{ box: toBox(m[1]!, m[2]!, m[3]!, m[4]!, xywh), offset: answerFrom, end: answerFrom + answer.length, tokens: [m[1]!, m[2]!, m[3]!, m[4]!] }];
    }
    if (found.length === 0) {
      add(problems, 'answer_unparsable', `no box in the answer ${JSON.stringify(answer.length > 80 ? `${answer.slice(0, 80)}…` : answer)}`);
    } else {
      const first = found[0]!;
      answerBox = first.box;
      if (found.length > 1) {
        const distinct = new Set(found.map((f) => f.box.join(',')));
        if (distinct.size > 1) add(problems, 'answer_multiple_boxes', `${distinct.size} different boxes in the answer; the first is used`);
      }
      checkBox(first, convention, conv, problems);
    }
  }

  // --- think content ---
  let thinkBoxes: ParsedCompletion['thinkBoxes'] = [];
  let mentionedImages: number[] = [];
  if (think !== null) {
    thinkBoxes = findBoxes(think, thinkFrom, xywh, false);
    mentionedImages = imageMentions(think);
  }

  return { think, answer, answerBox, thinkBoxes, mentionedImages, thinkOffset: think === null ? null : thinkFrom, problems };
}

interface ConventionInfo {
  xywh: boolean;
  integer: boolean;
  /** Upper bound of a coordinate written in the convention (lower bound 0). */
  hi: number;
}
const CONVENTIONS: Record<string, ConventionInfo | undefined> = Object.fromEntries(
  (['pixels', 'qwen2vl', 'qwen25vl', 'norm', 'pixels-xywh', 'qwen2vl-xywh', 'qwen25vl-xywh', 'norm-xywh'] as const).map((c) => [
    c,
    {
      xywh: c.endsWith('-xywh'),
      integer: isIntegerConvention(c),
      hi: c.startsWith('qwen2vl') ? 1000 : c.startsWith('norm') ? 1 : Infinity,
    },
  ]),
);

function isIntToken(t: string): boolean {
  return INT_TOKEN.test(t);
}

const SCRATCH = [0, 0, 0, 0];

/** Range and shape checks of the answer box; `f.tokens` is absent when the box was read as integers. */
function checkBox(f: FoundBox, convention: BoxConvention, conv: ConventionInfo, problems: CompletionProblem[]): void {
  const [x1, y1, x2, y2] = f.box;
  const tokens = f.tokens;
  if (conv.integer && tokens !== undefined && !(isIntToken(tokens[0]!) && isIntToken(tokens[1]!) && isIntToken(tokens[2]!) && isIntToken(tokens[3]!))) {
    problems.push({ code: 'box_not_integer', detail: `${convention} boxes are integers, got ${tokens.join(',')}` });
  }
  const hi = conv.hi;
  if (!(Number.isFinite(x1) && Number.isFinite(y1) && Number.isFinite(x2) && Number.isFinite(y2))) {
    problems.push({ code: 'box_out_of_range', detail: `box ${(tokens ?? f.box).join(',')} is not finite` });
  } else if (x1 < 0 || y1 < 0 || x2 < 0 || y2 < 0 || x1 > hi || y1 > hi || x2 > hi || y2 > hi) {
    problems.push({ code: 'box_out_of_range', detail: `box [${f.box.join(', ')}] leaves the ${convention} range [0, ${hi === Infinity ? '∞' : hi}]` });
  }
  if (x1 > x2 || y1 > y2) problems.push({ code: 'box_inverted', detail: `box [${f.box.join(', ')}] has x1 > x2 or y1 > y2` });
  else if (x1 === x2 || y1 === y2) problems.push({ code: 'box_degenerate', detail: `box [${f.box.join(', ')}] has zero width or height` });
}

const ORDINALS: Record<string, number> = {
  first: 1, second: 2, third: 3, fourth: 4, fifth: 5, sixth: 6, seventh: 7, eighth: 8, ninth: 9, tenth: 10,
};
/**
 * Nouns that name an image; every mention contains one, so they are found first (one case-insensitive regex
 * scan measured faster than lower-casing plus indexOf per noun).
 */
const NOUN_RE = /image|img|pic|photo|frame|view/gi;
/** At a noun: "image 2", "Image-3", "image2", "frame #4". A number followed by 'x' and a digit is a size ("image 640x480"). */
const NUMBERED_RE = /(?:images?|imgs?|pictures?|pics?|photos?|frames?|views?)[ \t#_-]*(\d{1,2})(?![\d.]\d|\d|\s*[x×]\s*\d)/iy;
/** At a noun: the whole noun, for "the second image" (the noun must end a word). */
const NOUN_WORD_RE = /(?:images?|imgs?|pictures?|pics?|photos?|frames?|views?)\b/iy;
const isWordChar = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
const isAlnum = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13) || c === 0xa0;
const ORDINAL_NUMBER_RE = /^(\d{1,2})(?:st|nd|rd|th)$/;

/** "last"/"final" before a noun: the caller knows how many images there are. */
const LAST = -1;

/** The ordinal word ending right before `at` plus whitespace ("second ", "2nd ", "3th ", "last "), as a number, LAST, or 0. */
function ordinalBefore(s: string, at: number): number {
  let e = at;
  while (e > 0 && isSpace(s.charCodeAt(e - 1))) e--;
  if (e === at) return 0;
  let b = e;
  while (b > 0 && isAlnum(s.charCodeAt(b - 1))) b--;
  if (e - b < 3 || e - b > 7 || (b > 0 && s.charCodeAt(b - 1) === 95)) return 0;
  const word = s.slice(b, e).toLowerCase();
  const n = ORDINALS[word];
  if (n !== undefined) return n;
  if (word === 'last' || word === 'final') return LAST;
  const m = ORDINAL_NUMBER_RE.exec(word);
  return m === null ? 0 : Number(m[1]);
}

/** Where the numbered mention read by the last `mentionAt` ends, or -1 (a module variable, not a closure: see `add`). */
let mentionEnd = -1;

/** The 1-based image number named by the mention whose noun starts at `at`, LAST, or 0 when it names none. */
function mentionAt(s: string, at: number): number {
  mentionEnd = -1;
  if (at > 0 && isWordChar(s.charCodeAt(at - 1))) return 0; // "subimage", "review"
  let n = 0;
  NOUN_WORD_RE.lastIndex = at;
  if (NOUN_WORD_RE.test(s)) n = ordinalBefore(s, at);
  if (n === 0) {
    NUMBERED_RE.lastIndex = at;
    const k = NUMBERED_RE.exec(s);
    if (k !== null) {
      n = Number(k[1]);
      mentionEnd = NUMBERED_RE.lastIndex;
    }
  }
  return n;
}

/**
 * "the second image", "2nd frame", "the 3th image" (MIG-Bench writes "2th"), "image 2", "Image-3", "image2",
 * "frame #4": 0-based indices in order of first mention.
 */
function imageMentions(think: string): number[] {
  const out: number[] = [];
  NOUN_RE.lastIndex = 0;
  for (let m = NOUN_RE.exec(think); m !== null; m = NOUN_RE.exec(think)) {
    const n = mentionAt(think, m.index);
    if (mentionEnd >= 0) NOUN_RE.lastIndex = mentionEnd;
    if (n >= 1 && !out.includes(n - 1)) out.push(n - 1);
  }
  return out;
}

/**
 * Every image mention in `text` with where it is (the offset of its noun), repeats included; with
 * `imageCount`, "the last image" and "the final frame" name the last one.
 */
export function imageMentionsAt(text: string, imageCount?: number): Array<{ image: number; offset: number }> {
  const out: Array<{ image: number; offset: number }> = [];
  NOUN_RE.lastIndex = 0;
  for (let m = NOUN_RE.exec(text); m !== null; m = NOUN_RE.exec(text)) {
    let n = mentionAt(text, m.index);
    if (mentionEnd >= 0) NOUN_RE.lastIndex = mentionEnd;
    if (n === LAST) n = imageCount ?? 0;
    if (n >= 1) out.push({ image: n - 1, offset: m.index });
  }
  return out;
}

function assertBox(box: readonly number[]): asserts box is Box4 {
  if (box.length !== 4 || !box.every(Number.isFinite)) {
    throw new GeometryError(`a box is 4 finite numbers, got ${JSON.stringify(box)}`);
  }
}

/**
 * Canonical answer text for a box given xyxy in the convention's frame (the layout `answerBox` uses):
 * integer conventions `(x1,y1),(x2,y2)`, norm `(0.123,0.456),(0.789,0.999)` (3 decimals), pixels integers or
 * up to 2 decimals; the xywh conventions write `[x,y,w,h]`. Integer conventions refuse fractions (convert
 * with `convertBox`, which rounds) rather than rounding silently.
 */
export function formatBox(box: readonly number[], convention: BoxConvention): string {
  assertBox(box);
  const xywh = convention.endsWith('-xywh');
  const v: Box4 = xywh ? [box[0], box[1], box[2] - box[0], box[3] - box[1]] : [box[0], box[1], box[2], box[3]];
  let num: (x: number) => string;
  if (isIntegerConvention(convention)) {
    if (!v.every(Number.isInteger)) throw new GeometryError(`${convention} boxes are integers, got ${JSON.stringify(box)}`);
    num = (x) => String(x === 0 ? 0 : x);
  } else if (convention.startsWith('norm')) {
    num = (x) => {
      const t = x.toFixed(3);
      return t === '-0.000' ? '0.000' : t;
    };
  } else {
    num = (x) => String(Math.round(x * 100) / 100 || 0);
  }
  const s = v.map(num);
  return xywh ? `[${s.join(',')}]` : `(${s[0]},${s[1]}),(${s[2]},${s[3]})`;
}

/** `<think>${think}</think><answer>${formatBox(box)}</answer>`; refuses a think that contains the tags. */
export function formatCompletion(think: string, box: readonly number[], convention: BoxConvention): string {
  for (const tag of [T_OPEN, T_CLOSE, A_OPEN, A_CLOSE]) {
    const at = think.indexOf(tag);
    if (at >= 0) throw new RecordError(`the reasoning text contains ${tag} at offset ${at}`, { field: 'think', offset: at });
  }
  return `${T_OPEN}${think}${T_CLOSE}${A_OPEN}${formatBox(box, convention)}${A_CLOSE}`;
}
