import { describe, expect, it } from 'vitest';
import { iou } from '../../../src/geometry/index.js';
import { SHAPES, COLOR_NAMES } from '../../../src/sources/synthetic/vocabulary.js';
import { perceive } from '../../../src/teacher/sim/perceive.js';
import { decodeRaw, renderTestImage, trueBox, type TestShape } from './scenes.js';

describe('perception from pixels', () => {
  it('finds every shape of a clean scene with its colour, shape class and box', async () => {
    // Two rows of all six shapes in varied colours and sizes.
    const shapes: TestShape[] = SHAPES.map((shape, i) => ({ shape, color: COLOR_NAMES[i]!, cx: 60 + (i % 3) * 130, cy: 70 + Math.floor(i / 3) * 150, r: 28 + 6 * (i % 3) }));
    const img = await decodeRaw(await renderTestImage({ width: 420, height: 320, shapes }));
    const scene = perceive(img);
    expect(scene.objects).toHaveLength(shapes.length);
    for (const s of shapes) {
      const found = scene.objects.find((o) => o.color === s.color);
      expect(found, `${s.color} ${s.shape}`).toBeDefined();
      expect(found!.shape).toBe(s.shape);
      expect(iou(found!.box, trueBox(s))).toBeGreaterThan(0.85);
    }
    expect(scene.markers).toHaveLength(0);
  });

  it('classifies every shape in every colour at a moderate size', async () => {
    let wrong = 0;
    for (const [ci, color] of COLOR_NAMES.entries()) {
      const shapes: TestShape[] = SHAPES.map((shape, i) => ({ shape, color, cx: 40 + i * 70, cy: 40 + (ci % 2) * 5, r: 18 }));
      const scene = perceive(await decodeRaw(await renderTestImage({ width: 460, height: 90, shapes }, ci + 3)));
      for (const s of shapes) {
        const o = scene.objects.find((x) => Math.abs(x.cx - s.cx) < 10);
        if (!o || o.shape !== s.shape || o.color !== color) wrong++;
      }
    }
    expect(wrong).toBeLessThanOrEqual(2);
  });

  it('sees the red hollow marker and does not mistake it for an object', async () => {
    const target: TestShape = { shape: 'star', color: 'red', cx: 150, cy: 120, r: 30 };
    const img = await decodeRaw(await renderTestImage({ width: 320, height: 240, shapes: [target, { shape: 'circle', color: 'blue', cx: 260, cy: 60, r: 25 }], marker: trueBox(target) }));
    const scene = perceive(img);
    expect(scene.markers).toHaveLength(1);
    expect(iou(scene.markers[0]!, trueBox(target))).toBeGreaterThan(0.6);
    expect(scene.objects.map((o) => `${o.color} ${o.shape}`).sort()).toEqual(['blue circle', 'red star']);
  });

  it('reads a near-colour distractor as the named colour (the confusion hard scenes rely on)', async () => {
    const img = await decodeRaw(
      await renderTestImage({
        width: 300,
        height: 160,
        shapes: [
          { shape: 'square', color: 'green', cx: 70, cy: 80, r: 30 },
          { shape: 'square', color: 'green', near: true, cx: 220, cy: 80, r: 30 },
        ],
      }),
    );
    const scene = perceive(img);
    expect(scene.objects).toHaveLength(2);
    expect(scene.objects.every((o) => o.color === 'green' && o.shape === 'square')).toBe(true);
    // It does measure that one of them is off-colour, it just has no word for it.
    const d = scene.objects.map((o) => o.colorDistance).sort((a, b) => a - b);
    expect(d[1]! - d[0]!).toBeGreaterThan(10);
  });

  it('loses a tiny object under its noise floor and splits an occluded one', async () => {
    const tiny = perceive(await decodeRaw(await renderTestImage({ width: 200, height: 200, shapes: [{ shape: 'circle', color: 'blue', cx: 100, cy: 100, r: 2.5 }] })));
    expect(tiny.objects).toHaveLength(0);
    // A thin purple bar across a yellow circle cuts it into two components.
    const occluded = perceive(
      await decodeRaw(
        await renderTestImage({
          width: 240,
          height: 240,
          shapes: [
            { shape: 'circle', color: 'yellow', cx: 120, cy: 120, r: 60 },
            { shape: 'square', color: 'purple', cx: 120, cy: 120, r: 12 },
          ],
        }),
      ),
    );
    const yellow = occluded.objects.filter((o) => o.color === 'yellow');
    expect(yellow).toHaveLength(1);
    // The square sits inside, so the circle stays one component but is no longer a clean disc.
    expect(occluded.objects.some((o) => o.color === 'purple' && o.shape === 'square')).toBe(true);
    const split = perceive(
      await decodeRaw(
        await renderTestImage({
          width: 240,
          height: 240,
          shapes: [
            { shape: 'hexagon', color: 'cyan', cx: 120, cy: 120, r: 50 },
            { shape: 'diamond', color: 'orange', cx: 120, cy: 120, r: 70 },
          ],
        }),
      ),
    );
    // The diamond leaves only the hexagon's corners: several cyan fragments, none a hexagon of the full size.
    const cyan = split.objects.filter((o) => o.color === 'cyan');
    expect(cyan.length).toBeGreaterThanOrEqual(2);
    expect(cyan.every((o) => iou(o.box, trueBox({ shape: 'hexagon', color: 'cyan', cx: 120, cy: 120, r: 50 })) < 0.5)).toBe(true);
  });

  it('survives JPEG compression', async () => {
    const shapes: TestShape[] = [
      { shape: 'triangle', color: 'orange', cx: 80, cy: 80, r: 40 },
      { shape: 'hexagon', color: 'cyan', cx: 220, cy: 150, r: 45 },
    ];
    const scene = perceive(await decodeRaw(await renderTestImage({ width: 320, height: 240, shapes }, 5, 'jpeg')));
    expect(scene.objects.map((o) => `${o.color} ${o.shape}`).sort()).toEqual(['cyan hexagon', 'orange triangle']);
  });
});
