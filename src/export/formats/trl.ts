/**
 * TRL (huggingface/trl): GRPOTrainer rows (a conversational prompt without <image> tokens; every other
 * column reaches the reward functions) for the RL pool, SFTTrainer prompt-completion rows for the SFT
 * pool (reference/trainer-formats.md §3). The difficulty weight is a GRPOTrainer subclass
 * (plugins/trl_grpo.py) that scales each group's advantages by phi(mIoU) of its own rollouts.
 */
import type { TrlGrpoRow, TrlSftRow } from '../../schema/records.js';
import { PAPER_GRPO, PAPER_SFT } from '../paper.js';
import { notRunHere, num, pyList } from '../recipes.js';
import { embedded } from '../rows.js';
import type { FormatSpec } from '../spec.js';

export const trlFormat: FormatSpec = {
  name: 'trl',
  title: 'TRL',
  pools: ['rl', 'sft'],
  defaultPool: 'rl',
  storage: 'parquet',
  kind: (pool) => (pool === 'sft' ? 'TrlSftRow' : 'TrlGrpoRow'),
  needsChain: (pool) => pool === 'sft',
  toRow(r, { pool }): TrlGrpoRow | TrlSftRow {
    const base = { id: r.id, prompt: [{ content: r.text, role: 'user' as const }], images: embedded(r) };
    const gt = { solution: r.gtJson, task: r.task, image_w: r.gt.image_w, image_h: r.gt.image_h, convention: r.gt.convention };
    if (pool === 'sft') return { ...base, completion: [{ content: r.completion!, role: 'assistant' }], ...gt };
    return { ...base, ...gt, difficulty: r.difficulty, weight: r.weight, bucket: r.bucket };
  },
  plugins: ['univg_reward.py', 'trl_rewards.py', 'trl_grpo.py'],
  recipes(ctx) {
    const header = notRunHere('TRL', ctx);
    const load = `import os
import sys

EXPORT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(EXPORT_DIR, "plugins"))

from datasets import load_dataset  # noqa: E402
from transformers import AutoProcessor  # noqa: E402

MODEL_PATH = os.environ.get("MODEL_PATH", ${JSON.stringify(ctx.pool === 'sft' ? PAPER_SFT.model : PAPER_GRPO.model)})
OUTPUT_DIR = os.environ.get("OUTPUT_DIR", "univg-trl-${ctx.pool === 'sft' ? 'sft' : 'grpo'}")
DATA_FILES = [os.path.join(EXPORT_DIR, f) for f in ${pyList(ctx.dataFiles)}]
MIN_PIXELS = ${ctx.budget.minPixels}
MAX_PIXELS = ${ctx.budget.maxPixels}

dataset = load_dataset("parquet", data_files=DATA_FILES, split="train")
# The pixel budget the export computed Qwen2.5-VL boxes for: the processor must resize with the same.
processor = AutoProcessor.from_pretrained(MODEL_PATH, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
`;
    if (ctx.pool === 'sft') {
      const P = PAPER_SFT;
      const text = `${header}
# UniVG-R1 stage 1 (CoT-SFT) with TRL's SFTTrainer on the exported prompt-completion rows.
# Usage: MODEL_PATH=Qwen/Qwen2-VL-7B-Instruct accelerate launch recipes/train_sft.py
${load}
from trl import SFTConfig, SFTTrainer  # noqa: E402

args = SFTConfig(
    output_dir=OUTPUT_DIR,
    learning_rate=${num(P.lr)},
    lr_scheduler_type=${JSON.stringify(P.scheduler)},
    warmup_ratio=${num(P.warmupRatio)},
    num_train_epochs=${P.epochs},
    per_device_train_batch_size=${P.perDeviceBatch},
    gradient_accumulation_steps=${P.gradAccum},
    bf16=${P.bf16 ? 'True' : 'False'},
    gradient_checkpointing=True,
    max_length=None,
    shuffle_dataset=${ctx.curriculum ? 'False' : 'True'},
)
trainer = SFTTrainer(model=MODEL_PATH, args=args, train_dataset=dataset, processing_class=processor)
trainer.train()
trainer.save_model(OUTPUT_DIR)
`;
      return [{ path: 'recipes/train_sft.py', text }];
    }
    const P = PAPER_GRPO;
    const text = `${header}
# UniVG-R1 stage 2 with TRL's GRPOTrainer: accuracy (IoU) + format rewards (plugins/trl_rewards.py) and the
# difficulty weight phi(mIoU) = ${ctx.config.phi} on each group's policy-gradient term (plugins/trl_grpo.py).
# loss_type "grpo" is the paper's per-sequence token mean; scale_rewards "group" its (r - mean) / (std + 1e-4).
# Usage: MODEL_PATH=/path/to/univg-stage1 accelerate launch --num_processes ${P.gpus} recipes/train_grpo.py
${load}
from trl import GRPOConfig  # noqa: E402
from trl_grpo import UnivgGRPOTrainer  # noqa: E402
from trl_rewards import univg_accuracy, univg_format  # noqa: E402

args = GRPOConfig(
    output_dir=OUTPUT_DIR,
    num_generations=${P.G},
    beta=${num(P.beta)},
    epsilon=${num(P.epsilon)},
    learning_rate=${num(P.lr)},
    temperature=${num(P.temperature)},
    max_completion_length=${P.maxCompletionTokens},
    per_device_train_batch_size=${P.perDeviceBatch},
    gradient_accumulation_steps=${P.gradAccum},
    num_train_epochs=${P.epochs},
    loss_type="grpo",
    scale_rewards="group",
    bf16=${P.bf16 ? 'True' : 'False'},
    gradient_checkpointing=True,
    seed=${P.seed},
    save_steps=${P.saveSteps},
    shuffle_dataset=${ctx.curriculum ? 'False' : 'True'},
    logging_steps=1,
)
trainer = UnivgGRPOTrainer(
    model=MODEL_PATH,
    reward_funcs=[univg_accuracy, univg_format],
    args=args,
    train_dataset=dataset,
    processing_class=processor,
    phi=${JSON.stringify(ctx.config.phi)},
    phi_power=${num(ctx.config.phiPower)},
)
trainer.train()
trainer.save_model(OUTPUT_DIR)
`;
    return [{ path: 'recipes/train_grpo.py', text }];
  },
};
