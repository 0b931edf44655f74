/**
 * The scene graph: what each synthetic image contains, in pixels. It is the ground truth the
 * question, the answer box and the difficulty label are computed from; the renderer only draws it.
 */
import type { Difficulty } from '../../schema/records.js';
import { COLORS, NEAR_COLORS, type ColorName, type QuestionSpec, type ShapeName, type SynthTask } from './vocabulary.js';
import { insideTester, shapeArea, shapeBox } from './shapes.js';

export type Box4 = [number, number, number, number];

export interface SceneObject {
  /** Stable within a sample: the same physical object keeps its id across images (diff, tracking). */
  id: number;
  shape: ShapeName;
  /** Colour family. */
  color: ColorName;
  /** true: drawn in NEAR_COLORS[color], a confusable shade that is never named and never the answer. */
  near: boolean;
  /** Centre of the bounding box, pixels. */
  cx: number;
  cy: number;
  /** Size: the larger half-extent of the bounding box, pixels. */
  r: number;
}

export const TILE_KINDS = ['noise', 'clouds', 'stripes', 'weave', 'checks', 'dots'] as const;
export type TileKind = (typeof TILE_KINDS)[number];

export interface Background {
  /** Grey texture tile (generated once per tile seed) and where this image is cut from it. */
  tile: TileKind;
  tileSeed: number;
  x: number;
  y: number;
  /** A low-saturation colour laid over the tile with this opacity. */
  tint: [number, number, number];
  tintOpacity: number;
}

export interface SceneImage {
  width: number;
  height: number;
  background: Background;
  /** Drawn in this order: later objects cover earlier ones. */
  objects: SceneObject[];
  /** The box a red hollow marker is drawn around (pixels), or null. */
  marker: Box4 | null;
}

export interface DifficultyMetrics {
  /** Highest similarity of another object in the target image to the target: 0, 0.5 or 1. */
  distractorSimilarity: number;
  /** sqrt(target bounding-box area / image area). */
  relativeSize: number;
  /** Fraction of the target's area covered by objects drawn above it. */
  occlusion: number;
  /** 0.4 D + 0.3 Z + 0.3 O' (see difficulty.ts). */
  score: number;
}

export interface Scene {
  task: SynthTask;
  question: QuestionSpec;
  /** renderQuestion(question). */
  text: string;
  images: SceneImage[];
  target: { image: number; objectId: number };
  /** Visible bounding box of the target in pixels of the target image. */
  answer: Box4;
  difficulty: Difficulty;
  metrics: DifficultyMetrics;
  /** Task-specific facts for debugging and statistics (e.g. the kind of change in a diff). */
  detail: Record<string, string | number | boolean>;
}

export function fillOf(o: Pick<SceneObject, 'color' | 'near'>): readonly [number, number, number] {
  return o.near ? NEAR_COLORS[o.color] : COLORS[o.color];
}

/** What the object looks like: two objects with the same key are indistinguishable but for size. */
export function keyOf(o: Pick<SceneObject, 'shape' | 'color' | 'near'>): string {
  return `${o.near ? 'near-' : ''}${o.color} ${o.shape}`;
}

export function boxesIntersect(a: readonly number[], b: readonly number[], gap = 0): boolean {
  return a[0]! - gap < b[2]! && b[0]! - gap < a[2]! && a[1]! - gap < b[3]! && b[1]! - gap < a[3]!;
}

export interface Visibility {
  /** Fraction of the object's pixels covered by later objects, 0..1. */
  occlusion: number;
  /** Bounding box of the uncovered part, pixels; null when fully covered. */
  box: Box4 | null;
  /** Pixel centres inside the object, and those uncovered (the exact area when nothing covers it). */
  total: number;
  visible: number;
}

/**
 * What is left visible of `objects[index]` once the objects drawn after it are painted. Unoccluded
 * objects get their exact geometric box; occluded ones are sampled at pixel centres, and each side of
 * the sampled box snaps back to the geometric edge when it lies within a pixel of it.
 */
export function visibility(objects: readonly SceneObject[], index: number): Visibility {
  const o = objects[index]!;
  const geo = shapeBox(o);
  const above: SceneObject[] = [];
  for (let i = index + 1; i < objects.length; i++) if (boxesIntersect(shapeBox(objects[i]!), geo)) above.push(objects[i]!);
  // Nothing drawn over it: the exact outline is what shows; no sampling needed.
  if (above.length === 0) {
    const area = shapeArea(o);
    return { occlusion: 0, box: geo, total: area, visible: area };
  }
  const inside = insideTester(o);
  const covers = above.map(insideTester);
  const x0 = Math.floor(geo[0]);
  const x1 = Math.ceil(geo[2]);
  const y0 = Math.floor(geo[1]);
  const y1 = Math.ceil(geo[3]);
  let total = 0;
  let visible = 0;
  let bx0 = Infinity;
  let by0 = Infinity;
  let bx1 = -Infinity;
  let by1 = -Infinity;
  for (let y = y0; y < y1; y++) {
    const py = y + 0.5;
    for (let x = x0; x < x1; x++) {
      const px = x + 0.5;
      if (!inside(px, py)) continue;
      total++;
      if (covers.some((c) => c(px, py))) continue;
      visible++;
      if (x < bx0) bx0 = x;
      if (x + 1 > bx1) bx1 = x + 1;
      if (y < by0) by0 = y;
      if (y + 1 > by1) by1 = y + 1;
    }
  }
  if (visible === 0) return { occlusion: 1, box: null, total, visible };
  const snap = (s: number, g: number) => (Math.abs(s - g) <= 1 ? g : s);
  const box: Box4 = [snap(bx0, geo[0]), snap(by0, geo[1]), snap(bx1, geo[2]), snap(by1, geo[3])];
  return { occlusion: total === 0 ? 0 : 1 - visible / total, box, total, visible };
}

export function findObject(img: SceneImage, id: number): { object: SceneObject; index: number } | null {
  const index = img.objects.findIndex((o) => o.id === id);
  return index < 0 ? null : { object: img.objects[index]!, index };
}
