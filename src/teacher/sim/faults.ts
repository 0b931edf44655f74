/**
 * Injected faults. Which fault (if any) hits a request is a pure function of (server seed, hash of the
 * request body, how many times this body was seen): the same server seed replays the same failures, and a
 * retried identical request draws again, so it can succeed.
 */
import { hashUniform, type Rng } from './rng.js';
import { CONTENT_FAULTS, TRANSPORT_FAULTS, type FaultName } from './options.js';
import { formatBox, fromConvention, toConvention, type ConventionContext, type SimConvention } from './boxes.js';
import { countTokens, firstTokens } from './tokens.js';

export type TransportFault = (typeof TRANSPORT_FAULTS)[number];
export type ContentFault = (typeof CONTENT_FAULTS)[number];

/** The fault a uniform draw `u` lands on when each of `names` takes its rate's share of [0, 1), or none. */
export function pick<T extends FaultName>(u: number, names: readonly T[], rates: Partial<Record<FaultName, number>>): T | null {
  let acc = 0;
  for (const f of names) {
    acc += rates[f] ?? 0;
    if (u < acc) return f;
  }
  return null;
}

export function transportFault(seed: number, bodyHash: string, attempt: number, rates: Partial<Record<FaultName, number>>): TransportFault | null {
  return pick(hashUniform('transport', seed, bodyHash, attempt), TRANSPORT_FAULTS, rates);
}

export function contentFault(seed: number, bodyHash: string, attempt: number, choice: number, rates: Partial<Record<FaultName, number>>): ContentFault | null {
  return pick(hashUniform('content', seed, bodyHash, attempt, choice), CONTENT_FAULTS, rates);
}

export const REFUSAL_TEXT = "I'm sorry, I can't help with that.";

export type MalformVariant = 'missing_tags' | 'wrong_convention' | 'box_only_in_think' | 'extra_text' | 'unclosed_think';
const VARIANTS: readonly MalformVariant[] = ['missing_tags', 'wrong_convention', 'box_only_in_think', 'extra_text', 'unclosed_think'];

/** The convention a confused model slips into instead of the configured one. */
const WRONG: Record<SimConvention, SimConvention> = { qwen2vl: 'norm', qwen25vl: 'qwen2vl', norm: 'qwen2vl' };

/**
 * A well-formed completion broken the ways real teachers break it. `answer.values` is the answer box in
 * the configured convention for an image of `width` x `height`.
 */
export function malform(
  text: string,
  answer: { text: string; values: readonly number[]; width: number; height: number },
  conv: ConventionContext,
  rng: Rng,
): { text: string; variant: MalformVariant } {
  const variant = rng.pick(VARIANTS);
  const think = /<think>([\s\S]*)<\/think>/.exec(text)?.[1] ?? text;
  switch (variant) {
    case 'missing_tags':
      return { variant, text: `${think}\nFinal answer: ${answer.text}` };
    case 'box_only_in_think':
      return { variant, text: `<think>${think}</think>` };
    case 'extra_text':
      return { variant, text: `${text}\nI hope this helps! Let me know if you want me to explain any step in more detail.` };
    case 'unclosed_think':
      return { variant, text: `<think>${think}<answer>${answer.text}</answer>` };
    case 'wrong_convention': {
      const px = fromConvention(answer.values, answer.width, answer.height, conv);
      const to = WRONG[conv.convention];
      const other = formatBox(toConvention(px, answer.width, answer.height, { ...conv, convention: to }), to);
      return { variant, text: text.replace(`<answer>${answer.text}</answer>`, `<answer>${other}</answer>`) };
    }
  }
}

/** Cut a completion at a random token past its first fifth (an injected `finish_reason: "length"`). */
export function truncateRandom(text: string, rng: Rng): string {
  const n = countTokens(text);
  const keep = Math.max(1, Math.floor(n * (0.2 + 0.7 * rng.next())));
  return firstTokens(text, keep);
}
