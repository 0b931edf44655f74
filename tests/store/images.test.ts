import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError, ShardError } from '../../src/errors.js';
import { ImageStore } from '../../src/store/index.js';
import { fakeImage, tempDir } from './helpers.js';

const tmp = tempDir('images');
afterAll(() => tmp.cleanup());
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('ImageStore', () => {
  const store = new ImageStore(join(tmp.dir, 'store'));

  it('stores bytes under root/ab/<sha256><ext> and reads them back', async () => {
    const bytes = fakeImage(1, 1000);
    const put = await store.put(bytes, 'PNG');
    expect(put.sha256).toBe(sha(bytes));
    expect(put.path).toBe(join(tmp.dir, 'store', put.sha256.slice(0, 2), `${put.sha256}.png`));
    expect(new Uint8Array(readFileSync(put.path))).toEqual(bytes);
    expect(await store.has(put.sha256)).toBe(true);
    expect(new Uint8Array(await store.get(put.sha256))).toEqual(bytes);
    expect(store.pathOf(put.sha256, '.png')).toBe(put.path);
    expect(await store.size(put.sha256)).toBe(1000);
  });

  it('is idempotent: the same bytes are written once and not rewritten', async () => {
    const bytes = fakeImage(2, 500);
    const a = await store.put(bytes, '.jpg');
    const mtime = statSync(a.path).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    const b = await store.put(bytes, '.jpg');
    expect(b).toEqual(a);
    expect(statSync(a.path).mtimeMs).toBe(mtime);
    expect(readdirSync(join(tmp.dir, 'store', a.sha256.slice(0, 2))).filter((n) => n.startsWith(a.sha256))).toEqual([`${a.sha256}.jpg`]);
  });

  it('putFile copies a file while hashing it, keeping its extension', async () => {
    const src = join(tmp.dir, 'photo.JPEG');
    const bytes = fakeImage(3, 3 << 20);
    writeFileSync(src, bytes);
    const got = await store.putFile(src);
    expect(got).toEqual({ sha256: sha(bytes), path: store.pathOf(sha(bytes), '.jpeg'), bytes: bytes.length });
    expect(readFileSync(got.path).equals(Buffer.from(bytes))).toBe(true);
    expect(readdirSync(join(tmp.dir, 'store')).some((n) => n.endsWith('.tmp'))).toBe(false);
    await expect(store.putFile(join(tmp.dir, 'missing.png'))).rejects.toBeInstanceOf(InputError);
  });

  it('a missing image is an InputError; corrupted bytes are caught with verify', async () => {
    const absent = 'f'.repeat(64);
    expect(await store.has(absent)).toBe(false);
    await expect(store.get(absent)).rejects.toBeInstanceOf(InputError);
    const put = await store.put(fakeImage(4, 100));
    writeFileSync(put.path, 'tampered');
    await expect(store.get(put.sha256, { verify: true })).rejects.toBeInstanceOf(ShardError);
    expect(() => store.pathOf('not-a-hash')).toThrow(InputError);
    await expect(store.put(fakeImage(5), '../x')).rejects.toBeInstanceOf(InputError);
  });
});
