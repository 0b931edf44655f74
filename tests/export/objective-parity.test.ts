/**
 * The difficulty weight the exports apply in verl (advantage estimator univg_grpo_phi) and TRL
 * (UnivgGRPOTrainer) gives the update of univg's own GRPO objective (src/train/rl/objective.ts), checked
 * in plain Python on the same rewards: groups of 8 of the 4,000 generated completions, rewarded by the
 * exported plugins in Python and by the TypeScript rewards here. The Python side scales each group's
 * advantages by phi(mIoU) and computes each trainer's loss from them; the TypeScript side computes its
 * objective, which puts phi on the policy-gradient term instead. Equal values show the claim the
 * estimator rests on: phi > 0 passes through the min of the clipped objective (and verl's dual clip).
 *
 * The policy's log-probabilities come from a fixed table (a stand-in that only feeds numbers to the real
 * objective, groupLoss): old and reference log-probs are offset so ratios range over [0.5, 2] and the
 * clip binds on some tokens.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accuracyReward, formatReward } from '../../src/completion/index.js';
import { exportCorpus, runPools } from '../../src/export/index.js';
import { canonicalJson } from '../../src/schema/canonical.js';
import { selectBackend } from '../../src/train/backend.js';
import type { GroundingModel, ModelBatch } from '../../src/train/model/index.js';
import { groupAdvantages, mean, phi, std, type PhiKind } from '../../src/train/rl/difficulty.js';
import { groupLoss } from '../../src/train/rl/objective.js';
import { Rng } from '../../src/train/rng.js';
import { parityCases } from '../completion/reward-generator.js';
import { runPython } from '../python.js';
import { makeCorpusRun, tempDir } from './fixture.js';

const G = 8;
const BETA = 0.04;
const EPSILON = 0.2;
const tmp = tempDir('objective');
let out: string;

beforeAll(async () => {
  await selectBackend({ prefer: 'cpu', only: true });
  await makeCorpusRun(tmp.dir, 2);
  out = join(tmp.dir, 'export');
  await exportCorpus({ config: { formats: ['verl', 'trl'], modelFamily: 'qwen2vl' }, pools: await runPools(tmp.dir), dataRoot: tmp.dir, out });
}, 120_000);
afterAll(() => tmp.cleanup());

interface Group {
  texts: string[];
  gts: string[];
  gtBoxes: number[][];
  logp: number[][];
  old: number[][];
  ref: number[][];
}

function groups(): Group[] {
  const cases = parityCases();
  const rng = new Rng('objective-parity');
  const out: Group[] = [];
  for (let g = 0; g + G <= cases.length; g += G) {
    const cs = cases.slice(g, g + G);
    const lens = cs.map(() => 1 + rng.int(12));
    const logp = lens.map((n) => Array.from({ length: n }, () => -0.05 - 3 * rng.uniform()));
    // Offsets within ln 2 either way: ratios in [0.5, 2], so the 0.2 clip binds and verl's dual clip (3) never does.
    const old = logp.map((row) => row.map((x) => x + (rng.uniform() * 2 - 1) * 0.69));
    const ref = logp.map((row) => row.map((x) => x + (rng.uniform() * 2 - 1) * 0.5));
    out.push({
      texts: cs.map((c) => c.text),
      gts: cs.map((c) => canonicalJson({ bbox: c.gt, bbox_px: c.gt, convention: 'qwen2vl', image_h: 1000, image_w: 1000, input_h: null, input_w: null, target_image: 0 })),
      gtBoxes: cs.map((c) => c.gt),
      logp,
      old,
      ref,
    });
  }
  return out;
}

/** univg's objective for one group: the TypeScript rewards, advantages, phi and groupLoss. */
function tsGroup(g: Group, kind: PhiKind, power: number): { adv: number[]; loss: number; weight: number; spread: number } {
  const acc = g.texts.map((t, i) => accuracyReward(t, g.gtBoxes[i]!));
  const totals = g.texts.map((t, i) => acc[i]! + formatReward(t));
  const advantages = groupAdvantages(totals);
  const weight = phi(mean(acc), { kind, power });
  const Lc = 12;
  const cMask = new Uint8Array(G * Lc);
  g.logp.forEach((row, i) => row.forEach((_, k) => (cMask[i * Lc + k] = 1)));
  const batch = { B: G, Lc, cMask } as unknown as ModelBatch;
  const policy = { logProbs: () => tf.tensor1d(g.logp.flat()) } as unknown as GroundingModel;
  const loss = tf.tidy(() =>
    groupLoss(policy, { batch, advantages, weight, refLogProbs: new Float32Array(g.ref.flat()), oldLogProbs: new Float32Array(g.old.flat()), scale: 1 / G }, { beta: BETA, epsilon: EPSILON }).loss.dataSync()[0]!,
  );
  return { adv: advantages.map((a) => a * weight), loss, weight, spread: std(totals) };
}

interface PyGroup {
  advVerl: number[];
  advVerl32: number[];
  advTrl: number[];
  lossVerl: number;
  lossTrl: number;
}

describe('difficulty weight as exported for verl and TRL', () => {
  for (const [kind, power] of [['exp', 1], ['power', 2], ['log', 1]] as const) {
    it(`phi ${kind}: advantages and losses equal univg's objective on 500 groups of the generated completions`, () => {
      const gs = groups();
      expect(gs).toHaveLength(500);
      const py = JSON.parse(
        runPython([join(import.meta.dirname, 'objective_ref.py')], JSON.stringify({ verl: join(out, 'verl', 'plugins'), trl: join(out, 'trl', 'plugins'), beta: BETA, epsilon: EPSILON, phi: kind, phi_power: power, groups: gs })),
      ) as PyGroup[];
      let weighted = 0;
      gs.forEach((g, i) => {
        const ts = tsGroup(g, kind, power);
        const p = py[i]!;
        const close = (a: number, b: number, rel: number, abs = 1e-12) => Math.abs(a - b) <= abs + rel * Math.abs(b);
        ts.adv.forEach((a, k) => {
          // Same float64 arithmetic up to the last bits of exp/pow/log in the two runtimes.
          expect(close(p.advTrl[k]!, a, 1e-12), `group ${i} rollout ${k}: TRL ${p.advTrl[k]} vs ${a}`).toBe(true);
          expect(close(p.advVerl[k]!, a, 1e-12, 1e-9), `group ${i} rollout ${k}: verl ${p.advVerl[k]} vs ${a}`).toBe(true);
          // verl holds rewards as float32: each reward comes back within 2^-22, so the advantage moves by at
          // most about 2 * 2^-22 * weight * (1 + |A|) / (std + eps).
          const bound = (4 * 2 ** -22 * ts.weight * (1 + Math.abs(a / ts.weight))) / (ts.spread + 1e-4) + 1e-9;
          expect(Math.abs(p.advVerl32[k]! - a) <= bound, `group ${i} rollout ${k}: verl float32 ${p.advVerl32[k]} vs ${a} (bound ${bound})`).toBe(true);
        });
        // The losses: TypeScript in float32 tensors, Python in float64.
        expect(close(p.lossTrl, ts.loss, 2e-5, 2e-6), `group ${i}: TRL loss ${p.lossTrl} vs ${ts.loss}`).toBe(true);
        expect(close(p.lossVerl, ts.loss, 2e-5, 2e-6), `group ${i}: verl loss ${p.lossVerl} vs ${ts.loss}`).toBe(true);
        if (ts.adv.some((a) => a !== 0)) weighted++;
      });
      // Most groups must carry a learning signal, or equal losses would prove little.
      expect(weighted).toBeGreaterThan(250);
    }, 120_000);
  }

  it('a weight on the reward would not do it: scaling a group\'s rewards leaves its advantages unchanged', () => {
    const script = ['import sys', `sys.path.insert(0, ${JSON.stringify(join(out, 'trl', 'plugins'))})`, 'import univg_reward as u', 'r = [0.1, 1.9, 1.2, 0.0, 1.5, 0.3, 1.0, 1.7]', 'a = u.weighted_advantages(r, [0.0]*8, [0]*8, kind="none")', 'b = u.weighted_advantages([2.5 * x for x in r], [0.0]*8, [0]*8, kind="none")', 'print(max(abs(x - y) for x, y in zip(a, b)) < 1e-3, max(abs(x) for x in a) > 0.5)'].join('\n');
    expect(runPython(['-c', script], '').trim()).toBe('True True');
  });
});
