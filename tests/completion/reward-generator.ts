/**
 * The generated completions the reward parity tests run on: pieces that matter to UniVG-R1's regexes
 * (tags, boxes with Unicode digits and odd whitespace, lone surrogates) glued at random, well-formed
 * completions with mutations, and near-miss boxes so the IoU arithmetic sees real overlaps. Shared by
 * rewards-parity.test.ts (TypeScript vs the Python oracle) and tests/export (the exported Python plugins).
 */
import fc from 'fast-check';
import { pyDigitZeros } from '../../src/index.js';

/** The seed and count every parity test samples with: the same 4,000 completions everywhere. */
export const PARITY_SEED = 20250514;
export const PARITY_RUNS = 4000;

// --- generator: pieces that matter to the regexes, glued at random, plus mutated well-formed completions ---
const zeros = pyDigitZeros();
const unicodeNumber = fc
  .tuple(fc.constantFrom(0x660, 0x966, 0xff10, 0x1d7ce, 0x16ac0, 0x11f50 /* Kawi: not a digit for CPython 3.11 */), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 4 }))
  .map(([z, ds]) => ds.map((d) => String.fromCodePoint(z + d)).join(''));
const number = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 1100 }).map(String) },
  { weight: 1, arbitrary: fc.stringMatching(/^[0-9]{8,40}$/) },
  { weight: 1, arbitrary: unicodeNumber },
  { weight: 1, arbitrary: fc.constantFrom('12.5', '0.3', '-7', '007', '1e3', '') },
);
const sep = fc.constantFrom(',', ', ', ',  ', ' ,', ',\t', ',\n', ',\u3000', ',\x1c', ',\x85', ',\ufeff', ',\u00a0', ';');
const box = fc
  .tuple(number, sep, number, fc.constantFrom(',', ', ', ',\n', '', ' '), number, sep, number)
  .map(([a, s1, b, mid, c, s2, d]) => `(${a}${s1}${b})${mid}(${c}${s2}${d})`);
const piece = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('<think>', '</think>', '<answer>', '</answer>', '<box>', '</box>', '<|box_start|>', '<|box_end|>') },
  { weight: 3, arbitrary: box },
  { weight: 2, arbitrary: fc.constantFrom('(', ')', ',', '[', ']', '.', ' ', '\n', '\r\n', '\t', '\u3000', '\ufeff', '\x1c', '\x85') },
  // Halves of U+1D7CF (MATHEMATICAL BOLD DIGIT ONE): alone they are lone surrogates, together a digit.
  { weight: 1, arbitrary: fc.constantFrom('\ud835', '\udfcf', '\ud835\udfcf') },
  { weight: 2, arbitrary: number },
  { weight: 2, arbitrary: fc.constantFrom('The bus in image 2 ', 'the second image', ' so the answer is ', 'Image-3: ', 'x') },
  { weight: 1, arbitrary: fc.tuple(number, number, number, number).map((n) => `[${n.join(', ')}]`) },
  { weight: 1, arbitrary: fc.tuple(number, number, number, number).map((n) => `<box>${n.join(' ')}</box>`) },
);
const soup = fc.array(piece, { maxLength: 14 }).map((ps) => ps.join(''));
const cleanBox = fc
  .tuple(fc.nat(1000), fc.nat(1000), fc.nat(1000), fc.nat(1000), fc.constantFrom(',', ', '))
  .map(([a, b, c, d, s]) => `(${a}${s}${b}),${s === ',' ? '' : ' '}(${c}${s}${d})`);
const likely = (common: string, ...rare: string[]) =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(common) }, { weight: 2, arbitrary: fc.constantFrom(...rare) });
const wellFormed = fc
  .tuple(
    likely('', 'Sure. ', '\n'),
    fc.array(piece, { maxLength: 5 }).map((ps) => ps.join('')),
    likely('', '\n', '\n\n', ' ', '\u3000', '\ufeff', '\x1c'),
    fc.oneof({ weight: 3, arbitrary: cleanBox }, { weight: 2, arbitrary: box }),
    likely('', '\n', '\n\n', ' ', ' Done.', '<|im_end|>', '<answer>(1,2),(3,4)</answer>'),
  )
  .map(([pre, think, gap, b, post]) => `${pre}<think>${think}</think>${gap}<answer>${b}</answer>${post}`);
const gt = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 999 }), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 })) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: -50, max: 1100 }), fc.integer({ min: -50, max: 1100 }), fc.integer({ min: -50, max: 1100 }), fc.integer({ min: -50, max: 1100 })) },
  { weight: 1, arbitrary: fc.tuple(fc.double({ min: 0, max: 1000, noNaN: true }), fc.double({ min: 0, max: 1000, noNaN: true }), fc.double({ min: 0, max: 1000, noNaN: true }), fc.double({ min: 0, max: 1000, noNaN: true })) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 0, max: 1e12 })) },
).map((t) => [...t]);
/** A completion whose box is near its ground truth, so the IoU arithmetic is exercised on real overlaps. */
const near = fc
  .tuple(fc.nat(900), fc.nat(900), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }), fc.array(fc.integer({ min: -6, max: 6 }), { minLength: 4, maxLength: 4 }), wellFormed)
  .map(([x, y, w, h, j, wf]) => {
    const b = [x, y, x + w, y + h];
    const text = wf.replace(/<answer>[^]*?<\/answer>/, `<answer>(${b[0]},${b[1]}),(${b[2]},${b[3]})</answer>`);
    return { text, gt: b.map((v, k) => v + j[k]!) };
  });
export const caseArb = fc.oneof(fc.record({ text: fc.oneof(soup, wellFormed), gt }), near);


/** The 4,000 seeded cases. */
export function parityCases(): Array<{ text: string; gt: number[] }> {
  return fc.sample(caseArb, { seed: PARITY_SEED, numRuns: PARITY_RUNS });
}
