/** `univg synth` as a user runs it: a real process, real files. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = join(import.meta.dirname, '../../../bin/univg.js');
let dir: string;

async function univg(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [bin, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'univg-synth-cli-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('univg synth', () => {
  it('writes a suite and reports its counts', async () => {
    const out = join(dir, 'suite');
    const r = await univg('synth', '--out', out, '--samples', '4', '--seed', '3', '--tasks', 'refer_grounding,object_tracking', '--difficulty', 'easy', '--test-fraction', '0', '--json');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.counts).toMatchObject({ samples: 4, byTask: { refer_grounding: 2, object_tracking: 2 }, byDifficulty: { easy: 4 }, bySplit: { train: 4, test: 0 } });
    const all = JSON.parse(await readFile(join(out, 'all.json'), 'utf8'));
    expect(all).toHaveLength(4);
    expect(JSON.parse(await readFile(join(out, 'test.json'), 'utf8'))).toEqual([]);
  });

  it('rejects bad usage with exit code 2 and one line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--samples', '3', '--seed', '1'], /--out/],
      [['--out', join(dir, 'x'), '--samples', 'many', '--seed', '1'], /--samples/],
      [['--out', join(dir, 'x'), '--samples', '3', '--seed', '-1'], /--seed must be an integer from 0 to 4294967295, got "-1"/],
      [['--out', join(dir, 'x'), '--samples', '3', '--seed', '1', '--tasks', 'diff,region'], /--tasks must be one or more of .*, got "region"/],
      [['--out', join(dir, 'x'), '--samples', '3', '--seed', '1', '--difficulty', 'extreme'], /--difficulty/],
      [['--out', join(dir, 'x'), '--samples', '3', '--seed', '1', '--test-fraction', '1.5'], /--test-fraction/],
      [['--out', bin, '--samples', '3', '--seed', '1'], /cannot create the output directory/],
    ];
    const results = await Promise.all(cases.map(([args]) => univg('synth', ...args)));
    for (const [i, [args, pattern]] of cases.entries()) {
      const r = results[i]!;
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
      expect(r.stdout).toBe('');
    }
  });
});
