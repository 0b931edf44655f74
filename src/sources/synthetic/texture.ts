/**
 * Background textures: one grey tile per (tile seed, kind), generated once and cut into image
 * backgrounds by offset. Generating noise per image would cost more than rendering the image; a
 * shared tile costs nothing after the first use, and offsets keep every background different.
 */
import { hash32, makeRng, STREAM } from './rng.js';
import { TILE_KINDS, type TileKind } from './scene.js';

/** Side of a tile in pixels: larger than any image side (1024), so any offset in range fits. */
export const TILE_SIZE = 1536;

/** Tiles kept in memory (2.4 MB each); a suite uses one seed, so 6 tiles. */
const CACHE_LIMIT = 12;
const cache = new Map<string, Buffer>();

/** The grey tile (TILE_SIZE x TILE_SIZE, one byte per pixel) for a seed and kind. */
export function textureTile(tileSeed: number, kind: TileKind): Buffer {
  const key = `${tileSeed}:${kind}`;
  let tile = cache.get(key);
  if (!tile) {
    tile = makeTile(tileSeed, kind);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(key, tile);
  }
  return tile;
}

function makeTile(tileSeed: number, kind: TileKind): Buffer {
  const N = TILE_SIZE;
  const rng = makeRng(tileSeed, STREAM.tiles, TILE_KINDS.indexOf(kind));
  const out = Buffer.alloc(N * N);
  const pattern = patternFn(kind, rng.next.bind(rng), tileSeed);
  // A broad ramp in a random direction: different cut-outs get different shading.
  const ga = rng.float(0, 2 * Math.PI);
  const gx = (Math.cos(ga) * 24) / N;
  const gy = (Math.sin(ga) * 24) / N;
  // Fine sensor-like noise from a xorshift stream (cheaper than the sample Rng, same determinism).
  let s = hash32(tileSeed, 0x5eed, TILE_KINDS.indexOf(kind)) | 1;
  const amp = kind === 'noise' ? 20 : 10;
  for (let y = 0; y < N; y++) {
    for (let x = 0; x < N; x++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      const n = ((s >>> 0) / 4294967296 - 0.5) * amp;
      const v = 150 + pattern(x, y) + (x - N / 2) * gx + (y - N / 2) * gy + n;
      out[y * N + x] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
    }
  }
  return out;
}

/** The kind's texture as an offset (about -25..25) from mid-grey. */
function patternFn(kind: TileKind, next: () => number, seed: number): (x: number, y: number) => number {
  switch (kind) {
    case 'noise':
      return () => 0;
    case 'clouds': {
      const coarse = valueNoise(next, 96);
      const fine = valueNoise(next, 24);
      return (x, y) => 28 * coarse(x, y) + 10 * fine(x, y);
    }
    case 'stripes':
    case 'weave': {
      const period = 10 + Math.floor(next() * 18);
      const a = next() * Math.PI;
      const [c, s] = [Math.cos(a), Math.sin(a)];
      const lut = Float64Array.from({ length: 256 }, (_, i) => Math.sin((2 * Math.PI * i) / 256));
      const wave = (t: number) => lut[Math.floor(((t / period) * 256) & 255)]!;
      return kind === 'stripes' ? (x, y) => 16 * wave(x * c + y * s) : (x, y) => 10 * wave(x * c + y * s) + 10 * wave(y * c - x * s);
    }
    case 'checks': {
      const cell = 12 + Math.floor(next() * 28);
      return (x, y) => ((Math.floor(x / cell) + Math.floor(y / cell)) & 1 ? 11 : -11);
    }
    case 'dots': {
      const cell = 14 + Math.floor(next() * 18);
      const rad = cell * (0.18 + next() * 0.15);
      const r2 = rad * rad;
      const jitter = seed & 7;
      return (x, y) => {
        const dx = ((x + jitter) % cell) - cell / 2;
        const dy = ((y + jitter) % cell) - cell / 2;
        return dx * dx + dy * dy <= r2 ? -20 : 4;
      };
    }
  }
}

/**
 * Smooth value noise in [-1, 1] on a lattice of `cell` pixels (bilinear with smoothstep), evaluated
 * once into a full-tile table: a per-pixel closure over the lattice is ~50x slower.
 */
function valueNoise(next: () => number, cell: number): (x: number, y: number) => number {
  const N = TILE_SIZE;
  const n = Math.ceil(N / cell) + 2;
  const grid = Float64Array.from({ length: n * n }, () => next() * 2 - 1);
  const w = new Float64Array(N);
  const ix = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    const g = i / cell;
    ix[i] = Math.floor(g);
    const f = g - ix[i]!;
    w[i] = f * f * (3 - 2 * f);
  }
  const out = new Float32Array(N * N);
  const row = new Float64Array(n);
  for (let y = 0; y < N; y++) {
    const j = ix[y]!;
    const fy = w[y]!;
    for (let i = 0; i < n; i++) row[i] = grid[j * n + i]! + (grid[(j + 1) * n + i]! - grid[j * n + i]!) * fy;
    for (let x = 0; x < N; x++) {
      const i = ix[x]!;
      out[y * N + x] = row[i]! + (row[i + 1]! - row[i]!) * w[x]!;
    }
  }
  return (x, y) => out[y * N + x]!;
}
