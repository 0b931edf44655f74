/**
 * What the vision tower learns before SFT, per cell of a G x G grid over each image: whether an object's
 * centre lies in the cell, and for that object its colour, whether it is a near shade, its shape, whether
 * the image's red marker surrounds it, and its visible box (0-1000 units of the image). The synthetic
 * suite's scene file has all of it; for a corpus of real samples only the target's cell and box are known
 * (`targetOnly`).
 *
 * An object is assigned to the cell holding the centre of its visible box; when two centres share a cell,
 * the one drawn later (on top) keeps it. Pure data in, data out.
 */
import { COLOR_NAMES, SHAPES, markedObjects, visibility, type SceneImage } from '../../sources/synthetic/index.js';

export interface CellTargets {
  /** Cells per side. */
  grid: number;
  /** [G*G] 1 where an object's centre falls. */
  object: Uint8Array;
  /** [G*G] colour index (COLOR_NAMES), shape index (SHAPES), near shade, marked; -1 / 0 where unknown. */
  color: Int32Array;
  shape: Int32Array;
  near: Uint8Array;
  marked: Uint8Array;
  /** [G*G*4] visible box of the cell's object, 0-1000. */
  box: Float32Array;
  /** Whether attributes are known (synthetic scenes) or only objectness and boxes (a target box). */
  attributes: boolean;
}

/** Fewer visible pixels than this and an object is not something to find. */
const MIN_VISIBLE_PX = 12;

function empty(grid: number, attributes: boolean): CellTargets {
  const n = grid * grid;
  return { grid, object: new Uint8Array(n), color: new Int32Array(n).fill(-1), shape: new Int32Array(n).fill(-1), near: new Uint8Array(n), marked: new Uint8Array(n), box: new Float32Array(n * 4), attributes };
}

/** Cell of a box centre (pixels of a W x H image). */
function cellOf(box: readonly number[], W: number, H: number, grid: number): number {
  const cx = (box[0]! + box[2]!) / 2 / W;
  const cy = (box[1]! + box[3]!) / 2 / H;
  const q = Math.min(grid - 1, Math.max(0, Math.floor(cx * grid)));
  const r = Math.min(grid - 1, Math.max(0, Math.floor(cy * grid)));
  return r * grid + q;
}

function put(t: CellTargets, cell: number, box: readonly number[], W: number, H: number): void {
  t.object[cell] = 1;
  t.box.set([(box[0]! / W) * 1000, (box[1]! / H) * 1000, (box[2]! / W) * 1000, (box[3]! / H) * 1000], cell * 4);
}

/** Targets of one synthetic image from its scene. */
export function sceneTargets(img: SceneImage, grid: number): CellTargets {
  const t = empty(grid, true);
  const marked = new Set(markedObjects(img).map((o) => o.id));
  img.objects.forEach((o, i) => {
    const v = visibility(img.objects, i);
    if (!v.box || v.visible < MIN_VISIBLE_PX) return;
    const cell = cellOf(v.box, img.width, img.height, grid);
    put(t, cell, v.box, img.width, img.height);
    t.color[cell] = COLOR_NAMES.indexOf(o.color);
    t.shape[cell] = SHAPES.indexOf(o.shape);
    t.near[cell] = o.near ? 1 : 0;
    t.marked[cell] = marked.has(o.id) ? 1 : 0;
  });
  return t;
}

/** Targets from one known box (a real corpus: the ground truth of the target image). */
export function boxTargets(box: readonly number[], W: number, H: number, grid: number): CellTargets {
  const t = empty(grid, false);
  put(t, cellOf(box, W, H, grid), box, W, H);
  return t;
}

export const COLOR_CLASSES = COLOR_NAMES.length;
export const SHAPE_CLASSES = SHAPES.length;
