/**
 * Where rollouts come from: the in-repo checkpoint (`checkpoint-source.ts`, loads TensorFlow.js) or any
 * OpenAI-compatible endpoint (`endpoint-source.ts`, through the teacher client and response cache).
 * Both give G completion texts per row; scoring them is the same pure code (`accuracy.ts`).
 */
import type { BoxConvention, RlRow } from '../../schema/records.js';
import type { PixelBudget } from './accuracy.js';

export interface RolloutSource {
  /** `checkpoint:<dir>` or `endpoint:<model>`; recorded in the result and the manifest. */
  name: string;
  /** Convention the completions are read in; null: each row's own `convention`. */
  convention: BoxConvention | null;
  /** Pixel budget for reading qwen25vl answers. */
  budget: PixelBudget;
  /** Rows scored at once. */
  concurrency: number;
  /**
   * The G completion texts of one row, in rollout order. Row-level failures (an unreadable image, a
   * request that failed after its last retry) throw typed errors with `recordId` and `field` set, and a
   * `reason` code in the context; anything else (interruption, a fatal endpoint error) stops the run.
   */
  rollouts(row: RlRow, signal?: AbortSignal): Promise<string[]>;
  /** Counters for logs and benchmarks (rollouts generated, requests sent / served from cache...). */
  stats(): Record<string, number>;
  close(): Promise<void>;
}

/** How the G rollouts of a row are sampled. */
export interface RolloutSampling {
  G: number;
  temperature: number;
  /** Completion tokens per rollout (null: the source's default). */
  maxTokens: number | null;
  seed: number;
  /** Directory relative image paths are read under (null: only embedded or absolute images). */
  dataRoot: string | null;
}
