/** Images: decoded in worker threads, letterboxed with a recorded mapping, bytes or paths, bad images. */
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, RecordError } from '../../../src/errors.js';
import { writeShards } from '../../../src/store/index.js';
import { boxFromResized, boxToResized, createLoader, mappingAt, resizePlan, type Batch, type LoaderOptions } from '../../../src/train/loader/index.js';
import { colourOf, digest, rowsOf, take, tempDir, writeCorpus } from './helpers.js';

const tmp = tempDir('loader-img');
afterAll(() => tmp.cleanup());
const N = 12;
let bytesDir = '';
let runDir = '';
let pathsDir = '';

beforeAll(async () => {
  bytesDir = await writeCorpus({ dir: join(tmp.dir, 'bytes'), rows: N, files: 2 });
  runDir = join(tmp.dir, 'run');
  pathsDir = await writeCorpus({ dir: join(runDir, 'corpus', 'sft'), rows: N, files: 2, pathsUnder: runDir });
});

const opts = (over: Partial<LoaderOptions<'SftRow'>> = {}): LoaderOptions<'SftRow'> => ({
  dirs: [bytesDir],
  kind: 'SftRow',
  batchSize: 4,
  seed: 1,
  epochs: 1,
  imageSize: 12,
  maxImages: 3,
  maxPromptTokens: 48,
  maxTargetTokens: 64,
  workers: 1,
  ...over,
});

async function all(over: Partial<LoaderOptions<'SftRow'>>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of await createLoader(opts(over))) out.push(b);
  return out;
}

const pixel = (b: Batch, r: number, k: number, x: number, y: number, S: number, M: number) => {
  const o = (((r * M + k) * S + y) * S + x) * 3;
  return [b.images[o]!, b.images[o + 1]!, b.images[o + 2]!].map((v) => Math.round(v * 255));
};

describe('decode', () => {
  it('puts each row\'s own images in its slots, letterboxed on black, with the mapping recorded', async () => {
    const S = 12;
    for (const b of await all({})) {
      for (let r = 0; r < b.size; r++) {
        const i = Number(b.ids[r]!.split('-')[1]);
        for (let k = 0; k < 3 && b.imageMask[r * 3 + k]; k++) {
          const w = b.imageSize[(r * 3 + k) * 2]!;
          const h = b.imageSize[(r * 3 + k) * 2 + 1]!;
          const m = mappingAt(b.imageScale, 3, r, k);
          // the image centre lands on the resized centre and shows the image's own colour
          const [cx, cy] = boxToResized([w / 2, h / 2, w / 2 + 1, h / 2 + 1], m);
          expect(pixel(b, r, k, Math.floor(cx), Math.floor(cy), S, 3)).toEqual(colourOf(i, k));
          // the whole image maps onto the content area; outside it is black (letterbox bars)
          const [x1, y1, x2, y2] = boxToResized([0, 0, w, h], m);
          expect(Math.min(x2 - x1, y2 - y1)).toBeGreaterThan(0);
          expect(Math.max(x2 - x1, y2 - y1)).toBeCloseTo(S, 4);
          if (y1 > 0) expect(pixel(b, r, k, 5, 0, S, 3)).toEqual([0, 0, 0]);
          if (x1 > 0) expect(pixel(b, r, k, 0, 5, S, 3)).toEqual([0, 0, 0]);
          expect(boxFromResized(boxToResized([1, 2, 7, 9], m), m).map((v) => Math.round(v * 1e3) / 1e3)).toEqual([1, 2, 7, 9]);
        }
      }
    }
  });

  it('stretch fills the square; letterbox plans keep the aspect ratio', async () => {
    expect(resizePlan(200, 100, 64, 'letterbox')).toEqual({ width: 64, height: 32, left: 0, top: 16, sx: 0.32, sy: 0.32 });
    expect(resizePlan(100, 300, 64, 'letterbox')).toMatchObject({ width: 21, height: 64, left: 21, top: 0 });
    const [b] = await all({ fit: 'stretch', batchSize: 1, shuffleBuffer: 1 });
    const i = Number(b!.ids[0]!.split('-')[1]);
    expect(pixel(b!, 0, 0, 0, 0, 12, 3)).toEqual(colourOf(i, 0));
    expect(pixel(b!, 0, 0, 11, 11, 12, 3)).toEqual(colourOf(i, 0));
  });

  it('decodes in worker threads, never on the main thread, spreading over the pool', async () => {
    const l = await createLoader(opts({ workers: 2, prefetch: 3 }));
    for await (const _ of l) void _;
    const threads = Object.keys(l.stats().decodeThreads).map(Number);
    expect(threads).not.toContain(threadId);
    expect(threads).toHaveLength(2);
    expect(Object.values(l.stats().decodeThreads).reduce((a, b) => a + b, 0)).toBe(l.stats().imagesDecoded);
  });

  it('embedded bytes and path rows (relative to imageBase) give identical batches', async () => {
    const a = await all({});
    const b = await all({ dirs: [pathsDir], imageBase: runDir });
    const strip = (x: Batch) => ({ ...digest(x) });
    expect(b.map(strip)).toEqual(a.map(strip));
    await expect(take(await createLoader(opts({ dirs: [pathsDir] })), 1)).rejects.toThrow(ConfigError);
  });

  it('an image whose decoded size differs from the row is an error naming row and file', async () => {
    const rows = await rowsOf({ dir: '', rows: 3, files: 1 });
    rows[1]!.imageWidth[0] = 99;
    const dir = join(tmp.dir, 'wrong-size');
    await writeShards('SftRow', rows as never, { dir, count: 1 });
    const l = await createLoader(opts({ dirs: [dir], shuffleBuffer: 1 }));
    const err = await take(l, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordError);
    expect((err as RecordError).describe()).toMatch(/decoded image is 16x24, the row says 99x24.*wrong-size[/\\]part-00000-of-00001\.parquet, row 1, record "r-1", field "images\[0\]"/);
  });
});

describe('corrupt images', () => {
  let bad = '';
  beforeAll(async () => {
    bad = await writeCorpus({ dir: join(tmp.dir, 'corrupt'), rows: 10, files: 2, corrupt: [3, 7] });
  });

  it('default: a RecordError naming the row id, shard file and image; workers are gone afterwards', async () => {
    const l = await createLoader(opts({ dirs: [bad] }));
    let err: unknown = null;
    try {
      for await (const _ of l) void _;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RecordError);
    const text = (err as RecordError).describe();
    expect(text).toMatch(/cannot decode image 0/);
    expect(text).toMatch(/record "r-[37]"/);
    expect(text).toMatch(/corrupt[/\\]part-0000\d-of-00002\.parquet/);
    expect(l.stats().liveWorkers).toBe(0);
  });

  it("onBadImage 'skip': the row is masked out, reported, and the rest is delivered", async () => {
    const skipped: string[] = [];
    const ids: string[] = [];
    const l = await createLoader(opts({ dirs: [bad], onBadImage: 'skip' }));
    for await (const b of l) {
      for (const s of b.skipped) skipped.push(s.id);
      for (let r = 0; r < b.size; r++) {
        if (b.rowMask[r]) ids.push(b.ids[r]!);
        else {
          expect(b.imageMask.subarray(r * 3, r * 3 + 3).every((v) => v === 0)).toBe(true);
          expect(b.targetMask.subarray(r * 64, (r + 1) * 64).every((v) => v === 0)).toBe(true);
        }
      }
    }
    expect(skipped.sort()).toEqual(['r-3', 'r-7']);
    expect(ids).toHaveLength(8);
    expect(l.stats().skipped).toBe(2);
  });
});

describe('png edge cases', () => {
  it('greyscale and RGBA images come out as 3-channel RGB', async () => {
    const rows = await rowsOf({ dir: '', rows: 2, files: 1 });
    const grey = await sharp({ create: { width: 24, height: 16, channels: 3, background: { r: 100, g: 100, b: 100 } } }).greyscale().png().toBuffer();
    const rgba = await sharp({ create: { width: 16, height: 24, channels: 4, background: { r: 200, g: 10, b: 20, alpha: 1 } } }).png().toBuffer();
    rows[0]!.images = [{ bytes: new Uint8Array(grey), path: null }];
    rows[0]!.imageWidth = [24];
    rows[0]!.imageHeight = [16];
    rows[0]!.imageSha256 = [rows[0]!.imageSha256[0]!];
    rows[0]!.targetImage = 0;
    rows[1]!.images[0] = { bytes: new Uint8Array(rgba), path: null };
    const dir = join(tmp.dir, 'channels');
    await writeShards('SftRow', rows as never, { dir, count: 1 });
    const got = new Map<string, number[]>();
    for (const b of await all({ dirs: [dir], batchSize: 2 })) for (let r = 0; r < b.size; r++) got.set(b.ids[r]!, pixel(b, r, 0, 6, 6, 12, 3));
    expect(got.get('r-0')).toEqual([100, 100, 100]);
    expect(got.get('r-1')).toEqual([200, 10, 20]);
  });
});

describe('decoded-image cache', () => {
  it('later epochs reuse decoded images, and batches are identical with the cache on or off', async () => {
    const on = await createLoader(opts({ epochs: 2 }));
    const withCache: Batch[] = [];
    for await (const b of on) withCache.push(b);
    const off = await createLoader(opts({ epochs: 2, imageCacheBytes: 0 }));
    const without: Batch[] = [];
    for await (const b of off) without.push(b);
    expect(withCache.map(digest)).toEqual(without.map(digest));
    const images = withCache.filter((b) => b.epoch === 0).reduce((s, b) => s + b.imageMask.reduce((x, y) => x + y, 0), 0);
    expect(on.stats().imagesDecoded).toBe(images);
    expect(on.stats().cacheHits).toBe(images);
    // without a cache only an identical decode already in flight is shared
    expect(off.stats().imagesDecoded + off.stats().cacheHits).toBe(2 * images);
    expect(off.stats().imagesDecoded).toBeGreaterThan(1.5 * images);
  });

  it('evicts least recently used entries past its byte budget', async () => {
    const { PixelCache } = await import('../../../src/train/loader/cache.js');
    const c = new PixelCache(300);
    const img = () => ({ pixels: new Uint8Array(100), width: 1, height: 1 });
    c.set('a', img());
    c.set('b', img());
    c.set('c', img());
    expect(c.get('a')).toBeDefined(); // a is now the most recent
    c.set('d', img());
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBeDefined();
    expect(c.size).toBe(300);
  });
});
