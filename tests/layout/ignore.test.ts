/**
 * Issue 14: a stray scratch script (`pool.tmp.ts` was committed once) never reaches the repository: the
 * ignore rules catch scratch names, and none is tracked.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const git = (args: string[]) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });

describe('scratch files', () => {
  it.each(['pool.tmp.ts', 'src/train/x.tmp.mjs', 'bench/notes.tmp.json', '.part-00000-of-00004.parquet.123-0.tmp'])('%s is ignored', (name) => {
    expect(git(['check-ignore', '--no-index', '-q', name]).status).toBe(0);
  });

  it('real sources are not ignored', () => {
    for (const name of ['src/store/writer.ts', 'tests/repo/ignore.test.ts', 'src/audit/assets/app.js']) expect(git(['check-ignore', '--no-index', '-q', name]).status, name).toBe(1);
  });

  it('no tracked file has a scratch name', () => {
    const tracked = git(['ls-files']).stdout.split('\n').filter((f) => /(^|\/)[^/]*\.tmp(\.[^/]*)?$/.test(f));
    expect(tracked).toEqual([]);
  });
});
