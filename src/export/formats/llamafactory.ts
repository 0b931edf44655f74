/**
 * LLaMA-Factory (hiyouga/LLaMA-Factory): sharegpt rows with a `messages` column and image paths relative
 * to the dataset directory, registered in dataset_info.json (reference/trainer-formats.md §4). SFT only:
 * the paper's stage 1 (CoT-SFT) ran on it. Stored as JSON so the `datasets<=4.0.0` LLaMA-Factory pins
 * reads it without any Parquet feature metadata, and so `univg ingest --format llamafactory` reads it back.
 */
import type { LlamaFactoryRow } from '../../schema/records.js';
import { PAPER_SFT } from '../paper.js';
import { notRunHere, num } from '../recipes.js';
import type { FormatSpec } from '../spec.js';

/** The dataset name the export registers in dataset_info.json. */
export const LLAMAFACTORY_DATASET = 'univg_cot_sft';

export const llamafactoryFormat: FormatSpec = {
  name: 'llamafactory',
  title: 'LLaMA-Factory',
  pools: ['sft'],
  defaultPool: 'sft',
  storage: 'json',
  kind: () => 'LlamaFactoryRow',
  needsChain: () => true,
  toRow(r, { imagePath }): LlamaFactoryRow {
    return {
      messages: [
        { content: r.prompt, role: 'user' },
        { content: r.completion!, role: 'assistant' },
      ],
      images: r.images.map(imagePath),
      univg: { id: r.id, task: r.task, source: r.source, ...r.gt, difficulty: r.difficulty, weight: r.weight, bucket: r.bucket },
    };
  },
  plugins: [],
  recipes(ctx) {
    const P = PAPER_SFT;
    const info = {
      [LLAMAFACTORY_DATASET]: {
        file_name: 'data',
        formatting: 'sharegpt',
        columns: { messages: 'messages', images: 'images' },
        tags: { role_tag: 'role', content_tag: 'content', user_tag: 'user', assistant_tag: 'assistant' },
      },
    };
    const yaml = `${notRunHere('LLaMA-Factory', ctx)}
# UniVG-R1 stage 1 (CoT-SFT), the paper's sft/stage1_cotsft.yaml on the exported data.
# Usage (from this export directory): llamafactory-cli train recipes/sft.yaml
model_name_or_path: ${P.model}
image_max_pixels: ${ctx.budget.maxPixels}
image_min_pixels: ${ctx.budget.minPixels}
trust_remote_code: true

stage: sft
do_train: true
finetuning_type: full
freeze_vision_tower: ${P.freezeVisionTower}
deepspeed: examples/deepspeed/ds_z3_config.json

dataset: ${LLAMAFACTORY_DATASET}
dataset_dir: .
template: ${P.template}
cutoff_len: ${P.cutoffLen}
overwrite_cache: true
preprocessing_num_workers: 16

output_dir: saves/univg-stage1-cotsft
logging_steps: 10
save_steps: 500
plot_loss: true
overwrite_output_dir: true

per_device_train_batch_size: ${P.perDeviceBatch}
gradient_accumulation_steps: ${P.gradAccum}
learning_rate: ${num(P.lr)}
num_train_epochs: ${num(P.epochs)}
lr_scheduler_type: ${P.scheduler}
warmup_ratio: ${num(P.warmupRatio)}
bf16: ${P.bf16}
flash_attn: fa2
ddp_timeout: 180000000
`;
    return [
      { path: 'dataset_info.json', text: `${JSON.stringify(info, null, 2)}\n` },
      { path: 'recipes/sft.yaml', text: yaml },
    ];
  },
};
