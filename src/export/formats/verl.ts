/**
 * verl (volcengine/verl): the RLHF Parquet row of reference/trainer-formats.md §7, the `compute_score`
 * reward plugin, and the difficulty weight as a registered advantage estimator (`univg_grpo_phi`).
 */
import type { VerlRow } from '../../schema/records.js';
import { PAPER_GRPO } from '../paper.js';
import { notRunHere, num } from '../recipes.js';
import { embedded } from '../rows.js';
import type { FormatSpec } from '../spec.js';

/** Name the estimator registers under (plugins/verl_difficulty.py). */
export const VERL_ESTIMATOR = 'univg_grpo_phi';

export const verlFormat: FormatSpec = {
  name: 'verl',
  title: 'verl',
  pools: ['rl', 'sft'],
  defaultPool: 'rl',
  storage: 'parquet',
  kind: () => 'VerlRow',
  needsChain: () => false,
  toRow(r): VerlRow {
    return {
      data_source: 'univg',
      prompt: [{ content: r.prompt, role: 'user' }],
      images: embedded(r),
      ability: 'grounding',
      reward_model: { ground_truth: r.gtJson, style: 'rule' },
      extra_info: {
        index: r.index,
        split: 'train',
        image_w: r.gt.image_w,
        image_h: r.gt.image_h,
        difficulty: r.difficulty,
        weight: r.weight,
        bucket: r.bucket,
        source_id: r.id,
        convention: r.gt.convention,
        task: r.task,
        target_image: r.gt.target_image,
      },
    };
  },
  plugins: ['univg_reward.py', 'verl_reward.py', 'verl_difficulty.py'],
  recipes(ctx) {
    const P = PAPER_GRPO;
    const files = `[${ctx.dataFiles.map((f) => `'$EXPORT_DIR/${f}'`).join(',')}]`;
    const text = `#!/usr/bin/env bash
${notRunHere('verl', ctx)}
#
# UniVG-R1 stage 2: GRPO with the paper's difficulty weight phi(mIoU) = ${ctx.config.phi} on the policy-gradient
# term of each prompt's group, as the advantage estimator ${VERL_ESTIMATOR} (plugins/verl_difficulty.py,
# registered when verl loads plugins/verl_reward.py). Loss: per-sequence token mean, then the mean over
# sequences, plus beta * k3 KL to the reference model, as in the paper's trainer.
# Usage: MODEL_PATH=/path/to/univg-stage1 NGPUS=8 bash recipes/run_grpo.sh [more hydra overrides]
set -euo pipefail
EXPORT_DIR="$(cd "$(dirname "\${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_PATH="\${MODEL_PATH:-${P.model}}"
NGPUS="\${NGPUS:-${P.gpus}}"
FILES="${files}"

python3 -m verl.trainer.main_ppo \\
  algorithm.adv_estimator=${VERL_ESTIMATOR} \\
  algorithm.norm_adv_by_std_in_grpo=True \\
  algorithm.use_kl_in_reward=False \\
  data.train_files="$FILES" \\
  data.val_files="$FILES" \\
  data.prompt_key=prompt \\
  data.image_key=images \\
  data.reward_fn_key=data_source \\
  data.train_batch_size=${P.promptsPerStep} \\
  data.max_prompt_length=8192 \\
  data.max_response_length=${P.maxCompletionTokens} \\
  data.filter_overlong_prompts=True \\
  data.truncation=error \\
  data.shuffle=${ctx.curriculum ? 'False' : 'True'} \\
  actor_rollout_ref.model.path="$MODEL_PATH" \\
  actor_rollout_ref.model.enable_gradient_checkpointing=True \\
  actor_rollout_ref.actor.optim.lr=${num(P.lr)} \\
  actor_rollout_ref.actor.ppo_mini_batch_size=${P.promptsPerStep} \\
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=${P.perDeviceBatch} \\
  actor_rollout_ref.actor.ppo_epochs=1 \\
  actor_rollout_ref.actor.clip_ratio=${num(P.epsilon)} \\
  actor_rollout_ref.actor.use_kl_loss=True \\
  actor_rollout_ref.actor.kl_loss_coef=${num(P.beta)} \\
  actor_rollout_ref.actor.kl_loss_type=low_var_kl \\
  actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-mean \\
  actor_rollout_ref.actor.entropy_coeff=0 \\
  actor_rollout_ref.actor.freeze_vision_tower=${P.freezeVision ? 'True' : 'False'} \\
  actor_rollout_ref.rollout.name=vllm \\
  actor_rollout_ref.rollout.n=${P.G} \\
  actor_rollout_ref.rollout.temperature=${num(P.temperature)} \\
  actor_rollout_ref.rollout.gpu_memory_utilization=0.6 \\
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=${P.perDeviceBatch} \\
  actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=${P.perDeviceBatch} \\
  custom_reward_function.path="$EXPORT_DIR/plugins/verl_reward.py" \\
  custom_reward_function.name=compute_score \\
  +custom_reward_function.reward_kwargs.pack_format=True \\
  trainer.n_gpus_per_node="$NGPUS" \\
  trainer.nnodes=1 \\
  trainer.total_epochs=${P.epochs} \\
  trainer.val_before_train=False \\
  trainer.test_freq=-1 \\
  trainer.save_freq=${P.saveSteps} \\
  trainer.project_name=univg \\
  trainer.experiment_name=univg-r1-grpo \\
  "$@"
`;
    return [{ path: 'recipes/run_grpo.sh', text, executable: true }];
  },
};
