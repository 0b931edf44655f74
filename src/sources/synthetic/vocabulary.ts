/**
 * The visual vocabulary and question grammar of the synthetic suite. The renderer draws with it and the
 * simulated teacher perceives and parses with it, so both sides agree on words and colours without the
 * teacher ever seeing a scene graph: it gets pixels and text, like a real model.
 */

/** Shape fill colours, far apart in hue so easy scenes are unambiguous. RGB 0-255. */
export const COLORS = {
  red: [214, 39, 40],
  green: [44, 160, 44],
  blue: [31, 90, 220],
  yellow: [240, 205, 30],
  purple: [148, 80, 200],
  orange: [255, 127, 14],
  cyan: [23, 190, 207],
  pink: [240, 110, 180],
} as const satisfies Record<string, readonly [number, number, number]>;
export type ColorName = keyof typeof COLORS;
export const COLOR_NAMES = Object.keys(COLORS) as ColorName[];

/**
 * Colours a hard scene may use for distractors: close to a named colour, so a perceiver can confuse them.
 * They are never the answer and never named in questions.
 */
export const NEAR_COLORS: Record<ColorName, readonly [number, number, number]> = {
  red: [196, 60, 48],
  green: [70, 150, 40],
  blue: [50, 70, 200],
  yellow: [225, 200, 60],
  purple: [130, 90, 190],
  orange: [235, 140, 40],
  cyan: [40, 175, 190],
  pink: [225, 120, 170],
};

/** Marker outline drawn around the referenced object (correspondence, object_tracking): hollow, 3 px. */
export const MARKER_COLOR = [255, 0, 0] as const;
export const MARKER_WIDTH = 3;

export const SHAPES = ['circle', 'square', 'triangle', 'star', 'diamond', 'hexagon'] as const;
export type ShapeName = (typeof SHAPES)[number];

/** Size words are relative to the other shapes of the same image. */
export const SIZE_WORDS = ['small', 'large'] as const;
export type SizeWord = (typeof SIZE_WORDS)[number];

export const SYNTH_TASKS = ['common_object', 'diff', 'refer_grounding', 'correspondence', 'reasoning', 'object_tracking'] as const;
export type SynthTask = (typeof SYNTH_TASKS)[number];

const ORDINALS = ['first', 'second', 'third', 'fourth', 'fifth', 'sixth'] as const;

/** 0-based index -> "first", "second", ... */
export function ordinal(index: number): string {
  const w = ORDINALS[index];
  if (w === undefined) throw new RangeError(`no ordinal word for image index ${index}`);
  return w;
}

/** "first" -> 0; also "1st", "2nd", "2th" (MIG-Bench writes "2th"), "3"; null when unknown. */
export function parseOrdinal(word: string): number | null {
  const w = word.toLowerCase();
  const i = (ORDINALS as readonly string[]).indexOf(w);
  if (i >= 0) return i;
  const m = /^(\d+)(?:st|nd|rd|th)?$/.exec(w);
  return m ? Number(m[1]) - 1 : null;
}

/** What a question asks, as structured data. `target` is the 0-based index of the image to answer in. */
export type QuestionSpec =
  | { task: 'common_object'; target: number }
  | { task: 'diff'; target: number }
  | { task: 'refer_grounding'; target: number; size: SizeWord | null; color: ColorName; shape: ShapeName }
  | { task: 'correspondence'; target: number }
  | { task: 'reasoning'; target: number; relation: 'same_color_as_largest' | 'same_shape_as_smallest' }
  | { task: 'object_tracking'; target: number; markerBox1000: [number, number, number, number] };

/** The question text for a spec. Parsing it back with `parseQuestion` gives the same spec. */
export function renderQuestion(q: QuestionSpec): string {
  const ord = ORDINALS[q.target] ?? `${q.target + 1}th`;
  switch (q.task) {
    case 'common_object':
      return `One object appears in every image. Find it and locate it in the ${ord} image.`;
    case 'diff':
      return `The images are identical except for one object that was changed. Find the difference and locate it in the ${ord} image.`;
    case 'refer_grounding':
      return `Locate the ${q.size ? `${q.size} ` : ''}${q.color} ${q.shape} in the ${ord} image.`;
    case 'correspondence':
      return `The object marked by the red box in the first image also appears in the ${ord} image. Locate it in the ${ord} image.`;
    case 'reasoning':
      // The reference sentence comes first and has no locate verb, so the last image a locate verb points
      // at is the target (the ingest's rule for MIG-Bench questions, src/sources/image-refs.ts).
      return q.relation === 'same_color_as_largest'
        ? `Look at the largest shape in the first image. Find the shape with the same colour in the ${ord} image.`
        : `Look at the smallest object in the first image. Find the object with the same shape in the ${ord} image.`;
    case 'object_tracking': {
      const [x1, y1, x2, y2] = q.markerBox1000;
      // MIG-Bench's own wording, "2th" included.
      return `These are a sequence of images containing moving objects. For the object in the first image marked with red bounding box(<|box_start|>(${x1},${y1}),(${x2},${y2})<|box_end|>), please locate it in the ${q.target + 1}th image.`;
    }
  }
}

const W = `(first|second|third|fourth|fifth|sixth)`;
const PATTERNS: Array<[RegExp, (m: RegExpExecArray) => QuestionSpec | null]> = [
  [new RegExp(`One object appears in every image\\. Find it and locate it in the ${W} image\\.`, 'i'), (m) => withTarget({ task: 'common_object', target: 0 }, m[1]!)],
  [new RegExp(`Find the difference and locate it in the ${W} image\\.`, 'i'), (m) => withTarget({ task: 'diff', target: 0 }, m[1]!)],
  [
    new RegExp(`Locate the (?:(small|large) )?(${COLOR_NAMES.join('|')}) (${SHAPES.join('|')}) in the ${W} image\\.`, 'i'),
    (m) =>
      withTarget(
        { task: 'refer_grounding', target: 0, size: (m[1]?.toLowerCase() as SizeWord | undefined) ?? null, color: m[2]!.toLowerCase() as ColorName, shape: m[3]!.toLowerCase() as ShapeName },
        m[4]!,
      ),
  ],
  [new RegExp(`The object marked by the red box in the first image also appears in the ${W} image\\.`, 'i'), (m) => withTarget({ task: 'correspondence', target: 0 }, m[1]!)],
  [new RegExp(`Look at the largest shape in the first image\\. Find the shape with the same colou?r in the ${W} image\\.`, 'i'), (m) => withTarget({ task: 'reasoning', target: 0, relation: 'same_color_as_largest' }, m[1]!)],
  [new RegExp(`Look at the smallest object in the first image\\. Find the object with the same shape in the ${W} image\\.`, 'i'), (m) => withTarget({ task: 'reasoning', target: 0, relation: 'same_shape_as_smallest' }, m[1]!)],
  // Earlier wording of the two reasoning questions, still understood.
  [new RegExp(`Find the shape in the ${W} image that has the same colou?r as the largest shape in the first image\\.`, 'i'), (m) => withTarget({ task: 'reasoning', target: 0, relation: 'same_color_as_largest' }, m[1]!)],
  [new RegExp(`Find the object in the ${W} image that has the same shape as the smallest object in the first image\\.`, 'i'), (m) => withTarget({ task: 'reasoning', target: 0, relation: 'same_shape_as_smallest' }, m[1]!)],
  [
    /marked with red bounding box\s*\(<\|box_start\|>\((\d+),(\d+)\),\((\d+),(\d+)\)<\|box_end\|>\), please locate it in the (\d+)(?:st|nd|rd|th) image/i,
    (m) => {
      const t = parseOrdinal(m[5]!);
      return t === null ? null : { task: 'object_tracking', target: t, markerBox1000: [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])] };
    },
  ],
];

function withTarget<T extends QuestionSpec>(spec: T, word: string): T | null {
  const t = parseOrdinal(word);
  return t === null ? null : { ...spec, target: t };
}

/** Find a synthetic-suite question anywhere in `text` (a teacher prompt wraps it in other words). */
export function parseQuestion(text: string): QuestionSpec | null {
  for (const [re, build] of PATTERNS) {
    const m = re.exec(text);
    if (m) {
      const spec = build(m);
      if (spec) return spec;
    }
  }
  return null;
}
