/**
 * Token estimates made before a call, so the tokens-per-minute bucket is charged up front (then reconciled
 * with the `usage` the server returns). Images are counted from the size actually sent, never a flat
 * number (Curator's flat 85 tokens badly under-counts VLM requests).
 */

export type ImageTokenMode = 'qwen' | 'openai';

/** Qwen2/2.5-VL: one token per 28x28 patch group of the resized image, plus vision start/end tokens. */
export function qwenImageTokens(width: number, height: number, factor = 28): number {
  return Math.ceil(width / factor) * Math.ceil(height / factor) + 2;
}

/** OpenAI high detail: fit in 2048x2048, shortest side to 768, then 170 per 512px tile plus 85. */
export function openaiImageTokens(width: number, height: number): number {
  let w = width;
  let h = height;
  const fit = Math.min(1, 2048 / Math.max(w, h));
  w *= fit;
  h *= fit;
  const shrink = Math.min(1, 768 / Math.min(w, h));
  w *= shrink;
  h *= shrink;
  return 85 + 170 * Math.ceil(w / 512) * Math.ceil(h / 512);
}

export function imageTokens(mode: ImageTokenMode, width: number, height: number): number {
  return mode === 'qwen' ? qwenImageTokens(width, height) : openaiImageTokens(width, height);
}

/**
 * Text tokens ~ chars/4 for English prose (BPE vocabularies of GPT/Qwen average 3.5-4.5 chars per token);
 * CJK characters count about one token each. The running calibration below corrects the rest.
 */
export function textTokens(text: string): number {
  let cjk = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 0x3000 && c <= 0x9fff) || (c >= 0xac00 && c <= 0xd7af)) cjk++;
  }
  return Math.ceil((text.length - cjk) / 4) + cjk;
}

/** Per-message overhead of chat templates (role markers, separators). */
const MESSAGE_OVERHEAD = 8;

/**
 * Learns how far the estimate is from the server's count (ratio, exponentially averaged), and the mean
 * completion length per choice, so later estimates track the real model and tokenizer.
 */
export class TokenEstimator {
  private promptRatio = 1;
  private completionPerChoice: number;
  private seen = 0;

  constructor(
    readonly mode: ImageTokenMode,
    /** Completion tokens per choice assumed before any usage is seen. */
    initialCompletionPerChoice: number,
    private readonly maxTokens: number,
  ) {
    this.completionPerChoice = initialCompletionPerChoice;
  }

  /** Raw (uncalibrated) prompt estimate: text plus images at the size sent. */
  rawPrompt(text: string, images: readonly { width: number; height: number }[]): number {
    let t = textTokens(text) + MESSAGE_OVERHEAD;
    for (const im of images) t += imageTokens(this.mode, im.width, im.height);
    return t;
  }

  prompt(raw: number): number {
    return Math.ceil(raw * this.promptRatio);
  }

  completion(choices: number): number {
    return Math.ceil(Math.min(this.maxTokens, this.completionPerChoice) * choices);
  }

  /** Feed back what the server counted. */
  observe(rawPromptEstimate: number, usage: { promptTokens: number; completionTokens: number }, choices: number): void {
    const a = this.seen < 10 ? 1 / (this.seen + 1) : 0.1;
    if (rawPromptEstimate > 0 && usage.promptTokens > 0) this.promptRatio += a * (usage.promptTokens / rawPromptEstimate - this.promptRatio);
    if (choices > 0) this.completionPerChoice += a * (usage.completionTokens / choices - this.completionPerChoice);
    this.seen++;
  }

  snapshot(): { promptRatio: number; completionPerChoice: number; observed: number } {
    return { promptRatio: this.promptRatio, completionPerChoice: this.completionPerChoice, observed: this.seen };
  }
}
