/**
 * UniVG-R1's GRPO rewards, value for value.
 *
 * Ported from AMAP-ML/UniVG-R1 (commit 082313c8) `src/open-r1-multimodal/src/open_r1/vlm_modules/qwen_module.py`:
 * `Qwen2VLModule.format_reward_rec` and `Qwen2VLModule.iou_reward` (read via the code index; VLM-R1's module of
 * the same name is their ancestor). `tests/completion/univg_reward_ref.py` restates those functions in Python
 * and `tests/completion/rewards-parity.test.ts` compares them with these on thousands of generated strings.
 *
 * What "value for value" takes:
 * - `re.search` (not fullmatch), DOTALL, and Python's `$`: end of text or just before one final `\n`.
 * - Python 3's `\d` (any Unicode decimal digit) and `\s` (Unicode whitespace), see `pyre.ts`; `int()` of those
 *   digits, including its 4300-digit limit.
 * - Their IoU exactly as coded: inclusive (`-1 ... +1`) intersection but exclusive areas, strict `<` (so a
 *   1-pixel overlap scores 0), boxes not reordered, so an inverted prediction can give a negative or >1 value.
 *   Python ints are exact, so huge numbers go through BigInt; `float()` overflow and division by a zero union
 *   raise in Python, which their `except Exception` turns into reward 0.
 */
import { GeometryError } from '../errors.js';
import { scanAsciiBox } from './ascii-box.js';
import { PY_DIGIT, PY_SPACE, isPySpace, pyIntOfDigits } from './pyre.js';

const D = PY_DIGIT;
const S = PY_SPACE;

/** Their box pattern `\((\d+),\s*(\d+)\),\s*\((\d+),\s*(\d+)\)` with Python's classes. */
export const UNIVG_BOX_PATTERN = `\\((${D}+),${S}*(${D}+)\\),${S}*\\((${D}+),${S}*(${D}+)\\)`;
const BOX_RE = new RegExp(UNIVG_BOX_PATTERN, 'u');
const BOX_FULL_RE = new RegExp(`^${UNIVG_BOX_PATTERN}$`, 'u');
/** The common case (ASCII digits, spaces) without the big Unicode classes. */
const ASCII_BOX_RE = /\((\d+), *(\d+)\), *\((\d+), *(\d+)\)/;
const NOT_PRINTABLE_ASCII = /[^ -~]/;

/**
 * Direct translations of their regexes, kept as the specification the fast paths below are tested against.
 * `[^]` is Python's DOTALL `.`; `(?=\n?$)` is Python's `$` without MULTILINE.
 */
export const REFERENCE_PATTERNS = {
  format: new RegExp(`<think>[^]*?</think>${S}*<answer>${UNIVG_BOX_PATTERN}</answer>(?=\\n?$)`, 'u'),
  singleImageFormat: new RegExp(`\\(${D}+,${S}*${D}+\\),${S}*\\(${D}+,${S}*${D}+\\)`, 'u'),
  answerTag: /<answer>([^]*?)<\/answer>/,
  box: BOX_RE,
} as const;

/**
 * Format reward for multi-image (CoT) samples: 1 when the text has `<think>…</think>`, optional whitespace,
 * then `<answer>(x1,y1),(x2,y2)</answer>` (non-negative integers) ending the text (a single trailing `\n`
 * allowed), else 0. Text before `<think>` is allowed (`re.search`).
 */
export function formatReward(text: string): 0 | 1 {
  // The answer must end the text, so work back from the end instead of scanning the whole reasoning.
  let end = text.length;
  if (end > 0 && text.charCodeAt(end - 1) === 10) end--;
  const close = end - 9;
  if (close < 8 || !text.startsWith('</answer>', close)) return 0;
  // The box text holds no '<', so the matching <answer> is the last one before the closing tag.
  const open = text.lastIndexOf('<answer>', close - 8);
  if (open < 0) return 0;
  const boxEnd = scanAsciiBox(text, open + 8, SCRATCH);
  // A plain-ASCII box that stops early cannot become a full match with Unicode classes either.
  if (boxEnd >= 0 ? boxEnd !== close : !BOX_FULL_RE.test(text.slice(open + 8, close))) return 0;
  // `</think>\s*<answer>`: '>' is not whitespace, so </think> must end where the whitespace run ends.
  let p = open;
  while (p > 0 && isPySpace(text.charCodeAt(p - 1))) p--;
  if (p < 15 || !text.startsWith('</think>', p - 8)) return 0;
  const think = text.indexOf('<think>');
  return think >= 0 && think + 7 <= p - 8 ? 1 : 0;
}

/**
 * Format reward for the RL set's single-image COCO samples (trained without CoT, `single_img_with_cot=False`):
 * 1 when `(x1,y1),(x2,y2)` appears anywhere.
 */
export function singleImageFormatReward(text: string): 0 | 1 {
  if (text.indexOf('(') < 0) return 0;
  return REFERENCE_PATTERNS.singleImageFormat.test(text) ? 1 : 0;
}

/**
 * Accuracy reward (their `iou_reward`): the IoU, as they compute it, between the first
 * `(x1,y1),(x2,y2)` inside the first `<answer>…</answer>` block and the ground truth, both in the 0–1000
 * Qwen2-VL frame. 0 when there is no answer block, no box in it, or Python would have raised.
 */
export function accuracyReward(text: string, gtBox0to1000: readonly number[]): number {
  checkGt(gtBox0to1000);
  const i = text.indexOf('<answer>');
  if (i < 0) return 0;
  const j = text.indexOf('</answer>', i + 8);
  if (j < 0) return 0;
  // Fast path: the answer starts with a plain box, which is then the leftmost match.
  if (scanAsciiBox(text, i + 8, SCRATCH) >= 0 && fitsExact(gtBox0to1000)) {
    const g = gtBox0to1000;
    return iouExact(SCRATCH[0]!, SCRATCH[1]!, SCRATCH[2]!, SCRATCH[3]!, g[0]!, g[1]!, g[2]!, g[3]!);
  }
  return firstBoxIou(text.slice(i + 8, j), gtBox0to1000);
}

/** Accuracy reward for single-image COCO samples: their answer pattern becomes `(.*)`, i.e. the first box anywhere. */
export function singleImageAccuracyReward(text: string, gtBox0to1000: readonly number[]): number {
  checkGt(gtBox0to1000);
  return firstBoxIou(text, gtBox0to1000);
}

export interface UnivgRewards {
  format: 0 | 1;
  accuracy: number;
  /** format + accuracy, as the trainer sums them (reward weights 1). */
  total: number;
}

/** Both rewards and their sum; `singleImage` selects the no-CoT COCO variants. */
export function rewards(text: string, gtBox0to1000: readonly number[], opts: { singleImage?: boolean } = {}): UnivgRewards {
  const format = opts.singleImage ? singleImageFormatReward(text) : formatReward(text);
  const accuracy = opts.singleImage ? singleImageAccuracyReward(text, gtBox0to1000) : accuracyReward(text, gtBox0to1000);
  return { format, accuracy, total: format + accuracy };
}

function checkGt(gt: readonly number[]): void {
  if (gt.length !== 4 || !Number.isFinite(gt[0]) || !Number.isFinite(gt[1]) || !Number.isFinite(gt[2]) || !Number.isFinite(gt[3])) {
    throw new GeometryError(`ground-truth box must be 4 finite numbers, got ${JSON.stringify(gt)}`, { field: 'gtBox0to1000' });
  }
}

/** Below this every intermediate of the IoU is an exact double, so plain numbers give Python's result. */
const EXACT_LIMIT = 2 ** 24;
const SCRATCH = [0, 0, 0, 0];

const fitsExact = (g: readonly number[]): boolean =>
  Math.abs(g[0]!) <= EXACT_LIMIT && Math.abs(g[1]!) <= EXACT_LIMIT && Math.abs(g[2]!) <= EXACT_LIMIT && Math.abs(g[3]!) <= EXACT_LIMIT;

function firstBoxIou(s: string, gt: readonly number[]): number {
  // On printable ASCII text Python's \d and \s reduce to [0-9] and ' ', so the small regex finds the same
  // first match; anything else (newlines, tabs, Unicode digits) takes the full pattern.
  const m = NOT_PRINTABLE_ASCII.test(s) ? BOX_RE.exec(s) : ASCII_BOX_RE.exec(s);
  return m === null ? 0 : iouOfMatch(m, gt);
}

function iouOfMatch(m: RegExpExecArray, gt: readonly number[]): number {
  const a = m[1]!;
  const b = m[2]!;
  const c = m[3]!;
  const d = m[4]!;
  const g0 = gt[0]!;
  const g1 = gt[1]!;
  const g2 = gt[2]!;
  const g3 = gt[3]!;
  if (a.length <= 7 && b.length <= 7 && c.length <= 7 && d.length <= 7 && fitsExact(gt)) {
    const p0 = asciiInt(a);
    const p1 = asciiInt(b);
    const p2 = asciiInt(c);
    const p3 = asciiInt(d);
    if (p0 >= 0 && p1 >= 0 && p2 >= 0 && p3 >= 0) return iouExact(p0, p1, p2, p3, g0, g1, g2, g3);
  }
  const p = [pyIntOfDigits(a), pyIntOfDigits(b), pyIntOfDigits(c), pyIntOfDigits(d)];
  if (p[0] === null || p[1] === null || p[2] === null || p[3] === null) return 0; // int() raised
  return univgIou(p as bigint[], gt);
}

/** Decimal value of up to 7 ASCII digits, or -1 when any is not ASCII. */
function asciiInt(s: string): number {
  let v = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Their `iou(box1=pred, box2=gt)` on numbers small enough to be exact; Python's max/min tie rules kept. */
function iouExact(p0: number, p1: number, p2: number, p3: number, g0: number, g1: number, g2: number, g3: number): number {
  const ix1 = g0 > p0 ? g0 : p0;
  const iy1 = g1 > p1 ? g1 : p1;
  const ix2 = g2 - 1 < p2 - 1 ? g2 - 1 : p2 - 1;
  const iy2 = g3 - 1 < p3 - 1 ? g3 - 1 : p3 - 1;
  const inter = ix1 < ix2 && iy1 < iy2 ? (ix2 - ix1 + 1) * (iy2 - iy1 + 1) : 0;
  const union = (p2 - p0) * (p3 - p1) + (g2 - g0) * (g3 - g1) - inter;
  if (union === 0) return 0; // ZeroDivisionError in Python, caught by iou_reward
  return inter / union;
}

/**
 * A Python number: bigint stands for `int` (exact), number for `float`. Mixed operations convert the int to
 * float first, which raises OverflowError when it does not fit, as Python does.
 */
type PyNum = bigint | number;

class PyRaise extends Error {}

function toFloat(v: PyNum): number {
  if (typeof v === 'number') return v;
  const f = Number(v); // correctly rounded, like PyLong_AsDouble
  if (!Number.isFinite(f)) throw new PyRaise('OverflowError');
  return f;
}
const add = (a: PyNum, b: PyNum): PyNum => (typeof a === 'bigint' && typeof b === 'bigint' ? a + b : toFloat(a) + toFloat(b));
const sub = (a: PyNum, b: PyNum): PyNum => (typeof a === 'bigint' && typeof b === 'bigint' ? a - b : toFloat(a) - toFloat(b));
const mul = (a: PyNum, b: PyNum): PyNum => (typeof a === 'bigint' && typeof b === 'bigint' ? a * b : toFloat(a) * toFloat(b));
// Python's max(a, b)/min(a, b) keep the first argument on ties; bigint/number comparison is exact in JS as in Python.
const pyMax = (a: PyNum, b: PyNum): PyNum => (b > a ? b : a);
const pyMin = (a: PyNum, b: PyNum): PyNum => (b < a ? b : a);

/**
 * UniVG-R1's `iou(box1, box2)` with Python's arithmetic, returning 0 where Python raises (the reward's
 * `except Exception`). `pred` holds Python ints; a ground-truth number that is an integer counts as a
 * Python int (their JSON has ints), any other as a float. NaN (only reachable from absurd ground truth
 * beyond 1e150) is reported as 0.
 */
export function univgIou(pred: readonly (bigint | number)[], gt: readonly number[]): number {
  checkGt(gt);
  if (pred.length !== 4) throw new GeometryError(`predicted box must have 4 numbers, got ${pred.length}`);
  const b1: PyNum[] = pred.map((v) => (typeof v === 'bigint' ? v : Number.isInteger(v) ? BigInt(v) : v));
  const b2: PyNum[] = gt.map((v) => (Number.isInteger(v) ? BigInt(v) : v));
  try {
    const ix1 = pyMax(b1[0]!, b2[0]!);
    const iy1 = pyMax(b1[1]!, b2[1]!);
    const ix2 = pyMin(sub(b1[2]!, 1n), sub(b2[2]!, 1n));
    const iy2 = pyMin(sub(b1[3]!, 1n), sub(b2[3]!, 1n));
    const inter: PyNum = ix1 < ix2 && iy1 < iy2 ? mul(add(sub(ix2, ix1), 1n), add(sub(iy2, iy1), 1n)) : 0n;
    const area1 = mul(sub(b1[2]!, b1[0]!), sub(b1[3]!, b1[1]!));
    const area2 = mul(sub(b2[2]!, b2[0]!), sub(b2[3]!, b2[1]!));
    const union = sub(add(area1, area2), inter);
    const num = toFloat(inter);
    const den = toFloat(union);
    if (den === 0) return 0; // ZeroDivisionError
    const v = num / den;
    return Number.isNaN(v) ? 0 : v;
  } catch (e) {
    if (e instanceof PyRaise) return 0;
    throw e;
  }
}
