/**
 * Bad input: a pool whose rows lack what a format needs (no chain of thought for SFT, no usable ground
 * truth for RL, a missing image, placeholders that do not match the images) fails the export with every
 * such row named, and leaves nothing half-written: no format directory, no partial directory, and an
 * earlier complete export of the same format untouched. The CLI prints one error and exits 2.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { exportCorpus, runPools } from '../../src/export/index.js';
import { writeShards } from '../../src/store/index.js';
import { makeCorpusRun, tempDir, type CorpusRun } from './fixture.js';

const tmp = tempDir('bad');
let run: CorpusRun;
const ROOT = join(import.meta.dirname, '..', '..');

beforeAll(async () => {
  run = await makeCorpusRun(tmp.dir, 8);
}, 120_000);
afterAll(() => tmp.cleanup());

const hidden = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('.')) : []);

describe('rows a format cannot use', () => {
  it('an SFT pool with rows without a chain of thought: LLaMA-Factory names each of them and writes nothing', async () => {
    const dir = join(tmp.dir, 'bad-sft');
    const rows = run.sft.map((r, i) => (i === 1 ? { ...r, completion: '' } : i === 4 ? { ...r, completion: '<answer>(1,2),(3,4)</answer>' } : r));
    await writeShards('SftRow', rows, { dir, count: 2 });
    const out = join(tmp.dir, 'out-sft');
    const err = await exportCorpus({ config: { formats: ['llamafactory'], modelFamily: 'qwen2vl' }, pools: { sft: dir }, dataRoot: tmp.dir, out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^2 row\(s\) of .*bad-sft cannot be exported for LLaMA-Factory \(sft pool\); nothing was written:/);
    expect(msg).toMatch(/sft-001 \(.*part-0000\d-of-00002\.parquet, row \d+, field completion\): no_chain_of_thought: the row has no chain of thought/);
    expect(msg).toMatch(/sft-004 \(.*, field completion\): no_chain_of_thought: the completion has no <think>/);
    expect(existsSync(join(out, 'llamafactory'))).toBe(false);
    expect(hidden(out)).toEqual([]);
  });

  it('an RL pool with a broken ground truth, a missing image and a placeholder mismatch: verl names the rows and reasons', async () => {
    const dir = join(tmp.dir, 'bad-rl');
    const rows = run.rl.map((r, i) => {
      if (i === 0) return { ...r, targetBox: [50, 10, 20, 40] as [number, number, number, number] };
      if (i === 3) return { ...r, targetImage: 7 };
      if (i === 5) return { ...r, images: r.images.map((im) => ({ bytes: null, path: 'images/zz/nowhere.png' })) };
      if (i === 6) return { ...r, prompt: r.prompt.replace('<image>', '') };
      return r;
    });
    await writeShards('RlRow', rows, { dir, count: 2 });
    const out = join(tmp.dir, 'out-rl');
    const err = await exportCorpus({ config: { formats: ['verl'], modelFamily: 'qwen25vl' }, pools: { rl: dir }, dataRoot: tmp.dir, out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^4 row\(s\) of .* cannot be exported for verl \(rl pool\)/);
    expect(msg).toMatch(/rl-000 .*field targetBox\): no_ground_truth: no usable ground-truth box \(box must satisfy x1 < x2/);
    expect(msg).toMatch(/rl-003 .*field targetBox\): no_ground_truth: target image 7 is not one of the row's 1 image/);
    expect(msg).toMatch(/rl-005 .*field images\[0\]\): image_missing: image images\/zz\/nowhere.png is not under/);
    expect(msg).toMatch(/rl-006 .*field prompt\): image_count_mismatch: 0 <image> placeholder\(s\) for 1 image\(s\)/);
    expect(existsSync(join(out, 'verl'))).toBe(false);
    expect(hidden(out)).toEqual([]);
  });

  it('a failed re-export leaves the earlier complete export as it was', async () => {
    const out = join(tmp.dir, 'out-keep');
    await exportCorpus({ config: { formats: ['vlm-r1'], modelFamily: 'qwen2vl' }, pools: await runPools(tmp.dir), dataRoot: tmp.dir, out });
    const before = readFileSync(join(out, 'vlm-r1', '_manifest.json'), 'utf8');
    const err = await exportCorpus({ config: { formats: ['vlm-r1'], modelFamily: 'qwen2vl' }, pools: { rl: join(tmp.dir, 'bad-rl') }, dataRoot: tmp.dir, out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(readFileSync(join(out, 'vlm-r1', '_manifest.json'), 'utf8')).toBe(before);
    expect(hidden(out)).toEqual([]);
  });

  it('univg export: one error naming the rows, exit code 2, nothing written; a missing --model-family is a usage error', () => {
    const out = join(tmp.dir, 'out-cli');
    rmSync(out, { recursive: true, force: true });
    const cli = (args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin', 'univg.js'), 'export', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    const r = cli(['--data', join(tmp.dir, 'bad-rl'), '--data-root', tmp.dir, '--out', out, '--format', 'verl,trl', '--model-family', 'qwen2vl']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^univg: input: 4 row\(s\) of .*bad-rl cannot be exported for verl/);
    expect(r.stderr).toContain('rl-005');
    expect(existsSync(join(out, 'verl'))).toBe(false);
    const r2 = cli(['--run', tmp.dir, '--format', 'verl']);
    expect(r2.status).toBe(2);
    expect(r2.stderr.trim()).toMatch(/^univg: usage: missing required option --model-family <kind>/);
  }, 120_000);
});
