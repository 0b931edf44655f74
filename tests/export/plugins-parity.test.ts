/**
 * The exported Python reward plugins give the TypeScript reward's values, exactly (Object.is, so -0.0
 * counts), on the same 4,000 generated completions the TypeScript reward is checked on against the paper's
 * Python (tests/completion/reward-generator.ts). Each plugin runs from a real export's plugins/ directory
 * under Debian's python3 (standard library only), through the calling convention of its trainer: verl's
 * compute_score(data_source, solution_str, ground_truth, extra_info), EasyR1's batch of reward inputs,
 * TRL's reward functions over chat completions with dataset columns as keywords, VLM-R1's registry
 * functions reading the univg_gt column.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accuracyReward, formatReward } from '../../src/completion/index.js';
import { exportCorpus, runPools } from '../../src/export/index.js';
import { canonicalJson } from '../../src/schema/canonical.js';
import { parityCases } from '../completion/reward-generator.js';
import { runPython } from '../python.js';
import { makeCorpusRun, tempDir } from './fixture.js';

const tmp = tempDir('plugins');
let out: string;

beforeAll(async () => {
  await makeCorpusRun(tmp.dir, 2);
  out = join(tmp.dir, 'export');
  await exportCorpus({ config: { formats: ['verl', 'easyr1', 'trl', 'vlm-r1'], modelFamily: 'qwen2vl' }, pools: await runPools(tmp.dir), dataRoot: tmp.dir, out });
}, 120_000);
afterAll(() => tmp.cleanup());

interface PluginValues {
  verl: [number, number, number];
  verlPacked: number;
  easyr1: [number, number, number];
  trl: [number, number];
  vlmr1: [number, number];
}

describe('exported reward plugins', () => {
  it('are the files in src/export/plugins, byte for byte, in every export', () => {
    for (const [fmt, files] of [['verl', ['univg_reward.py', 'verl_reward.py', 'verl_difficulty.py']], ['easyr1', ['univg_reward.py', 'easyr1_reward.py']], ['trl', ['univg_reward.py', 'trl_rewards.py', 'trl_grpo.py']], ['vlm-r1', ['univg_reward.py', 'vlmr1_reward.py']]] as const) {
      for (const f of files) expect(readFileSync(join(out, fmt, 'plugins', f), 'utf8'), `${fmt}/${f}`).toBe(readFileSync(join(import.meta.dirname, '../../src/export/plugins', f), 'utf8'));
    }
  });

  it('give the TypeScript reward exactly on the 4000 generated completions, through each trainer\'s calling convention', () => {
    const cases = parityCases();
    // The ground truth as every export writes it: GroundTruth JSON whose bbox is in the model's frame.
    const gts = cases.map((c) => canonicalJson({ bbox: c.gt, bbox_px: c.gt, convention: 'qwen2vl', image_h: 1000, image_w: 1000, input_h: null, input_w: null, target_image: 0 }));
    const dirs = ['verl', 'easyr1', 'trl', 'vlm-r1'].map((f) => join(out, f, 'plugins'));
    const py = JSON.parse(runPython([join(import.meta.dirname, 'plugin_parity.py')], JSON.stringify({ plugins: dirs, cases: cases.map((c, i) => ({ text: c.text, gt: gts[i] })) }))) as PluginValues[];
    expect(py).toHaveLength(4000);
    let formatOnes = 0;
    let accNonZero = 0;
    cases.forEach((c, i) => {
      const acc = accuracyReward(c.text, c.gt);
      const fmt = formatReward(c.text);
      const p = py[i]!;
      const where = JSON.stringify(c);
      expect(p.verl, where).toEqual([acc + fmt, acc, fmt]);
      expect(Object.is(p.verl[1], acc), where).toBe(true);
      expect(Object.is(p.verlPacked, acc + 2 * fmt), where).toBe(true);
      expect(Object.is(p.easyr1[0], acc + fmt) && Object.is(p.easyr1[1], acc) && p.easyr1[2] === fmt, where).toBe(true);
      expect(Object.is(p.trl[0], acc) && p.trl[1] === fmt, where).toBe(true);
      expect(Object.is(p.vlmr1[0], acc) && p.vlmr1[1] === fmt, where).toBe(true);
      formatOnes += fmt;
      if (acc !== 0) accNonZero++;
    });
    // Both outcomes must be exercised, or the comparison proves little.
    expect(formatOnes).toBeGreaterThan(300);
    expect(formatOnes).toBeLessThan(3700);
    expect(accNonZero).toBeGreaterThan(300);
  }, 120_000);

  it('refuse a ground truth that is not univg GroundTruth JSON, saying so', () => {
    const script = ['import sys, json', `sys.path.insert(0, ${JSON.stringify(join(out, 'verl', 'plugins'))})`, 'import verl_reward', 'try:', '    verl_reward.compute_score("univg", "<think>a</think><answer>(1,2),(3,4)</answer>", "[1, 2, 3, 4]")', 'except ValueError as e:', '    print(e)'].join('\n');
    expect(runPython(['-c', script], '')).toMatch(/univg: the ground truth needs bbox, convention, image_w, image_h/);
  });
});
