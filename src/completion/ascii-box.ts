/**
 * Hand-written reader for the shape almost every completion uses, `(x1,y1),(x2,y2)` with ASCII digits and
 * optional spaces after the commas. It accepts exactly what UniVG-R1's box regex
 * `\((\d+),\s*(\d+)\),\s*\((\d+),\s*(\d+)\)` accepts when restricted to ASCII digits and spaces, so a
 * success here is that regex's match at the same offset; on -1 callers fall back to the full regex.
 */

/** Longest digit run read here; longer numbers (and their Python int semantics) go to the slow path. */
const MAX_DIGITS = 7;

/**
 * Reads a box starting at `from`; writes the four integers into `out` and returns the offset just past the
 * closing parenthesis, or -1 when the text there is not such a box (or needs the general path).
 */
export function scanAsciiBox(s: string, from: number, out: number[]): number {
  let i = from;
  if (s.charCodeAt(i) !== 40) return -1; // (
  i = digits(s, i + 1, out, 0);
  if (i < 0 || s.charCodeAt(i) !== 44) return -1; // ,
  i = digits(s, spaces(s, i + 1), out, 1);
  if (i < 0 || s.charCodeAt(i) !== 41 || s.charCodeAt(i + 1) !== 44) return -1; // ),
  i = spaces(s, i + 2);
  if (s.charCodeAt(i) !== 40) return -1;
  i = digits(s, i + 1, out, 2);
  if (i < 0 || s.charCodeAt(i) !== 44) return -1;
  i = digits(s, spaces(s, i + 1), out, 3);
  if (i < 0 || s.charCodeAt(i) !== 41) return -1;
  return i + 1;
}

function spaces(s: string, i: number): number {
  while (s.charCodeAt(i) === 32) i++;
  return i;
}

function digits(s: string, i: number, out: number[], k: number): number {
  let v = 0;
  const start = i;
  for (;;) {
    const c = s.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) break;
    if (i - start === MAX_DIGITS) return -1;
    v = v * 10 + c;
    i++;
  }
  if (i === start) return -1;
  out[k] = v;
  return i;
}
