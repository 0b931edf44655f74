/**
 * From a validated request and the scenes perceived in its images to the `n` choices of a completion:
 * parse the question and the hint from the text, solve once, write each choice with its own seeded RNG,
 * then apply content faults and the `max_tokens` cut. Pure apart from hashing.
 */
import { parseQuestion } from '../../sources/synthetic/vocabulary.js';
import { parseHint, type ConventionContext } from './boxes.js';
import { compose } from './compose.js';
import { isJudgeRequest, judgePick } from './judge.js';
import { REFUSAL_TEXT, contentFault, malform, truncateRandom, type ContentFault } from './faults.js';
import type { FaultName } from './options.js';
import type { PerceivedScene } from './perceive.js';
import type { ChatRequest } from './request.js';
import { Rng } from './rng.js';
import { solve } from './solve.js';
import { countTokens, firstTokens } from './tokens.js';

export interface GenerateInput {
  request: ChatRequest;
  scenes: readonly PerceivedScene[];
  conv: ConventionContext;
  /** Server seed. */
  seed: number;
  /** Hash of the request without `n`: seeds the writing, so choice i is the same whatever n is. */
  contentHash: string;
  /** Hash of the raw body and the attempt number: decide content faults. */
  bodyHash: string;
  attempt: number;
  faults: Partial<Record<FaultName, number>>;
}

export interface GeneratedChoice {
  index: number;
  text: string;
  finishReason: 'stop' | 'length';
  fault: ContentFault | null;
  /** The malformed variant, when the fault is `malformed`. */
  variant?: string;
  completionTokens: number;
}

export const NO_IMAGE_TEXT = 'I need at least one image to locate anything, but the request contains none.';

export function generateChoices(input: GenerateInput): GeneratedChoice[] {
  const { request, scenes, conv } = input;
  const text = request.texts.join('\n');
  if (isJudgeRequest(text)) return judgeChoices(input, text);
  const spec = scenes.length > 0 ? parseQuestion(text) : null;
  const hint = parseHint(text);
  const solution = scenes.length > 0 ? solve(spec, scenes, text) : null;
  const out: GeneratedChoice[] = [];
  for (let i = 0; i < request.n; i++) {
    const rng = new Rng('choice', input.seed, input.contentHash, request.seed ?? 'no-seed', i);
    const fault = contentFault(input.seed, input.bodyHash, input.attempt, i, input.faults);
    let body: string;
    let finishReason: 'stop' | 'length' = 'stop';
    let variant: string | undefined;
    if (fault === 'refusal') body = REFUSAL_TEXT;
    else if (!solution) body = NO_IMAGE_TEXT;
    else {
      const c = compose({ solution, scenes, hint, conv, rng, temperature: request.temperature });
      body = c.text;
      if (fault === 'malformed') {
        const scene = scenes[solution.target]!;
        const values = /\((-?[\d.]+),(-?[\d.]+)\),\((-?[\d.]+),(-?[\d.]+)\)/.exec(c.answerBox)!.slice(1, 5).map(Number);
        const m = malform(body, { text: c.answerBox, values, width: scene.width, height: scene.height }, conv, rng);
        body = m.text;
        variant = m.variant;
      } else if (fault === 'truncate') {
        body = truncateRandom(body, rng);
        finishReason = 'length';
      }
    }
    if (request.maxTokens !== null && countTokens(body) > request.maxTokens) {
      body = firstTokens(body, request.maxTokens);
      finishReason = 'length';
    }
    out.push({ index: i, text: body, finishReason, fault, ...(variant ? { variant } : {}), completionTokens: countTokens(body) });
  }
  return out;
}

/**
 * Choices for a judge request: `Best: k` (see judge.ts), with the same content faults as any answer: a
 * refusal, a malformed reply a strict parser must reject, or a cut reply.
 */
function judgeChoices(input: GenerateInput, text: string): GeneratedChoice[] {
  const { request } = input;
  const k = judgePick(text, input.scenes, input.conv);
  const out: GeneratedChoice[] = [];
  for (let i = 0; i < request.n; i++) {
    const fault = contentFault(input.seed, input.bodyHash, input.attempt, i, input.faults);
    let body = fault === 'refusal' ? REFUSAL_TEXT : fault === 'malformed' ? `I think candidate ${k} is the best one.` : `Best: ${k}`;
    let finishReason: 'stop' | 'length' = 'stop';
    if (fault === 'truncate') {
      body = 'Best:';
      finishReason = 'length';
    }
    if (request.maxTokens !== null && countTokens(body) > request.maxTokens) {
      body = firstTokens(body, request.maxTokens);
      finishReason = 'length';
    }
    out.push({ index: i, text: body, finishReason, fault, completionTokens: countTokens(body) });
  }
  return out;
}
