/**
 * IoU thresholds decided exactly. A box written as 0-1000 integers becomes pixels through v * W / 1000,
 * and in floating point an IoU that is exactly 0.5 can come out as 0.49999999999999994 and miss a
 * threshold the paper's integer scorer counts. Here every number is taken as the decimal it is written
 * as, the frame's scale as the ratio of integers it is, and IoU >= t is decided on those rationals, with
 * t as a fraction (3/10, 1/2, 7/10).
 */
import type { BoxConvention } from '../schema/records.js';
import { frameRatio, type ConvertContext } from './convert.js';

/** n / d with d > 0 (not reduced: only compared). */
export interface Rational {
  n: bigint;
  d: bigint;
}

/**
 * A finite number as the decimal it is written as: the shortest decimal that reads back as the same double
 * (what `String(x)` prints). A ground truth stored as 233.1 is 2331/10, as the source wrote it, not the
 * binary double nearest to it; 0-1000 integers and their pixel conversions (v * W / 1000) are then exact,
 * and a tie on the integer grid is a tie here too.
 */
export function exactOf(x: number): Rational {
  if (!Number.isFinite(x)) throw new RangeError(`not a finite number: ${x}`);
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(x));
  if (!m) throw new RangeError(`cannot read ${x} as a decimal`);
  const [, sign, int, frac = '', exp = '0'] = m;
  let n = BigInt(int! + frac) * (sign ? -1n : 1n);
  const e = Number(exp) - frac.length;
  let d = 1n;
  if (e >= 0) n *= 10n ** BigInt(e);
  else d = 10n ** BigInt(-e);
  return { n, d };
}

const mul = (a: Rational, b: Rational): Rational => ({ n: a.n * b.n, d: a.d * b.d });
const sub = (a: Rational, b: Rational): Rational => ({ n: a.n * b.d - b.n * a.d, d: a.d * b.d });
const add = (a: Rational, b: Rational): Rational => ({ n: a.n * b.d + b.n * a.d, d: a.d * b.d });
const cmp = (a: Rational, b: Rational): number => {
  const l = a.n * b.d;
  const r = b.n * a.d;
  return l < r ? -1 : l > r ? 1 : 0;
};
const min = (a: Rational, b: Rational) => (cmp(a, b) <= 0 ? a : b);
const max = (a: Rational, b: Rational) => (cmp(a, b) >= 0 ? a : b);
const ZERO: Rational = { n: 0n, d: 1n };

/** A box as written in a convention, in exact pixels of the original image (xyxy). */
export function pixelsExact(box: readonly number[], from: BoxConvention, ctx: ConvertContext): [Rational, Rational, Rational, Rational] {
  const xywh = from.endsWith('-xywh');
  const v = box.map(exactOf) as [Rational, Rational, Rational, Rational];
  const xyxy = xywh ? [v[0], v[1], add(v[0], v[2]), add(v[1], v[3])] : v;
  const s = frameRatio(from, ctx);
  const sx: Rational = { n: BigInt(s.xn), d: BigInt(s.xd) };
  const sy: Rational = { n: BigInt(s.yn), d: BigInt(s.yd) };
  return [mul(xyxy[0]!, sx), mul(xyxy[1]!, sy), mul(xyxy[2]!, sx), mul(xyxy[3]!, sy)];
}

/** Intersection and union areas of two xyxy boxes; null for a degenerate or inverted box. */
function areas(a: readonly Rational[], b: readonly Rational[]): { inter: Rational; union: Rational } | null {
  const wa = sub(a[2]!, a[0]!);
  const ha = sub(a[3]!, a[1]!);
  const wb = sub(b[2]!, b[0]!);
  const hb = sub(b[3]!, b[1]!);
  if (cmp(wa, ZERO) <= 0 || cmp(ha, ZERO) <= 0 || cmp(wb, ZERO) <= 0 || cmp(hb, ZERO) <= 0) return null;
  const iw = sub(min(a[2]!, b[2]!), max(a[0]!, b[0]!));
  const ih = sub(min(a[3]!, b[3]!), max(a[1]!, b[1]!));
  const inter = cmp(iw, ZERO) > 0 && cmp(ih, ZERO) > 0 ? mul(iw, ih) : ZERO;
  return { inter, union: sub(add(mul(wa, ha), mul(wb, hb)), inter) };
}

/** IoU(a, b) >= num / den, decided exactly (false for degenerate boxes). */
export function iouAtLeast(a: readonly Rational[], b: readonly Rational[], num: number, den: number): boolean {
  const r = areas(a, b);
  if (!r || r.inter.n === 0n) return false;
  // inter / union >= num / den  <=>  inter * den >= num * union (all denominators positive).
  return cmp(mul(r.inter, { n: BigInt(den), d: 1n }), mul(r.union, { n: BigInt(num), d: 1n })) >= 0;
}

/** Plain numbers as exact rationals (pixel boxes, integer grids). */
export const exactBox = (b: readonly number[]): Rational[] => b.map(exactOf);

/** A threshold such as 0.3 as the fraction it names (3/10): thresholds are written with few decimals. */
export function thresholdFraction(t: number): { num: number; den: number } {
  for (let den = 1; den <= 1_000_000; den *= 10) {
    const num = Math.round(t * den);
    if (Math.abs(num / den - t) < 1e-12) return { num, den };
  }
  throw new RangeError(`threshold ${t} is not a short decimal`);
}
