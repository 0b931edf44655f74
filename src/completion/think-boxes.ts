/**
 * The boxes a chain of thought writes, each placed on the image it is about and converted to that
 * image's pixels: what the report and the audit app draw. A box belongs to the image the reasoning named
 * last before it ("In image 2 the cup spans (…)"), or to the target image when it has named none yet.
 */
import { teacherBoxToPixels } from '../geometry/convert.js';
import type { BoxConvention } from '../schema/records.js';
import { imageMentionsAt, parseCompletion, type Box4 } from './parse.js';

export interface PlacedThinkBox {
  /** Position among the think's boxes (0 = first). */
  index: number;
  /** The image it is drawn on. */
  image: number;
  /** In pixels of `image`. */
  box: Box4;
  /** Where the box's text starts and ends (exclusive) in the completion. */
  offset: number;
  end: number;
  /** The last box of the reasoning: the one the verifier compares with the answer. */
  last: boolean;
}

export interface PlaceOptions {
  convention: BoxConvention;
  images: ReadonlyArray<{ width: number; height: number }>;
  /** Size of each image as the teacher saw it (needed for resized-pixel conventions). */
  seenSizes?: ReadonlyArray<{ width: number; height: number } | undefined>;
  targetImage: number;
}

/** The think's boxes on their images; boxes that convert to non-finite numbers are left out. */
export function placeThinkBoxes(text: string, o: PlaceOptions): PlacedThinkBox[] {
  const parsed = parseCompletion(text, o.convention);
  if (parsed.think === null || parsed.thinkOffset === null || parsed.thinkBoxes.length === 0) return [];
  const n = o.images.length;
  const mentions = n > 1 ? imageMentionsAt(parsed.think, n).filter((m) => m.image < n) : [];
  const out: PlacedThinkBox[] = [];
  let m = 0;
  let named = o.targetImage;
  parsed.thinkBoxes.forEach((b, index) => {
    const at = b.offset - parsed.thinkOffset!;
    while (m < mentions.length && mentions[m]!.offset < at) named = mentions[m++]!.image;
    const image = o.images[named] ? named : o.targetImage;
    if (!o.images[image]) return;
    const box = teacherBoxToPixels(b.box, o.convention, { images: o.images }, o.seenSizes?.[image], image);
    if (!box.every(Number.isFinite)) return;
    out.push({ index, image, box, offset: b.offset, end: b.end, last: index === parsed.thinkBoxes.length - 1 });
  });
  return out;
}
