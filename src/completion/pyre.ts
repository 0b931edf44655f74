/**
 * The parts of CPython's `re` and `int()` that UniVG-R1's reward code depends on, so the TypeScript rewards
 * give the numbers the Python trainer gave. In Python 3 `str` patterns `\d` is any Unicode decimal digit and
 * `\s` any Unicode whitespace, and `int()` accepts every decimal digit; JavaScript's `\d`/`\s` differ from
 * both, so the classes are spelled out here.
 */

/**
 * First code point (the digit zero) of every run of ten Unicode decimal digits (general category Nd) in
 * CPython 3.11's `unicodedata` (Unicode 14.0.0), generated with
 * `[c for c in range(0x110000) if re.match(r'\d', chr(c)) and unicodedata.decimal(chr(c)) == 0]`.
 * Pinned rather than `\p{Nd}` because Node's Unicode tables (17.0 in Node 20.20) know ~110 digits that this
 * Python does not, and because `int()` needs each digit's value, which JavaScript cannot look up.
 */
const DIGIT_ZEROS: readonly number[] = [
  0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66, 0xde6, 0xe50, 0xed0,
  0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90, 0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620,
  0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10, 0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0,
  0x112f0, 0x11450, 0x114d0, 0x11650, 0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60,
  0x16ac0, 0x16b50, 0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/** Unicode version of the digit table (CPython 3.11). */
export const PY_UNICODE_VERSION = '14.0.0';

/** The zero of every decimal-digit run, in code-point order (for tests and tools). */
export const pyDigitZeros = (): readonly number[] => DIGIT_ZEROS;

const hex = (c: number): string => `\\u{${c.toString(16)}}`;

/** Regex source (needs the `u` flag) of Python 3's `\d`: one Unicode decimal digit. */
export const PY_DIGIT = `[${DIGIT_ZEROS.map((z) => `${hex(z)}-${hex(z + 9)}`).join('')}]`;

/**
 * Regex source of Python 3's `\s` (= `str.isspace()`): JavaScript's `\s` adds U+FEFF and lacks
 * U+001C..U+001F and U+0085, which Python counts as whitespace.
 */
export const PY_SPACE = '[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';

/** `str.isspace()` for one UTF-16 code unit (every Python whitespace character is in the BMP). */
export function isPySpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
  if (c < 0x85) return false;
  return (
    c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 ||
    c === 0x202f || c === 0x205f || c === 0x3000
  );
}

/** Value 0..9 of a decimal-digit code point, or -1 when it is not one. */
export function pyDigitValue(cp: number): number {
  if (cp >= 0x30 && cp <= 0x39) return cp - 0x30;
  let lo = 0;
  let hi = DIGIT_ZEROS.length - 1;
  // Largest zero <= cp.
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (DIGIT_ZEROS[mid]! <= cp) lo = mid;
    else hi = mid - 1;
  }
  const z = DIGIT_ZEROS[lo]!;
  return cp >= z && cp - z <= 9 ? cp - z : -1;
}

/**
 * CPython >= 3.10.7 refuses `int()` of a decimal string longer than this (ValueError, CVE-2020-10735); inside
 * the reward that exception becomes reward 0.
 */
export const PY_INT_MAX_STR_DIGITS = 4300;

/**
 * Python `int(s)` of a string of decimal digits (as captured by `\d+`): a bigint, or null where Python raises
 * (more than {@link PY_INT_MAX_STR_DIGITS} digits, or a character that is not a decimal digit).
 */
export function pyIntOfDigits(s: string): bigint | null {
  let ascii = '';
  let count = 0;
  for (const ch of s) {
    const v = pyDigitValue(ch.codePointAt(0)!);
    if (v < 0) return null;
    ascii += String.fromCharCode(0x30 + v);
    count++;
  }
  if (count === 0 || count > PY_INT_MAX_STR_DIGITS) return null;
  return BigInt(ascii);
}
