/**
 * Issue 14: one canonical JSON writer. The two there were disagreed (one wrote null for NaN, the other
 * threw; one wrote `[1,,3]` for a sparse array). Now: JSON.stringify's rules with sorted keys, and a
 * RecordError naming the place for a value JSON cannot hold without a hash collision.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordError } from '../../src/errors.js';
import { canonicalJson } from '../../src/schema/canonical.js';
import { hashOf } from '../../src/pipeline/canonical.js';
import { requestHash } from '../../src/teacher/request.js';

describe('canonicalJson', () => {
  it('sorts keys at every level and leaves undefined properties out', () => {
    expect(canonicalJson({ y: [{ b: 1, a: 2 }], x: null, u: undefined })).toBe('{"x":null,"y":[{"a":2,"b":1}]}');
  });

  it('writes holes and undefined array items as null, always valid JSON', () => {
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 3];
    expect(canonicalJson(sparse)).toBe('[1,null,3]');
    expect(canonicalJson([undefined, () => 1])).toBe('[null,null]');
    expect(JSON.parse(canonicalJson({ a: new Array(3) }))).toEqual({ a: [null, null, null] });
  });

  it.each([
    [{ a: [1, Number.NaN] }, 'a[1]'],
    [{ b: { c: Number.POSITIVE_INFINITY } }, 'b.c'],
    [Number.NEGATIVE_INFINITY, '(value)'],
    [{ big: 1n }, 'big'],
  ])('refuses value %# (a hash of null would collide) and names where', (value, field) => {
    let err: unknown;
    try {
      canonicalJson(value);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RecordError);
    expect((err as RecordError).context.field).toBe(field);
  });

  it('honours toJSON like JSON.stringify', () => {
    expect(canonicalJson({ t: new Date(0) })).toBe('{"t":"1970-01-01T00:00:00.000Z"}');
  });

  it('gives any JSON value back unchanged, with one text whatever the key order (integer-like keys included)', () => {
    const reversed = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reversed) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.keys(v).reverse().map((k) => [k, reversed((v as Record<string, unknown>)[k])])) : v;
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = canonicalJson(v);
        // What JSON itself can carry: -0 is written as 0 by JSON.stringify too.
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(v)));
        expect(canonicalJson(reversed(v))).toBe(text);
      }),
      { numRuns: 300 },
    );
    expect(canonicalJson({ z: -0 })).toBe('{"z":0}');
    // Sorted as strings: JS objects list integer-like keys first, so sorting an object's keys is not enough.
    expect(canonicalJson({ b: 1, '10': 2, '9': 3, '': 4 })).toBe('{"":4,"10":2,"9":3,"b":1}');
  });

  it('is the text behind the settings hash and the teacher request hash', () => {
    expect(hashOf({ b: 1, a: 2 })).toBe(hashOf({ a: 2, b: 1 }));
    const req = { model: 'm', params: { temperature: 0, max_tokens: 1 }, messages: [] };
    expect(requestHash(req as never)).toBe(requestHash({ messages: [], params: { max_tokens: 1, temperature: 0 }, model: 'm' } as never));
    expect(() => requestHash({ ...req, params: { temperature: Number.NaN, max_tokens: 1 } } as never)).toThrow(RecordError);
  });
});
