/**
 * Solving a question from perceived scenes: which image holds the target, which object it is, and the
 * findings that justify it (rendered into reasoning by compose.ts). Pure: scenes and the parsed question
 * in, ranked candidates out. Candidate 0 is the teacher's belief; the others are what it would pick when
 * sampling at a higher temperature wanders.
 */
import { ordinal, parseOrdinal, type ColorName, type QuestionSpec, type ShapeName } from '../../sources/synthetic/vocabulary.js';
import { overlapShare, type PerceivedObject, type PerceivedScene, type PixelBox } from './perceive.js';

export interface Candidate {
  object: PerceivedObject | null;
  box: PixelBox;
}

export type Finding =
  | { kind: 'common'; color: ColorName; shape: ShapeName; inImages: number[]; all: boolean }
  | { kind: 'diff'; object: PerceivedObject; other: number; change: 'color' | 'shape' | 'size' | 'new' | 'moved'; counterpart: PerceivedObject | null }
  | { kind: 'diff_removed'; object: PerceivedObject; other: number }
  | { kind: 'refer'; color: ColorName; shape: ShapeName; size: 'small' | 'large' | null; matches: number; relaxed: 'none' | 'color' | 'shape' }
  | { kind: 'marked'; image: number; object: PerceivedObject | null; markerFound: boolean }
  | { kind: 'match'; color: ColorName; shape: ShapeName; matches: number; relaxed: boolean }
  | { kind: 'reference'; role: 'largest' | 'smallest'; object: PerceivedObject; attribute: 'color' | 'shape'; matches: number }
  | { kind: 'track'; steps: Array<{ image: number; object: PerceivedObject | null }> }
  | { kind: 'salient'; object: PerceivedObject }
  | { kind: 'nothing' };

export interface Solution {
  spec: QuestionSpec | null;
  /** 0-based image index of the answer. */
  target: number;
  /** True when the question was asked about an image that was not sent; target is then clamped. */
  targetClamped: boolean;
  candidates: Candidate[];
  findings: Finding[];
  /** Whether the teacher should sound sure (a parsed suite question with a clean match). */
  confident: boolean;
}

export function key(o: { color: ColorName; shape: ShapeName }): string {
  return `${o.color} ${o.shape}`;
}

/** "small", "large" or "" relative to the other objects of the same image. */
export function sizeWord(o: PerceivedObject, scene: PerceivedScene): 'small' | 'large' | '' {
  if (scene.objects.length < 2) return '';
  const areas = scene.objects.map((x) => x.area).sort((a, b) => a - b);
  const median = areas[Math.floor(areas.length / 2)]!;
  if (o.area >= 1.6 * median) return 'large';
  if (o.area <= 0.6 * median) return 'small';
  return '';
}

export function solve(spec: QuestionSpec | null, scenes: readonly PerceivedScene[], text: string): Solution {
  if (scenes.length === 0) throw new RangeError('solve needs at least one image');
  const wanted = spec ? spec.target : targetFromText(text, scenes.length);
  const target = Math.min(Math.max(0, wanted), scenes.length - 1);
  const base = { spec, target, targetClamped: target !== wanted };
  const scene = scenes[target]!;
  let r: { candidates: Candidate[]; findings: Finding[]; confident: boolean };
  switch (spec?.task) {
    case 'common_object':
      r = common(scenes, target);
      break;
    case 'diff':
      r = diff(scenes, target);
      break;
    case 'refer_grounding':
      r = refer(scene, spec.color, spec.shape, spec.size);
      break;
    case 'correspondence':
      r = correspondence(scenes, target);
      break;
    case 'reasoning':
      r = reasoning(scenes, target, spec.relation);
      break;
    case 'object_tracking':
      r = tracking(scenes, target, spec.markerBox1000);
      break;
    default:
      r = salient(scene);
      r.confident = false;
  }
  if (r.candidates.length === 0) {
    const fallback = salient(scene);
    r = { candidates: fallback.candidates, findings: [...r.findings, ...fallback.findings], confident: false };
  }
  return { ...base, ...r };
}

/** Non-suite questions: "in the second image", "image 2", "Image-2"; else the first image. */
function targetFromText(text: string, n: number): number {
  const a = /\bin the (\w+) image\b/i.exec(text);
  if (a) {
    const i = parseOrdinal(a[1]!);
    if (i !== null && i < n) return i;
  }
  const b = /\bimage[\s-]?(\d+)\b/i.exec(text);
  if (b) {
    const i = Number(b[1]) - 1;
    if (i >= 0 && i < n) return i;
  }
  return 0;
}

function cand(o: PerceivedObject): Candidate {
  return { object: o, box: o.box };
}

function salient(scene: PerceivedScene): { candidates: Candidate[]; findings: Finding[]; confident: boolean } {
  const objs = [...scene.objects].sort((a, b) => b.area - a.area);
  if (objs.length === 0) {
    // Nothing stands out: a guess at the middle of the image, as a model would hedge.
    const { width: w, height: h } = scene;
    return { candidates: [{ object: null, box: [w * 0.3, h * 0.3, w * 0.7, h * 0.7] }], findings: [{ kind: 'nothing' }], confident: false };
  }
  return { candidates: objs.map(cand), findings: [{ kind: 'salient', object: objs[0]! }], confident: true };
}

function common(scenes: readonly PerceivedScene[], target: number) {
  const counts = new Map<string, Set<number>>();
  scenes.forEach((s, i) => {
    for (const o of s.objects) {
      const k = key(o);
      if (!counts.has(k)) counts.set(k, new Set());
      counts.get(k)!.add(i);
    }
  });
  const inTarget = scenes[target]!.objects;
  // Keys present in the target, ranked by how many images have them, then by size in the target.
  const ranked = [...new Set(inTarget.map(key))]
    .map((k) => ({ k, n: counts.get(k)!.size, obj: inTarget.filter((o) => key(o) === k).sort((a, b) => b.area - a.area)[0]! }))
    .sort((a, b) => b.n - a.n || b.obj.area - a.obj.area);
  const findings: Finding[] = [];
  const top = ranked[0];
  if (top) {
    findings.push({ kind: 'common', color: top.obj.color, shape: top.obj.shape, inImages: [...counts.get(top.k)!].sort((a, b) => a - b), all: top.n === scenes.length });
  }
  return { candidates: ranked.map((r) => cand(r.obj)), findings, confident: top !== undefined && top.n === scenes.length && ranked.filter((r) => r.n === scenes.length).length === 1 };
}

/** Same colour and shape, roughly the same place (relative coordinates) and size. */
function sameObject(a: PerceivedObject, sa: PerceivedScene, b: PerceivedObject, sb: PerceivedScene): boolean {
  return key(a) === key(b) && relDistance(a, sa, b, sb) < 0.06 && a.area / b.area < 1.6 && b.area / a.area < 1.6;
}

function relDistance(a: PerceivedObject, sa: PerceivedScene, b: PerceivedObject, sb: PerceivedScene): number {
  return Math.hypot(a.cx / sa.width - b.cx / sb.width, a.cy / sa.height - b.cy / sb.height);
}

function diff(scenes: readonly PerceivedScene[], target: number) {
  const st = scenes[target]!;
  const others = scenes.map((_, i) => i).filter((i) => i !== target);
  if (others.length === 0) return salient(st);
  // An object of the target image that most other images lack is the changed one.
  const scored = st.objects
    .map((o) => ({ o, missing: others.filter((i) => !scenes[i]!.objects.some((p) => sameObject(o, st, p, scenes[i]!))).length }))
    .filter((x) => x.missing > 0)
    .sort((a, b) => b.missing - a.missing || b.o.area - a.o.area);
  const findings: Finding[] = [];
  const candidates: Candidate[] = scored.map((x) => cand(x.o));
  const first = scored[0];
  const other = others[0]!;
  const so = scenes[other]!;
  if (first) {
    const near = so.objects
      .filter((p) => relDistance(first.o, st, p, so) < 0.08 && !st.objects.some((q) => sameObject(q, st, p, so)))
      .sort((a, b) => relDistance(first.o, st, a, so) - relDistance(first.o, st, b, so))[0];
    let change: 'color' | 'shape' | 'size' | 'new' | 'moved' = 'new';
    if (near) change = near.color !== first.o.color ? 'color' : near.shape !== first.o.shape ? 'shape' : 'size';
    else if (so.objects.some((p) => key(p) === key(first.o) && !st.objects.some((q) => sameObject(q, st, p, so)))) change = 'moved';
    findings.push({ kind: 'diff', object: first.o, other, change, counterpart: near ?? null });
  } else {
    // Every object of the target has a twin: the change may be an object that disappeared from it.
    const gone = so.objects.find((p) => !st.objects.some((q) => sameObject(q, st, p, so)));
    if (gone) {
      const sx = st.width / so.width;
      const sy = st.height / so.height;
      candidates.push({ object: null, box: [gone.box[0] * sx, gone.box[1] * sy, gone.box[2] * sx, gone.box[3] * sy] });
      findings.push({ kind: 'diff_removed', object: gone, other });
    }
  }
  return { candidates, findings, confident: scored.length === 1 || (scored.length > 1 && scored[0]!.missing > scored[1]!.missing) };
}

function refer(scene: PerceivedScene, color: ColorName, shape: ShapeName, size: 'small' | 'large' | null) {
  const bySize = (a: PerceivedObject, b: PerceivedObject) => (size === 'small' ? a.area - b.area : b.area - a.area);
  const exact = scene.objects.filter((o) => o.color === color && o.shape === shape).sort(bySize);
  const shapeOnly = scene.objects.filter((o) => o.shape === shape && o.color !== color).sort(bySize);
  const colorOnly = scene.objects.filter((o) => o.color === color && o.shape !== shape).sort((a, b) => a.shapeConfidence - b.shapeConfidence || bySize(a, b));
  const relaxed: 'none' | 'color' | 'shape' = exact.length > 0 ? 'none' : colorOnly.length > 0 ? 'shape' : 'color';
  const ordered = relaxed === 'color' ? [...shapeOnly, ...colorOnly] : [...exact, ...colorOnly, ...shapeOnly];
  return {
    candidates: ordered.map(cand),
    findings: [{ kind: 'refer', color, shape, size, matches: exact.length, relaxed } as Finding],
    confident: exact.length === 1 || (exact.length > 1 && size !== null),
  };
}

/** The object a marker outline surrounds: the largest one whose box lies mostly inside it. */
function markedObject(scene: PerceivedScene, marker: PixelBox): PerceivedObject | null {
  return scene.objects.filter((o) => overlapShare(o.box, marker) > 0.6).sort((a, b) => b.area - a.area)[0] ?? null;
}

/** Objects of `scene` that look like `ref` (seen in `refScene`), most similar in size relative to the image first. */
function lookalikes(scene: PerceivedScene, ref: PerceivedObject, refScene: PerceivedScene): { list: PerceivedObject[]; relaxed: boolean } {
  const rel = (o: PerceivedObject, s: PerceivedScene) => o.area / (s.width * s.height);
  const sim = (o: PerceivedObject) => Math.abs(Math.log(rel(o, scene) / rel(ref, refScene)));
  const exact = scene.objects.filter((o) => key(o) === key(ref)).sort((a, b) => sim(a) - sim(b));
  const partial = scene.objects.filter((o) => key(o) !== key(ref) && (o.color === ref.color || o.shape === ref.shape)).sort((a, b) => Number(b.color === ref.color) - Number(a.color === ref.color) || sim(a) - sim(b));
  return { list: [...exact, ...partial], relaxed: exact.length === 0 };
}

function correspondence(scenes: readonly PerceivedScene[], target: number) {
  const first = scenes[0]!;
  const marker = first.markers[0];
  const ref = marker ? markedObject(first, marker) : null;
  const findings: Finding[] = [{ kind: 'marked', image: 0, object: ref, markerFound: marker !== undefined }];
  if (!ref) return { candidates: [], findings, confident: false };
  if (target === 0) return { candidates: [cand(ref)], findings, confident: true };
  const { list, relaxed } = lookalikes(scenes[target]!, ref, first);
  findings.push({ kind: 'match', color: ref.color, shape: ref.shape, matches: list.filter((o) => key(o) === key(ref)).length, relaxed });
  return { candidates: list.map(cand), findings, confident: !relaxed };
}

function reasoning(scenes: readonly PerceivedScene[], target: number, relation: 'same_color_as_largest' | 'same_shape_as_smallest') {
  const first = scenes[0]!;
  const objs = [...first.objects].sort((a, b) => b.area - a.area);
  const ref = relation === 'same_color_as_largest' ? objs[0] : objs[objs.length - 1];
  if (!ref) return { candidates: [], findings: [], confident: false };
  const attribute = relation === 'same_color_as_largest' ? 'color' : 'shape';
  const pool = scenes[target]!.objects.filter((o) => target !== 0 || o !== ref);
  const matches = pool.filter((o) => (attribute === 'color' ? o.color === ref.color : o.shape === ref.shape)).sort((a, b) => b.area - a.area);
  const rest = pool.filter((o) => !matches.includes(o)).sort((a, b) => b.area - a.area);
  return {
    candidates: [...matches, ...rest].map(cand),
    findings: [{ kind: 'reference', role: relation === 'same_color_as_largest' ? 'largest' : 'smallest', object: ref, attribute, matches: matches.length } as Finding],
    confident: matches.length === 1,
  };
}

function tracking(scenes: readonly PerceivedScene[], target: number, markerBox1000: readonly [number, number, number, number]) {
  const first = scenes[0]!;
  const mb: PixelBox = [
    (markerBox1000[0] / 1000) * first.width,
    (markerBox1000[1] / 1000) * first.height,
    (markerBox1000[2] / 1000) * first.width,
    (markerBox1000[3] / 1000) * first.height,
  ];
  const ref = markedObject(first, mb);
  if (!ref) return { candidates: [], findings: [{ kind: 'marked', image: 0, object: null, markerFound: false } as Finding], confident: false };
  // Follow the object frame by frame: same look, nearest to where it was.
  const steps: Array<{ image: number; object: PerceivedObject | null }> = [{ image: 0, object: ref }];
  let last = ref;
  let lastScene = first;
  let ranked: PerceivedObject[] = [ref];
  let lost = false;
  for (let i = 1; i <= target; i++) {
    const s = scenes[i]!;
    const dist = (o: PerceivedObject) => relDistance(o, s, last, lastScene) + 0.15 * Math.abs(Math.log(o.area / last.area));
    const same = s.objects.filter((o) => key(o) === key(ref)).sort((a, b) => dist(a) - dist(b));
    const partial = s.objects.filter((o) => key(o) !== key(ref) && (o.color === ref.color || o.shape === ref.shape)).sort((a, b) => dist(a) - dist(b));
    ranked = [...same, ...partial];
    const pick = ranked[0] ?? null;
    steps.push({ image: i, object: pick });
    if (pick) {
      last = pick;
      lastScene = s;
      if (same.length === 0) lost = true;
    } else lost = true;
  }
  return {
    candidates: ranked.map(cand),
    findings: [{ kind: 'marked', image: 0, object: ref, markerFound: true } as Finding, { kind: 'track', steps } as Finding],
    confident: !lost,
  };
}

/** "first image" for messages and reasoning. */
export function imageName(i: number): string {
  try {
    return `${ordinal(i)} image`;
  } catch {
    return `image ${i + 1}`;
  }
}
