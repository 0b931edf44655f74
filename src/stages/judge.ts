/**
 * The optional judge of the select stage (`select.judge`): UniVG-R1's "select the best" step, where a
 * Qwen model picks the best of the teacher's chains (reference/univg-r1.md §1). For an SFT sample with
 * two or more passing candidates, one request to the teacher endpoint (or `select.judgeModel` on it)
 * shows the images, the question and the candidates' reasoning numbered 1..m, and asks for `Best: <k>`.
 *
 * The request is keyed and cached exactly like a teacher request (canonical JSON with images as hash
 * plus size sent, prompt version `judge-v1` and temperature 0), so a re-run or a resumed stage asks
 * nothing twice and picks the same. A failed request or a reply that is not exactly `Best: <k>` with k
 * in range falls back to the deterministic `pickBest` order; every judged sample's outcome is returned
 * so the stage can log it (judge/part-*.jsonl) and count fallbacks.
 */
import { parseCompletion } from '../completion/index.js';
import { GeometryError, InputError, RecordError } from '../errors.js';
import type { TeacherConfig } from '../schema/config.js';
import type { BoxConvention, GroundingSample, TeacherCandidate, Verdict } from '../schema/records.js';
import type { CachedResponse, ResponseCache } from '../teacher/cache.js';
import { cachedCall } from '../teacher/cached-call.js';
import { choiceText, type ChatChoice, type TeacherClient } from '../teacher/client.js';
import { TeacherRequestError } from '../teacher/errors.js';
import type { ImagePreparer } from '../teacher/images.js';
import type { SeenSize } from '../teacher/prompts.js';
import { CANONICAL_VERSION, chatBody, requestHash, seenSizesFor, type CanonicalRequest, type RequestPlan } from '../teacher/request.js';
import { pickBest } from './select.js';

/** Bump when the judge prompt's text or the reply it asks for changes (it is part of the cache key). */
export const JUDGE_PROMPT_VERSION = 'judge-v1';
/** `Best: 12` is a handful of tokens; a judge that writes an essay first is cut and falls back. */
export const JUDGE_MAX_TOKENS = 16;
/** Longest reply kept in a judge outcome (for the log). */
const REPLY_SHOWN = 200;

/** A passing candidate's reasoning as the judge sees it. */
export interface JudgeChain {
  candidateIndex: number;
  text: string;
}

/** Passing candidates with a completion, by candidate index; chain i of the prompt is element i-1. */
export function judgeChains(candidates: readonly TeacherCandidate[], verdicts: readonly Verdict[]): JudgeChain[] {
  const passing = new Set(verdicts.filter((v) => v.pass).map((v) => v.candidateIndex));
  return candidates
    .filter((c) => passing.has(c.candidateIndex) && c.completion !== null)
    .sort((a, b) => a.candidateIndex - b.candidateIndex)
    .map((c) => {
      // The reasoning is what differs: the answer is the ground truth in hinted mode and passed in any mode.
      const think = parseCompletion(c.completion!, c.convention).think;
      return { candidateIndex: c.candidateIndex, text: (think ?? c.completion!).trim() };
    });
}

export interface JudgePromptInput {
  sample: GroundingSample;
  chains: readonly string[];
  /** Convention the chains' boxes are written in (the teacher's). */
  convention: BoxConvention;
  /** Size of each image as sent, for the resized-pixel convention. */
  seenSizes: readonly SeenSize[];
}

const oneLine = (s: string) => s.replace(/<image>\s*/g, '').replace(/\s+/g, ' ').trim();

function frameOf(convention: BoxConvention, input: JudgePromptInput): string {
  const sizes = (of: (i: number) => SeenSize) => input.sample.images.map((_, i) => `image ${i + 1} is ${of(i).width}x${of(i).height}`).join(', ');
  if (convention.startsWith('qwen2vl')) return 'integers from 0 to 1000, relative to the width and height of the image';
  if (convention.startsWith('qwen25vl')) return `pixel coordinates of the image as you see it (${sizes((i) => input.seenSizes[i]!)} pixels)`;
  if (convention.startsWith('norm')) return 'decimal fractions from 0 to 1 of the width and height of the image';
  return `pixel coordinates of the original image (${sizes((i) => input.sample.images[i]!)} pixels)`;
}

/**
 * The text of the judge request (judge-v1); the images go before it. Chains are headed `### Candidate k`
 * and the last line asks for `Best: <number>` (the simulated teacher recognises a judge request by it).
 */
export function renderJudgePrompt(input: JudgePromptInput): string {
  const { sample, chains, convention } = input;
  const n = sample.images.length;
  const m = chains.length;
  const layout = convention.endsWith('-xywh') ? '[x,y,w,h]: the top-left corner, then the width and height' : '(x1,y1),(x2,y2): the top-left corner, then the bottom-right corner';
  const lines = [
    `Below are ${m} candidate chains of reasoning written for a visual grounding question about the ${n === 1 ? 'image' : `${n} images, numbered 1 to ${n} in the order they are given`}. Judge which chain is the best.`,
    `Question: ${oneLine(sample.question)}`,
  ];
  if (sample.context.length > 0) {
    lines.push(`Earlier conversation about these images: ${oneLine(sample.context.map((t) => `${t.role === 'user' ? 'User' : 'Assistant'}: ${t.content}`).join(' '))}`);
  }
  lines.push(
    `Coordinates in the chains are written ${layout}, as ${frameOf(convention, input)}.`,
    'The best chain describes what the images really show, names the image that really holds the target, locates the target where it really is, and is clear, consistent and free of repetition. Length by itself is no merit.',
  );
  chains.forEach((c, i) => {
    // A header inside a chain would shift the numbering for a reader that splits on headers.
    lines.push('', `### Candidate ${i + 1}`, c.replace(/^#{1,6}\s*Candidate\b/gim, 'Candidate'));
  });
  lines.push('', `Reply with "Best: <number>" and nothing else, where <number> is the number of the best candidate, from 1 to ${m}.`);
  return lines.join('\n');
}

export type JudgeReply = { ok: true; choice: number } | { ok: false; reason: 'unparsable' | 'out_of_range'; detail: string };

const REPLY = /^\s*best\s*:\s*(\d{1,6})\s*\.?\s*$/i;

/** `Best: <k>` (case, spaces and a final full stop aside) with 1 <= k <= count; anything else is refused. */
export function parseJudgeReply(text: string, count: number): JudgeReply {
  const m = REPLY.exec(text);
  if (!m) return { ok: false, reason: 'unparsable', detail: `expected "Best: <number>", got ${JSON.stringify(text.slice(0, 80))}` };
  const k = Number(m[1]);
  if (k < 1 || k > count) return { ok: false, reason: 'out_of_range', detail: `Best: ${k} names no candidate (1 to ${count})` };
  return { ok: true, choice: k };
}

type PlanConfig = Pick<TeacherConfig, 'minPixels' | 'maxPixels'>;

/** The judge request for a sample: pure (sizes come from the sample), so its key is known without images. */
export function planJudge(sample: GroundingSample, chains: readonly JudgeChain[], convention: BoxConvention, model: string, config: PlanConfig): RequestPlan {
  const seenSizes = seenSizesFor(sample, config);
  const text = renderJudgePrompt({ sample, chains: chains.map((c) => c.text), convention, seenSizes });
  const content: CanonicalRequest['messages'][number]['content'] = sample.images.map((im, i) => ({ type: 'image' as const, sha256: im.sha256, width: seenSizes[i]!.width, height: seenSizes[i]!.height }));
  content.push({ type: 'text', text });
  const canonical: CanonicalRequest = {
    canonical: CANONICAL_VERSION,
    model,
    promptVersion: JUDGE_PROMPT_VERSION,
    params: { temperature: 0, max_tokens: JUDGE_MAX_TOKENS },
    messages: [{ role: 'user', content }],
  };
  return { hash: requestHash(canonical), canonical, promptVersion: JUDGE_PROMPT_VERSION, promptText: text, n: 1, firstCandidate: 0, seenSizes };
}

/** What happened when a sample was judged: one line of judge/part-*.jsonl. */
export interface JudgeOutcome {
  sampleId: string;
  /** Candidate indexes in the order the prompt numbered them: `Best: k` means candidates[k - 1]. */
  candidates: number[];
  /** Candidate index used for the SFT row. */
  chosen: number;
  /** Candidate index the deterministic order (pickBest) gives. */
  pickBest: number;
  source: 'judge' | 'fallback';
  /** Why the judge's answer was not used, e.g. `request_failed: ...`; null when it was. */
  reason: string | null;
  requestHash: string;
  /** Answered from the response cache (no request this run). */
  cached: boolean;
  /** The judge's reply, cut to 200 characters; null when there was none. */
  reply: string | null;
}

export interface JudgeOptions {
  /** The teacher's config: pixel budget and the model used when `model` is not given. */
  teacher: TeacherConfig;
  /** Judge model name on the teacher endpoint (default teacher.model). */
  model?: string;
  client: TeacherClient;
  cache: ResponseCache;
  /** Shared with nothing else in the stage; resizes and encodes each image once (LRU). */
  images: ImagePreparer;
  signal?: AbortSignal;
}

/** Errors that belong to one sample (a bad image, a failed request) and become a fallback; others stop the stage. */
function isSampleError(err: unknown): err is Error {
  return err instanceof TeacherRequestError || err instanceof InputError || err instanceof GeometryError || err instanceof RecordError;
}

/**
 * Judge one sample's passing candidates. Null when fewer than two can be judged (nothing to choose).
 * Throws only what should stop the stage: a fatal endpoint error, the cost cap, an interruption.
 */
export async function judgeSample(sample: GroundingSample, candidates: readonly TeacherCandidate[], verdicts: readonly Verdict[], opts: JudgeOptions): Promise<JudgeOutcome | null> {
  const chains = judgeChains(candidates, verdicts);
  const best = pickBest(verdicts);
  if (chains.length < 2 || !best) return null;
  const convention = candidates.find((c) => c.candidateIndex === chains[0]!.candidateIndex)!.convention;
  const model = opts.model ?? opts.teacher.model;
  const plan = planJudge(sample, chains, convention, model, opts.teacher);
  const base = { sampleId: sample.id, candidates: chains.map((c) => c.candidateIndex), pickBest: best.candidateIndex, requestHash: plan.hash };
  const fallback = (reason: string, cached: boolean, reply: string | null): JudgeOutcome => ({ ...base, chosen: best.candidateIndex, source: 'fallback', reason, cached, reply });
  const decide = (value: CachedResponse, cached: boolean): JudgeOutcome => {
    const choice = (value.response as { choices?: ChatChoice[] }).choices?.find((c) => c.index === 0);
    if (!choice) return fallback('unparsable: the response has no choice', cached, null);
    const text = choiceText(choice);
    const reply = text.slice(0, REPLY_SHOWN);
    const parsed = parseJudgeReply(text, chains.length);
    if (!parsed.ok) return fallback(`${parsed.reason}: ${parsed.detail}`, cached, reply);
    return { ...base, chosen: chains[parsed.choice - 1]!.candidateIndex, source: 'judge', reason: null, cached, reply };
  };

  try {
    const r = await cachedCall({
      client: opts.client,
      cache: opts.cache,
      hash: plan.hash,
      requestModel: model,
      promptVersion: JUDGE_PROMPT_VERSION,
      params: plan.canonical.params,
      body: async () => chatBody(plan, await Promise.all(sample.images.map((im) => opts.images.prepare(im)))),
      rawPromptTokens: opts.client.estimator.rawPrompt(plan.promptText, plan.seenSizes),
      choices: 1,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return decide(r.value, r.cached);
  } catch (err) {
    if (!isSampleError(err)) throw err;
    const kind = err instanceof TeacherRequestError ? 'request_failed' : 'images';
    return fallback(`${kind}: ${err.message}`, false, null);
  }
}

