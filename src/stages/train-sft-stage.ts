/**
 * The train-sft stage: supervised fine-tuning of the in-repo model on the SFT pool (corpus/sft of this
 * run, or of the finished corpus run train.from). One whole-run task; a killed stage resumes from its last
 * checkpoint (the trainer's exact resume), and the stage is done when train/sft/done.json names the final
 * checkpoint.
 */
import { join } from 'node:path';
import { InterruptedError } from '../errors.js';
import { TRAIN_LAYOUT, DONE_FILE } from '../report/training.js';
import type { Stage } from './stage.js';
import { checkExternalPool, externalPool, sftOptions, sftSettings, trainerLog, writeDone } from './train-plan.js';

export const trainSftStage: Stage = {
  name: 'train-sft',
  description: 'supervised fine-tuning on corpus/sft: checkpoints, a per-update log (loss, tokens/s, learning rate) and held-out loss',
  inputs: ['select', 'train-vision'],
  inputsFor: (c) => [...(c.train?.from !== undefined ? [] : ['select']), ...(c.train?.vision ? ['train-vision'] : [])],
  outputs: [],
  doneFile: `${TRAIN_LAYOUT.sft}/${DONE_FILE}`,
  workDir: TRAIN_LAYOUT.sft,
  mode: 'whole',
  disabled: (c) => (c.train?.sft ? null : 'no train.sft section'),
  externalInputs: (c) => externalPool(c, 'sft'),
  settings: sftSettings,
  preflight: (c) => checkExternalPool(c, 'sft'),
  async runTask(ctx) {
    const { trainSft } = await import('../train/sft.js');
    const out = join(ctx.runDir, TRAIN_LAYOUT.sft);
    const r = await trainSft({ ...sftOptions(ctx.config, ctx.runDir), out, resume: true, signal: ctx.signal, log: trainerLog(ctx) });
    ctx.fact('tfjsBackend', r.backend.name);
    if (r.stopped !== 'done') throw new InterruptedError(`train-sft stopped at update ${r.step} of ${r.steps} (checkpoint kept; rerun to resume)`);
    const done = await writeDone(ctx.runDir, TRAIN_LAYOUT.sft, r.checkpoint);
    ctx.log(`done: ${done.step} updates, checkpoint ${done.checkpoint}, final loss ${r.finalLoss?.toFixed(4) ?? 'n/a'}, held-out ${r.finalEvalLoss?.toFixed(4) ?? 'n/a'} (${r.backend.name}, ${r.seconds.toFixed(1)} s)`);
  },
};
