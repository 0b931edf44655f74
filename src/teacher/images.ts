/**
 * Images as the teacher receives them: loaded by content hash, checked against the record, resized once
 * to Qwen's smart-resize size for the configured pixel budget, encoded once (PNG stays PNG, JPEG stays
 * JPEG, with the right MIME type in the data URL) and kept in an LRU bounded by bytes. Concurrent asks
 * for the same image share one load.
 */
import sharp from 'sharp';
import { InputError } from '../errors.js';
import { smartResize } from '../geometry/index.js';
import type { ImageRef } from '../schema/records.js';
import { sha256Hex } from './request.js';

export type ImageLoader = (sha256: string, path: string) => Promise<Buffer>;

export interface PreparedImage {
  sha256: string;
  mime: string;
  /** Size as sent (after resizing). */
  width: number;
  height: number;
  dataUrl: string;
  /** True when the original bytes were sent unchanged (already at the target size). */
  passthrough: boolean;
}

export interface ImagePreparerOptions {
  loader: ImageLoader;
  minPixels: number;
  maxPixels: number;
  /** LRU budget in bytes of data-URL text. */
  maxBytes: number;
  /** JPEG quality used when a JPEG has to be resized. */
  jpegQuality?: number;
}

const MIME: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

export class ImagePreparer {
  private lru = new Map<string, PreparedImage>();
  private bytes = 0;
  private pending = new Map<string, Promise<PreparedImage>>();
  private readonly counts = { hits: 0, misses: 0, resized: 0, passthrough: 0, evicted: 0 };

  constructor(private readonly o: ImagePreparerOptions) {}

  async prepare(ref: ImageRef): Promise<PreparedImage> {
    const hit = this.lru.get(ref.sha256);
    if (hit) {
      this.lru.delete(ref.sha256);
      this.lru.set(ref.sha256, hit);
      this.counts.hits++;
      return hit;
    }
    const p = this.pending.get(ref.sha256);
    if (p) return p;
    this.counts.misses++;
    const job = this.load(ref).finally(() => this.pending.delete(ref.sha256));
    this.pending.set(ref.sha256, job);
    const img = await job;
    this.remember(img);
    return img;
  }

  private remember(img: PreparedImage): void {
    const size = img.dataUrl.length;
    if (size > this.o.maxBytes || this.lru.has(img.sha256)) return;
    this.lru.set(img.sha256, img);
    this.bytes += size;
    for (const [k, v] of this.lru) {
      if (this.bytes <= this.o.maxBytes) break;
      this.lru.delete(k);
      this.bytes -= v.dataUrl.length;
      this.counts.evicted++;
    }
  }

  private async load(ref: ImageRef): Promise<PreparedImage> {
    let buf: Buffer;
    try {
      buf = await this.o.loader(ref.sha256, ref.path);
    } catch (err) {
      throw new InputError(`cannot load image ${ref.path}: ${err instanceof Error ? err.message : String(err)}`, { file: ref.path, sha256: ref.sha256 }, { cause: err });
    }
    if (!(buf instanceof Uint8Array)) throw new InputError(`image loader returned no bytes for ${ref.path}`, { file: ref.path, sha256: ref.sha256 });
    // Sending a different image than the record names is a silent corruption; check once per image.
    const actual = sha256Hex(buf);
    if (actual !== ref.sha256) throw new InputError(`image bytes do not match their hash (got ${actual.slice(0, 12)}…)`, { file: ref.path, sha256: ref.sha256 });
    let meta: Awaited<ReturnType<ReturnType<typeof sharp>["metadata"]>>;
    try {
      meta = await sharp(buf).metadata();
    } catch (err) {
      throw new InputError(`cannot decode image: ${err instanceof Error ? err.message : String(err)}`, { file: ref.path, sha256: ref.sha256 }, { cause: err });
    }
    if (meta.width !== ref.width || meta.height !== ref.height) {
      // Boxes are stored against the recorded size; a different real size would shift every answer.
      throw new InputError(`image is ${meta.width}x${meta.height} but the record says ${ref.width}x${ref.height}`, { file: ref.path, sha256: ref.sha256 });
    }
    const target = smartResize(ref.width, ref.height, { minPixels: this.o.minPixels, maxPixels: this.o.maxPixels });
    const format = meta.format === 'jpeg' || meta.format === 'png' || meta.format === 'webp' ? meta.format : 'png';
    const mime = MIME[format]!;
    let out: Buffer;
    let passthrough = false;
    if (target.width === ref.width && target.height === ref.height && format === meta.format) {
      out = buf;
      passthrough = true;
      this.counts.passthrough++;
    } else {
      // Qwen's processor resizes with PIL bicubic; sharp's cubic kernel is the closest match.
      let pipe = sharp(buf).resize(target.width, target.height, { fit: 'fill', kernel: 'cubic' });
      pipe = format === 'jpeg' ? pipe.jpeg({ quality: this.o.jpegQuality ?? 95 }) : format === 'webp' ? pipe.webp({ lossless: true }) : pipe.png();
      try {
        out = await pipe.toBuffer();
      } catch (err) {
        // A file whose header reads but whose pixels do not (cut short, corrupt): this sample's problem.
        throw new InputError(`cannot decode image: ${err instanceof Error ? err.message.replace(/\s+/g, ' ').trim() : String(err)}`, { file: ref.path, sha256: ref.sha256 }, { cause: err });
      }
      this.counts.resized++;
    }
    return { sha256: ref.sha256, mime, width: target.width, height: target.height, dataUrl: `data:${mime};base64,${out.toString('base64')}`, passthrough };
  }

  stats(): { hits: number; misses: number; resized: number; passthrough: number; evicted: number; entries: number; bytes: number } {
    return { ...this.counts, entries: this.lru.size, bytes: this.bytes };
  }
}
