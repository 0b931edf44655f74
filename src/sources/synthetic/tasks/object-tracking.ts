/**
 * object_tracking: frames of one scene (same size and background) in which every object moves at a
 * constant velocity. The tracked object is boxed in red in frame 1 and the question carries that box
 * in Qwen2-VL 0-1000 coordinates of frame 1; locate the object in frame k.
 */
import { fromPixels } from '../../../geometry/index.js';
import { EDGE, type Look, MIN_R, centreRange, emptyImage, markerFootprint, radiusFor, sampleSize } from '../layout.js';
import { type Box4, type SceneImage, type SceneObject, boxesIntersect, keyOf, visibility } from '../scene.js';
import { shapeBox } from '../shapes.js';
import { MAX_STEP } from '../verify.js';
import { type Builder, namedLook, relatedLook, targetRadius } from './common.js';
import type { Rng } from '../rng.js';

interface Track {
  id: number;
  look: Look;
  r: number;
  p0: [number, number];
  v: [number, number];
}

const round2 = (v: number) => Math.round(v * 100) / 100;

function at(tr: Track, k: number): SceneObject {
  return { id: tr.id, ...tr.look, cx: round2(tr.p0[0] + k * tr.v[0]), cy: round2(tr.p0[1] + k * tr.v[1]), r: tr.r };
}

export const buildObjectTracking: Builder = (ctx) => {
  const { rng, regime } = ctx;
  const n = rng.int(2, 6);
  const t = rng.int(1, n - 1);
  const base = emptyImage(rng, sampleSize(rng), ctx.tileSeed);
  const size = { width: base.width, height: base.height };
  const minSide = Math.min(size.width, size.height);
  const tracks: Track[] = [];
  let footprint: Box4 | null = null;
  let nextId = 1;

  /** Inside the image and clear of every track in every frame (but those in `except`) and of the frame-1 marker. */
  const clear = (tr: Track, except: ReadonlySet<Track>) => {
    for (let k = 0; k < n; k++) {
      const box = shapeBox(at(tr, k));
      if (box[0] < EDGE || box[1] < EDGE || box[2] > size.width - EDGE || box[3] > size.height - EDGE) return false;
      for (const e of tracks) if (!except.has(e) && boxesIntersect(box, shapeBox(at(e, k)), regime.gap)) return false;
      if (k === 0 && footprint && boxesIntersect(box, footprint)) return false;
    }
    return true;
  };

  const velocity = (r: Rng): [number, number] => {
    const speed = r.float(0.015, MAX_STEP * 0.8) * minSide;
    const a = r.float(0, 2 * Math.PI);
    return [speed * Math.cos(a), speed * Math.sin(a)];
  };

  /** A track with a random start and velocity that stays in the image and clear of the others. */
  const addTrack = (look: Look, r: number): Track | null => {
    const range = centreRange(look.shape, r, size);
    if (!range) return null;
    for (let i = 0; i < 30; i++) {
      const v = velocity(rng);
      const span = (lo: number, hi: number, d: number): [number, number] => [lo - Math.min(0, (n - 1) * d), hi - Math.max(0, (n - 1) * d)];
      const xs = span(...range.x, v[0]);
      const ys = span(...range.y, v[1]);
      if (xs[0] > xs[1] || ys[0] > ys[1]) continue;
      const tr: Track = { id: nextId, look, r, p0: [rng.float(...xs), rng.float(...ys)], v };
      if (clear(tr, new Set())) {
        nextId++;
        tracks.push(tr);
        return tr;
      }
    }
    return null;
  };

  const look = namedLook(rng);
  const tracked = addTrack(look, targetRadius(ctx, look, base));
  if (!tracked) return null;
  footprint = markerFootprint(shapeBox(at(tracked, 0)));
  const notSame = (l: Look) => keyOf(l) !== keyOf(look);

  if (rng.chance(regime.occluderProb)) addOccluder(rng, tracked, t, regime.occlusion, notSame, regime.nearProb);
  if (rng.chance(regime.twinProb)) addTrack({ ...look, near: true }, Math.max(MIN_R, tracked.r * rng.float(0.8, 1.2)));
  const count = rng.int(...regime.distractors);
  for (let i = 0; i < count; i++) {
    const l = relatedLook(rng, look, regime.nearProb, notSame);
    if (l) addTrack(l, radiusFor(l.shape, rng.float(...regime.distractorSize), size));
  }

  const frames: SceneImage[] = [];
  for (let k = 0; k < n; k++) frames.push({ ...size, background: base.background, objects: tracks.map((tr) => at(tr, k)), marker: k === 0 ? shapeBox(at(tracked, 0)) : null });
  const markerBox1000 = fromPixels(frames[0]!.marker!, 'qwen2vl', size);
  return {
    task: 'object_tracking',
    question: { task: 'object_tracking', target: t, markerBox1000 },
    images: frames,
    target: { image: t, objectId: tracked.id },
    detail: { frames: n },
  };

  /** An object whose path crosses over the tracked one in frame t (drawn above it). */
  function addOccluder(r: Rng, tr: Track, k: number, range: readonly [number, number], ok: (l: Look) => boolean, nearProb: number): void {
    const l = relatedLook(r, tr.look, nearProb, ok);
    if (!l) return;
    const goal = at(tr, k);
    for (let i = 0; i < 30; i++) {
      const ro = round2(Math.max(MIN_R, tr.r * r.float(0.6, 1.1)));
      const a = r.float(0, 2 * Math.PI);
      const d = (tr.r + ro) * r.float(0.45, 0.95);
      const v = velocity(r);
      const pk: [number, number] = [goal.cx + d * Math.cos(a), goal.cy + d * Math.sin(a)];
      const occ: Track = { id: nextId, look: l, r: ro, p0: [pk[0] - k * v[0], pk[1] - k * v[1]], v };
      if (!clear(occ, new Set([tr]))) continue;
      const o = visibility([goal, at(occ, k)], 0).occlusion;
      if (o < range[0] || o > range[1]) continue;
      nextId++;
      tracks.push(occ);
      return;
    }
  }
};
