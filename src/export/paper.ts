/**
 * UniVG-R1's training settings (reference/univg-r1.md §3), the values every launch recipe states. One
 * definition: the recipes are rendered from these and a test reads them back out of the rendered files.
 */

/** Stage 2: GRPO with VLM-R1's trainer, 8 GPUs, ZeRO-3 (run_grpo_univg.sh and the trainer defaults). */
export const PAPER_GRPO = {
  model: 'Qwen/Qwen2-VL-7B-Instruct',
  /** Rollouts per prompt (num_generations). */
  G: 8,
  /** KL coefficient (k3 estimator). */
  beta: 0.04,
  /** Ratio clip. */
  epsilon: 0.2,
  lr: 1e-6,
  /** Hard-coded in their GenerationConfig. */
  temperature: 1,
  maxCompletionTokens: 256,
  /** 8 GPUs x 8 per device x 2 accumulation = 128 completions = 16 prompts x 8 rollouts per update. */
  gpus: 8,
  perDeviceBatch: 8,
  gradAccum: 2,
  promptsPerStep: 16,
  epochs: 1,
  /** --miou_adjust_math exp: e^(1 - mIoU). */
  phi: 'exp',
  freezeVision: true,
  bf16: true,
  seed: 42,
  saveSteps: 200,
} as const;

/** Stage 1: CoT-SFT with LLaMA-Factory (sft/stage1_cotsft.yaml). */
export const PAPER_SFT = {
  model: 'Qwen/Qwen2-VL-7B-Instruct',
  template: 'qwen2_vl',
  lr: 5e-6,
  scheduler: 'cosine',
  warmupRatio: 0.015,
  epochs: 1,
  perDeviceBatch: 1,
  gradAccum: 3,
  cutoffLen: 6000,
  /** image_max_pixels of their SFT (also the MIG-Bench eval budget). */
  imageMaxPixels: 401408,
  freezeVisionTower: true,
  bf16: true,
  gpus: 8,
} as const;
