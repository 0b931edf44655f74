/**
 * The export stage: the corpus (and the scored RL pool when the pipeline scores it) written for the
 * trainers the `export` section lists, with plugins and recipes (src/export/). Whole-run: it reads every
 * part of its pools; each format is resumable and atomic on its own (see export.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InterruptedError } from '../errors.js';
import { EXPORT_SUMMARY } from '../export/export.js';
import { TRAIN_LAYOUT } from '../report/training.js';
import { MANIFEST_NAME } from '../store/manifest.js';
import type { Stage } from './stage.js';
import { corpusDir, corpusRoot, externalPool } from './train-plan.js';

export const exportStage: Stage = {
  name: 'export',
  description: 'write the corpus for verl, EasyR1, TRL, LLaMA-Factory and VLM-R1: data, reward and difficulty plugins, launch recipes, dataset cards',
  inputs: [],
  // The corpus (this run's select, or train.from's), and the scored pool when the pipeline scores.
  inputsFor: (c) => [...(c.train?.from === undefined ? ['select'] : []), ...(c.train?.score ? ['score'] : [])],
  outputs: [],
  doneFile: `export/${EXPORT_SUMMARY}`,
  mode: 'whole',
  disabled: (c) => (c.export ? null : 'no export section'),
  externalInputs: (c) => [...externalPool(c, 'sft'), ...externalPool(c, 'rl')],
  settings: (c) => ({ export: c.export ?? null, from: c.train?.from ?? null }),
  async runTask(ctx) {
    const c = ctx.config;
    const { exportCorpus } = await import('../export/index.js');
    const scored = join(ctx.runDir, TRAIN_LAYOUT.scored);
    const rl = c.train?.score && existsSync(join(scored, MANIFEST_NAME)) ? scored : corpusDir(c, ctx.runDir, 'rl');
    await exportCorpus({
      config: c.export!,
      pools: { sft: corpusDir(c, ctx.runDir, 'sft'), rl },
      dataRoot: corpusRoot(c, ctx.runDir),
      out: join(ctx.runDir, 'export'),
      signal: ctx.signal,
      log: (l) => ctx.log(l.replace(/^export /, '')),
    });
    if (ctx.signal.aborted) throw new InterruptedError();
  },
};
