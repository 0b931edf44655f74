/**
 * EasyR1 (hiyouga/EasyR1): a plain-string prompt split at <image>, and an answer column holding the
 * GroundTruth JSON, the only thing its reward function is given (reference/trainer-formats.md §2).
 * EasyR1 has no advantage-estimator registry, so the difficulty weight is not applied here; its
 * `online_filtering` (keep prompts whose mean accuracy is inside (low, high)) is the nearest knob.
 */
import type { EasyR1Row } from '../../schema/records.js';
import { PAPER_GRPO } from '../paper.js';
import { notRunHere, num } from '../recipes.js';
import { embedded } from '../rows.js';
import type { FormatSpec } from '../spec.js';

export const easyr1Format: FormatSpec = {
  name: 'easyr1',
  title: 'EasyR1',
  pools: ['rl', 'sft'],
  defaultPool: 'rl',
  storage: 'parquet',
  kind: () => 'EasyR1Row',
  needsChain: () => false,
  toRow(r): EasyR1Row {
    return {
      id: r.id,
      problem: r.prompt,
      answer: r.gtJson,
      images: embedded(r),
      task: r.task,
      image_w: r.gt.image_w,
      image_h: r.gt.image_h,
      convention: r.gt.convention,
      difficulty: r.difficulty,
      weight: r.weight,
      bucket: r.bucket,
    };
  },
  plugins: ['univg_reward.py', 'easyr1_reward.py'],
  recipes(ctx) {
    const P = PAPER_GRPO;
    const config = `${notRunHere('EasyR1', ctx)}
# UniVG-R1 stage 2 settings. Paths are set by recipes/run_grpo.sh (relative to this export).
data:
  train_files: data@train
  val_files: data@train
  prompt_key: problem
  answer_key: answer
  image_key: images
  format_prompt: null
  max_prompt_length: 8192
  max_response_length: ${P.maxCompletionTokens}
  rollout_batch_size: ${P.promptsPerStep}
  shuffle: ${ctx.curriculum ? 'false' : 'true'}
  seed: ${P.seed}
  min_pixels: ${ctx.budget.minPixels}
  max_pixels: ${ctx.budget.maxPixels}
  filter_overlong_prompts: true
algorithm:
  adv_estimator: grpo
  disable_kl: false
  use_kl_loss: true
  kl_penalty: low_var_kl
  kl_coef: ${num(P.beta)}
  online_filtering: false
  filter_key: accuracy
worker:
  actor:
    global_batch_size: ${P.promptsPerStep}
    clip_ratio_low: ${num(P.epsilon)}
    clip_ratio_high: ${num(P.epsilon)}
    loss_avg_mode: seq
    ppo_epochs: 1
    model:
      freeze_vision_tower: ${P.freezeVision}
      enable_gradient_checkpointing: true
    optim:
      lr: ${num(P.lr)}
  rollout:
    n: ${P.G}
    temperature: ${num(P.temperature)}
    top_p: 1.0
  reward:
    reward_function: plugins/easyr1_reward.py:compute_score
trainer:
  total_epochs: ${P.epochs}
  n_gpus_per_node: ${P.gpus}
  nnodes: 1
  val_before_train: false
  val_freq: -1
  save_freq: ${P.saveSteps}
  project_name: univg
  experiment_name: univg-r1-grpo-easyr1
`;
    const run = `#!/usr/bin/env bash
${notRunHere('EasyR1', ctx)}
# Usage: MODEL_PATH=/path/to/univg-stage1 bash recipes/run_grpo.sh [more overrides]
set -euo pipefail
EXPORT_DIR="$(cd "$(dirname "\${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_PATH="\${MODEL_PATH:-${P.model}}"
python3 -m verl.trainer.main \\
  config="$EXPORT_DIR/recipes/config.yaml" \\
  data.train_files="$EXPORT_DIR/data@train" \\
  data.val_files="$EXPORT_DIR/data@train" \\
  worker.actor.model.model_path="$MODEL_PATH" \\
  worker.reward.reward_function="$EXPORT_DIR/plugins/easyr1_reward.py:compute_score" \\
  "$@"
`;
    return [
      { path: 'recipes/config.yaml', text: config },
      { path: 'recipes/run_grpo.sh', text: run, executable: true },
    ];
  },
};
