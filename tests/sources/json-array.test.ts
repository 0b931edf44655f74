import { mkdtempSync, writeFileSync, openSync, writeSync, closeSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { JsonArrayScanner, newReaderStats, quotePythonNonFinite, readJsonArray, type ArrayItem } from '../../src/sources/json-array.js';

function scanChunked(text: string | Buffer, sizes: number[], opts = {}): ArrayItem[] {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  const s = new JsonArrayScanner(opts);
  const out: ArrayItem[] = [];
  let i = 0;
  let k = 0;
  while (i < bytes.length) {
    const n = Math.max(1, sizes[k++ % sizes.length] ?? 1);
    out.push(...s.push(bytes.subarray(i, i + n)));
    i += n;
  }
  s.end();
  return out;
}

function errorOf(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('expected an InputError');
}

async function collect(path: string, opts = {}): Promise<ArrayItem[]> {
  const out: ArrayItem[] = [];
  for await (const item of readJsonArray(path, opts)) out.push(item);
  return out;
}

const made: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'univg-json-'));
  made.push(d);
  return d;
};
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

describe('JsonArrayScanner', () => {
  it('yields every element exactly as JSON.parse reads it, however the bytes are chunked', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 5 }), fc.boolean(), (values, sizes, pretty) => {
        const text = pretty ? JSON.stringify(values, null, 2) : JSON.stringify(values);
        const expected = JSON.parse(text) as unknown[];
        const items = scanChunked(text, sizes);
        expect(items.map((i) => (i.ok ? i.value : i.error))).toEqual(expected);
        // Each offset/length points at exactly the element's own bytes.
        const bytes = Buffer.from(text);
        for (const it of items) expect(JSON.parse(bytes.subarray(it.offset, it.offset + it.length).toString('utf8'))).toEqual(expected[it.index]);
      }),
      { numRuns: 300 },
    );
  });

  it('handles escapes and multi-byte characters split across chunks', () => {
    const text = '[{"k":"a\\"]}\\\\","é":"日本"},"\\\\",["]"]]';
    for (const size of [1, 2, 3, 5, 7]) {
      const items = scanChunked(text, [size]);
      expect(items.map((i) => (i.ok ? i.value : null))).toEqual([{ k: 'a"]}\\', é: '日本' }, '\\', [']']]);
    }
  });

  it('accepts a UTF-8 BOM and surrounding whitespace, and an empty array', () => {
    expect(scanChunked('\ufeff \n[ {"a":1} ]\n', [1]).map((i) => (i.ok ? i.value : null))).toEqual([{ a: 1 }]);
    expect(scanChunked('[]', [64])).toEqual([]);
  });

  it('reports a truncated file with the byte offset where it ends and where the open element starts', () => {
    const text = '[{"a":1},\n {"b":[1,2';
    const e = errorOf(() => scanChunked(text, [4]));
    expect(e.context.offset).toBe(Buffer.byteLength(text));
    expect(e.context.elementOffset).toBe(11);
    expect(e.context.row).toBe(1);
    expect(e.describe()).toContain(`byte ${Buffer.byteLength(text)}`);
    expect(e.message).toContain('starts at byte 11');
    // Truncated between elements: still an error naming the end offset.
    const e2 = errorOf(() => scanChunked('[{"a":1},', [3]));
    expect(e2.context.offset).toBe(9);
    expect(e2.message).toContain("before the array is closed");
  });

  it('rejects non-arrays, missing commas, trailing commas and trailing data with the offending offset', () => {
    expect(errorOf(() => scanChunked('{"a":1}', [4])).context.offset).toBe(0);
    expect(errorOf(() => scanChunked('[{"a":1} {"b":2}]', [4])).context.offset).toBe(9);
    expect(errorOf(() => scanChunked('[1,]', [4])).context.offset).toBe(3);
    expect(errorOf(() => scanChunked('[1] x', [4])).context.offset).toBe(4);
    expect(errorOf(() => scanChunked('', [4])).message).toContain('empty');
  });

  it('yields an invalid element as ok:false and keeps reading the ones after it', () => {
    const items = scanChunked("[{\"a\":'x'}, {\"b\":2}]", [5]);
    expect(items[0]!.ok).toBe(false);
    expect(items[0]!.offset).toBe(1);
    expect(items[1]).toMatchObject({ ok: true, index: 1, value: { b: 2 } });
  });

  it("reads Python's NaN/Infinity literals as strings only when asked", () => {
    const text = '[{"answer":[NaN, -Infinity, 0.5, Infinity], "q":"NaN stays"}]';
    expect(scanChunked(text, [8])[0]!.ok).toBe(false);
    expect(scanChunked(text, [8], { pythonNonFinite: true })[0]).toMatchObject({ ok: true, value: { answer: ['NaN', '-Infinity', 0.5, 'Infinity'], q: 'NaN stays' } });
    expect(quotePythonNonFinite('{"a":"NaN"}')).toBeNull();
  });

  it('refuses an element larger than the limit instead of buffering it', () => {
    const big = `[{"a":"${'x'.repeat(5000)}"}]`;
    const e = errorOf(() => scanChunked(big, [1000], { maxElementBytes: 1024 }));
    expect(e.context.offset).toBe(1);
    expect(e.context.row).toBe(0);
  });
});

describe('readJsonArray (files)', () => {
  it('streams a large file with a buffer bounded by one chunk plus one element', async () => {
    const dir = tmp();
    const path = join(dir, 'big.json');
    const fd = openSync(path, 'w');
    const n = 20_000;
    writeSync(fd, '[\n');
    for (let i = 0; i < n; i++) {
      const rec = { id: `r${i}`, images: ['./a.png', './b.png'], conversations: [{ from: 'human', value: `<image>\n<image>\nFind thing ${i} ${'pad '.repeat(i % 50)}` }, { from: 'gpt', value: "It's in the first image. <|box_start|>(1,2),(3,4)<|box_end|>" }] };
      writeSync(fd, (i ? ',\n' : '') + JSON.stringify(rec));
    }
    writeSync(fd, '\n]\n');
    closeSync(fd);
    const size = statSync(path).size;
    const stats = newReaderStats();
    let count = 0;
    let lastId = '';
    for await (const item of readJsonArray(path, { stats, chunkSize: 64 * 1024 })) {
      expect(item.ok).toBe(true);
      if (item.ok) lastId = (item.value as { id: string }).id;
      count++;
    }
    expect(count).toBe(n);
    expect(lastId).toBe(`r${n - 1}`);
    expect(stats.bytesRead).toBe(size);
    expect(size).toBeGreaterThan(5_000_000);
    // Never more than one 64 KiB chunk plus the largest element in memory: a tiny fraction of the file.
    expect(stats.maxElementBytes).toBeLessThan(1024);
    expect(stats.maxBufferedBytes).toBeLessThanOrEqual(64 * 1024 + stats.maxElementBytes);
    expect(stats.maxBufferedBytes).toBeLessThan(size / 50);
  });

  it('names the byte offset of a truncated file', async () => {
    const dir = tmp();
    const path = join(dir, 'cut.json');
    const full = JSON.stringify([{ id: 'a', v: 1 }, { id: 'b', v: [1, 2, 3] }]);
    const cut = full.slice(0, full.length - 6);
    writeFileSync(path, cut);
    const seen: string[] = [];
    let err: unknown;
    try {
      for await (const item of readJsonArray(path)) if (item.ok) seen.push((item.value as { id: string }).id);
    } catch (e) {
      err = e;
    }
    expect(seen).toEqual(['a']);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).context).toMatchObject({ file: path, offset: Buffer.byteLength(cut), row: 1 });
  });

  it('turns a missing input into an InputError naming the file', async () => {
    await expect(collect('/nonexistent/dir/file.json')).rejects.toMatchObject({ code: 'input', context: { file: '/nonexistent/dir/file.json' } });
  });
});
