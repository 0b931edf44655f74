/**
 * The options of one training run, as the library (`trainSft`, `trainRl`, `scoreCorpus`) and the CLI
 * (`univg train sft`, `univg train rl`, `univg score`) take them: the pipeline's sections (config.ts, the
 * only definition of every hyperparameter and its default) plus what a single run names itself: its
 * data, its output, whether it resumes. A pipeline fills these from its config and its run directory.
 *
 * The one difference from the pipeline: there a section's seed defaults to the pipeline's `seed` (0
 * unless set); a run on its own has no pipeline, so its seed defaults to 0 here.
 */
import { z } from 'zod';
import { BoxConvention } from './records.js';
import { ScoreEndpointConfig, TRAIN_BACKENDS, TrainBackend, TrainRlConfig, TrainScoreConfig, TrainSftConfig, TrainVisionConfig, TrainWorkers } from './config.js';

const dirs = (what: string) => z.array(z.string().min(1)).min(1).describe(what);
const dataRoot = z.string().min(1).optional().describe('directory relative image paths in the rows are resolved against (the run directory for image-store paths)');
const seed = (what: string) => z.number().int().default(0).describe(what);

/** What a run does besides its hyperparameters: how it computes and where it stops (no effect on the result). */
const runControls = {
  resume: z.boolean().default(false).describe('continue from the latest checkpoint in the output directory, exactly'),
  backend: TrainBackend,
  workers: TrainWorkers,
  stopAfter: z.number().int().nonnegative().optional().describe('stop after N updates in this process, with a checkpoint (to split a run)'),
};

export const SftRunOptions = TrainSftConfig.extend({
  data: dirs('SftRow stage directory, e.g. runs/demo/corpus/sft'),
  dataRoot,
  out: z.string().min(1).describe('output directory: checkpoints/, train-log.jsonl, loss-curve.svg, result.json'),
  seed: seed(TrainSftConfig.shape.seed.description!.replace(/ \(default: the pipeline seed\)$/, '')),
  ...runControls,
});
export type SftRunOptions = z.output<typeof SftRunOptions>;

export const VisionRunOptions = TrainVisionConfig.extend({
  data: dirs('synthetic suite directory (`univg synth` output, or a run\'s source/): scenes.jsonl and images/'),
  out: z.string().min(1).describe('output directory: checkpoints/, vision-log.jsonl, result.json'),
  seed: seed(TrainVisionConfig.shape.seed.description!.replace(/ \(default: the pipeline seed\)$/, '')),
  ...runControls,
});
export type VisionRunOptions = z.output<typeof VisionRunOptions>;

export const RlRunOptions = TrainRlConfig.extend({
  data: dirs('RlRow (or SftRow) stage directory: the RL pool, e.g. runs/demo/corpus/rl'),
  dataRoot,
  init: z.string().min(1).describe('SFT checkpoint (or SFT output directory): the starting policy and the frozen KL reference'),
  out: z.string().min(1).describe('output directory: checkpoints/, rl-log.jsonl, rl-curves.svg, result.json'),
  seed: seed(TrainRlConfig.shape.seed.description!.replace(/ \(default: the pipeline seed\)$/, '')),
  ...runControls,
});
export type RlRunOptions = z.output<typeof RlRunOptions>;

/** scoreCorpus's settings besides its data and its model (a checkpoint or an endpoint). */
export const ScoreSettings = TrainScoreConfig.omit({ checkpoint: true, endpoint: true }).extend({
  seed: seed(TrainScoreConfig.shape.seed.description!.replace(/ \(default: the pipeline seed\)$/, '')),
});
export type ScoreSettings = z.output<typeof ScoreSettings>;

/**
 * `univg score`'s flags: the settings, the data, and the model flattened (a checkpoint, or an endpoint
 * with its own options). Which of them apply to which model is checked by the command.
 */
const ep = ScoreEndpointConfig.shape;
export const ScoreRunFlags = ScoreSettings.extend({
  data: dirs('RlRow or SftRow shard directory (an SftRow row loses its chain and becomes an RlRow)'),
  dataRoot,
  out: z.string().min(1).describe('output RlRow shard directory'),
  checkpoint: z.string().min(1).optional().describe('score with a checkpoint of the in-repo model (or a training output directory: its latest checkpoint)'),
  endpoint: ep.baseUrl.optional().describe('score with the model behind this OpenAI-compatible base URL (vLLM, `univg teacher serve`, ...)'),
  model: ep.model.optional().describe('model name sent to --endpoint'),
  apiKeyEnv: ep.apiKeyEnv,
  concurrency: ep.concurrency,
  cacheDir: ep.cacheDir,
  convention: BoxConvention.optional().describe("box convention the model answers in (default: the checkpoint's, or each row's own for --endpoint)"),
  minPixels: ep.minPixels,
  maxPixels: ep.maxPixels,
  backend: TrainBackend,
});

/** `univg train parity`: does a backend compute what the reference computes (src/train/parity.ts)? */
export const ParityOptions = z.strictObject({
  backend: z.enum(TRAIN_BACKENDS).default('webgpu').describe('the backend to check'),
  reference: z.enum(TRAIN_BACKENDS).default('cpu').describe('the backend it must agree with (cpu: the plainest kernels)'),
  seed: seed('seed of the weights and batches compared'),
  fitSteps: z.number().int().min(1).default(60).describe('updates that fit one example before greedy generation is compared'),
});
export type ParityOptions = z.output<typeof ParityOptions>;
