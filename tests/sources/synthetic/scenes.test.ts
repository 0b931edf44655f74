/**
 * Scene graphs: every question has exactly one answer, checked here independently of the generator's own
 * verifier; answers lie in their image; labels follow the documented difficulty formula; questions parse
 * back, and the ingest's rule for finding the target image agrees with the generator.
 */
import { describe, expect, it } from 'vitest';
import { resolveMention, targetMention } from '../../../src/sources/image-refs.js';
import {
  COLORS,
  NEAR_COLORS,
  SYNTH_TASKS,
  interpret,
  keyOf,
  makeRng,
  makeScene,
  parseQuestion,
  shapeArea,
  shapeBox,
  visibility,
  type Scene,
  type SceneImage,
  type SceneObject,
} from '../../../src/sources/synthetic/index.js';
import { LEVELS, label, sceneSet } from './helpers.js';

const scenes = sceneSet(6);

const look = (o: SceneObject) => `${o.shape}|${(o.near ? NEAR_COLORS : COLORS)[o.color].join(',')}`;
const targetOf = (s: Scene) => s.images[s.target.image]!.objects.find((o) => o.id === s.target.objectId)!;
const inside = (box: readonly number[], m: readonly number[]) => box[0]! >= m[0]! && box[1]! >= m[1]! && box[2]! <= m[2]! && box[3]! <= m[3]!;

/** Which objects of the target image answer the question: written from the task definitions, not from verify.ts. */
function answers(s: Scene): SceneObject[] {
  const q = s.question;
  const img = s.images[q.target]!;
  switch (q.task) {
    case 'common_object': {
      const everywhere = [...new Set(s.images[0]!.objects.map(look))].filter((k) => s.images.every((im) => im.objects.some((o) => look(o) === k)));
      expect(everywhere, label(s)).toHaveLength(1);
      return img.objects.filter((o) => look(o) === everywhere[0]);
    }
    case 'diff': {
      const [a, b] = s.images as [SceneImage, SceneImage];
      const before = new Map(a.objects.map((o) => [o.id, JSON.stringify({ ...o })]));
      expect(a.objects.every((o) => b.objects.some((p) => p.id === o.id)), 'nothing is removed').toBe(true);
      return b.objects.filter((o) => before.get(o.id) !== JSON.stringify({ ...o }));
    }
    case 'refer_grounding': {
      const same = img.objects.filter((o) => !o.near && o.color === q.color && o.shape === q.shape);
      if (q.size === null) return same;
      expect(same.length, 'a size word is used only when colour and shape do not decide').toBeGreaterThanOrEqual(2);
      const sorted = same.slice().sort((x, y) => shapeArea(y) - shapeArea(x));
      const pick = q.size === 'large' ? sorted[0]! : sorted.at(-1)!;
      const rest = sorted.filter((o) => o !== pick);
      expect(rest.every((o) => (q.size === 'large' ? shapeArea(pick) >= 1.5 * shapeArea(o) : shapeArea(o) >= 1.5 * shapeArea(pick)))).toBe(true);
      return [pick];
    }
    case 'correspondence':
    case 'object_tracking': {
      const first = s.images[0]!;
      const marker = first.marker!;
      const marked = first.objects.filter((o) => inside(shapeBox(o), marker));
      expect(marked, 'one object inside the marker').toHaveLength(1);
      const m = marked[0]!;
      // Nothing else reaches into the marker, and the marker hugs the object.
      expect(first.objects.filter((o) => o !== m).every((o) => { const b = shapeBox(o); return b[2] < marker[0] - 5 || b[0] > marker[2] + 5 || b[3] < marker[1] - 5 || b[1] > marker[3] + 5; })).toBe(true);
      expect(marker).toEqual(shapeBox(m));
      if (q.task === 'object_tracking') {
        const [x1, y1, x2, y2] = q.markerBox1000;
        expect([x1, y1, x2, y2]).toEqual([marker[0] / first.width, marker[1] / first.height, marker[2] / first.width, marker[3] / first.height].map((v) => Math.round(v * 1000)));
        expect(img.objects.some((o) => o.id === m.id)).toBe(true);
      }
      return img.objects.filter((o) => look(o) === look(m));
    }
    case 'reasoning': {
      const byArea = s.images[0]!.objects.slice().sort((x, y) => shapeArea(y) - shapeArea(x));
      if (q.relation === 'same_color_as_largest') {
        expect(shapeArea(byArea[0]!)).toBeGreaterThanOrEqual(1.5 * shapeArea(byArea[1]!));
        return img.objects.filter((o) => !o.near && o.color === byArea[0]!.color);
      }
      expect(shapeArea(byArea.at(-2)!)).toBeGreaterThanOrEqual(1.5 * shapeArea(byArea.at(-1)!));
      return img.objects.filter((o) => o.shape === byArea.at(-1)!.shape);
    }
  }
}

describe('synthetic scene graphs', () => {
  it('cover every task at every level, with 2-6 images of varied sizes and shapes', () => {
    expect(new Set(scenes.map((s) => `${s.task}/${s.difficulty}`)).size).toBe(SYNTH_TASKS.length * LEVELS.length);
    const sizes = scenes.flatMap((s) => s.images.map((i) => [i.width, i.height] as const));
    for (const s of scenes) expect(s.images.length, label(s)).toBeGreaterThanOrEqual(2), expect(s.images.length, label(s)).toBeLessThanOrEqual(6);
    for (const [w, h] of sizes) expect(Math.min(w, h) >= 224 && Math.max(w, h) <= 1024).toBe(true);
    expect(sizes.some(([w, h]) => w > h)).toBe(true);
    expect(sizes.some(([w, h]) => w < h)).toBe(true);
    expect(sizes.some(([w, h]) => w === h)).toBe(true);
    expect(sizes.some(([w, h]) => Math.max(w, h) > 700)).toBe(true);
    expect(new Set(sizes.map(([w, h]) => `${w}x${h}`)).size).toBeGreaterThan(50);
    // Images of one diff or tracking sample share size and background; the others vary.
    for (const s of scenes.filter((x) => x.task === 'diff' || x.task === 'object_tracking')) {
      for (const img of s.images) expect([img.width, img.height, img.background]).toEqual([s.images[0]!.width, s.images[0]!.height, s.images[0]!.background]);
    }
  });

  it('have exactly one object answering each question, and it is the target', () => {
    for (const s of scenes) {
      const found = answers(s);
      expect(found.map((o) => o.id), label(s)).toEqual([s.target.objectId]);
      expect(targetOf(s).near, 'the answer is never an unnamed shade').toBe(false);
      expect(interpret(s)).toEqual({ candidates: [s.target.objectId], problems: [] });
    }
  });

  it('keep every object at least half visible and answer with the target visible box inside its image', () => {
    for (const s of scenes) {
      for (const img of s.images) img.objects.forEach((_, i) => expect(visibility(img.objects, i).occlusion).toBeLessThanOrEqual(0.5));
      const img = s.images[s.target.image]!;
      const [x1, y1, x2, y2] = s.answer;
      expect(0 <= x1 && x1 < x2 && x2 <= img.width && 0 <= y1 && y1 < y2 && y2 <= img.height, label(s)).toBe(true);
      const geo = shapeBox(targetOf(s));
      expect(inside(s.answer, geo), 'visible box lies within the outline box').toBe(true);
      if (s.metrics.occlusion === 0) expect(s.answer).toEqual(geo);
    }
  });

  it('label difficulty by the documented formula over measured scene properties', () => {
    for (const s of scenes) {
      const img = s.images[s.target.image]!;
      const t = targetOf(s);
      const d = Math.max(0, ...img.objects.filter((o) => o !== t).map((o) => 0.5 * Number(o.shape === t.shape) + 0.5 * Number(o.color === t.color)));
      const b = shapeBox(t);
      const size = Math.sqrt(((b[2] - b[0]) * (b[3] - b[1])) / (img.width * img.height));
      const occ = visibility(img.objects, img.objects.indexOf(t)).occlusion;
      expect(s.metrics.distractorSimilarity).toBe(d);
      expect(s.metrics.relativeSize).toBeCloseTo(size, 5);
      expect(s.metrics.occlusion).toBeCloseTo(occ, 5);
      const score = 0.4 * d + 0.3 * Math.min(1, Math.max(0, (0.15 - size) / 0.1)) + 0.3 * Math.min(1, occ / 0.3);
      expect(s.metrics.score).toBeCloseTo(score, 5);
      expect(s.difficulty, label(s)).toBe(score < 0.3 ? 'easy' : score < 0.6 ? 'medium' : 'hard');
    }
  });

  it('ask questions that parse back to the task and target, and that the ingest resolves to the same image', () => {
    for (const s of scenes) {
      const spec = parseQuestion(s.text);
      expect(spec).toEqual(s.question);
      expect(spec!.task).toBe(s.task);
      expect(spec!.target).toBe(s.target.image);
      const m = targetMention(s.text);
      expect(m && resolveMention(m, s.images.length), s.text).toBe(s.target.image);
    }
  });

  it('vary the relation words: hard scenes carry look-alikes, and size words appear only with a same-look object', () => {
    const hard = scenes.filter((s) => s.difficulty === 'hard');
    expect(hard.some((s) => s.metrics.distractorSimilarity === 1)).toBe(true);
    expect(hard.some((s) => s.metrics.occlusion > 0.1)).toBe(true);
    const sized = scenes.filter((s) => s.question.task === 'refer_grounding' && s.question.size !== null);
    expect(sized.length).toBeGreaterThan(0);
    expect(scenes.filter((s) => s.task === 'diff').map((s) => s.detail.change).sort()).toEqual(expect.arrayContaining(['added', 'moved', 'recoloured', 'reshaped']));
    // Every object keeps a distinct id within its image.
    for (const s of scenes) for (const img of s.images) expect(new Set(img.objects.map((o) => o.id)).size).toBe(img.objects.length);
    expect(new Set(scenes.map((s) => keyOf(targetOf(s)))).size).toBeGreaterThan(20);
  });

  it('is a pure function of the generator state', () => {
    const a = makeScene('reasoning', makeRng(1, 2, 3), 'medium');
    const b = makeScene('reasoning', makeRng(1, 2, 3), 'medium');
    const c = makeScene('reasoning', makeRng(1, 2, 4), 'medium');
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(c)).not.toBe(JSON.stringify(a));
  });
});
