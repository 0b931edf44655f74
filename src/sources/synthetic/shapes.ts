/**
 * Shape geometry in one place: the renderer draws these exact outlines and the scene graph measures
 * them (bounding box, area, point inside), so the answer box is the extent of what is drawn.
 *
 * Each shape is defined in unit coordinates centred on its bounding box, with the larger half-extent
 * equal to 1; an object of size `r` scales it by `r` about its centre.
 */
import type { ShapeName } from './vocabulary.js';

export interface UnitShape {
  /** Outline vertices (clockwise in screen coordinates), or null for the circle. */
  vertices: ReadonlyArray<readonly [number, number]> | null;
  /** [minX, minY, maxX, maxY] of the unit outline. */
  bbox: readonly [number, number, number, number];
  /** Area of the unit outline. */
  area: number;
}

function polygonArea(v: ReadonlyArray<readonly [number, number]>): number {
  let a = 0;
  for (let i = 0; i < v.length; i++) {
    const [x1, y1] = v[i]!;
    const [x2, y2] = v[(i + 1) % v.length]!;
    a += x1 * y2 - x2 * y1;
  }
  return Math.abs(a) / 2;
}

/** Centre a polygon on its bounding box and scale its larger half-extent to 1. */
function normalise(v: Array<[number, number]>): UnitShape {
  const xs = v.map((p) => p[0]);
  const ys = v.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const s = 2 / Math.max(x1 - x0, y1 - y0);
  const vertices = v.map(([x, y]) => [(x - cx) * s, (y - cy) * s] as const);
  const bbox = [(x0 - cx) * s, (y0 - cy) * s, (x1 - cx) * s, (y1 - cy) * s] as const;
  return { vertices, bbox, area: polygonArea(vertices) };
}

function regular(n: number, startDeg: number, radii: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    const a = ((startDeg + (360 * i) / n) * Math.PI) / 180;
    const r = radii[i % radii.length]!;
    out.push([r * Math.cos(a), r * Math.sin(a)]);
  }
  return out;
}

export const UNIT_SHAPES: Readonly<Record<ShapeName, UnitShape>> = {
  circle: { vertices: null, bbox: [-1, -1, 1, 1], area: Math.PI },
  square: normalise([[-1, -1], [1, -1], [1, 1], [-1, 1]]),
  triangle: normalise([[0, -1], [1, 1], [-1, 1]]),
  // Narrower than tall so that it never reads as a rotated square.
  diamond: normalise([[0, -1], [0.72, 0], [0, 1], [-0.72, 0]]),
  // Chubbier than the regular pentagram (inner radius 0.382) so small stars keep their points visible.
  star: normalise(regular(10, -90, [1, 0.48])),
  hexagon: normalise(regular(6, 0, [1])),
};

/** Width and height of the unit bounding box (in units of r). */
export function unitExtent(shape: ShapeName): { w: number; h: number } {
  const b = UNIT_SHAPES[shape].bbox;
  return { w: b[2] - b[0], h: b[3] - b[1] };
}

export interface Placed {
  shape: ShapeName;
  cx: number;
  cy: number;
  r: number;
}

export function shapeBox(o: Placed): [number, number, number, number] {
  const b = UNIT_SHAPES[o.shape].bbox;
  return [o.cx + o.r * b[0], o.cy + o.r * b[1], o.cx + o.r * b[2], o.cy + o.r * b[3]];
}

export function shapeArea(o: Placed): number {
  return UNIT_SHAPES[o.shape].area * o.r * o.r;
}

/** Absolute outline vertices of a placed polygon (null for a circle). */
export function shapeVertices(o: Placed): Array<[number, number]> | null {
  const v = UNIT_SHAPES[o.shape].vertices;
  return v ? v.map(([x, y]) => [o.cx + o.r * x, o.cy + o.r * y]) : null;
}

/** A point-inside test for one placed shape, prepared once for repeated queries. */
export function insideTester(o: Placed): (x: number, y: number) => boolean {
  const v = shapeVertices(o);
  if (!v) {
    const r2 = o.r * o.r;
    return (x, y) => (x - o.cx) ** 2 + (y - o.cy) ** 2 <= r2;
  }
  const n = v.length;
  const xs = v.map((p) => p[0]);
  const ys = v.map((p) => p[1]);
  return (x, y) => {
    // Even-odd crossing test; every outline here is a simple polygon.
    let inside = false;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const yi = ys[i]!;
      const yj = ys[j]!;
      if (yi > y !== yj > y && x < ((xs[j]! - xs[i]!) * (y - yi)) / (yj - yi) + xs[i]!) inside = !inside;
    }
    return inside;
  };
}
