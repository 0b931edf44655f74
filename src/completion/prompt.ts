/** The user text of a training row, as the paper's data has it (shared by selection, export and generation). */
import type { GroundingSample } from '../schema/records.js';

/** UniVG-R1's instruction, appended to every grounding question (eval and RL prompts use it verbatim). */
export const COT_INSTRUCTION = 'First output the thinking process in <think> </think> tags and then output the bounding box in <answer> </answer> tags.';

/** The user text of a training row: one `<image>` per image (verl and LLaMA-Factory count them), then the question. */
export function trainingPrompt(sample: GroundingSample): string {
  return `${'<image>'.repeat(sample.images.length)}${sample.question} ${COT_INSTRUCTION}`;
}
