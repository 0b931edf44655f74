/**
 * Writing the completion: a UniVG-style `<think>…</think><answer>(x1,y1),(x2,y2)</answer>` whose reasoning
 * walks every image by ordinal, states what it found, names the target image and commits to the box it
 * believes before the answer. At temperature 0 it always takes the first phrasing (greedy decoding is
 * seed-independent); above 0 phrasing, object order and, now and then, the chosen object and the box
 * vary, more so as the temperature rises.
 */
import { iou } from '../../geometry/index.js';
import { boxText, fromConvention, type ConventionContext, type Hint } from './boxes.js';
import type { PerceivedObject, PerceivedScene, PixelBox } from './perceive.js';
import type { Rng } from './rng.js';
import { imageName, sizeWord, type Candidate, type Finding, type Solution } from './solve.js';

export interface ComposeInput {
  solution: Solution;
  scenes: readonly PerceivedScene[];
  hint: Hint | null;
  conv: ConventionContext;
  rng: Rng;
  temperature: number;
}

export interface Composed {
  text: string;
  /** Box text quoted in the reasoning (the teacher's own belief). */
  thinkBox: string;
  /** Box text in the answer tag (the hint when one was given). */
  answerBox: string;
  /** The candidate the reasoning settled on, in pixels of the target image. */
  perceivedBox: PixelBox;
}

/** Objects listed per image; the rest are summarised as "N other shapes". */
const MAX_LISTED = 5;

export function compose(input: ComposeInput): Composed {
  const { solution, scenes, hint, conv, rng, temperature } = input;
  const t = Math.max(0, temperature);
  const choose = <T>(options: readonly T[]): T => (t === 0 ? options[0]! : rng.pick(options));
  const scene = scenes[solution.target]!;
  const targetName = imageName(solution.target);

  // Sampling wanders: another plausible object, or a sloppier box.
  let chosen: Candidate = solution.candidates[0]!;
  if (solution.candidates.length > 1 && rng.chance(Math.min(0.5, 0.12 * t))) chosen = solution.candidates[1 + rng.int(Math.min(2, solution.candidates.length - 1))]!;
  let box: PixelBox = [...chosen.box];
  if (rng.chance(Math.min(0.6, 0.2 * t))) box = jitter(box, rng, scene, 0.04 + 0.08 * Math.min(t, 1.5));

  const perceived = boxText(box, scene.width, scene.height, conv);
  let thinkBox = perceived;
  let answerBox = perceived;
  if (hint) {
    answerBox = hint.text;
    // Quote the hint when what it sees agrees with it; otherwise its reasoning keeps its own box, which is
    // what a verifier's think/answer agreement check exists to catch.
    let hinted: PixelBox | null = null;
    try {
      hinted = fromConvention(hint.values, scene.width, scene.height, conv);
    } catch {
      hinted = null;
    }
    if (hinted && iou(hinted, box) >= 0.5) thinkBox = hint.text;
  }

  const sure = solution.confident && chosen === solution.candidates[0];
  const parts: string[] = [];
  parts.push(restate(solution, choose));
  parts.push(...walk(scenes, solution, rng, t, choose));
  parts.push(...solution.findings.map((f) => finding(f, solution, scenes, choose)).filter((s) => s.length > 0));
  if (chosen !== solution.candidates[0] && chosen.object) {
    parts.push(choose([`On second thought, the ${describe(chosen.object, scene)} fits the question better.`, `Looking again, I think the ${describe(chosen.object, scene)} is the better match.`]));
  }
  if (solution.targetClamped) parts.push(`The question refers to an image I was not given, so I answer in the ${targetName}, the last one.`);
  const where = chosen.object ? `the ${describe(chosen.object, scene)}` : 'the region I settled on';
  parts.push(
    sure
      ? choose([`The target is therefore in the ${targetName}: ${where}.`, `So the target lies in the ${targetName}, and it is ${where}.`, `Hence the target is ${where} in the ${targetName}.`])
      : choose([
          `I am not completely certain, but my best estimate is that the target is ${where} in the ${targetName}.`,
          `This is somewhat ambiguous; the most plausible target is ${where} in the ${targetName}.`,
        ]),
  );
  parts.push(choose([`Its bounding box spans from the top-left to the bottom-right corner of that object, so the target is at ${thinkBox}.`, `So the target is at ${thinkBox}.`, `Therefore the target is at ${thinkBox}.`, `Its box is ${thinkBox}, so the target is at ${thinkBox}.`]));
  const think = parts.join(' ');
  return { text: `<think>${think}</think><answer>${answerBox}</answer>`, thinkBox, answerBox, perceivedBox: box };
}

function jitter(b: PixelBox, rng: Rng, scene: PerceivedScene, scale: number): PixelBox {
  const w = b[2] - b[0];
  const h = b[3] - b[1];
  const d = () => rng.normal() * scale;
  const x1 = Math.max(0, b[0] + d() * w);
  const y1 = Math.max(0, b[1] + d() * h);
  const x2 = Math.min(scene.width, Math.max(x1 + 1, b[2] + d() * w));
  const y2 = Math.min(scene.height, Math.max(y1 + 1, b[3] + d() * h));
  return [x1, y1, x2, y2];
}

/** "top-left corner", "centre", "right side" from the centroid. */
export function position(o: PerceivedObject, scene: PerceivedScene): string {
  const fx = o.cx / scene.width;
  const fy = o.cy / scene.height;
  const h = fx < 0.36 ? 'left' : fx > 0.64 ? 'right' : '';
  const v = fy < 0.36 ? 'top' : fy > 0.64 ? 'bottom' : '';
  if (h && v) return `in the ${v}-${h} corner`;
  if (v) return `near the ${v}`;
  if (h) return `on the ${h} side`;
  return 'in the centre';
}

export function describe(o: PerceivedObject, scene: PerceivedScene): string {
  const s = sizeWord(o, scene);
  return `${s ? `${s} ` : ''}${o.color} ${o.shape} ${position(o, scene)}`;
}

function article(phrase: string): string {
  return /^[aeiou]/i.test(phrase) ? `an ${phrase}` : `a ${phrase}`;
}

function list(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function restate(s: Solution, choose: <T>(o: readonly T[]) => T): string {
  const tn = imageName(s.target);
  const spec = s.spec;
  let ask: string;
  switch (spec?.task) {
    case 'common_object':
      ask = `find the object that appears in every image and locate it in the ${tn}`;
      break;
    case 'diff':
      ask = `find the object that changed between the images and locate it in the ${tn}`;
      break;
    case 'refer_grounding':
      ask = `locate the ${spec.size ? `${spec.size} ` : ''}${spec.color} ${spec.shape} in the ${tn}`;
      break;
    case 'correspondence':
      ask = `find the object marked by the red box in the first image and locate the same object in the ${tn}`;
      break;
    case 'reasoning':
      ask = spec.relation === 'same_color_as_largest' ? `find the shape in the ${tn} that has the same colour as the largest shape in the first image` : `find the object in the ${tn} that has the same shape as the smallest object in the first image`;
      break;
    case 'object_tracking':
      ask = `follow the object marked in the first image through the sequence and locate it in the ${tn}`;
      break;
    default:
      return choose([
        `The question does not name a shape I can match directly, so I will look for the most prominent object in the ${tn}.`,
        `I am not sure exactly what the question refers to; I will go by the most noticeable object in the ${tn}.`,
      ]);
  }
  return choose([`The question asks me to ${ask}.`, `I need to ${ask}.`, `The task is to ${ask}.`]);
}

function walk(scenes: readonly PerceivedScene[], s: Solution, rng: Rng, t: number, choose: <T>(o: readonly T[]) => T): string[] {
  const out: string[] = [];
  scenes.forEach((scene, i) => {
    const name = imageName(i);
    let objs = [...scene.objects].sort((a, b) => b.area - a.area || a.cy - b.cy);
    // Hotter sampling mentions objects in a less canonical order.
    if (t > 0 && rng.chance(Math.min(0.7, 0.4 * t))) objs = shuffle(objs, rng);
    const shown = objs.slice(0, MAX_LISTED).map((o) => article(describe(o, scene)));
    const more = objs.length - shown.length;
    if (more > 0) shown.push(`${more} other shape${more > 1 ? 's' : ''}`);
    const marker = scene.markers.length > 0 && (s.spec?.task === 'correspondence' || s.spec?.task === 'object_tracking') && i === 0 ? ', with a red box drawn around one of them' : '';
    const cap = name.charAt(0).toUpperCase() + name.slice(1);
    if (shown.length === 0) out.push(choose([`In the ${name}, I can't make out any distinct shapes.`, `The ${name} shows no clear shapes.`]));
    else out.push(choose([`In the ${name}, I see ${list(shown)}${marker}.`, `The ${name} contains ${list(shown)}${marker}.`, `${cap}: ${list(shown)}${marker}.`]));
  });
  return out;
}

function shuffle<T>(items: T[], rng: Rng): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

function finding(f: Finding, s: Solution, scenes: readonly PerceivedScene[], choose: <T>(o: readonly T[]) => T): string {
  const tn = imageName(s.target);
  const scene = scenes[s.target]!;
  switch (f.kind) {
    case 'common':
      return f.all
        ? choose([`The ${f.color} ${f.shape} is the object present in ${scenes.length === 2 ? 'both' : `all ${scenes.length}`} images.`, `Comparing the images, only the ${f.color} ${f.shape} shows up in every one of them.`])
        : `No object is clearly present in every image; the ${f.color} ${f.shape} appears in the ${list(f.inImages.map((i) => imageName(i).replace(' image', '')))} image${f.inImages.length > 1 ? 's' : ''}, the most of any.`;
    case 'diff': {
      const on = imageName(f.other);
      const d = describe(f.object, scene);
      switch (f.change) {
        case 'color':
          return `Comparing the ${tn} with the ${on}, the object ${position(f.object, scene)} has changed colour: it is ${f.counterpart!.color} in the ${on} but ${f.object.color} in the ${tn}.`;
        case 'shape':
          return `Comparing the ${tn} with the ${on}, the object ${position(f.object, scene)} has changed: the ${on} has a ${f.counterpart!.color} ${f.counterpart!.shape} there, the ${tn} a ${f.object.color} ${f.object.shape}.`;
        case 'size':
          return `Comparing the ${tn} with the ${on}, the ${f.object.color} ${f.object.shape} ${position(f.object, scene)} has a different size.`;
        case 'moved':
          return `Comparing the ${tn} with the ${on}, the ${f.object.color} ${f.object.shape} has moved; in the ${tn} it is ${position(f.object, scene)}.`;
        case 'new':
          return `Comparing the ${tn} with the ${on}, the ${d} has no counterpart in the ${on}, so it is the difference.`;
      }
      return '';
    }
    case 'diff_removed':
      return `Every object in the ${tn} also appears in the ${imageName(f.other)}, but the ${f.object.color} ${f.object.shape} of the ${imageName(f.other)} is missing from the ${tn}, so the difference is where it used to be.`;
    case 'refer': {
      const what = `${f.color} ${f.shape}`;
      const top = s.candidates[0]?.object;
      if (f.relaxed === 'shape' && top) return `I cannot find a ${what} in the ${tn}; the closest is the ${describe(top, scene)}, whose outline may be partly hidden.`;
      if (f.relaxed === 'color' && top) return `I do not see a ${what} in the ${tn}; the ${describe(top, scene)} is the nearest match.`;
      if (f.matches === 1 && top) return choose([`There is exactly one ${what} in the ${tn}, ${position(top, scene)}.`, `The ${tn} has a single ${what}, ${position(top, scene)}.`]);
      if (f.matches > 1 && top)
        return f.size
          ? `There are ${f.matches} ${what}s in the ${tn}; the ${f.size} one is ${position(top, scene)}.`
          : `I see ${f.matches} ${what}s in the ${tn}; the most prominent one is ${position(top, scene)}.`;
      return '';
    }
    case 'marked': {
      if (!f.markerFound) return `I cannot clearly find the marked object in the ${imageName(f.image)}, so I fall back on the most prominent object.`;
      if (!f.object) return `The marker in the ${imageName(f.image)} does not clearly surround a shape.`;
      return choose([`In the ${imageName(f.image)}, the red box marks ${article(`${f.object.color} ${f.object.shape}`)}.`, `The marked object in the ${imageName(f.image)} is ${article(`${f.object.color} ${f.object.shape}`)}.`]);
    }
    case 'match': {
      const top = s.candidates[0]?.object;
      if (!top) return `I find nothing resembling it in the ${tn}.`;
      if (f.relaxed) return `There is no ${f.color} ${f.shape} in the ${tn}, so I take the most similar object, the ${describe(top, scene)}.`;
      return f.matches === 1
        ? `Looking for ${article(`${f.color} ${f.shape}`)} in the ${tn}, I find exactly one, ${position(top, scene)}.`
        : `The ${tn} has ${f.matches} ${f.color} ${f.shape}s; the one closest in size to the marked object is ${position(top, scene)}.`;
    }
    case 'reference': {
      const what = f.attribute === 'color' ? `${f.object.color} shape` : f.object.shape;
      const lead = f.role === 'largest' ? `The largest shape in the first image is the ${f.object.color} ${f.object.shape}` : `The smallest object in the first image is the ${f.object.color} ${f.object.shape}`;
      const top = s.candidates[0]?.object;
      const tail = !top ? '' : f.matches === 0 ? ` I find no ${what} in the ${tn}; the closest guess is the ${describe(top, scene)}.` : f.matches === 1 ? ` In the ${tn}, the only ${what} is the ${describe(top, scene)}.` : ` The ${tn} has ${f.matches} of them; the most prominent is the ${describe(top, scene)}.`;
      return `${lead}, so I am looking for ${article(what)} in the ${tn}.${tail}`;
    }
    case 'track': {
      const steps = f.steps.slice(1).map((st) => (st.object ? `in the ${imageName(st.image)} it is ${position(st.object, scenes[st.image]!)}` : `in the ${imageName(st.image)} I lose sight of it`));
      return steps.length === 0 ? '' : `Following it frame by frame: ${list(steps)}.`;
    }
    case 'salient':
      return `The most prominent object in the ${tn} is the ${describe(f.object, scene)}.`;
    case 'nothing':
      return `I cannot make out a clear object in the ${tn}, so I can only estimate a region near its centre.`;
  }
}
