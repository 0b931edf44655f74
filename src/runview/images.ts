/**
 * The images of a run: the content-addressed store in `images/`, else the source's image root for a
 * path recorded under it (never outside it). The bytes are hashed and must match the sha256 the records
 * carry, so whatever is on disk, what comes back is exactly the image the run refers to.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { resolveUnderRoot } from '../sources/images.js';
import { ImageStore } from '../store/images.js';

export type RunImage = { bytes: Buffer; problem: null } | { bytes: null; problem: string };

const SHA = /^[0-9a-f]{64}$/;

export class RunImages {
  private readonly store: ImageStore;
  private readonly imageRoot: string | null;

  constructor(runRoot: string, imageRoot: string | null) {
    this.store = new ImageStore(join(runRoot, 'images'));
    this.imageRoot = imageRoot ? resolve(imageRoot) : null;
  }

  /** The bytes of image `sha` (recorded at `path`), or why there are none. */
  async read(sha: string, path: string): Promise<RunImage> {
    if (!SHA.test(sha)) return { bytes: null, problem: 'no valid sha256 recorded' };
    let bytes: Buffer | null = null;
    const stored = await this.store.locate(sha);
    if (stored) bytes = await readFile(stored);
    else if (this.imageRoot) {
      const r = resolveUnderRoot(this.imageRoot, path);
      if (r.ok) {
        try {
          bytes = await readFile(r.path);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOENT' && code !== 'EISDIR' && code !== 'ENOTDIR') throw err;
        }
      }
    }
    if (!bytes) return { bytes: null, problem: `image not found in images/${this.imageRoot ? ' or the image root' : ''}` };
    if (createHash('sha256').update(bytes).digest('hex') !== sha) return { bytes: null, problem: 'image bytes on disk do not match the sha256 the records carry' };
    return { bytes, problem: null };
  }
}
