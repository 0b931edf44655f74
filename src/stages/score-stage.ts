/**
 * The score stage: the difficulty of every row of the RL pool (corpus/rl), from G rollouts of the SFT
 * model (or train.score.checkpoint, or a model behind an OpenAI-compatible endpoint): mean IoU (mIoU),
 * the weight phi(mIoU) and the mIoU bucket, written as RlRow shards to train/scored/ (optionally filtered
 * and ordered as a curriculum). Done when its manifest exists; a killed stage keeps the parts it finished.
 */
import { InterruptedError } from '../errors.js';
import { TRAIN_LAYOUT } from '../report/training.js';
import type { PipelineConfig, TrainScoreConfig } from '../schema/config.js';
import { MANIFEST_NAME } from '../store/manifest.js';
import type { ScoreOptions } from '../train/score/index.js';
import type { Stage } from './stage.js';
import { checkCheckpointPath, checkExternalPool, externalPool, readDone, scoreRunOptions, seedOf, sftCheckpointSetting, withoutRuntime } from './train-plan.js';

/** Score with train-sft's checkpoint unless the section names a checkpoint or an endpoint. */
const usesSftStage = (s: TrainScoreConfig, c: PipelineConfig): boolean => s.endpoint === undefined && sftCheckpointSetting(c, s.checkpoint)?.kind === 'stage';

function scoreInputs(c: PipelineConfig): string[] {
  const s = c.train?.score;
  if (!s) return [];
  const out = c.train?.from === undefined ? ['select'] : [];
  if (usesSftStage(s, c)) out.push('train-sft');
  return out;
}

async function modelOf(s: TrainScoreConfig, c: PipelineConfig, runDir: string): Promise<ScoreOptions['model']> {
  if (s.endpoint) return { endpoint: s.endpoint };
  const from = sftCheckpointSetting(c, s.checkpoint)!;
  const checkpoint = from.kind === 'path' ? from.path : (await readDone(runDir, TRAIN_LAYOUT.sft)).path;
  return { checkpoint, ...(c.train?.backend !== undefined ? { backend: c.train.backend } : {}) };
}

export const scoreStage: Stage = {
  name: 'score',
  description: 'difficulty of each RL-pool row from G rollouts of the SFT model: mIoU, weight phi(mIoU), bucket',
  // Every stage it may read; inputsFor picks those this config uses.
  inputs: ['select', 'train-sft'],
  inputsFor: scoreInputs,
  outputs: [],
  doneFile: `${TRAIN_LAYOUT.scored}/${MANIFEST_NAME}`,
  workDir: TRAIN_LAYOUT.scored,
  mode: 'whole',
  disabled: (c) => (c.train?.score ? null : 'no train.score section'),
  externalInputs: (c) => externalPool(c, 'rl'),
  settings: (c) => {
    const s = c.train?.score;
    if (!s) return null;
    const endpoint = s.endpoint ? withoutRuntime(s.endpoint, ['concurrency', 'timeoutMs', 'maxRetries', 'apiKeyEnv']) : undefined;
    return { from: c.train?.from ?? null, ...s, endpoint, seed: seedOf(c, s.seed) };
  },
  preflight(c) {
    checkExternalPool(c, 'rl');
    checkCheckpointPath(c.train?.score?.checkpoint, 'train.score.checkpoint');
  },
  async runTask(ctx) {
    const c = ctx.config;
    const s = c.train!.score!;
    const { scoreCorpus } = await import('../train/score/index.js');
    let lastDone = 0;
    let lastTotal = -1;
    const r = await scoreCorpus({
      ...scoreRunOptions(c, ctx.runDir),
      model: await modelOf(s, c, ctx.runDir),
      signal: ctx.signal,
      log: (l) => ctx.log(l.replace(/^score: /, '')),
      progress: (done, total) => {
        if (total !== null && total !== lastTotal) ctx.progress.setTotal((lastTotal = total));
        if (done > lastDone) ctx.progress.advance(done - lastDone);
        lastDone = Math.max(lastDone, done);
      },
    });
    if (ctx.signal.aborted) throw new InterruptedError();
    ctx.log(`done: ${r.rows} rows written (${r.scored} scored, ${r.quarantined} quarantined, mean mIoU ${r.meanDifficulty.toFixed(3)}) from ${r.source}`);
  },
};
