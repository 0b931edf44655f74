/**
 * Shared pieces of the launch recipes: the "not run here" notice and small renderers. The recipes
 * themselves live with their format (formats/*.ts); tests read them back and check that every path,
 * column, key and hyper-parameter they name exists in the export or equals the paper's (paper.ts).
 */
import type { FormatContext } from './spec.js';

/** The notice every recipe starts with (`#` comments; Python and YAML read the same). */
export function notRunHere(trainer: string, ctx: FormatContext): string {
  const px = `${ctx.budget.minPixels}..${ctx.budget.maxPixels}`;
  return [
    `# ${trainer} launch recipe written by \`univg export\`. NOT RUN HERE: univg has no GPU cluster. It is checked by`,
    '# tests for consistency only (every path, column and key it names exists in this export; the',
    "# hyper-parameters are UniVG-R1's, reference/univg-r1.md), not by a training run.",
    `# Boxes: ${ctx.family} family, convention ${ctx.answerConvention}; image pixel budget ${px} (the export's; keep them equal).`,
    ...(ctx.curriculum ? ['# Rows are in a curriculum order (one shard per mIoU band): shuffling is off.'] : []),
  ].join('\n');
}

/** A number as Python and YAML read it back exactly (1e-6, not 0.000001). */
export function num(x: number): string {
  return Number.isInteger(x) ? String(x) : x < 1e-3 ? x.toExponential() : String(x);
}

export const pyList = (xs: readonly string[]) => `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`;
