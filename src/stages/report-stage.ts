/** The report stage: report/index.html and figures.json for the whole run. */
import { buildReport } from '../report/index.js';
import type { Stage } from './stage.js';

export const reportStage: Stage = {
  name: 'report',
  description: 'write report/index.html: funnel, pass rates, IoU, cost, rejection examples (SQL over the shards via DuckDB)',
  inputs: ['select'],
  outputs: [],
  doneFile: 'report/index.html',
  mode: 'whole',
  settings: () => ({ version: 1 }),
  async runTask(ctx) {
    const { file } = await buildReport(ctx.runDir);
    ctx.log(`wrote ${file}`);
  },
};
