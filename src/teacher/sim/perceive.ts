/**
 * Perception from pixels alone: segment saturated pixels by nearest palette colour, split them into
 * connected components, find the red hollow marker, and name each solid component's shape from its
 * geometry. It knows the suite's palette and shapes (as a model trained on such scenes would) but never a
 * scene graph, so hard scenes defeat it the natural way: occlusion splits or shrinks components, a
 * near-colour distractor reads as the named colour, a tiny object falls under the noise floor.
 */
import { COLORS, COLOR_NAMES, MARKER_COLOR, SHAPES, type ColorName, type ShapeName } from '../../sources/synthetic/vocabulary.js';

export interface RgbImage {
  width: number;
  height: number;
  /** Packed RGB, 3 bytes per pixel, row-major. */
  data: Uint8Array;
}

/** [x1, y1, x2, y2] in pixels of the image, edges (x2 = last column + 1). */
export type PixelBox = [number, number, number, number];

export interface PerceivedObject {
  color: ColorName;
  /** RGB distance of the component's mean colour to the named colour (0 = exact). */
  colorDistance: number;
  shape: ShapeName;
  /** 0..1: how much better the best shape prototype fits than the runner-up. */
  shapeConfidence: number;
  box: PixelBox;
  /** Pixel count of the component. */
  area: number;
  cx: number;
  cy: number;
}

export interface PerceivedScene {
  width: number;
  height: number;
  /** Solid objects, largest first. */
  objects: PerceivedObject[];
  /** Hollow red outlines (correspondence / tracking markers), largest first. */
  markers: PixelBox[];
}

export interface PerceptionOptions {
  /** Pixels whose max-min channel spread is below this are background (backgrounds are greyish). */
  chromaMin?: number;
  /** Pixels farther than this (RGB distance) from every palette colour are background. */
  maxColorDistance?: number;
  /** Components smaller than this many pixels are noise; tiny objects are lost here. */
  minArea?: number;
}

const DEFAULTS = { chromaMin: 50, maxColorDistance: 80, minArea: 30 } as const;

const MARKER = COLOR_NAMES.length;
const PALETTE: ReadonlyArray<readonly [number, number, number]> = [...COLOR_NAMES.map((c) => COLORS[c]), MARKER_COLOR];

interface Component {
  label: number;
  count: number;
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  sumX: number;
  sumY: number;
  sumR: number;
  sumG: number;
  sumB: number;
  interior: number;
}

export function perceive(img: RgbImage, options: PerceptionOptions = {}): PerceivedScene {
  const o = { ...DEFAULTS, ...options };
  const { width: w, height: h, data } = img;
  if (data.length !== w * h * 3) throw new RangeError(`expected ${w * h * 3} RGB bytes for ${w}x${h}, got ${data.length}`);
  const labels = labelPixels(img, o.chromaMin, o.maxColorDistance);
  const { ids, comps } = components(labels, w, h, data);

  const markers = findMarkers(comps);
  const objects: PerceivedObject[] = [];
  for (let c = 0; c < comps.length; c++) {
    const k = comps[c]!;
    if (k.label === MARKER || k.count < o.minArea) continue;
    // Anti-aliased rims and marker edges are one or two pixels thick: almost no interior pixels.
    if (k.interior < 0.25 * k.count || k.interior < 6) continue;
    const bw = k.maxX - k.minX + 1;
    const bh = k.maxY - k.minY + 1;
    const box: PixelBox = [k.minX, k.minY, k.maxX + 1, k.maxY + 1];
    if (k.count / (bw * bh) < 0.3 && markers.some((m) => overlapShare(box, m) > 0.8 && bw * bh > 0.5 * area(m))) continue;
    const mean: [number, number, number] = [k.sumR / k.count, k.sumG / k.count, k.sumB / k.count];
    const shape = classifyShape(maskOf(ids, w, c, k));
    objects.push({
      color: COLOR_NAMES[k.label]!,
      colorDistance: Math.round(dist(mean, PALETTE[k.label]!) * 10) / 10,
      shape: shape.shape,
      shapeConfidence: shape.confidence,
      box,
      area: k.count,
      cx: k.sumX / k.count + 0.5,
      cy: k.sumY / k.count + 0.5,
    });
  }
  objects.sort((a, b) => b.area - a.area || a.cy - b.cy || a.cx - b.cx);
  return { width: w, height: h, objects, markers };
}

/** Per pixel: palette index, or -1 for background. */
function labelPixels(img: RgbImage, chromaMin: number, maxDistance: number): Int8Array {
  const { data } = img;
  const n = img.width * img.height;
  const out = new Int8Array(n).fill(-1);
  const max2 = maxDistance * maxDistance;
  for (let i = 0, p = 0; i < n; i++, p += 3) {
    const r = data[p]!;
    const g = data[p + 1]!;
    const b = data[p + 2]!;
    const chroma = Math.max(r, g, b) - Math.min(r, g, b);
    if (chroma < chromaMin) continue;
    let best = -1;
    let bestD = max2;
    for (let k = 0; k < PALETTE.length; k++) {
      const c = PALETTE[k]!;
      const dr = r - c[0];
      const dg = g - c[1];
      const db = b - c[2];
      const d = dr * dr + dg * dg + db * db;
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    }
    out[i] = best;
  }
  return out;
}

/** 4-connected components of equal labels. */
function components(labels: Int8Array, w: number, h: number, data: Uint8Array): { ids: Int32Array; comps: Component[] } {
  const ids = new Int32Array(w * h).fill(-1);
  const comps: Component[] = [];
  const stack = new Int32Array(w * h);
  for (let start = 0; start < w * h; start++) {
    const label = labels[start]!;
    if (label < 0 || ids[start] !== -1) continue;
    const id = comps.length;
    const k: Component = { label, count: 0, minX: w, minY: h, maxX: -1, maxY: -1, sumX: 0, sumY: 0, sumR: 0, sumG: 0, sumB: 0, interior: 0 };
    let top = 0;
    stack[top++] = start;
    ids[start] = id;
    while (top > 0) {
      const i = stack[--top]!;
      const x = i % w;
      const y = (i - x) / w;
      k.count++;
      k.sumX += x;
      k.sumY += y;
      k.sumR += data[3 * i]!;
      k.sumG += data[3 * i + 1]!;
      k.sumB += data[3 * i + 2]!;
      if (x < k.minX) k.minX = x;
      if (x > k.maxX) k.maxX = x;
      if (y < k.minY) k.minY = y;
      if (y > k.maxY) k.maxY = y;
      let same = 0;
      if (x > 0 && labels[i - 1] === label) {
        same++;
        if (ids[i - 1] === -1) (ids[i - 1] = id), (stack[top++] = i - 1);
      }
      if (x < w - 1 && labels[i + 1] === label) {
        same++;
        if (ids[i + 1] === -1) (ids[i + 1] = id), (stack[top++] = i + 1);
      }
      if (y > 0 && labels[i - w] === label) {
        same++;
        if (ids[i - w] === -1) (ids[i - w] = id), (stack[top++] = i - w);
      }
      if (y < h - 1 && labels[i + w] === label) {
        same++;
        if (ids[i + w] === -1) (ids[i + w] = id), (stack[top++] = i + w);
      }
      if (same === 4) k.interior++;
    }
    comps.push(k);
  }
  return { ids, comps };
}

/**
 * Marker outlines: marker-coloured components grouped by overlapping bounding boxes (an outline can be
 * broken where something crosses it), kept when the group is hollow and thin.
 */
function findMarkers(comps: Component[]): PixelBox[] {
  const parts = comps.filter((k) => k.label === MARKER && k.count >= 8).map((k) => ({ box: [k.minX, k.minY, k.maxX + 1, k.maxY + 1] as PixelBox, count: k.count }));
  const groups: Array<{ box: PixelBox; count: number }> = [];
  for (const p of parts.sort((a, b) => b.count - a.count)) {
    const g = groups.find((q) => touches(q.box, p.box, 2));
    if (g) {
      g.box = [Math.min(g.box[0], p.box[0]), Math.min(g.box[1], p.box[1]), Math.max(g.box[2], p.box[2]), Math.max(g.box[3], p.box[3])];
      g.count += p.count;
    } else groups.push({ box: [...p.box], count: p.count });
  }
  return groups
    .filter((g) => {
      const bw = g.box[2] - g.box[0];
      const bh = g.box[3] - g.box[1];
      if (bw < 8 || bh < 8) return false;
      const thickness = g.count / (2 * (bw + bh));
      return g.count / (bw * bh) < 0.45 && thickness <= 8;
    })
    .map((g) => g.box)
    .sort((a, b) => area(b) - area(a));
}

// ---------------------------------------------------------------------------------------------------
// Shape from geometry

/** A binary mask of one component inside its bounding box. */
export interface Mask {
  w: number;
  h: number;
  bits: Uint8Array;
}

function maskOf(ids: Int32Array, imgW: number, id: number, k: Component): Mask {
  const w = k.maxX - k.minX + 1;
  const h = k.maxY - k.minY + 1;
  const bits = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const row = (k.minY + y) * imgW + k.minX;
    for (let x = 0; x < w; x++) if (ids[row + x] === id) bits[y * w + x] = 1;
  }
  return { w, h, bits };
}

/**
 * Orientation-aware features (the suite draws shapes upright): fill of the bounding box, solidity
 * (area over convex hull), inscribed/circumscribed radius ratio seen from the centroid, and top-bottom
 * mirror symmetry. Together they separate the six shapes: a star is the only concave one, a triangle the
 * only top-bottom asymmetric convex one, square and diamond differ by fill, circle and hexagon by radius ratio.
 */
export function shapeFeatures(m: Mask): number[] {
  const { w, h, bits } = m;
  let count = 0;
  let sx = 0;
  let sy = 0;
  const pts: Array<[number, number]> = [];
  for (let y = 0; y < h; y++) {
    let lo = -1;
    let hi = -1;
    for (let x = 0; x < w; x++) {
      if (!bits[y * w + x]) continue;
      count++;
      sx += x + 0.5;
      sy += y + 0.5;
      if (lo < 0) lo = x;
      hi = x;
    }
    if (lo >= 0) pts.push([lo, y], [lo, y + 1], [hi + 1, y], [hi + 1, y + 1]);
  }
  if (count === 0) return [0, 0, 0, 0];
  const cx = sx / count;
  const cy = sy / count;
  const hullArea = polygonArea(convexHull(pts));
  // Farthest boundary point per direction, then the ratio of the nearest to the farthest direction.
  const BINS = 48;
  const far = new Float64Array(BINS);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!bits[y * w + x]) continue;
      const edge = x === 0 || y === 0 || x === w - 1 || y === h - 1 || !bits[y * w + x - 1] || !bits[y * w + x + 1] || !bits[(y - 1) * w + x] || !bits[(y + 1) * w + x];
      if (!edge) continue;
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      const r = Math.hypot(dx, dy) + 0.5;
      const bin = Math.min(BINS - 1, Math.floor(((Math.atan2(dy, dx) + Math.PI) / (2 * Math.PI)) * BINS));
      if (r > far[bin]!) far[bin] = r;
    }
  }
  let rmax = 0;
  let rmin = Infinity;
  for (const r of far) {
    if (r === 0) continue;
    rmax = Math.max(rmax, r);
    rmin = Math.min(rmin, r);
  }
  let both = 0;
  let either = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const a = bits[y * w + x]!;
      const b = bits[(h - 1 - y) * w + x]!;
      if (a && b) both++;
      if (a || b) either++;
    }
  }
  return [count / (w * h), hullArea > 0 ? Math.min(1, count / hullArea) : 0, rmax > 0 ? rmin / rmax : 0, either > 0 ? both / either : 0];
}

function convexHull(points: Array<[number, number]>): Array<[number, number]> {
  const p = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (p.length < 3) return p;
  const cross = (o: [number, number], a: [number, number], b: [number, number]) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: Array<[number, number]> = [];
  for (const q of p) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, q) <= 0) lower.pop();
    lower.push(q);
  }
  const upper: Array<[number, number]> = [];
  for (let i = p.length - 1; i >= 0; i--) {
    const q = p[i]!;
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, q) <= 0) upper.pop();
    upper.push(q);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

function polygonArea(poly: Array<[number, number]>): number {
  let s = 0;
  for (let i = 0; i < poly.length; i++) {
    const a = poly[i]!;
    const b = poly[(i + 1) % poly.length]!;
    s += a[0] * b[1] - b[0] * a[1];
  }
  return Math.abs(s) / 2;
}

/** Ideal outlines (unit box, y down) the prototypes are rasterized from; variants cover common drawings. */
export function idealPolygon(shape: ShapeName, variant = 0): Array<[number, number]> {
  const poly = (n: number, r: (i: number) => number, phase: number): Array<[number, number]> =>
    Array.from({ length: n }, (_, i) => {
      const a = phase + (2 * Math.PI * i) / n;
      return [0.5 + r(i) * Math.cos(a), 0.5 + r(i) * Math.sin(a)] as [number, number];
    });
  switch (shape) {
    case 'circle':
      return poly(96, () => 0.5, 0);
    case 'square':
      return [
        [0, 0],
        [1, 0],
        [1, 1],
        [0, 1],
      ];
    case 'diamond':
      return variant === 0
        ? [
            [0.5, 0],
            [1, 0.5],
            [0.5, 1],
            [0, 0.5],
          ]
        : [
            [0.5, 0],
            [0.85, 0.5],
            [0.5, 1],
            [0.15, 0.5],
          ];
    case 'triangle':
      return variant === 0
        ? [
            [0.5, 0],
            [1, 1],
            [0, 1],
          ]
        : [
            [0.5, 0.067],
            [1, 0.933],
            [0, 0.933],
          ];
    case 'hexagon':
      return poly(6, () => 0.5, variant === 0 ? 0 : Math.PI / 6);
    case 'star':
      return poly(10, (i) => (i % 2 === 0 ? 0.5 : variant === 0 ? 0.25 : 0.19), -Math.PI / 2);
  }
}

/** Point-in-polygon sampling at pixel centres: the same rasterization a renderer without AA does. */
export function rasterize(poly: Array<[number, number]>, size: number): Mask {
  const xs = poly.map((p) => p[0]);
  const ys = poly.map((p) => p[1]);
  const x0 = Math.min(...xs);
  const y0 = Math.min(...ys);
  const s = Math.max(Math.max(...xs) - x0, Math.max(...ys) - y0);
  const pts = poly.map(([x, y]) => [((x - x0) / s) * size, ((y - y0) / s) * size] as [number, number]);
  const w = Math.max(1, Math.ceil(((Math.max(...xs) - x0) / s) * size));
  const h = Math.max(1, Math.ceil(((Math.max(...ys) - y0) / s) * size));
  const bits = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      let inside = false;
      for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
        const [xi, yi] = pts[i]!;
        const [xj, yj] = pts[j]!;
        if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
      }
      if (inside) bits[y * w + x] = 1;
    }
  }
  return { w, h, bits };
}

const FEATURE_WEIGHTS = [1.6, 1.4, 1.4, 1.0];

/** Prototype sizes: small shapes look different after pixelation, so each size has its own prototypes. */
const PROTOTYPE_SIZES = [8, 10, 12, 14, 17, 20, 24, 30, 38, 48, 64] as const;
const prototypeCache = new Map<number, Array<{ shape: ShapeName; f: number[] }>>();

function prototypesFor(size: number): Array<{ shape: ShapeName; f: number[] }> {
  let s: number = PROTOTYPE_SIZES[0];
  for (const p of PROTOTYPE_SIZES) if (Math.abs(p - size) < Math.abs(s - size)) s = p;
  let list = prototypeCache.get(s);
  if (!list) {
    list = [];
    for (const shape of SHAPES) {
      const variants = shape === 'circle' || shape === 'square' ? 1 : 2;
      for (let v = 0; v < variants; v++) list.push({ shape, f: shapeFeatures(rasterize(idealPolygon(shape, v), s)) });
    }
    prototypeCache.set(s, list);
  }
  return list;
}

/** Nearest prototype in feature space; confidence from the gap to the best other shape. */
export function classifyShape(m: Mask): { shape: ShapeName; confidence: number; features: number[] } {
  const f = shapeFeatures(m);
  const best = new Map<ShapeName, number>();
  for (const p of prototypesFor(Math.max(m.w, m.h))) {
    let d = 0;
    for (let i = 0; i < f.length; i++) d += (FEATURE_WEIGHTS[i]! * (f[i]! - p.f[i]!)) ** 2;
    d = Math.sqrt(d);
    if (d < (best.get(p.shape) ?? Infinity)) best.set(p.shape, d);
  }
  const ranked = [...best.entries()].sort((a, b) => a[1] - b[1]);
  const [first, second] = ranked;
  const gap = second ? second[1] - first![1] : 1;
  return { shape: first![0], confidence: Math.max(0, Math.min(1, gap / 0.3)), features: f };
}

// ---------------------------------------------------------------------------------------------------

function dist(a: readonly number[], b: readonly number[]): number {
  return Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!);
}

function area(b: PixelBox): number {
  return Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
}

function touches(a: PixelBox, b: PixelBox, slack: number): boolean {
  return a[0] - slack <= b[2] && b[0] - slack <= a[2] && a[1] - slack <= b[3] && b[1] - slack <= a[3];
}

/** Share of `a` that lies inside `b`. */
export function overlapShare(a: PixelBox, b: PixelBox): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  const ar = area(a);
  return iw > 0 && ih > 0 && ar > 0 ? (iw * ih) / ar : 0;
}
