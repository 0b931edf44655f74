/**
 * Model families and what each trainer does to an image before the model sees it: together they decide
 * the frame a ground-truth box must be written in. Qwen2-VL answers in 0-1000 of the image, whatever its
 * size; Qwen2.5-VL answers in pixels of its *input*, which is the original image after the trainer's own
 * resizing (reference/trainer-formats.md §6), so its boxes depend on the trainer and its pixel budget.
 *
 * How each trainer resizes (read in their code, see the README's export section):
 * - verl: qwen-vl-utils `smart_resize` (or the processor's, the same budget) with 3136..12845056 pixels;
 *   it has no setting for the budget.
 * - TRL and VLM-R1: the Qwen2.5-VL processor's `smart_resize`; the budget is the processor's
 *   min_pixels / max_pixels (VLM-R1: --min_pixels / --max_pixels), 3136..12845056 by default.
 * - EasyR1 and LLaMA-Factory: first their own resize into [min, max] pixels (`int(w * sqrt(max / (w * h)))`,
 *   defaults 262144..4194304 and 1024..589824), then the processor's `smart_resize` (3136..12845056).
 */
import { ConfigError } from '../errors.js';
import { smartResize } from '../geometry/smart-resize.js';
import type { BoxConvention } from '../schema/records.js';
import { EXPORT_FORMATS, MODEL_FAMILIES, type ExportFormat, type ModelFamily } from '../schema/config.js';

export { EXPORT_FORMATS, MODEL_FAMILIES, type ExportFormat, type ModelFamily };

/** The convention a family's model answers in (and its reward compares in). */
export function answerConvention(family: ModelFamily): BoxConvention {
  return family === 'qwen2vl' ? 'qwen2vl' : 'qwen25vl';
}

/** The Qwen2-VL / Qwen2.5-VL processor's own budget (preprocessor_config.json of the 7B checkpoints). */
export const PROCESSOR_PIXELS = { minPixels: 3136, maxPixels: 12845056 } as const;

export interface TrainerResize {
  /** `smart`: one smart_resize with the budget; `pre`: the trainer's resize into the budget, then the processor's smart_resize. */
  kind: 'smart' | 'pre';
  /** The trainer's default budget. */
  minPixels: number;
  maxPixels: number;
  /** Where the budget is set in the trainer; null when it cannot be set. */
  setting: string | null;
  /** LLaMA-Factory's Qwen2-VL plugin also widens a side under 28 px. */
  minSide?: number;
}

export const TRAINER_RESIZE: Readonly<Record<ExportFormat, TrainerResize>> = {
  verl: { kind: 'smart', ...PROCESSOR_PIXELS, setting: null },
  trl: { kind: 'smart', ...PROCESSOR_PIXELS, setting: 'the processor: AutoProcessor.from_pretrained(..., min_pixels=, max_pixels=)' },
  'vlm-r1': { kind: 'smart', ...PROCESSOR_PIXELS, setting: '--min_pixels / --max_pixels' },
  easyr1: { kind: 'pre', minPixels: 262144, maxPixels: 4194304, setting: 'data.min_pixels / data.max_pixels' },
  llamafactory: { kind: 'pre', minPixels: 32 * 32, maxPixels: 768 * 768, setting: 'image_min_pixels / image_max_pixels', minSide: 28 },
};

export interface PixelBudget {
  minPixels: number;
  maxPixels: number;
}

/**
 * The budget an export uses for a format: the user's, else the trainer's default. A budget verl cannot
 * be told about is refused when it would move boxes (Qwen2.5-VL); for Qwen2-VL it changes nothing.
 */
export function budgetFor(format: ExportFormat, family: ModelFamily, given: Partial<PixelBudget>): PixelBudget {
  const r = TRAINER_RESIZE[format];
  const minPixels = given.minPixels ?? r.minPixels;
  const maxPixels = given.maxPixels ?? r.maxPixels;
  if (minPixels > maxPixels) throw new ConfigError(`minPixels ${minPixels} is above maxPixels ${maxPixels}`, { field: 'minPixels' });
  if (r.setting === null && family === 'qwen25vl' && (minPixels !== r.minPixels || maxPixels !== r.maxPixels))
    throw new ConfigError(
      `${format} resizes images with a fixed budget of ${r.minPixels}..${r.maxPixels} pixels and has no setting for another, so Qwen2.5-VL boxes computed for ${minPixels}..${maxPixels} would be in the wrong frame; drop minPixels/maxPixels for ${format}`,
      { field: 'maxPixels' },
    );
  return { minPixels, maxPixels };
}

/** Python's `int()` of a positive float: truncation. */
const trunc = (x: number) => Math.trunc(x);

/**
 * The size of the model input a trainer makes from a `width` x `height` image (what Qwen2.5-VL's boxes are
 * pixels of). Arithmetic in the same order as the Python it mirrors, so sizes agree to the pixel.
 */
export function modelInputSize(format: ExportFormat, width: number, height: number, budget: PixelBudget): { width: number; height: number } {
  const r = TRAINER_RESIZE[format];
  if (r.kind === 'smart') return smartResize(width, height, budget);
  let w = width;
  let h = height;
  if (w * h > budget.maxPixels) {
    const f = Math.sqrt(budget.maxPixels / (w * h));
    [w, h] = [trunc(w * f), trunc(h * f)];
  }
  if (w * h < budget.minPixels) {
    const f = Math.sqrt(budget.minPixels / (w * h));
    [w, h] = [trunc(w * f), trunc(h * f)];
  }
  if (r.minSide !== undefined && Math.min(w, h) < r.minSide) [w, h] = [Math.max(w, r.minSide), Math.max(h, r.minSide)];
  return smartResize(w, h, PROCESSOR_PIXELS);
}
