/**
 * The train-rl stage: difficulty-aware GRPO from the SFT checkpoint (or train.rl.init) on the scored RL
 * pool (train/scored, or corpus/rl when the pipeline has no score stage). One whole-run task; a killed
 * stage resumes from its last checkpoint, and the stage is done when train/rl/done.json names the final one.
 */
import { join } from 'node:path';
import { InterruptedError } from '../errors.js';
import { DONE_FILE, TRAIN_LAYOUT } from '../report/training.js';
import type { PipelineConfig } from '../schema/config.js';
import type { Stage } from './stage.js';
import { checkCheckpointPath, checkExternalPool, corpusDir, externalPool, readDone, rlOptions, seedOf, sftCheckpointSetting, trainerLog, withoutRuntime, writeDone } from './train-plan.js';

function rlInputs(c: PipelineConfig): string[] {
  const r = c.train?.rl;
  if (!r) return [];
  const out: string[] = [];
  if (c.train?.score) out.push('score');
  else if (c.train?.from === undefined) out.push('select');
  if (sftCheckpointSetting(c, r.init)?.kind === 'stage') out.push('train-sft');
  return out;
}

export const trainRlStage: Stage = {
  name: 'train-rl',
  description: 'difficulty-aware GRPO on the scored RL pool from the SFT checkpoint: a per-step log (reward, mIoU buckets, weight, KL, clip fraction, length, format rate)',
  // Every stage it may read; inputsFor picks those this config uses.
  inputs: ['score', 'select', 'train-sft'],
  inputsFor: rlInputs,
  outputs: [],
  doneFile: `${TRAIN_LAYOUT.rl}/${DONE_FILE}`,
  workDir: TRAIN_LAYOUT.rl,
  mode: 'whole',
  disabled: (c) => (c.train?.rl ? null : 'no train.rl section'),
  // With a score stage the pool is its output (an input stage); without, the corpus's RL pool itself.
  externalInputs: (c) => (c.train?.score ? [] : externalPool(c, 'rl')),
  settings: (c) => {
    const r = c.train?.rl;
    if (!r) return null;
    return { from: c.train?.from ?? null, scored: c.train?.score !== undefined, ...withoutRuntime({ ...r, seed: seedOf(c, r.seed) }, ['checkpointEvery', 'keepCheckpoints']) };
  },
  preflight(c) {
    if (!c.train?.score) checkExternalPool(c, 'rl');
    checkCheckpointPath(c.train?.rl?.init, 'train.rl.init');
  },
  async runTask(ctx) {
    const c = ctx.config;
    const r = c.train!.rl!;
    const init = sftCheckpointSetting(c, r.init)!;
    const { trainRl } = await import('../train/rl/index.js');
    const res = await trainRl({
      ...rlOptions(c, ctx.runDir, {
        data: c.train?.score ? join(ctx.runDir, TRAIN_LAYOUT.scored) : corpusDir(c, ctx.runDir, 'rl'),
        init: init.kind === 'path' ? init.path : (await readDone(ctx.runDir, TRAIN_LAYOUT.sft)).path,
      }),
      signal: ctx.signal,
      log: trainerLog(ctx),
    });
    ctx.fact('tfjsBackend', res.backend.name);
    if (res.stopped !== 'done') throw new InterruptedError(`train-rl stopped at step ${res.step} of ${res.steps} (checkpoint kept; rerun to resume)`);
    const done = await writeDone(ctx.runDir, TRAIN_LAYOUT.rl, res.checkpoint);
    ctx.log(`done: ${done.step} GRPO steps, checkpoint ${done.checkpoint} (${res.backend.name}, ${res.seconds.toFixed(1)} s)`);
  },
};
