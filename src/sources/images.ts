/**
 * Image files referenced by source records: resolved against an image root (never outside it), hashed,
 * sized from the file header, and decoded in full once (a file cut short is refused here). The same image appears in many records (MIG-Bench repeats each image
 * set for every target), so lookups are cached (bounded LRU, keyed by resolved path) and file reads run
 * with bounded concurrency.
 */
import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { InputError } from '../errors.js';

/** What is known about one referenced image, or why it cannot be used. */
export type ImageLookup =
  | { ok: true; sha256: string; width: number; height: number; bytes: number; format: string; orientation: number | null }
  | { ok: false; reason: 'path_escapes_root' | 'image_missing' | 'image_unreadable'; detail: string };

/**
 * Where a source path lands under the root, decided on the text alone (no file system access):
 * absolute paths and `..` that climb out are refused here; symlinks are checked after `realpath`.
 */
export function resolveUnderRoot(root: string, sourcePath: string): { ok: true; path: string } | { ok: false; reason: 'path_escapes_root' | 'image_missing'; detail: string } {
  if (sourcePath.includes('\0')) return { ok: false, reason: 'image_missing', detail: 'path contains a NUL byte' };
  if (path.posix.isAbsolute(sourcePath) || path.win32.isAbsolute(sourcePath)) {
    return { ok: false, reason: 'path_escapes_root', detail: `absolute path ${JSON.stringify(sourcePath)} is refused; paths must be relative to the image root` };
  }
  const joined = path.resolve(root, sourcePath);
  if (!isInside(root, joined)) return { ok: false, reason: 'path_escapes_root', detail: `${JSON.stringify(sourcePath)} leaves the image root` };
  return { ok: true, path: joined };
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

export interface ImageCatalogOptions {
  /** Entries kept in the metadata cache (default 16384; each is ~200 bytes). */
  cacheSize?: number;
  /** Image files read at the same time (default 8). */
  concurrency?: number;
  /** Longest time one image may take to decode before it is called unreadable (default 60 s). */
  decodeTimeoutSeconds?: number;
}

/** Pixels an image may have (sharp's own default): a decompression bomb is refused, not decoded. */
export const MAX_IMAGE_PIXELS = 0x3fff * 0x3fff;

/**
 * Decode every pixel, so an image whose header reads but whose data is cut short or corrupt is caught
 * here, with its path, instead of crashing a later stage. The pixels stream through libvips on libuv's
 * thread pool (the event loop is not blocked, so no worker threads are needed) into an 8x8 thumbnail:
 * a few scanlines are in memory at a time, not the image. libvips warnings (a truncated PNG, a premature
 * JPEG end) are errors; the pixel limit and the timeout bound what one file can cost. Measured against
 * stats() (which also reads every pixel): 6-9x faster (BENCHMARKS.md, ingest).
 */
export async function decodeFully(bytes: Buffer, timeoutSeconds = 60): Promise<void> {
  await sharp(bytes, { failOn: 'warning', sequentialRead: true, limitInputPixels: MAX_IMAGE_PIXELS })
    .resize(8, 8, { fit: 'fill', kernel: 'nearest' })
    .raw()
    .timeout({ seconds: timeoutSeconds })
    .toBuffer();
}

export interface ImageCatalogStats {
  lookups: number;
  hits: number;
  /** Files actually opened and read. */
  reads: number;
  evictions: number;
  maxInFlight: number;
}

export class ImageCatalog {
  private readonly cache = new Map<string, Promise<ImageLookup>>();
  // The same path strings repeat across records: remember where each landed (bounded like the cache).
  private readonly resolved = new Map<string, ReturnType<typeof resolveUnderRoot>>();
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly cacheSize: number;
  private readonly decodeTimeoutSeconds: number;
  private inFlight = 0;
  readonly stats: ImageCatalogStats = { lookups: 0, hits: 0, reads: 0, evictions: 0, maxInFlight: 0 };

  private constructor(
    /** The image root as given (after `path.resolve`). */
    readonly root: string,
    /** The image root with symlinks resolved: what every real path must stay inside. */
    readonly realRoot: string,
    opts: ImageCatalogOptions,
  ) {
    this.cacheSize = Math.max(1, opts.cacheSize ?? 16384);
    this.decodeTimeoutSeconds = opts.decodeTimeoutSeconds ?? 60;
    this.limit = pLimit(Math.max(1, opts.concurrency ?? 8));
  }

  /** Open a catalog over `imageRoot`, which must be an existing directory (InputError otherwise). */
  static async open(imageRoot: string, opts: ImageCatalogOptions = {}): Promise<ImageCatalog> {
    const root = path.resolve(imageRoot);
    let real: string;
    try {
      real = await realpath(root);
      if (!(await stat(real)).isDirectory()) throw new InputError('image root is not a directory', { file: imageRoot });
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(`image root not found or not readable (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { file: imageRoot }, { cause: err });
    }
    return new ImageCatalog(root, real, opts);
  }

  /** Look up one image by the path a record gives. Never rejects: problems come back as `ok: false`. */
  lookup(sourcePath: string): Promise<ImageLookup> {
    this.stats.lookups++;
    let where = this.resolved.get(sourcePath);
    if (where === undefined) {
      where = resolveUnderRoot(this.root, sourcePath);
      if (this.resolved.size >= this.cacheSize) this.resolved.clear();
      this.resolved.set(sourcePath, where);
    }
    if (!where.ok) return Promise.resolve(where);
    const key = where.path;
    const hit = this.cache.get(key);
    if (hit) {
      this.stats.hits++;
      // Refresh recency: Map iteration order is insertion order, so re-insert.
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const p = this.limit(() => this.read(key, sourcePath));
    this.cache.set(key, p);
    if (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
      this.stats.evictions++;
    }
    return p;
  }

  private async read(lexical: string, sourcePath: string): Promise<ImageLookup> {
    this.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.inFlight);
    try {
      let real: string;
      try {
        // realpath resolves symlinks without opening the target, so a link out of the root is refused
        // before anything outside is touched.
        real = await realpath(lexical);
      } catch (err) {
        return fsProblem(err, sourcePath);
      }
      if (!isInside(this.realRoot, real)) {
        return { ok: false, reason: 'path_escapes_root', detail: `${JSON.stringify(sourcePath)} resolves (through a symlink) outside the image root` };
      }
      let info;
      try {
        info = await stat(real);
      } catch (err) {
        return fsProblem(err, sourcePath);
      }
      // A FIFO or device would block or never end; only regular files are read.
      if (!info.isFile()) return { ok: false, reason: 'image_unreadable', detail: `${JSON.stringify(sourcePath)} is not a regular file` };
      let bytes: Buffer;
      try {
        const fh = await open(real, fsc.O_RDONLY | fsc.O_NOFOLLOW);
        try {
          bytes = await fh.readFile();
        } finally {
          await fh.close();
        }
      } catch (err) {
        return fsProblem(err, sourcePath);
      }
      this.stats.reads++;
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      try {
        // metadata() parses the header only: a file cut in half still has a good one.
        const m = await sharp(bytes).metadata();
        if (!m.width || !m.height) return { ok: false, reason: 'image_unreadable', detail: `${JSON.stringify(sourcePath)}: no width/height in header` };
        await decodeFully(bytes, this.decodeTimeoutSeconds);
        return { ok: true, sha256, width: m.width, height: m.height, bytes: bytes.length, format: m.format ?? 'unknown', orientation: m.orientation ?? null };
      } catch (err) {
        return { ok: false, reason: 'image_unreadable', detail: `${JSON.stringify(sourcePath)}: ${(err as Error).message.replace(/\s+/g, ' ').trim()}` };
      }
    } finally {
      this.inFlight--;
    }
  }
}

function fsProblem(err: unknown, sourcePath: string): ImageLookup {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, reason: 'image_missing', detail: `${JSON.stringify(sourcePath)}: no such file` };
  return { ok: false, reason: 'image_unreadable', detail: `${JSON.stringify(sourcePath)}: ${code ?? (err as Error)?.message ?? 'read failed'}` };
}
