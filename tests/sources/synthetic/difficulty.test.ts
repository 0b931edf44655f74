/** The difficulty formula and the visibility measure it rests on, on hand-built scenes. */
import { describe, expect, it } from 'vitest';
import { difficultyLabel, difficultyScore, measureDifficulty, shapeBox, visibility, type SceneImage, type SceneObject } from '../../../src/sources/synthetic/index.js';

const bg = { tile: 'noise' as const, tileSeed: 0, x: 0, y: 0, tint: [128, 128, 128] as [number, number, number], tintOpacity: 0.5 };
const obj = (id: number, shape: SceneObject['shape'], color: SceneObject['color'], cx: number, cy: number, r: number, near = false): SceneObject => ({ id, shape, color, near, cx, cy, r });
const image = (objects: SceneObject[]): SceneImage => ({ width: 400, height: 400, background: bg, objects, marker: null });

describe('difficulty', () => {
  it('scores 0.4 D + 0.3 Z + 0.3 O and cuts at 0.3 and 0.6', () => {
    expect(difficultyScore({ distractorSimilarity: 0, relativeSize: 0.2, occlusion: 0 })).toBe(0);
    expect(difficultyScore({ distractorSimilarity: 0.5, relativeSize: 0.15, occlusion: 0 })).toBe(0.2);
    expect(difficultyScore({ distractorSimilarity: 1, relativeSize: 0.05, occlusion: 0.3 })).toBe(1);
    expect(difficultyScore({ distractorSimilarity: 0.5, relativeSize: 0.1, occlusion: 0.15 })).toBe(0.5);
    expect(difficultyScore({ distractorSimilarity: 0, relativeSize: 0.01, occlusion: 0.9 })).toBe(0.6);
    expect(['easy', 'medium', 'hard'].map((_, i) => difficultyLabel([0.299999, 0.3, 0.6][i]!))).toEqual(['easy', 'medium', 'hard']);
  });

  it('measures similarity by shape and colour family, size from the box, occlusion from what covers the target', () => {
    const t = obj(1, 'square', 'red', 100, 100, 40);
    expect(measureDifficulty(image([t, obj(2, 'circle', 'blue', 300, 300, 20)]), 1)).toEqual({ distractorSimilarity: 0, relativeSize: 0.2, occlusion: 0, score: 0 });
    expect(measureDifficulty(image([t, obj(2, 'circle', 'red', 300, 300, 20)]), 1).distractorSimilarity).toBe(0.5);
    expect(measureDifficulty(image([t, obj(2, 'square', 'red', 300, 300, 20, true)]), 1).distractorSimilarity).toBe(1);
    // A square of the same size shifted by half its side covers exactly half of the target.
    const m = measureDifficulty(image([t, obj(2, 'square', 'green', 140, 100, 40)]), 1);
    expect(m.occlusion).toBeCloseTo(0.5, 6);
    // Drawn below the target, it covers nothing.
    expect(measureDifficulty(image([obj(2, 'square', 'green', 140, 100, 40), t]), 1).occlusion).toBe(0);
  });

  it('gives the visible box of a partly covered shape, snapped to its outline where uncovered', () => {
    const t = obj(1, 'square', 'red', 100.25, 100.25, 40);
    const v = visibility([t, obj(2, 'square', 'green', 150.25, 100.25, 20)], 0);
    expect(shapeBox(t)).toEqual([60.25, 60.25, 140.25, 140.25]);
    expect(v.box).toEqual([60.25, 60.25, 140.25, 140.25]); // the cover sits inside the right half: nothing is cut off
    const cut = visibility([t, obj(2, 'square', 'green', 150.25, 100.25, 60)], 0);
    expect(cut.box).toEqual([60.25, 60.25, 90, 140.25]);
    expect(cut.occlusion).toBeCloseTo(50 / 80, 2);
  });
});
