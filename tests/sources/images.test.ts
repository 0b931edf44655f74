import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageCatalog, resolveUnderRoot } from '../../src/sources/images.js';

const FIX = join(import.meta.dirname, '..', '..', 'datasets', 'fixtures', 'mgrounding');
const SA1 = './MGrounding-630k/Group_Grounding/SA-1B/sa_1.png';

/** A temp tree: root/ (a copy of the fixture images) next to outside/ (with a FIFO nobody writes to). */
const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function sandbox() {
  const base = mkdtempSync(join(tmpdir(), 'univg-img-'));
  made.push(base);
  const root = join(base, 'root');
  cpSync(FIX, root, { recursive: true });
  const outside = join(base, 'outside');
  mkdirSync(outside);
  // Opening a FIFO for reading blocks until a writer appears, so a lookup that opened it would hang
  // (and time the test out) instead of returning.
  execFileSync('mkfifo', [join(outside, 'trap.png')]);
  writeFileSync(join(outside, 'real.png'), readFileSync(join(root, SA1)));
  return { base, root, outside };
}

describe('resolveUnderRoot', () => {
  it('refuses absolute paths and .. that climbs out, on the text alone', () => {
    expect(resolveUnderRoot('/data/root', './a/b.png')).toEqual({ ok: true, path: '/data/root/a/b.png' });
    expect(resolveUnderRoot('/data/root', 'a/../b.png')).toEqual({ ok: true, path: '/data/root/b.png' });
    for (const p of ['../x.png', 'a/../../x.png', '/etc/passwd', 'C:\\x.png', '\\\\server\\share\\x.png']) {
      expect(resolveUnderRoot('/data/root', p)).toMatchObject({ ok: false, reason: 'path_escapes_root' });
    }
  });
});

describe('ImageCatalog', () => {
  it('reports sha256 of the bytes and the size from the header', async () => {
    const cat = await ImageCatalog.open(FIX);
    const r = await cat.lookup(SA1);
    const bytes = readFileSync(join(FIX, SA1));
    expect(r).toMatchObject({ ok: true, width: 500, height: 250, format: 'png', bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  });

  it('reads each image once and serves repeats from the cache', async () => {
    const cat = await ImageCatalog.open(FIX);
    const results = await Promise.all([SA1, SA1, './MGrounding-630k/Group_Grounding/SA-1B/../SA-1B/sa_1.png', SA1].map((p) => cat.lookup(p)));
    expect(new Set(results.map((r) => (r.ok ? r.sha256 : r.reason))).size).toBe(1);
    expect(cat.stats.reads).toBe(1);
    expect(cat.stats.hits).toBe(3);
  });

  it('keeps the cache bounded (LRU) and the number of reads in flight bounded', async () => {
    const paths = ['sa_1', 'sa_2', 'sa_3', 'sa_4'].map((n) => `./MGrounding-630k/Group_Grounding/SA-1B/${n}.png`);
    const cat = await ImageCatalog.open(FIX, { cacheSize: 2, concurrency: 2 });
    await Promise.all(paths.map((p) => cat.lookup(p)));
    expect(cat.stats.evictions).toBe(2);
    expect(cat.stats.maxInFlight).toBeLessThanOrEqual(2);
    await cat.lookup(paths[3]!); // still cached
    expect(cat.stats.reads).toBe(4);
    await cat.lookup(paths[0]!); // evicted: read again
    expect(cat.stats.reads).toBe(5);
  });

  it('classifies missing, unreadable and non-regular files', async () => {
    const { root } = sandbox();
    mkdirSync(join(root, 'adir.png'));
    execFileSync('mkfifo', [join(root, 'inside-fifo.png')]);
    const cat = await ImageCatalog.open(root);
    expect(await cat.lookup('./nope.png')).toMatchObject({ ok: false, reason: 'image_missing' });
    expect(await cat.lookup('./MGrounding-630k/Common_Object/COCO/broken.png')).toMatchObject({ ok: false, reason: 'image_unreadable' });
    expect(await cat.lookup('./adir.png')).toMatchObject({ ok: false, reason: 'image_unreadable' });
    // A FIFO inside the root is not read either (it would block): it is not a regular file.
    expect(await cat.lookup('./inside-fifo.png')).toMatchObject({ ok: false, reason: 'image_unreadable' });
    expect(cat.stats.reads).toBe(1); // only broken.png was actually read
  }, 15_000);

  it('decodes every image in full: a PNG or JPEG cut short (header intact) is image_unreadable, with its path', async () => {
    const { root } = sandbox();
    const png = readFileSync(join(root, SA1));
    writeFileSync(join(root, 'half.png'), png.subarray(0, Math.floor(png.length / 2)));
    const jpeg = await sharp(png).jpeg().toBuffer();
    writeFileSync(join(root, 'half.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    // The headers still read: only a full decode can tell.
    expect((await sharp(join(root, 'half.png')).metadata()).width).toBe(500);
    const cat = await ImageCatalog.open(root);
    for (const p of ['./half.png', './half.jpg']) {
      const r = await cat.lookup(p);
      expect(r, p).toMatchObject({ ok: false, reason: 'image_unreadable' });
      expect((r as { detail: string }).detail).toContain(JSON.stringify(p));
    }
    expect(await cat.lookup(SA1)).toMatchObject({ ok: true, width: 500, height: 250 });
  });

  it('refuses symlinks that lead out of the root without opening their target', async () => {
    const { root, outside } = sandbox();
    symlinkSync(join(outside, 'trap.png'), join(root, 'link-to-fifo.png'));
    symlinkSync(join(outside, 'real.png'), join(root, 'link-to-real.png'));
    symlinkSync(outside, join(root, 'dirlink'));
    // A link that stays inside the root is fine.
    symlinkSync(join(root, SA1), join(root, 'inside-link.png'));
    const cat = await ImageCatalog.open(root);
    expect(await cat.lookup('./link-to-fifo.png')).toMatchObject({ ok: false, reason: 'path_escapes_root' });
    expect(await cat.lookup('./link-to-real.png')).toMatchObject({ ok: false, reason: 'path_escapes_root' });
    expect(await cat.lookup('./dirlink/trap.png')).toMatchObject({ ok: false, reason: 'path_escapes_root' });
    expect(await cat.lookup('../outside/trap.png')).toMatchObject({ ok: false, reason: 'path_escapes_root' });
    expect(await cat.lookup(join(outside, 'trap.png'))).toMatchObject({ ok: false, reason: 'path_escapes_root' });
    expect(cat.stats.reads).toBe(0);
    expect(await cat.lookup('./inside-link.png')).toMatchObject({ ok: true, width: 500, height: 250 });
    expect(cat.stats.reads).toBe(1);
  }, 15_000);

  it('works when the image root itself is reached through a symlink', async () => {
    const { base, root } = sandbox();
    symlinkSync(root, join(base, 'root-link'));
    const cat = await ImageCatalog.open(join(base, 'root-link'));
    expect(await cat.lookup(SA1)).toMatchObject({ ok: true, width: 500 });
  });

  it('refuses a missing image root with an InputError', async () => {
    await expect(ImageCatalog.open('/nonexistent/images')).rejects.toMatchObject({ code: 'input', context: { file: '/nonexistent/images' } });
  });
});
