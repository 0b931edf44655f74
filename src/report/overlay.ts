/**
 * Boxes drawn over an image thumbnail: an SVG whose viewBox is the original image's pixel grid laid over
 * the thumbnail, so a box stored in original pixels lands on the right place whatever size the image is
 * shown at. Shared by the rejection examples and the evaluation's per-model boxes.
 */
import { escapeHtml, html, raw, type SafeHtml } from '../charts/html.js';
import type { ExampleImage } from './thumbs.js';

/** A coordinate as written into the SVG and captions: at most two decimals. */
export const c2 = (n: number) => String(Math.round(n * 100) / 100);

/**
 * A box in image pixels. A box too small to see at thumbnail size (a teacher answering 0-1 floats in a
 * 0-1000 convention, say) also gets a ring around its centre, so the reader finds it. `attrs` are added
 * to each shape (escaped): a colour for boxes not styled by class, a data attribute naming the box.
 */
export function boxRect(box: readonly number[], cls: string, label: string, imgW: number, imgH: number, attrs: Readonly<Record<string, string>> = {}): SafeHtml {
  const [x1, y1, x2, y2] = box as [number, number, number, number];
  const title = `<title>${escapeHtml(label)}</title>`;
  const extra = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${escapeHtml(v)}"`)
    .join('');
  let out = `<rect class="${cls}"${extra} x="${c2(x1)}" y="${c2(y1)}" width="${c2(Math.max(0, x2 - x1))}" height="${c2(Math.max(0, y2 - y1))}" vector-effect="non-scaling-stroke">${title}</rect>`;
  if (imgW > 0 && imgH > 0 && (x2 - x1 < imgW * 0.02 || y2 - y1 < imgH * 0.02)) {
    const r = Math.min(imgW, imgH) * 0.04;
    out += `<circle class="${cls}"${extra} cx="${c2((x1 + x2) / 2)}" cy="${c2((y1 + y2) / 2)}" r="${c2(r)}" vector-effect="non-scaling-stroke">${title}</circle>`;
  }
  return raw(out);
}

export const boxText = (b: readonly number[]) => `(${b.slice(0, 2).map((v) => c2(v)).join(', ')}), (${b.slice(2, 4).map((v) => c2(v)).join(', ')})`;

/** Tallest an image is shown (px): portrait images shrink in width rather than push the card down. */
const MAX_IMAGE_HEIGHT = 340;

export function imageBox(img: ExampleImage, overlays: SafeHtml[], alt: string): SafeHtml {
  if (!img.thumb) return html`<div class="noimg">${img.problem ?? 'no image'}<br><code>${img.sha256.slice(0, 12)}</code></div>`;
  // The overlay's viewBox is the original image's pixel grid, so boxes stored in original pixels land
  // exactly on the thumbnail whatever size it is shown at.
  const w = img.width > 0 ? img.width : img.thumb.width;
  const h = img.height > 0 ? img.height : img.thumb.height;
  const maxW = Math.round((MAX_IMAGE_HEIGHT * w) / h);
  return html`<div class="imgbox" style="aspect-ratio: ${w} / ${h}; width: min(100%, ${maxW}px)"><img src="${img.thumb.dataUrl}" width="${img.thumb.width}" height="${img.thumb.height}" alt="${alt}">${
    overlays.length ? raw(`<svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" aria-hidden="true">${overlays.map((o) => o.value).join('')}</svg>`) : ''
  }</div>`;
}

export function outside(box: readonly number[], w: number, h: number): boolean {
  return box[0]! < 0 || box[1]! < 0 || box[2]! > w || box[3]! > h;
}
