/**
 * From a sample to the teacher requests that answer its k candidates, and each request's cache key.
 *
 * The key is the sha256 of the canonical request: sorted-key JSON of everything that decides the answer
 * (model, the parameters actually sent, prompt version, messages) with every image replaced by the
 * sha256 of the original file plus the size it was resized to. Not in the key: base URL, key, timeouts,
 * concurrency, rate limits, retry policy, image encoder settings (a re-encode of the same pixels at the
 * same size is the same question), so changing those never pays twice.
 */
import { createHash } from 'node:crypto';
import { smartResize } from '../geometry/index.js';
import { canonicalJson } from '../schema/canonical.js';
import type { TeacherConfig } from '../schema/config.js';
import type { GroundingSample } from '../schema/records.js';
import { renderPrompt, type SeenSize } from './prompts.js';

/** Bumped only if the canonical form itself changes (never for template edits: those change the text). */
export const CANONICAL_VERSION = 1;

export interface CanonicalImage {
  type: 'image';
  sha256: string;
  width: number;
  height: number;
}

export interface CanonicalRequest {
  canonical: number;
  model: string;
  promptVersion: string;
  params: { n?: number; temperature: number; max_tokens: number; seed?: number };
  messages: Array<{ role: 'user'; content: Array<CanonicalImage | { type: 'text'; text: string }> }>;
}

/** One request to send (or find in the cache) and the candidate indexes its choices fill. */
export interface RequestPlan {
  hash: string;
  canonical: CanonicalRequest;
  promptVersion: string;
  promptText: string;
  /** Choices asked for (n) and the candidate index of choice 0. */
  n: number;
  firstCandidate: number;
  seenSizes: SeenSize[];
}

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

export function requestHash(req: CanonicalRequest): string {
  return sha256Hex(canonicalJson(req));
}

/** Size each image is sent at: Qwen's smart-resize to the configured pixel budget. */
export function seenSizesFor(sample: GroundingSample, config: Pick<TeacherConfig, 'minPixels' | 'maxPixels'>): SeenSize[] {
  return sample.images.map((im) => smartResize(im.width, im.height, { minPixels: config.minPixels, maxPixels: config.maxPixels }));
}

type PlanConfig = Pick<TeacherConfig, 'model' | 'mode' | 'promptVersion' | 'candidates' | 'convention' | 'temperature' | 'maxTokens' | 'minPixels' | 'maxPixels' | 'nMode' | 'seed'>;

/**
 * The requests for one sample. Pure: needs no image bytes (sizes come from the sample), so a dry run
 * can compute keys and token estimates without reading images.
 */
export function planRequests(sample: GroundingSample, config: PlanConfig): RequestPlan[] {
  const seenSizes = seenSizesFor(sample, config);
  const { promptVersion, text } = renderPrompt(config.mode, config.promptVersion, {
    sample,
    convention: config.convention,
    seenSizes,
    minPixels: config.minPixels,
    maxPixels: config.maxPixels,
  });
  const content: CanonicalRequest['messages'][number]['content'] = sample.images.map((im, i) => ({
    type: 'image' as const,
    sha256: im.sha256,
    width: seenSizes[i]!.width,
    height: seenSizes[i]!.height,
  }));
  content.push({ type: 'text', text });
  const messages: CanonicalRequest['messages'] = [{ role: 'user', content }];
  const make = (n: number, seed: number | undefined, firstCandidate: number): RequestPlan => {
    const canonical: CanonicalRequest = {
      canonical: CANONICAL_VERSION,
      model: config.model,
      promptVersion,
      params: { ...(n > 1 ? { n } : {}), temperature: config.temperature, max_tokens: config.maxTokens, ...(seed !== undefined ? { seed } : {}) },
      messages,
    };
    return { hash: requestHash(canonical), canonical, promptVersion, promptText: text, n, firstCandidate, seenSizes };
  };
  const k = config.candidates;
  if (config.nMode === 'n') return [make(k, config.seed, 0)];
  const base = config.seed ?? 0;
  return Array.from({ length: k }, (_, i) => make(1, base + i, i));
}

export interface EncodedImage {
  dataUrl: string;
}

/** The chat-completions body for a plan: images first (as Qwen's template expects), then the text. */
export function chatBody(plan: RequestPlan, images: readonly EncodedImage[]): {
  model: string;
  messages: Array<{ role: 'user'; content: Array<{ type: 'image_url'; image_url: { url: string } } | { type: 'text'; text: string }> }>;
  n?: number;
  temperature: number;
  max_tokens: number;
  seed?: number;
} {
  const p = plan.canonical.params;
  return {
    model: plan.canonical.model,
    messages: [
      {
        role: 'user',
        content: [...images.map((im) => ({ type: 'image_url' as const, image_url: { url: im.dataUrl } })), { type: 'text' as const, text: plan.promptText }],
      },
    ],
    ...(p.n !== undefined ? { n: p.n } : {}),
    temperature: p.temperature,
    max_tokens: p.max_tokens,
    ...(p.seed !== undefined ? { seed: p.seed } : {}),
  };
}
