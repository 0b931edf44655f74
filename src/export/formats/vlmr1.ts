/**
 * VLM-R1 (om-ai-lab/VLM-R1, the trainer UniVG-R1 forked): JSON lines plus an image folder, the answer a
 * `[x1, y1, x2, y2]` box in original pixels (reference/trainer-formats.md §5). The reward functions
 * (plugins/vlmr1_reward.py) read the GroundTruth JSON from the `univg_gt` column, which VLM-R1 passes
 * to reward functions like every other column, so they compare in the model family's convention.
 */
import type { VlmR1Row } from '../../schema/records.js';
import { PAPER_GRPO } from '../paper.js';
import { notRunHere, num } from '../recipes.js';
import type { FormatSpec } from '../spec.js';

export const vlmr1Format: FormatSpec = {
  name: 'vlm-r1',
  title: 'VLM-R1',
  pools: ['rl', 'sft'],
  defaultPool: 'rl',
  storage: 'jsonl',
  kind: () => 'VlmR1Row',
  needsChain: () => false,
  toRow(r, { imagePath }): VlmR1Row {
    const [x1, y1, x2, y2] = r.gt.bbox_px;
    const W = r.gt.image_w;
    const H = r.gt.image_h;
    const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, Math.round(v)));
    const px = [clamp(x1, W), clamp(y1, H), clamp(x2, W), clamp(y2, H)];
    return {
      id: r.id,
      image: r.images.map(imagePath),
      conversations: [
        { from: 'human', value: r.prompt },
        { from: 'gpt', value: `[${px.join(', ')}]` },
      ],
      univg_gt: r.gtJson,
      image_w: W,
      image_h: H,
      convention: 'pixels',
      task: r.task,
      source: r.source,
      difficulty: r.difficulty,
      weight: r.weight,
      bucket: r.bucket,
    };
  },
  plugins: ['univg_reward.py', 'vlmr1_reward.py'],
  recipes(ctx) {
    const P = PAPER_GRPO;
    const files = ctx.dataFiles.map((f) => `$EXPORT_DIR/${f}`).join(':');
    const folders = ctx.dataFiles.map(() => '$EXPORT_DIR/').join(':');
    const launcher = `${notRunHere('VLM-R1', ctx)}
# Registers the UniVG-R1 rewards (plugins/vlmr1_reward.py) in VLM-R1's reward registry, then runs its
# grpo_jsonl.py main. VLM-R1 must be installed (pip install -e src/open-r1-multimodal in its repository).
# VLM-R1's own trainer has no difficulty weight: UniVG-R1's fork adds --miou_adjust True
# --miou_adjust_math exp; with upstream VLM-R1 use the verl or TRL export for phi(mIoU).
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plugins"))

from open_r1 import grpo_jsonl  # noqa: E402
from trl import TrlParser  # noqa: E402
from vlmr1_reward import REWARD_FUNCS  # noqa: E402

grpo_jsonl.reward_funcs_registry.update(REWARD_FUNCS)

if __name__ == "__main__":
    parser = TrlParser((grpo_jsonl.GRPOScriptArguments, grpo_jsonl.GRPOConfig, grpo_jsonl.GRPOModelConfig))
    script_args, training_args, model_args = parser.parse_args_and_config()
    grpo_jsonl.main(script_args, training_args, model_args)
`;
    const run = `#!/usr/bin/env bash
${notRunHere('VLM-R1', ctx)}
# UniVG-R1 stage 2 settings (run_grpo_univg.sh): 8 GPUs x ${P.perDeviceBatch} x ${P.gradAccum} = ${P.promptsPerStep} prompts x ${P.G} rollouts per update.
# Usage: MODEL_PATH=/path/to/univg-stage1 bash recipes/run_grpo.sh
set -euo pipefail
EXPORT_DIR="$(cd "$(dirname "\${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_PATH="\${MODEL_PATH:-${P.model}}"
torchrun --nproc_per_node=${P.gpus} --nnodes=1 \\
  "$EXPORT_DIR/recipes/vlmr1_train.py" \\
  --model_name_or_path "$MODEL_PATH" \\
  --output_dir univg-vlmr1-grpo \\
  --data_file_paths "${files}" \\
  --image_folders "${folders}" \\
  --reward_funcs univg_accuracy univg_format \\
  --min_pixels ${ctx.budget.minPixels} \\
  --max_pixels ${ctx.budget.maxPixels} \\
  --num_generations ${P.G} \\
  --beta ${num(P.beta)} \\
  --epsilon ${num(P.epsilon)} \\
  --learning_rate ${num(P.lr)} \\
  --temperature ${num(P.temperature)} \\
  --max_completion_length ${P.maxCompletionTokens} \\
  --per_device_train_batch_size ${P.perDeviceBatch} \\
  --gradient_accumulation_steps ${P.gradAccum} \\
  --num_train_epochs ${P.epochs} \\
  --freeze_vision_modules ${P.freezeVision ? 'true' : 'false'} \\
  --bf16 \\
  --gradient_checkpointing true \\
  --attn_implementation flash_attention_2 \\
  --data_seed ${P.seed} \\
  --save_steps ${P.saveSteps} \\
  "$@"
`;
    return [
      { path: 'recipes/vlmr1_train.py', text: launcher },
      { path: 'recipes/run_grpo.sh', text: run, executable: true },
    ];
  },
};
