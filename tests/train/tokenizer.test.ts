import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildTokenizer, pretokenize, Tokenizer, wtf8Decode, wtf8Encode } from '../../src/train/tokenizer.js';
import { realTexts } from './helpers.js';

const texts = realTexts();
const tok = buildTokenizer(texts.flatMap((t) => [t.prompt, t.completion]));

describe('tokenizer', () => {
  it('round-trips every real prompt and completion exactly', () => {
    for (const t of texts) {
      expect(tok.decode(tok.encode(t.completion))).toBe(t.completion);
      expect(tok.decode(tok.encode(t.prompt))).toBe(t.prompt);
    }
  });

  it('encodes corpus words as single tokens, so completions are short', () => {
    const c = texts[0]!.completion;
    const ids = tok.encode(c);
    // Words with their leading space are one token each: far fewer tokens than characters.
    expect(ids.length).toBeLessThan(c.length / 4);
    expect(ids.some((id) => tok.pieceOf(id) === ' the')).toBe(true);
  });

  it('round-trips arbitrary strings, lone surrogates included (property)', () => {
    const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: anyUnit })), (s) => {
        expect(tok.decode(tok.encode(s))).toBe(s);
      }),
      { numRuns: 400 },
    );
  });

  it('round-trips mixtures of corpus words, coordinates, specials and unseen text (property)', () => {
    const words = [...new Set(texts.flatMap((t) => t.completion.split(/(?=[ (),.<])/)))];
    const piece = fc.oneof(
      fc.constantFrom(...words),
      fc.integer({ min: 0, max: 5000 }).map(String),
      fc.constantFrom('<think>', '</think>', '<answer>', '</answer>', '<image>', '<|box_start|>', '<pad>', '<eos>', '  ', '\n\n', '007'),
      fc.string({ unit: 'binary', maxLength: 4 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (parts) => {
        const s = parts.join('');
        expect(tok.decode(tok.encode(s))).toBe(s);
      }),
      { numRuns: 300 },
    );
  });

  it('makes every coordinate 0..1000 a single token and spells larger numbers digit by digit', () => {
    for (const v of [0, 1, 9, 10, 250, 999, 1000]) expect(tok.encode(String(v))).toEqual([tok.coordId(v)]);
    expect(tok.encode('(159,256),(306,562)')).toEqual([
      tok.encode('(')[0],
      tok.coordId(159),
      tok.encode(',')[0],
      tok.coordId(256),
      tok.encode(')')[0],
      tok.encode(',')[0],
      tok.encode('(')[0],
      tok.coordId(306),
      tok.encode(',')[0],
      tok.coordId(562),
      tok.encode(')')[0],
    ]);
    expect(tok.encode('1024')).toEqual([1, 0, 2, 4].map((d) => tok.coordId(d)));
    expect(tok.encode('007')).toEqual([0, 0, 7].map((d) => tok.coordId(d)));
    expect(tok.coordValue(tok.coordId(737))).toBe(737);
    expect(tok.coordValue(tok.think)).toBeNull();
  });

  it('has the special tokens as single tokens; pad/bos/eos never come from text and decode to nothing', () => {
    expect(tok.encode('<think>a</think><answer>b</answer><image>')).toEqual([tok.think, ...tok.encode('a'), tok.thinkEnd, tok.answer, ...tok.encode('b'), tok.answerEnd, tok.image]);
    expect(tok.encode('<eos>')).not.toContain(tok.eos);
    expect(tok.decode([tok.bos, ...tok.encode('hi'), tok.eos, tok.pad])).toBe('hi');
  });

  it('falls back to characters, then bytes, for text the corpus never had', () => {
    const s = 'the tead ☃ 𝄞';
    const ids = tok.encode(s);
    expect(tok.decode(ids)).toBe(s);
    // "tead" is no corpus word: space + 4 character tokens.
    expect(tok.encode(' tead').map((id) => tok.pieceOf(id))).toEqual([' ', 't', 'e', 'a', 'd']);
    // The snowman and the clef are not in the vocabulary: their UTF-8 bytes are byte tokens.
    expect(tok.encode('☃')).toEqual([0xe2, 0x98, 0x83].map((b) => 8 + b));
    expect(tok.encode('𝄞')).toEqual([0xf0, 0x9d, 0x84, 0x9e].map((b) => 8 + b));
  });

  it('decodes any id sequence a model might emit without throwing (bad bytes become U+FFFD)', () => {
    expect(tok.decode([8 + 0xff, 8 + 0x41])).toBe('\ufffdA');
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: tok.vocabSize - 1 }), { maxLength: 40 }), (ids) => {
        expect(typeof tok.decode(ids)).toBe('string');
      }),
    );
  });

  it('is saved as JSON and loads back to the same tokenizer', () => {
    const again = Tokenizer.fromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
    expect(again.vocabSize).toBe(tok.vocabSize);
    for (const t of texts.slice(0, 5)) expect(again.encode(t.completion)).toEqual(tok.encode(t.completion));
    expect(() => Tokenizer.fromJSON({ ...tok.toJSON(), coordBase: 3 })).toThrow(/layout/);
    expect(() => Tokenizer.fromJSON({ ...tok.toJSON(), pieces: ['ab', 'ab'] })).toThrow(/twice/);
  });

  it('is built deterministically from the same texts', () => {
    const again = buildTokenizer(texts.flatMap((t) => [t.prompt, t.completion]));
    expect(again.toJSON()).toEqual(tok.toJSON());
  });

  it('pre-tokenizes into pieces that concatenate back to the text', () => {
    const s = 'a  b\t\tc <|box_start|>(1,2)<|box_end|> x';
    expect([...pretokenize(s)].map(([, p]) => p).join('')).toBe(s);
    expect([...pretokenize(s)].map(([, p]) => p)).toContain('<|box_start|>');
  });

  it('WTF-8 encodes lone surrogates and decodes them back', () => {
    for (const s of ['\ud800', 'a\udc00b', '\udc00\ud800', '😀']) expect(wtf8Decode(wtf8Encode(s))).toBe(s);
  });
});
