/**
 * Reads a question against a scene graph, the way a perfect perceiver would: which objects of the
 * target image satisfy it? A scene is valid only when exactly one does and it is the target. The
 * generator re-draws any scene this rejects, and the tests run it over every generated scene.
 */
import { isDeepStrictEqual } from 'node:util';
import { fromPixels } from '../../geometry/index.js';
import { parseQuestion, renderQuestion } from './vocabulary.js';
import { EDGE, markerFootprint } from './layout.js';
import { type Scene, type SceneImage, type SceneObject, boxesIntersect, keyOf, visibility } from './scene.js';
import { shapeArea, shapeBox } from './shapes.js';

/** Every object must keep at least this fraction visible, so "present" means "perceivable". */
export const MIN_VISIBLE = 0.5;
/** Size words and "largest"/"smallest" need the winner to beat every other object by this area ratio. */
export const SIZE_RATIO = 1.5;
/** Per-frame displacement limit for tracked objects, as a fraction of the shorter image side. */
export const MAX_STEP = 0.12;

export interface Interpretation {
  /** Ids of the objects in the target image that satisfy the question. */
  candidates: number[];
  /** Everything wrong with the scene as a question; empty for a valid sample. */
  problems: string[];
}

/** The objects inside or touching the marker of an image (it is drawn around one object's box). */
export function markedObjects(img: SceneImage): SceneObject[] {
  const zone = img.marker ? markerFootprint(img.marker) : null;
  return zone ? img.objects.filter((o) => boxesIntersect(shapeBox(o), zone)) : [];
}

function extreme(objects: readonly SceneObject[], which: 'largest' | 'smallest'): SceneObject | null {
  if (objects.length === 0) return null;
  const sorted = objects.slice().sort((a, b) => shapeArea(b) - shapeArea(a));
  if (sorted.length === 1) return sorted[0]!;
  if (which === 'largest') return shapeArea(sorted[0]!) >= SIZE_RATIO * shapeArea(sorted[1]!) ? sorted[0]! : null;
  const n = sorted.length;
  return shapeArea(sorted[n - 2]!) >= SIZE_RATIO * shapeArea(sorted[n - 1]!) ? sorted[n - 1]! : null;
}

function sameVisible(a: SceneImage, ai: number, b: SceneImage, bi: number): boolean {
  const va = visibility(a.objects, ai);
  const vb = visibility(b.objects, bi);
  return va.visible === vb.visible && JSON.stringify(va.box) === JSON.stringify(vb.box);
}

export function interpret(scene: Scene): Interpretation {
  const problems: string[] = [];
  const q = scene.question;
  const target = scene.images[q.target];
  if (!target) return { candidates: [], problems: [`question targets image ${q.target + 1} of ${scene.images.length}`] };
  const ids = (objs: readonly SceneObject[]) => objs.map((o) => o.id);
  let candidates: number[] = [];
  switch (q.task) {
    case 'common_object': {
      const sets = scene.images.map((img) => new Set(img.objects.map(keyOf)));
      const common = [...sets[0]!].filter((k) => sets.every((s) => s.has(k)));
      if (common.length !== 1) problems.push(`${common.length} looks appear in every image (${common.join(', ')})`);
      candidates = ids(target.objects.filter((o) => common.includes(keyOf(o))));
      break;
    }
    case 'diff': {
      const [a, b] = scene.images;
      if (scene.images.length !== 2 || !a || !b) {
        problems.push('a diff has exactly two images');
        break;
      }
      if (a.width !== b.width || a.height !== b.height || JSON.stringify(a.background) !== JSON.stringify(b.background)) problems.push('diff images differ in size or background');
      const before = new Map(a.objects.map((o, i) => [o.id, i]));
      const after = new Set(b.objects.map((o) => o.id));
      for (const o of a.objects) if (!after.has(o.id)) problems.push(`object ${o.id} was removed`);
      const changed: number[] = [];
      b.objects.forEach((o, bi) => {
        const ai = before.get(o.id);
        if (ai === undefined) return void changed.push(o.id);
        const p = a.objects[ai]!;
        if (keyOf(p) !== keyOf(o) || p.cx !== o.cx || p.cy !== o.cy || p.r !== o.r) changed.push(o.id);
        // An unchanged object must also look unchanged (the change must not uncover or cover it).
        else if (!sameVisible(a, ai, b, bi)) problems.push(`object ${o.id} is unchanged but its visible part differs`);
      });
      candidates = changed;
      break;
    }
    case 'refer_grounding': {
      const named = target.objects.filter((o) => !o.near && o.color === q.color && o.shape === q.shape);
      if (q.size === null) candidates = ids(named);
      else {
        const pick = named.length >= 2 ? extreme(named, q.size === 'large' ? 'largest' : 'smallest') : null;
        candidates = pick ? [pick.id] : ids(named);
        if (named.length < 2) problems.push('size word used where colour and shape alone decide');
      }
      break;
    }
    case 'correspondence':
    case 'object_tracking': {
      const first = scene.images[0]!;
      if (q.target === 0) problems.push('the marked object must be found in another image than the first');
      const marked = markedObjects(first);
      if (marked.length !== 1) {
        problems.push(`the marker in image 1 touches ${marked.length} objects`);
        break;
      }
      const m = marked[0]!;
      const mi = first.objects.indexOf(m);
      const vis = visibility(first.objects, mi);
      if (vis.occlusion > 0) problems.push('the marked object is occluded in image 1');
      if (JSON.stringify(first.marker) !== JSON.stringify(vis.box)) problems.push('the marker does not enclose the marked object box');
      candidates = ids(target.objects.filter((o) => keyOf(o) === keyOf(m)));
      if (q.task === 'object_tracking') {
        const expected = fromPixels(first.marker!, 'qwen2vl', { width: first.width, height: first.height });
        if (!isDeepStrictEqual(expected, q.markerBox1000)) problems.push('question marker box differs from the drawn marker');
        problems.push(...trackingProblems(scene, m.id));
        if (!candidates.includes(m.id)) problems.push('the tracked object is not the look-alike in the target frame');
      }
      break;
    }
    case 'reasoning': {
      const first = scene.images[0]!;
      if (q.target === 0) problems.push('reasoning must answer in another image than the first');
      if (q.relation === 'same_color_as_largest') {
        const big = extreme(first.objects, 'largest');
        if (!big) problems.push('no clearly largest shape in image 1');
        else if (big.near) problems.push('the largest shape has an unnamed shade');
        else candidates = ids(target.objects.filter((o) => !o.near && o.color === big.color));
      } else {
        const small = extreme(first.objects, 'smallest');
        if (!small) problems.push('no clearly smallest object in image 1');
        else candidates = ids(target.objects.filter((o) => o.shape === small.shape));
      }
      break;
    }
  }
  problems.push(...commonProblems(scene));
  if (candidates.length !== 1) problems.push(`${candidates.length} objects satisfy the question`);
  else if (candidates[0] !== scene.target.objectId) problems.push(`object ${candidates[0]} satisfies the question, not the target ${scene.target.objectId}`);
  return { candidates, problems };
}

function trackingProblems(scene: Scene, trackedId: number): string[] {
  const out: string[] = [];
  const [f0] = scene.images;
  const step = MAX_STEP * Math.min(f0!.width, f0!.height);
  for (let k = 1; k < scene.images.length; k++) {
    const prev = scene.images[k - 1]!;
    const cur = scene.images[k]!;
    if (cur.width !== f0!.width || cur.height !== f0!.height || JSON.stringify(cur.background) !== JSON.stringify(f0!.background)) out.push(`frame ${k + 1} differs in size or background`);
    if (cur.objects.map((o) => o.id).join() !== prev.objects.map((o) => o.id).join()) out.push(`frame ${k + 1} has other objects than frame ${k}`);
    for (const o of cur.objects) {
      const p = prev.objects.find((x) => x.id === o.id);
      if (!p) continue;
      if (keyOf(p) !== keyOf(o) || p.r !== o.r) out.push(`object ${o.id} changes look in frame ${k + 1}`);
      if (Math.hypot(o.cx - p.cx, o.cy - p.cy) > step + 0.02) out.push(`object ${o.id} jumps in frame ${k + 1}`);
    }
  }
  if (!scene.images.every((img) => img.objects.some((o) => o.id === trackedId))) out.push('the tracked object leaves the sequence');
  return out;
}

/** Checks that hold for every task: bounds, visibility, answer box, question text. */
function commonProblems(scene: Scene): string[] {
  const out: string[] = [];
  if (scene.images.length < 2 || scene.images.length > 6) out.push(`${scene.images.length} images (2 to 6 expected)`);
  scene.images.forEach((img, k) => {
    const seen = new Set<number>();
    img.objects.forEach((o, i) => {
      if (seen.has(o.id)) out.push(`object id ${o.id} twice in image ${k + 1}`);
      seen.add(o.id);
      const b = shapeBox(o);
      if (b[0] < EDGE - 1e-9 || b[1] < EDGE - 1e-9 || b[2] > img.width - EDGE + 1e-9 || b[3] > img.height - EDGE + 1e-9) out.push(`object ${o.id} leaves image ${k + 1}`);
      const v = visibility(img.objects, i);
      if (1 - v.occlusion < MIN_VISIBLE) out.push(`object ${o.id} in image ${k + 1} is ${Math.round(v.occlusion * 100)}% covered`);
    });
    if (k > 0 && img.marker) out.push(`image ${k + 1} has a marker`);
  });
  const img = scene.images[scene.target.image];
  const ti = img ? img.objects.findIndex((o) => o.id === scene.target.objectId) : -1;
  if (!img || ti < 0) out.push('the target object is not in the target image');
  else {
    const t = img.objects[ti]!;
    if (t.near) out.push('the target has an unnamed shade');
    const v = visibility(img.objects, ti);
    if (JSON.stringify(v.box) !== JSON.stringify(scene.answer)) out.push('the answer is not the visible box of the target');
  }
  if (scene.question.target !== scene.target.image) out.push('question and target disagree on the image');
  if (renderQuestion(scene.question) !== scene.text) out.push('question text does not render the question');
  if (!isDeepStrictEqual(parseQuestion(scene.text), scene.question)) out.push('question text does not parse back');
  return out;
}
