/**
 * Content-addressed image store: `root/ab/abcdef…<ext>`, keyed by the sha256 of the bytes. Writes go to
 * a temp name and are renamed, so a reader never sees half an image; storing the same bytes twice is a
 * no-op. Lookups without the extension scan only the two-hex-digit directory of that hash.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { InputError, ShardError } from '../errors.js';
import { isNotFound, pathExists as exists } from './fsutil.js';
import { tempFileName } from './names.js';

const SHA = /^[0-9a-f]{64}$/;

/** Normalize an extension to `.xyz` lowercase (or '' for none); anything odd is refused rather than stored. */
function normExt(ext: string | undefined): string {
  if (!ext) return '';
  const e = (ext.startsWith('.') ? ext : `.${ext}`).toLowerCase();
  if (!/^\.[a-z0-9]{1,10}$/.test(e)) throw new InputError(`image extension ${JSON.stringify(ext)} is not letters/digits`);
  return e;
}

function checkSha(sha: string): void {
  if (!SHA.test(sha)) throw new InputError(`not a sha256 (64 lowercase hex characters): ${JSON.stringify(sha)}`);
}

export interface StoredImage {
  sha256: string;
  /** Absolute or root-relative path, as `root` was given. */
  path: string;
}

export class ImageStore {
  constructor(readonly root: string) {}

  private dirOf(sha: string): string {
    return join(this.root, sha.slice(0, 2));
  }

  /** Where the image with this hash lives (or would live) for extension `ext`. */
  pathOf(sha: string, ext?: string): string {
    checkSha(sha);
    return join(this.dirOf(sha), sha + normExt(ext));
  }

  /** Find the stored file of `sha` whatever its extension; null when absent. */
  async locate(sha: string, ext?: string): Promise<string | null> {
    checkSha(sha);
    if (ext !== undefined) {
      const p = this.pathOf(sha, ext);
      if (await exists(p)) return p;
    }
    let names: string[];
    try {
      names = await readdir(this.dirOf(sha));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    const hit = names.find((n) => n === sha || (n.startsWith(sha) && n[64] === '.'));
    return hit ? join(this.dirOf(sha), hit) : null;
  }

  async has(sha: string, ext?: string): Promise<boolean> {
    return (await this.locate(sha, ext)) !== null;
  }

  /** Store bytes; returns their hash and path. Idempotent: existing content is not rewritten. */
  async put(bytes: Uint8Array, ext?: string): Promise<StoredImage> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const path = this.pathOf(sha256, ext);
    if (await exists(path)) return { sha256, path };
    await mkdir(this.dirOf(sha256), { recursive: true });
    const tmp = join(this.dirOf(sha256), tempFileName(sha256));
    try {
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { sha256, path };
  }

  /** Copy a file into the store, hashing while copying (one read of the source). Extension from the source name. */
  async putFile(src: string): Promise<StoredImage & { bytes: number }> {
    const ext = extname(src);
    await mkdir(this.root, { recursive: true });
    const tmp = join(this.root, tempFileName('incoming'));
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      const fh = await open(tmp, 'w');
      try {
        for await (const chunk of createReadStream(src, { highWaterMark: 1 << 20 })) {
          hash.update(chunk as Buffer);
          bytes += (chunk as Buffer).length;
          await fh.write(chunk as Buffer);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      await rm(tmp, { force: true });
      if (isNotFound(err)) throw new InputError('image file not found', { file: src });
      throw err;
    }
    const sha256 = hash.digest('hex');
    const path = this.pathOf(sha256, ext);
    try {
      if (await exists(path)) {
        await rm(tmp, { force: true });
      } else {
        await mkdir(this.dirOf(sha256), { recursive: true });
        await rename(tmp, path);
      }
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { sha256, path, bytes };
  }

  /**
   * The bytes of `sha`. A missing image is an InputError; with `verify`, bytes that no longer hash to
   * `sha` are a ShardError (the store was corrupted).
   */
  async get(sha: string, opts: { ext?: string; verify?: boolean } = {}): Promise<Buffer> {
    const path = await this.locate(sha, opts.ext);
    if (!path) throw new InputError('image is not in the image store', { sha256: sha, file: this.pathOf(sha, opts.ext) });
    const buf = await readFile(path);
    if (opts.verify && createHash('sha256').update(buf).digest('hex') !== sha)
      throw new ShardError('stored image bytes do not match their sha256 (corrupted)', { file: path, sha256: sha });
    return buf;
  }

  /** Size in bytes of a stored image, or null. */
  async size(sha: string, ext?: string): Promise<number | null> {
    const p = await this.locate(sha, ext);
    return p ? (await stat(p)).size : null;
  }
}
