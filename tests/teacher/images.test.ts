import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { smartResize } from '../../src/geometry/index.js';
import { ImagePreparer } from '../../src/teacher/images.js';
import { rectImage } from './fixtures/samples.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const decode = (url: string) => {
  const m = /^data:([^;]+);base64,(.*)$/.exec(url)!;
  return { mime: m[1]!, bytes: Buffer.from(m[2]!, 'base64') };
};

async function setup(maxBytes = 1 << 30, budget = { minPixels: 3136, maxPixels: 100_000 }) {
  const png = await rectImage(500, 300, [10, 10, 60, 60], 'png');
  const jpg = await rectImage(400, 400, [10, 10, 60, 60], 'jpeg');
  const exact = await rectImage(280, 196, [10, 10, 60, 60], 'png'); // multiples of 28, inside the budget
  const store = new Map([png, jpg, exact].map((b) => [sha(b), b]));
  let loads = 0;
  const prep = new ImagePreparer({
    loader: async (h) => {
      loads++;
      return store.get(h)!;
    },
    ...budget,
    maxBytes,
  });
  const ref = (b: Buffer, w: number, h: number) => ({ sha256: sha(b), path: 'x', width: w, height: h });
  return { prep, png: ref(png, 500, 300), jpg: ref(jpg, 400, 400), exact: ref(exact, 280, 196), exactBytes: exact, loads: () => loads };
}

describe('ImagePreparer', () => {
  it('resizes to the smart-resize size, PNG stays PNG and JPEG stays JPEG with the right MIME type', async () => {
    const { prep, png, jpg } = await setup();
    for (const [ref, mime, fmt] of [[png, 'image/png', 'png'], [jpg, 'image/jpeg', 'jpeg']] as const) {
      const out = await prep.prepare(ref);
      const want = smartResize(ref.width, ref.height, { minPixels: 3136, maxPixels: 100_000 });
      expect({ w: out.width, h: out.height }).toEqual({ w: want.width, h: want.height });
      const { mime: m, bytes } = decode(out.dataUrl);
      expect(m).toBe(mime);
      const meta = await sharp(bytes).metadata();
      expect(meta.format).toBe(fmt);
      expect({ w: meta.width, h: meta.height }).toEqual({ w: want.width, h: want.height });
    }
  });

  it('sends an image already at its target size unchanged', async () => {
    const { prep, exact, exactBytes } = await setup();
    const out = await prep.prepare(exact);
    expect(out.passthrough).toBe(true);
    expect(decode(out.dataUrl).bytes.equals(exactBytes)).toBe(true);
  });

  it('loads and encodes each image once, also when asked concurrently', async () => {
    const { prep, png, loads } = await setup();
    const outs = await Promise.all([prep.prepare(png), prep.prepare(png), prep.prepare(png)]);
    await prep.prepare(png);
    expect(loads()).toBe(1);
    expect(new Set(outs.map((o) => o.dataUrl)).size).toBe(1);
    expect(prep.stats().hits).toBe(1);
  });

  it('keeps the LRU under its byte budget, evicting the least recently used', async () => {
    const probe = await setup();
    const sizes = await Promise.all([probe.png, probe.jpg, probe.exact].map(async (r) => (await probe.prep.prepare(r)).dataUrl.length));
    const budget = sizes[0]! + Math.max(sizes[1]!, sizes[2]!) + 10;
    const { prep, png, jpg, exact, loads } = await setup(budget);
    await prep.prepare(png);
    await prep.prepare(jpg);
    await prep.prepare(png); // png is now the most recent
    await prep.prepare(exact); // evicts jpg
    expect(prep.stats().bytes).toBeLessThanOrEqual(budget);
    expect(prep.stats().evicted).toBe(1);
    const before = loads();
    await prep.prepare(png);
    expect(loads()).toBe(before);
    await prep.prepare(jpg);
    expect(loads()).toBe(before + 1);
  });

  it('refuses bytes that do not match the hash or the recorded size, naming the file', async () => {
    const png = await rectImage(50, 30, [1, 1, 9, 9], 'png');
    const liar = new ImagePreparer({ loader: async () => png, minPixels: 3136, maxPixels: 100_000, maxBytes: 1e9 });
    const e1 = await liar.prepare({ sha256: 'e'.repeat(64), path: 'a/b.png', width: 50, height: 30 }).catch((e) => e);
    expect(e1).toBeInstanceOf(InputError);
    expect((e1 as InputError).describe()).toMatch(/do not match their hash.*\(a\/b\.png\)/);
    const broken = new ImagePreparer({ loader: async () => { throw new Error('ENOENT'); }, minPixels: 3136, maxPixels: 100_000, maxBytes: 1e9 });
    await expect(broken.prepare({ sha256: 'e'.repeat(64), path: 'gone.png', width: 50, height: 30 })).rejects.toBeInstanceOf(InputError);
    const wrongSize = await setup();
    const err = await wrongSize.prep.prepare({ ...wrongSize.png, width: 501 }).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).describe()).toMatch(/500x300 but the record says 501x300/);
  });
});
