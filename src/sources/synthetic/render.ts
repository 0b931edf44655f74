/**
 * Draws a scene graph: librsvg (through sharp) rasterises one SVG of the shapes and the marker, which
 * is laid over a background cut from a grey texture tile and tinted; sharp encodes the RGB PNG.
 * Shapes are filled with no stroke, so their drawn extent is their geometric outline (anti-aliased
 * over at most one pixel at each edge).
 */
import sharp from 'sharp';
import { UnivgError } from '../../errors.js';
import { MARKER_COLOR, MARKER_WIDTH } from './vocabulary.js';
import { MARKER_GAP } from './layout.js';
import { type Scene, type SceneImage, type SceneObject, fillOf } from './scene.js';
import { shapeBox, shapeVertices } from './shapes.js';
import { TILE_SIZE, textureTile } from './texture.js';

/**
 * zlib level 1 without row filters: about 5x faster than level 6 with adaptive filtering on these
 * textured backgrounds, for ~50% larger files (bench/synth.ts). No palette: the pixels are exact.
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
 * The marker: a hollow rectangle whose 3 px stroke starts MARKER_GAP px outside the box. The path lies
 * on half-pixel coordinates, so the stroke covers whole pixels: crisp, pure MARKER_COLOR, no blending.
 */
export function markerRect(box: readonly number[]): { x: number; y: number; w: number; h: number } {
  const half = MARKER_WIDTH / 2;
  const x = Math.floor(box[0]!) - MARKER_GAP - half;
  const y = Math.floor(box[1]!) - MARKER_GAP - half;
  const x2 = Math.ceil(box[2]!) + MARKER_GAP + half;
  const y2 = Math.ceil(box[3]!) + MARKER_GAP + half;
  return { x, y, w: x2 - x, h: y2 - y };
}

/** A pixel rectangle of an image: the part the overlay is rasterised for. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The smallest whole-pixel rectangle holding every shape (plus 1 px of anti-aliasing) and the marker.
 * Rasterising only this part roughly halves librsvg's work: its cost is per canvas pixel, and the
 * objects span about half of an image on average.
 */
export function overlayRegion(img: SceneImage): Region {
  const boxes = img.objects.map((o) => shapeBox(o));
  if (img.marker) {
    const m = markerRect(img.marker);
    boxes.push([m.x - MARKER_WIDTH / 2, m.y - MARKER_WIDTH / 2, m.x + m.w + MARKER_WIDTH / 2, m.y + m.h + MARKER_WIDTH / 2]);
  }
  if (boxes.length === 0) return { x: 0, y: 0, width: 1, height: 1 };
  const x0 = Math.max(0, Math.floor(Math.min(...boxes.map((b) => b[0])) - 1));
  const y0 = Math.max(0, Math.floor(Math.min(...boxes.map((b) => b[1])) - 1));
  const x1 = Math.min(img.width, Math.ceil(Math.max(...boxes.map((b) => b[2])) + 1));
  const y1 = Math.min(img.height, Math.ceil(Math.max(...boxes.map((b) => b[3])) + 1));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/**
 * The SVG overlay of one image (shapes and marker on a transparent canvas), for the whole image or for
 * a region of it; a region only shifts the view by whole pixels, so the pixels drawn are the same.
 */
export function imageSvg(img: SceneImage, region: Region = { x: 0, y: 0, width: img.width, height: img.height }): string {
  const { x, y, width: w, height: h } = region;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="${x} ${y} ${w} ${h}">`];
  for (const o of img.objects) parts.push(shapeSvg(o));
  if (img.marker) {
    const m = markerRect(img.marker);
    parts.push(`<rect x="${m.x}" y="${m.y}" width="${m.w}" height="${m.h}" fill="none" stroke="${rgb(MARKER_COLOR)}" stroke-width="${MARKER_WIDTH}"/>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

/**
 * Lay the rasterised overlay (RGBA, straight alpha, covering `region`) over the tinted background in
 * one pass, reading one 32-bit word per pixel. Done here rather than with sharp's composite, which costs
 * more than rasterising the SVG; this loop mostly copies (alpha is 0 or 255 except on shape edges).
 * Returns RGB.
 */
export function blendOverBackground(img: SceneImage, overlay: Uint8Array, region: Region = { x: 0, y: 0, width: img.width, height: img.height }): Buffer {
  const { width: W, height: H, background: bg } = img;
  const { x: rx, y: ry, width: rw, height: rh } = region;
  if (overlay.length !== rw * rh * 4) throw new UnivgError('render', `overlay has ${overlay.length} bytes, expected ${rw * rh * 4}`);
  const tile = textureTile(bg.tileSeed, bg.tile);
  const a = bg.tintOpacity;
  // Packed little-endian words: byte 0 = R, 1 = G, 2 = B (3 = alpha in the overlay).
  const lut = new Uint32Array(256);
  for (let v = 0; v < 256; v++) {
    const [r, g, b] = bg.tint.map((t) => Math.round(v * (1 - a) + t * a)) as [number, number, number];
    lut[v] = r | (g << 8) | (b << 16);
  }
  const aligned = overlay.byteOffset % 4 === 0 ? overlay : Uint8Array.from(overlay);
  const ov = new Uint32Array(aligned.buffer, aligned.byteOffset, rw * rh);
  const out = Buffer.allocUnsafe(W * H * 3);
  let q = 0;
  for (let y = 0; y < H; y++) {
    const t0 = (bg.y + y) * TILE_SIZE + bg.x;
    const inRows = y >= ry && y < ry + rh;
    const r0 = (y - ry) * rw - rx;
    for (let x = 0; x < W; x++, q += 3) {
      let w: number;
      const al = inRows && x >= rx && x < rx + rw ? ov[r0 + x]! >>> 24 : 0;
      if (al === 255) w = ov[r0 + x]!;
      else {
        const b = lut[tile[t0 + x]!]!;
        if (al === 0) w = b;
        else {
          const o = ov[r0 + x]!;
          const inv = 255 - al;
          const cr = ((o & 255) * al + (b & 255) * inv + 127) / 255;
          const cg = (((o >>> 8) & 255) * al + ((b >>> 8) & 255) * inv + 127) / 255;
          const cb = (((o >>> 16) & 255) * al + ((b >>> 16) & 255) * inv + 127) / 255;
          w = (cr | 0) | ((cg | 0) << 8) | ((cb | 0) << 16);
        }
      }
      out[q] = w;
      out[q + 1] = w >>> 8;
      out[q + 2] = w >>> 16;
    }
  }
  return out;
}

/** One image as PNG bytes (RGB, 8 bit). */
export async function renderImage(img: SceneImage): Promise<Buffer> {
  const region = overlayRegion(img);
  const { data, info } = await sharp(Buffer.from(imageSvg(img, region))).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== region.width || info.height !== region.height || info.channels !== 4) {
    throw new UnivgError('render', `SVG rasterised to ${info.width}x${info.height}x${info.channels}, expected ${region.width}x${region.height}x4`);
  }
  const rgb = blendOverBackground(img, data, region);
  return sharp(rgb, { raw: { width: img.width, height: img.height, channels: 3 } }).png(PNG_OPTIONS).toBuffer();
}

/** Every image of a scene as PNG bytes, in order. */
export function renderScene(scene: Scene): Promise<Buffer[]> {
  return Promise.all(scene.images.map(renderImage));
}
