/**
 * Decoded-image cache: resized uint8 pixels by image sha256 (the loader's S, fit and kernel are fixed,
 * so the hash names the result), least recently used evicted past `maxBytes`. Training runs several
 * epochs over the same images; from the second on, a hit skips PNG decoding entirely. The same bytes
 * always decode to the same pixels, so hits and misses give identical batches.
 */
export interface CachedImage {
  pixels: Uint8Array;
  width: number;
  height: number;
}

export class PixelCache {
  private readonly map = new Map<string, CachedImage>();
  private bytes = 0;

  constructor(readonly maxBytes: number) {}

  get(sha: string): CachedImage | undefined {
    const hit = this.map.get(sha);
    if (hit) {
      // Map keeps insertion order: re-inserting marks it most recently used.
      this.map.delete(sha);
      this.map.set(sha, hit);
    }
    return hit;
  }

  set(sha: string, img: CachedImage): void {
    if (img.pixels.byteLength > this.maxBytes || this.map.has(sha)) return;
    this.map.set(sha, img);
    this.bytes += img.pixels.byteLength;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= v.pixels.byteLength;
    }
  }

  get size(): number {
    return this.bytes;
  }
}
