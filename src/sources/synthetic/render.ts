/**
 * Draws a scene graph: librsvg (through sharp) rasterises one SVG of the shapes and the marker, which
 * is laid over a background cut from a grey texture tile and tinted; sharp encodes the RGB PNG.
 * Shapes are filled with no stroke, so their drawn extent is their geometric outline (anti-aliased
 * over at most one pixel at each edge).
 */
import sharp from 'sharp';
import { MARKER_COLOR, MARKER_WIDTH } from './vocabulary.js';
import { MARKER_GAP } from './layout.js';
import { type Scene, type SceneImage, type SceneObject, fillOf } from './scene.js';
import { shapeVertices } from './shapes.js';
import { TILE_SIZE, textureTile } from './texture.js';

/**
 * zlib level 1: 2-3x faster than the default 6 on these noisy backgrounds for ~35% larger files.
 * Adaptive filtering off and no palette: output bytes depend only on the pixels.
 */
export const PNG_OPTIONS = { compressionLevel: 1, adaptiveFiltering: false, palette: false } as const;

const num = (v: number) => String(Math.round(v * 100) / 100);
const rgb = (c: readonly number[]) => `rgb(${c[0]},${c[1]},${c[2]})`;

function shapeSvg(o: SceneObject): string {
  const fill = rgb(fillOf(o));
  const v = shapeVertices(o);
  if (!v) return `<circle cx="${num(o.cx)}" cy="${num(o.cy)}" r="${num(o.r)}" fill="${fill}"/>`;
  return `<polygon points="${v.map(([x, y]) => `${num(x)},${num(y)}`).join(' ')}" fill="${fill}"/>`;
}

/**
 * The marker: a hollow rectangle whose 3 px stroke lies MARKER_GAP px outside the box, on whole
 * pixels (the path runs through pixel centres' half-offsets so the stroke is crisp, not smeared).
 */
export function markerRect(box: readonly number[]): { x: number; y: number; w: number; h: number } {
  const half = MARKER_WIDTH / 2;
  const x = Math.floor(box[0]!) - MARKER_GAP - half;
  const y = Math.floor(box[1]!) - MARKER_GAP - half;
  const x2 = Math.ceil(box[2]!) + MARKER_GAP + half;
  const y2 = Math.ceil(box[3]!) + MARKER_GAP + half;
  return { x, y, w: x2 - x, h: y2 - y };
}

/** The SVG overlay of one image: shapes and marker on a transparent canvas. */
export function imageSvg(img: SceneImage): string {
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${img.width}" height="${img.height}">`];
  for (const o of img.objects) parts.push(shapeSvg(o));
  if (img.marker) {
    const m = markerRect(img.marker);
    parts.push(`<rect x="${m.x}" y="${m.y}" width="${m.w}" height="${m.h}" fill="none" stroke="${rgb(MARKER_COLOR)}" stroke-width="${MARKER_WIDTH}"/>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

/**
 * Lay the rasterised overlay (RGBA, straight alpha) over the tinted background in one pass. Done here
 * rather than with sharp's composite: that path costs more than rasterising the SVG, while this loop
 * touches each byte once and mostly copies (alpha is 0 or 255 except on shape edges).
 */
export function blendOverBackground(img: SceneImage, overlay: Uint8Array): Buffer {
  const { width: W, height: H, background: bg } = img;
  const tile = textureTile(bg.tileSeed, bg.tile);
  const a = bg.tintOpacity;
  const lut = [0, 1, 2].map((c) => Uint8Array.from({ length: 256 }, (_, v) => Math.round(v * (1 - a) + bg.tint[c]! * a)));
  const [lr, lg, lb] = lut as [Uint8Array, Uint8Array, Uint8Array];
  const out = Buffer.allocUnsafe(W * H * 3);
  for (let y = 0; y < H; y++) {
    const t0 = (bg.y + y) * TILE_SIZE + bg.x;
    let p = y * W * 4;
    let q = y * W * 3;
    for (let x = 0; x < W; x++, p += 4, q += 3) {
      const alpha = overlay[p + 3]!;
      if (alpha === 255) {
        out[q] = overlay[p]!;
        out[q + 1] = overlay[p + 1]!;
        out[q + 2] = overlay[p + 2]!;
        continue;
      }
      const g = tile[t0 + x]!;
      if (alpha === 0) {
        out[q] = lr[g]!;
        out[q + 1] = lg[g]!;
        out[q + 2] = lb[g]!;
        continue;
      }
      const inv = 255 - alpha;
      out[q] = ((overlay[p]! * alpha + lr[g]! * inv + 127) / 255) | 0;
      out[q + 1] = ((overlay[p + 1]! * alpha + lg[g]! * inv + 127) / 255) | 0;
      out[q + 2] = ((overlay[p + 2]! * alpha + lb[g]! * inv + 127) / 255) | 0;
    }
  }
  return out;
}

/** One image as PNG bytes (RGB, 8 bit). */
export async function renderImage(img: SceneImage): Promise<Buffer> {
  const { data, info } = await sharp(Buffer.from(imageSvg(img))).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== img.width || info.height !== img.height || info.channels !== 4) {
    throw new Error(`SVG rasterised to ${info.width}x${info.height}x${info.channels}, expected ${img.width}x${img.height}x4`);
  }
  const rgb = blendOverBackground(img, data);
  return sharp(rgb, { raw: { width: img.width, height: img.height, channels: 3 } }).png(PNG_OPTIONS).toBuffer();
}

/** Every image of a scene as PNG bytes, in order. */
export function renderScene(scene: Scene): Promise<Buffer[]> {
  return Promise.all(scene.images.map(renderImage));
}
