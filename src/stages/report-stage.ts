/** The report stage: report/index.html and figures.json for the whole run. */
import { buildReport } from '../report/index.js';
import type { Stage } from './stage.js';

export const reportStage: Stage = {
  name: 'report',
  description: 'write report/index.html: funnel, pass rates, IoU, cost, rejection examples (SQL over the shards via DuckDB); training curves and eval tables',
  inputs: ['select', 'train-sft', 'score', 'train-rl', 'eval'],
  // Whatever the pipeline produces: the corpus (select) and each training stage it turns on.
  inputsFor: (c) => [
    ...(c.source ? ['select'] : []),
    ...(c.train?.sft ? ['train-sft'] : []),
    ...(c.train?.score ? ['score'] : []),
    ...(c.train?.rl ? ['train-rl'] : []),
    ...(c.train?.eval ? ['eval'] : []),
  ],
  outputs: [],
  doneFile: 'report/index.html',
  mode: 'whole',
  derived: true,
  settings: () => ({ version: 1 }),
  async runTask(ctx) {
    const { file } = await buildReport(ctx.runDir);
    ctx.log(`wrote ${file}`);
  },
};
