/**
 * Which image a piece of text points at: "It's in the third image.", "locate it in the 2th image",
 * "Find it in Image-2", "in the source image". Pure text parsing, no I/O.
 *
 * Rule used for questions (written down in datasets/migbench.md): the target is the LAST image reference
 * that follows a locate-type verb in its sentence ("Find and locate where the object in image-1 is, in
 * the image-2" -> image 2); when no reference follows such a verb, the last reference in the text.
 * Every MIG-Bench phrasing (10 tasks) resolves correctly under this rule.
 */

const ORDINAL_WORDS = [
  'first',
  'second',
  'third',
  'fourth',
  'fifth',
  'sixth',
  'seventh',
  'eighth',
  'ninth',
  'tenth',
  'eleventh',
  'twelfth',
  'thirteenth',
  'fourteenth',
  'fifteenth',
  'sixteenth',
  'seventeenth',
  'eighteenth',
  'nineteenth',
  'twentieth',
] as const;

const NOT_ORDINAL_TH = new Set(['both', 'with', 'north', 'south', 'worth', 'width', 'depth', 'length', 'month', 'truth', 'path', 'bath', 'teeth', 'cloth', 'booth', 'smooth', 'growth']);

/** One mention of an image in the text. */
export interface ImageMention {
  /** 0-based image index, 'last' (resolved against the image count later), or null for an unknown ordinal. */
  index: number | 'last' | null;
  /** The words as written, e.g. "third image", "Image-2". */
  text: string;
  /** Character position in the text. */
  at: number;
  /** True when a locate-type verb precedes it in the same sentence. */
  afterLocateVerb: boolean;
}

// "the third image", "the 2th image", "the 3rd image", "the source image", "the last image"; also
// "Image-2", "image 2", "Image2". An ordinal-looking word we do not know ("umpteenth") is an unknown ordinal.
const MENTION =
  /(?<![\w-])(?<word>[a-z]+(?:-[a-z]+)*|\d+(?:st|nd|rd|th)?)\s+(?:image|picture|frame)\b(?!\s*-?\s*\d)|\b(?:image|picture|frame)\s*-?\s*(?<num>\d+)\b/gi;
const LOCATE_VERB = /\b(?:locate|find|ground|detect|identify|point|recognize|recognise|mark|give|provide|output|where)\b/i;
const SENTENCE_END = /[.?!;](?=\s|$)/g;
const BOX_TOKENS = /<\|box_start\|>.*?<\|box_end\|>/gs;

function wordIndex(word: string): number | 'last' | null | undefined {
  const w = word.toLowerCase();
  const k = (ORDINAL_WORDS as readonly string[]).indexOf(w);
  if (k >= 0) return k;
  if (w === 'source') return 0; // MIG-Bench region: "locate the 2th region picture in the source image"
  if (w === 'last' || w === 'final') return 'last';
  const m = /^(\d+)(?:st|nd|rd|th)?$/.exec(w);
  if (m) return Number(m[1]) - 1; // "0th" becomes -1, which the caller reports as unknown
  // Looks like an ordinal but is not one we know ("nth", "umpteenth", "twenty-first"): report it rather
  // than guess. Superlatives ("the largest image") are ordinary words, so only -th and compounds count.
  if (w.includes('-') && /-(?:first|second|third|[a-z]+th)$/.test(w)) return null;
  if (/th$/.test(w) && !NOT_ORDINAL_TH.has(w)) return null;
  return undefined; // an ordinary word ("this image", "each image"): not a reference
}

/** All image mentions in `text`, in order (box tokens are ignored). */
export function findImageMentions(text: string): ImageMention[] {
  const clean = text.replace(BOX_TOKENS, (m) => ' '.repeat(m.length));
  const sentenceStarts = [0];
  for (const m of clean.matchAll(SENTENCE_END)) sentenceStarts.push(m.index + 1);
  const out: ImageMention[] = [];
  for (const m of clean.matchAll(MENTION)) {
    const g = m.groups ?? {};
    let index: number | 'last' | null;
    if (g.num !== undefined) index = Number(g.num) - 1;
    else {
      const w = wordIndex(g.word ?? '');
      if (w === undefined) continue;
      index = w;
    }
    const at = m.index;
    let start = 0;
    for (const s of sentenceStarts) if (s <= at) start = s;
    out.push({ index, text: m[0], at, afterLocateVerb: LOCATE_VERB.test(clean.slice(start, at)) });
  }
  return out;
}

/** The mention a question designates as the target (see the module comment), or null when none. */
export function targetMention(text: string): ImageMention | null {
  const all = findImageMentions(text);
  if (all.length === 0) return null;
  const located = all.filter((m) => m.afterLocateVerb);
  return (located.length > 0 ? located : all).at(-1)!;
}

/** Resolve a mention against the number of images: a 0-based index, or null when no such image exists. */
export function resolveMention(m: ImageMention, imageCount: number): number | null {
  if (m.index === null) return null;
  const i = m.index === 'last' ? imageCount - 1 : m.index;
  return i >= 0 && i < imageCount ? i : null;
}
