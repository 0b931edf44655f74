/**
 * The train-vision stage: pretrain the vit tower on the corpus's images (the synthetic source's scene file
 * says where every object is, and what) before SFT. One whole-run task; a killed stage resumes from its
 * last checkpoint, and the stage is done when train/vision/done.json names the final checkpoint. train-sft
 * then starts from this tower.
 */
import { join } from 'node:path';
import { InterruptedError } from '../errors.js';
import { DONE_FILE, TRAIN_LAYOUT } from '../report/training.js';
import type { Stage } from './stage.js';
import { trainerLog, visionOptions, visionSettings, writeDone } from './train-plan.js';

export const trainVisionStage: Stage = {
  name: 'train-vision',
  description: 'pretrain the vision tower on the corpus images: objects, colours, shapes and boxes per image cell',
  inputs: ['ingest'],
  inputsFor: (c) => (c.train?.from !== undefined ? [] : ['ingest']),
  outputs: [],
  doneFile: `${TRAIN_LAYOUT.vision}/${DONE_FILE}`,
  workDir: TRAIN_LAYOUT.vision,
  mode: 'whole',
  disabled: (c) => (c.train?.vision ? null : 'no train.vision section'),
  settings: visionSettings,
  async runTask(ctx) {
    const { trainVision } = await import('../train/vision/train.js');
    const out = join(ctx.runDir, TRAIN_LAYOUT.vision);
    const r = await trainVision({ ...visionOptions(ctx.config, ctx.runDir), out, resume: true, signal: ctx.signal, log: trainerLog(ctx) });
    if (r.stopped !== 'done') throw new InterruptedError(`train-vision stopped at update ${r.step} of ${r.steps} (checkpoint kept; rerun to resume)`);
    const done = await writeDone(ctx.runDir, TRAIN_LAYOUT.vision, r.checkpoint);
    const m = r.metrics;
    ctx.log(`done: ${done.step} updates, checkpoint ${done.checkpoint}${m ? `, held-out boxes IoU>=0.5 ${(100 * m.boxAcc50).toFixed(1)}%` : ''} (${r.backend.name}, ${r.seconds.toFixed(1)} s)`);
  },
};
