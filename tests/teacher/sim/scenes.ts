/**
 * Test scenes drawn here, independently of the synthetic renderer: shapes from the shared vocabulary as
 * SVG over grey noise, rasterized by sharp. Each helper returns the PNG and the true pixel boxes.
 */
import sharp from 'sharp';
import { COLORS, MARKER_COLOR, MARKER_WIDTH, NEAR_COLORS, type ColorName, type ShapeName } from '../../../src/sources/synthetic/vocabulary.js';

export interface TestShape {
  shape: ShapeName;
  color: ColorName;
  /** Centre and half-extent in pixels. */
  cx: number;
  cy: number;
  r: number;
  /** Draw in NEAR_COLORS[color] instead. */
  near?: boolean;
}

export interface TestImage {
  width: number;
  height: number;
  shapes: TestShape[];
  /** Box to draw a red hollow marker around (pixels). */
  marker?: [number, number, number, number];
  /** Grey level of the background and noise amplitude. */
  grey?: number;
  noise?: number;
}

const rgb = (c: readonly number[]) => `rgb(${c[0]},${c[1]},${c[2]})`;

/** The unit outline (centred on its bounding box, larger half-extent 1), or null for a circle. */
function unitPolygon(shape: ShapeName): Array<[number, number]> | null {
  const regular = (n: number, start: number, radii: number[]) =>
    Array.from({ length: n }, (_, i) => {
      const a = start + (2 * Math.PI * i) / n;
      const rr = radii[i % radii.length]!;
      return [rr * Math.cos(a), rr * Math.sin(a)] as [number, number];
    });
  let v: Array<[number, number]>;
  switch (shape) {
    case 'circle':
      return null;
    case 'square':
      v = [[-1, -1], [1, -1], [1, 1], [-1, 1]];
      break;
    case 'triangle':
      v = [[0, -1], [1, 1], [-1, 1]];
      break;
    case 'diamond':
      v = [[0, -1], [0.72, 0], [0, 1], [-0.72, 0]];
      break;
    case 'hexagon':
      v = regular(6, 0, [1]);
      break;
    case 'star':
      v = regular(10, -Math.PI / 2, [1, 0.48]);
      break;
  }
  const xs = v.map((p) => p[0]);
  const ys = v.map((p) => p[1]);
  const cx = (Math.min(...xs) + Math.max(...xs)) / 2;
  const cy = (Math.min(...ys) + Math.max(...ys)) / 2;
  const k = 2 / Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
  return v.map(([x, y]) => [(x - cx) * k, (y - cy) * k]);
}

function points(s: TestShape): string | null {
  const v = unitPolygon(s.shape);
  return v === null ? null : v.map(([x, y]) => `${(s.cx + x * s.r).toFixed(2)},${(s.cy + y * s.r).toFixed(2)}`).join(' ');
}

/** True bounding box of a drawn shape, pixels. */
export function trueBox(s: TestShape): [number, number, number, number] {
  const v = unitPolygon(s.shape) ?? [[-1, -1], [1, 1]];
  const xs = v.map((p) => p[0]);
  const ys = v.map((p) => p[1]);
  return [s.cx + Math.min(...xs) * s.r, s.cy + Math.min(...ys) * s.r, s.cx + Math.max(...xs) * s.r, s.cy + Math.max(...ys) * s.r];
}

/** A seeded grey noise background (identical channels, so it has no colour). */
function background(width: number, height: number, grey: number, noise: number, seed: number): Buffer {
  const buf = Buffer.alloc(width * height * 3);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < width * height; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const v = Math.max(0, Math.min(255, Math.round(grey + ((s >>> 0) / 4294967296 - 0.5) * noise)));
    buf[3 * i] = buf[3 * i + 1] = buf[3 * i + 2] = v;
  }
  return buf;
}

export function svgOf(img: TestImage): string {
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${img.width}" height="${img.height}">`];
  for (const s of img.shapes) {
    const fill = rgb(s.near ? NEAR_COLORS[s.color] : COLORS[s.color]);
    const p = points(s);
    parts.push(p === null ? `<circle cx="${s.cx}" cy="${s.cy}" r="${s.r}" fill="${fill}"/>` : `<polygon points="${p}" fill="${fill}"/>`);
  }
  if (img.marker) {
    const [x1, y1, x2, y2] = img.marker;
    const g = 2 + MARKER_WIDTH / 2;
    parts.push(`<rect x="${Math.floor(x1) - g}" y="${Math.floor(y1) - g}" width="${Math.ceil(x2) - Math.floor(x1) + 2 * g}" height="${Math.ceil(y2) - Math.floor(y1) + 2 * g}" fill="none" stroke="${rgb(MARKER_COLOR)}" stroke-width="${MARKER_WIDTH}"/>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

export async function renderTestImage(img: TestImage, seed = 1, format: 'png' | 'jpeg' = 'png'): Promise<Buffer> {
  const bg = background(img.width, img.height, img.grey ?? 140, img.noise ?? 30, seed);
  const s = sharp(bg, { raw: { width: img.width, height: img.height, channels: 3 } }).composite([{ input: Buffer.from(svgOf(img)) }]);
  return format === 'png' ? s.png().toBuffer() : s.jpeg({ quality: 90 }).toBuffer();
}

export async function decodeRaw(png: Buffer): Promise<{ width: number; height: number; data: Uint8Array }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

export function dataUrl(bytes: Buffer, mime = 'image/png'): string {
  return `data:${mime};base64,${bytes.toString('base64')}`;
}
