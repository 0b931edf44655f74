/**
 * The simulated teacher as a judge: a request that asks it to pick the best of several numbered
 * reasoning chains (the select stage's `judge-v1` prompt, recognised by its reply instruction) is
 * answered `Best: k`, where chain k is the one whose last box lies closest (IoU) to the target the
 * simulator itself perceives in the images. Pure and deterministic: no sampling, whatever the temperature.
 */
import { iou } from '../../geometry/index.js';
import { parseQuestion } from '../../sources/synthetic/vocabulary.js';
import { fromConvention, type ConventionContext } from './boxes.js';
import type { PerceivedScene, PixelBox } from './perceive.js';
import { solve } from './solve.js';

/** The instruction every judge prompt ends with; its presence is what makes a request a judge request. */
const REPLY_INSTRUCTION = /Reply with "Best: <number>"/;
const QUESTION_LINE = /^Question: (.*)$/m;
const CHAIN_HEADER = /^### Candidate (\d+)$/gm;
const BOX = /\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)\s*,?\s*\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)/g;

export function isJudgeRequest(text: string): boolean {
  return REPLY_INSTRUCTION.test(text);
}

export interface JudgeText {
  question: string;
  /** Chain texts in their numbered order (chain 1 first). */
  chains: string[];
}

/** The question line and the numbered chains of a judge prompt (chains end at the next header or the reply instruction). */
export function parseJudgeText(text: string): JudgeText {
  const question = QUESTION_LINE.exec(text)?.[1]?.trim() ?? '';
  const end = text.search(REPLY_INSTRUCTION);
  const body = end >= 0 ? text.slice(0, end) : text;
  const heads = [...body.matchAll(CHAIN_HEADER)];
  const chains = heads.map((h, i) => body.slice(h.index + h[0].length, i + 1 < heads.length ? heads[i + 1]!.index : body.length).trim());
  return { question, chains };
}

/** The last `(x1,y1),(x2,y2)` written in a chain, as numbers in the convention; null when it has none. */
export function lastBox(chain: string): [number, number, number, number] | null {
  let last: RegExpExecArray | null = null;
  for (const m of chain.matchAll(BOX)) last = m;
  return last ? (last.slice(1, 5).map(Number) as [number, number, number, number]) : null;
}

/**
 * 1-based number of the best chain: the highest IoU between its last box (read in the target image of
 * the simulator's own solution) and the target it perceives; the earliest on ties. Chain 1 without
 * images, without chains that carry a box, or when nothing is perceived.
 */
export function judgePick(text: string, scenes: readonly PerceivedScene[], conv: ConventionContext): number {
  const { question, chains } = parseJudgeText(text);
  if (scenes.length === 0 || chains.length === 0) return 1;
  const solution = solve(parseQuestion(question), scenes, question);
  const scene = scenes[solution.target]!;
  const seen: PixelBox | undefined = solution.candidates[0]?.box;
  if (!seen) return 1;
  let best = 1;
  let bestIou = -1;
  chains.forEach((chain, i) => {
    const box = lastBox(chain);
    if (!box) return;
    // iou() is 0 for a degenerate or inverted box, so a garbled chain simply matches nothing.
    const score = iou(fromConvention(box, scene.width, scene.height, conv), seen);
    if (score > bestIou) {
      bestIou = score;
      best = i + 1;
    }
  });
  return best;
}
