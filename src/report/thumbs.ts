/**
 * Thumbnails of a run's images for the report, each image read once per size: the run's image store,
 * else the source's image root (never outside it), checked against the sha256 the records carry.
 */
import sharp from 'sharp';
import { RunImages } from '../runview/images.js';

export interface Thumb {
  dataUrl: string;
  width: number;
  height: number;
}

export interface ExampleImage {
  index: number;
  isTarget: boolean;
  sha256: string;
  path: string;
  width: number;
  height: number;
  thumb: Thumb | null;
  /** Why there is no thumbnail (not in the store, undecodable). */
  problem: string | null;
}

/**
 * Thumbnail images, once per image and size (RunImages finds them: the run's store, else the source's
 * image root, never outside it).
 */
export class Thumbnailer {
  private readonly images: RunImages;
  private readonly cache = new Map<string, Promise<{ thumb: Thumb | null; problem: string | null }>>();

  constructor(runRoot: string, imageRoot: string | null) {
    this.images = new RunImages(runRoot, imageRoot);
  }

  thumb(sha: string, path: string, side: number): Promise<{ thumb: Thumb | null; problem: string | null }> {
    const key = `${sha}:${side}`;
    let p = this.cache.get(key);
    if (!p) {
      p = (async () => {
        const { bytes, problem } = await this.images.read(sha, path);
        if (!bytes) return { thumb: null, problem };
        try {
          // No EXIF rotation: boxes are in the stored pixel grid, which is what the verifier used.
          const { data, info } = await sharp(bytes, { limitInputPixels: 1e9 })
            .resize(side, side, { fit: 'inside', withoutEnlargement: true })
            .flatten({ background: '#ffffff' })
            .jpeg({ quality: 80 })
            .toBuffer({ resolveWithObject: true });
          return { thumb: { dataUrl: `data:image/jpeg;base64,${data.toString('base64')}`, width: info.width, height: info.height }, problem: null };
        } catch (err) {
          return { thumb: null, problem: `image could not be decoded: ${err instanceof Error ? err.message : String(err)}` };
        }
      })();
      this.cache.set(key, p);
    }
    return p;
  }

  /** An image as the page shows it: its recorded facts and a thumbnail with longest side `side`, or why none. */
  async image(img: { sha256: string; path: string; width: number; height: number }, index: number, isTarget: boolean, side: number): Promise<ExampleImage> {
    const t = /^[0-9a-f]{64}$/.test(img.sha256) ? await this.thumb(img.sha256, img.path, side) : { thumb: null, problem: 'no valid sha256 recorded' };
    return { index, isTarget, sha256: img.sha256, path: img.path, width: img.width, height: img.height, ...t };
  }
}
