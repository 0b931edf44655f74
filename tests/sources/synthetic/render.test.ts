/**
 * Rendering, checked by reading the PNGs back: the answer box tightly encloses the target's colour
 * pixels (librsvg's rasterisation against our geometry), the marker is where the scene says, the
 * background stays greyish, and the bytes are deterministic.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { MARKER_COLOR, blendOverBackground, fillOf, imageSvg, markerRect, overlayRegion, renderImage, renderScene, shapeBox, type Scene, type SceneObject } from '../../../src/sources/synthetic/index.js';
import { label, sceneSet } from './helpers.js';

const scenes = sceneSet(3);

async function pixels(png: Buffer) {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

/** Colour distance used to call a pixel "the target's colour": anti-aliased edge pixels mostly fail it. */
const TOL = 40;
const near = (a: ArrayLike<number>, i: number, c: readonly number[], tol: number) => Math.abs(a[i]! - c[0]!) <= tol && Math.abs(a[i + 1]! - c[1]!) <= tol && Math.abs(a[i + 2]! - c[2]!) <= tol;
const grow = (b: readonly number[], m: number) => [b[0]! - m, b[1]! - m, b[2]! + m, b[3]! + m];
const overlaps = (a: readonly number[], b: readonly number[]) => a[0]! < b[2]! && b[0]! < a[2]! && a[1]! < b[3]! && b[1]! < a[3]!;

/** No other object of a similar colour comes near the target: its colour pixels are then all the target's. */
function isolated(s: Scene): boolean {
  const img = s.images[s.target.image]!;
  const t = img.objects.find((o) => o.id === s.target.objectId)!;
  const zone = grow(s.answer, 6);
  return img.objects.every((o: SceneObject) => o === t || !overlaps(shapeBox(o), zone) || !fillOf(o).every((v, k) => Math.abs(v - fillOf(t)[k]!) <= 2 * TOL));
}

describe('synthetic rendering', () => {
  it('draws each target so that its colour pixels fill the answer box to within 2 px', async () => {
    let checked = 0;
    for (const s of scenes) {
      if (s.difficulty === 'easy') expect(isolated(s), `easy scenes keep look-alikes away: ${label(s)}`).toBe(true);
      if (!isolated(s)) continue;
      const img = s.images[s.target.image]!;
      const t = img.objects.find((o) => o.id === s.target.objectId)!;
      const px = await pixels(await renderImage(img));
      expect([px.width, px.height, px.channels]).toEqual([img.width, img.height, 3]);
      const [wx1, wy1, wx2, wy2] = grow(s.answer, 5).map((v, k) => Math.max(0, Math.min(k % 2 ? img.height : img.width, Math.round(v))));
      let [x1, y1, x2, y2] = [Infinity, Infinity, -Infinity, -Infinity];
      for (let y = wy1!; y < wy2!; y++)
        for (let x = wx1!; x < wx2!; x++)
          if (near(px.data, (y * px.width + x) * 3, fillOf(t), TOL)) [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x + 1), Math.max(y2, y + 1)];
      const found = [x1, y1, x2, y2];
      found.forEach((v, k) => expect(Math.abs(v - s.answer[k]!), `${label(s)} side ${k}: pixels ${found} vs answer ${s.answer}`).toBeLessThanOrEqual(2));
      checked++;
    }
    expect(checked).toBeGreaterThan(scenes.length / 2);
  });

  it('draws the marker as a crisp 3 px pure-red outline 2 px outside the marked box', async () => {
    for (const s of scenes.filter((x) => x.images[0]!.marker)) {
      const img = s.images[0]!;
      const px = await pixels(await renderImage(img));
      let [x1, y1, x2, y2, n] = [Infinity, Infinity, -Infinity, -Infinity, 0];
      for (let y = 0; y < px.height; y++)
        for (let x = 0; x < px.width; x++)
          if (near(px.data, (y * px.width + x) * 3, MARKER_COLOR, 0)) {
            [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x + 1), Math.max(y2, y + 1)];
            n++;
          }
      const m = img.marker!;
      expect([x1, y1, x2, y2], label(s)).toEqual([Math.floor(m[0]) - 5, Math.floor(m[1]) - 5, Math.ceil(m[2]) + 5, Math.ceil(m[3]) + 5]);
      const r = markerRect(m);
      const outer = (r.w + 3) * (r.h + 3);
      const inner = (r.w - 3) * (r.h - 3);
      expect(n).toBe(outer - inner);
      // The frames after the first carry no marker.
      for (const other of s.images.slice(1)) {
        const q = await pixels(await renderImage(other));
        let red = 0;
        for (let i = 0; i < q.data.length; i += 3) if (near(q.data, i, MARKER_COLOR, 0)) red++;
        expect(red).toBe(0);
      }
    }
  });

  it('keeps backgrounds greyish, so every named colour stands out', async () => {
    for (const s of scenes.slice(0, 12)) {
      const img = s.images[0]!;
      const px = await pixels(await renderImage(img));
      const keepOut = [...img.objects.map((o) => grow(shapeBox(o), 2)), ...(img.marker ? [grow(img.marker, 7)] : [])];
      let maxSpread = 0;
      for (let y = 0; y < px.height; y += 3)
        for (let x = 0; x < px.width; x += 3) {
          if (keepOut.some((b) => x + 1 > b[0]! && x < b[2]! && y + 1 > b[1]! && y < b[3]!)) continue;
          const i = (y * px.width + x) * 3;
          maxSpread = Math.max(maxSpread, Math.max(px.data[i]!, px.data[i + 1]!, px.data[i + 2]!) - Math.min(px.data[i]!, px.data[i + 1]!, px.data[i + 2]!));
        }
      expect(maxSpread, label(s)).toBeLessThanOrEqual(30);
    }
  });

  it('rasterises only the region holding the objects, with the same pixels as the whole canvas', async () => {
    let saved = 0;
    let total = 0;
    for (const s of scenes.slice(0, 18)) {
      for (const img of s.images) {
        const region = overlayRegion(img);
        const whole = await sharp(Buffer.from(imageSvg(img))).ensureAlpha().raw().toBuffer();
        const part = await sharp(Buffer.from(imageSvg(img, region))).ensureAlpha().raw().toBuffer();
        expect(blendOverBackground(img, part, region).equals(blendOverBackground(img, whole)), label(s)).toBe(true);
        saved += img.width * img.height - region.width * region.height;
        total += img.width * img.height;
      }
    }
    expect(saved / total).toBeGreaterThan(0.2);
  });

  it('renders the same bytes for the same scene, and different bytes for another', async () => {
    const [a, b] = [scenes[0]!, scenes[1]!];
    const first = await renderScene(a);
    const again = await renderScene(a);
    expect(first.map((p) => p.equals(again[first.indexOf(p)]!))).toEqual(first.map(() => true));
    const other = await renderScene(b);
    expect(first[0]!.equals(other[0]!)).toBe(false);
    expect(first[0]!.subarray(1, 4).toString()).toBe('PNG');
  });
});
