/** `univg eval --predictions`: a file with bad lines is refused with every bad line listed, not only the first. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/errors.js';
import { readPredictionsFile } from '../../../src/train/eval/predictions-file.js';

const dir = mkdtempSync(join(tmpdir(), 'univg-preds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function errorOf(lines: string[], opts = {}): Promise<InputError> {
  const file = join(dir, `p${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  const err = await readPredictionsFile(file, opts).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  return err as InputError;
}

const ok = (id: string) => JSON.stringify({ id, completion: '<think>x</think><answer>(1,2),(3,4)</answer>', convention: 'qwen2vl' });

describe('readPredictionsFile', () => {
  it('reports every bad line of a file at once, each with its line number and reason', async () => {
    const e = await errorOf([ok('a'), '{"id": "b", "completion": ', ok('c'), '[1, 2]', JSON.stringify({ id: 'd', completion: 5 }), ok('a'), JSON.stringify({ id: 'e', completion: 'x', convention: 'xyxy' })]);
    expect(e.message).toMatch(/^5 bad lines: line 2: not JSON: .*; line 4: expected a JSON object \{"id", "completion"\}; line 5: "completion" must be a string \(or null for no answer\); line 6: id "a" appears twice \(first on line 1\); line 7: unknown convention "xyxy"; one of /);
    expect(e.context.line).toBe(2);
    expect(e.exitCode).toBe(2);
  });

  it('a single bad line keeps its own message and line', async () => {
    const e = await errorOf([ok('a'), JSON.stringify({ id: 'b', completion: 'x' })]);
    expect(e.message).toBe('no "convention" on the line and no --convention given; declare the box convention the model answers in');
    expect(e.context).toMatchObject({ line: 2, field: 'convention', recordId: 'b' });
  });

  it('a file of many bad lines lists the first 20 and counts the rest', async () => {
    const e = await errorOf(Array.from({ length: 25 }, (_, i) => `not json ${i}`));
    expect(e.message).toMatch(/^25 bad lines: line 1: not JSON/);
    expect(e.message).toContain('line 20: not JSON');
    expect(e.message).not.toContain('line 21:');
    expect(e.message).toMatch(/; and 5 more$/);
  });
});
