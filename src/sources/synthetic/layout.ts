/**
 * Scene layout: image sizes, difficulty regimes (the generation parameters aimed at each label),
 * backgrounds and object placement. Pure functions of a seeded Rng.
 */
import type { Difficulty } from '../../schema/records.js';
import { COLOR_NAMES, SHAPES, type ColorName, type ShapeName } from './vocabulary.js';
import type { Rng } from './rng.js';
import { type Background, type Box4, type SceneImage, type SceneObject, TILE_KINDS, boxesIntersect, visibility } from './scene.js';
import { UNIT_SHAPES, shapeBox, unitExtent } from './shapes.js';
import { TILE_SIZE } from './texture.js';

export const MIN_SIDE = 224;
export const MAX_SIDE = 1024;
/** Objects keep this far from the image border, so a marker (gap 2 + width 3) always fits. */
export const EDGE = 6;
/** Smallest object size r (half-extent) in pixels: about a 14 px box. */
export const MIN_R = 7;
/** The marker's stroke starts this many pixels outside the box it encloses. */
export const MARKER_GAP = 2;

export interface Regime {
  level: Difficulty;
  /** Target size as sqrt(box area / image area). */
  targetSize: [number, number];
  distractorSize: [number, number];
  /** Number of objects besides the target (an upper bound: crowded images get fewer). */
  distractors: [number, number];
  /** Chance that a random distractor is drawn in a NEAR_COLORS shade. */
  nearProb: number;
  /** Chance of a near-colour, same-shape twin of the target in the target image. */
  twinProb: number;
  /** Chance that an object is placed over the target, and the occlusion it must produce. */
  occluderProb: number;
  occlusion: [number, number];
  /** Minimum free space between the boxes of non-overlapping objects. */
  gap: number;
}

export const REGIMES: Readonly<Record<Difficulty, Regime>> = {
  easy: { level: 'easy', targetSize: [0.16, 0.26], distractorSize: [0.09, 0.2], distractors: [2, 4], nearProb: 0, twinProb: 0, occluderProb: 0, occlusion: [0, 0], gap: 8 },
  medium: { level: 'medium', targetSize: [0.085, 0.17], distractorSize: [0.07, 0.16], distractors: [3, 6], nearProb: 0.2, twinProb: 0.3, occluderProb: 0.45, occlusion: [0.06, 0.22], gap: 5 },
  hard: { level: 'hard', targetSize: [0.045, 0.1], distractorSize: [0.05, 0.12], distractors: [5, 9], nearProb: 0.35, twinProb: 0.85, occluderProb: 0.7, occlusion: [0.15, 0.45], gap: 4 },
};

const round2 = (v: number) => Math.round(v * 100) / 100;

/**
 * A random image size: square, landscape or portrait (aspect 4:3 to 2:1), sides in [224, 1024]. The
 * long side is lo + (1024 - lo) u^4: skewed to the small end (median about 430 px, mean area about
 * 0.18 Mpx) because rendering cost is proportional to pixels, while 1 in 10 images is over 800 px.
 */
export function sampleSize(rng: Rng): { width: number; height: number } {
  const orientation = rng.pick(['square', 'landscape', 'landscape', 'portrait'] as const);
  const aspect = orientation === 'square' ? 1 : rng.pick([4 / 3, 3 / 2, 16 / 9, 2]);
  const lo = Math.ceil(MIN_SIDE * aspect);
  const long = Math.round(lo + (MAX_SIDE - lo) * rng.next() ** 4);
  const short = Math.max(MIN_SIDE, Math.round(long / aspect));
  return orientation === 'portrait' ? { width: short, height: long } : { width: long, height: short };
}

export function sampleBackground(rng: Rng, width: number, height: number, tileSeed: number): Background {
  const level = rng.int(70, 235);
  // A slight tint only: backgrounds stay greyish so the named colours stand out.
  const tint = [0, 1, 2].map(() => Math.min(255, Math.max(0, level + rng.int(-12, 12)))) as [number, number, number];
  return {
    tile: rng.pick(TILE_KINDS),
    tileSeed,
    x: rng.int(0, TILE_SIZE - width),
    y: rng.int(0, TILE_SIZE - height),
    tint,
    tintOpacity: round2(rng.float(0.3, 0.6)),
  };
}

export function emptyImage(rng: Rng, size: { width: number; height: number }, tileSeed: number): SceneImage {
  return { ...size, background: sampleBackground(rng, size.width, size.height, tileSeed), objects: [], marker: null };
}

export interface Look {
  shape: ShapeName;
  color: ColorName;
  near: boolean;
}

/** A random look that `ok` accepts, or null after a bounded number of draws. */
export function randomLook(rng: Rng, nearProb: number, ok: (l: Look) => boolean = () => true): Look | null {
  for (let i = 0; i < 60; i++) {
    const l: Look = { shape: rng.pick(SHAPES), color: rng.pick(COLOR_NAMES), near: rng.chance(nearProb) };
    if (ok(l)) return l;
  }
  return null;
}

/** The size r that gives a shape the relative size s in an image. */
export function radiusFor(shape: ShapeName, s: number, img: { width: number; height: number }): number {
  const { w, h } = unitExtent(shape);
  const r = s * Math.sqrt((img.width * img.height) / (w * h));
  const maxR = (Math.min(img.width, img.height) - 2 * EDGE) / 2.5;
  return round2(Math.min(maxR, Math.max(MIN_R, r)));
}

/** Where a marker drawn around `box` lies, including its stroke: other objects keep out of it. */
export function markerFootprint(box: readonly number[]): Box4 {
  const pad = MARKER_GAP + 3 + 1;
  return [Math.floor(box[0]!) - pad, Math.floor(box[1]!) - pad, Math.ceil(box[2]!) + pad, Math.ceil(box[3]!) + pad];
}

/** The range of centres that keeps a shape of size r inside the image with the EDGE margin. */
export function centreRange(shape: ShapeName, r: number, img: { width: number; height: number }): { x: [number, number]; y: [number, number] } | null {
  const b = UNIT_SHAPES[shape].bbox;
  const x: [number, number] = [EDGE - r * b[0], img.width - EDGE - r * b[2]];
  const y: [number, number] = [EDGE - r * b[1], img.height - EDGE - r * b[3]];
  return x[0] <= x[1] && y[0] <= y[1] ? { x, y } : null;
}

export function inBounds(o: SceneObject, img: { width: number; height: number }): boolean {
  const b = shapeBox(o);
  return b[0] >= EDGE && b[1] >= EDGE && b[2] <= img.width - EDGE && b[3] <= img.height - EDGE;
}

/**
 * Builds one image's objects. Objects are placed apart from each other (the regime's gap) unless
 * they are deliberately laid over another one.
 */
export class ImageBuilder {
  /** Regions nothing else may be placed in (marker footprints). */
  readonly reserved: Box4[] = [];

  constructor(
    readonly img: SceneImage,
    private readonly rng: Rng,
    private readonly gap: number,
    private readonly ids: { next: number },
  ) {}

  newId(): number {
    return this.ids.next++;
  }

  /** Free of every existing object and reserved region, except those in `except`. */
  fits(box: readonly number[], except: ReadonlySet<SceneObject> = new Set()): boolean {
    for (const o of this.img.objects) if (!except.has(o) && boxesIntersect(shapeBox(o), box, this.gap)) return false;
    for (const r of this.reserved) if (boxesIntersect(r, box)) return false;
    return true;
  }

  /** Place a new object at a random free spot; null when none is found. */
  place(look: Look, r: number, id = this.newId()): SceneObject | null {
    const range = centreRange(look.shape, r, this.img);
    if (!range) return null;
    for (let i = 0; i < 40; i++) {
      const o: SceneObject = { id, ...look, cx: round2(this.rng.float(...range.x)), cy: round2(this.rng.float(...range.y)), r };
      if (this.fits(shapeBox(o))) {
        this.img.objects.push(o);
        return o;
      }
    }
    return null;
  }

  /** Place an object at a given centre if it fits; null otherwise. */
  placeAt(look: Look, r: number, cx: number, cy: number, id = this.newId()): SceneObject | null {
    const o: SceneObject = { id, ...look, cx: round2(cx), cy: round2(cy), r };
    if (!inBounds(o, this.img) || !this.fits(shapeBox(o))) return null;
    this.img.objects.push(o);
    return o;
  }

  /**
   * Lay a new object over `target` (drawn after it) so that it covers a fraction of the target within
   * `range`; the new object keeps clear of everything else. Returns it, or null.
   */
  occlude(target: SceneObject, look: Look, range: readonly [number, number]): SceneObject | null {
    const ti = this.img.objects.indexOf(target);
    for (let i = 0; i < 40; i++) {
      const r = round2(Math.max(MIN_R, target.r * this.rng.float(0.6, 1.1)));
      const a = this.rng.float(0, 2 * Math.PI);
      const d = (target.r + r) * this.rng.float(0.45, 0.95);
      const o: SceneObject = { id: -1, ...look, cx: round2(target.cx + d * Math.cos(a)), cy: round2(target.cy + d * Math.sin(a)), r };
      if (!inBounds(o, this.img) || !this.fits(shapeBox(o), new Set([target]))) continue;
      this.img.objects.push(o);
      const occ = visibility(this.img.objects, ti).occlusion;
      if (occ >= range[0] && occ <= range[1]) {
        o.id = this.newId();
        return o;
      }
      this.img.objects.pop();
    }
    return null;
  }

  /** Fill with up to `count` random distractors whose look `ok` accepts. */
  fill(count: number, sizes: readonly [number, number], nearProb: number, ok: (l: Look) => boolean): void {
    for (let i = 0; i < count; i++) {
      const look = randomLook(this.rng, nearProb, ok);
      if (!look) return;
      this.place(look, radiusFor(look.shape, this.rng.float(...sizes), this.img));
    }
  }
}
