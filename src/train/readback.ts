/**
 * Reading training statistics back from the device, a logging interval at a time. Each update leaves a
 * few scalars on the device (loss, gradient norm, ...); the trainer queues them here and reads the whole
 * queue with one `await data()`, so a GPU stalls once per interval instead of once per update. The values
 * are checked on the way out: a NaN or infinite loss ends the run with a clear error instead of a run that
 * silently diverges.
 */
import * as tf from '@tensorflow/tfjs-core';
import { TrainingError } from '../errors.js';

export class PendingStats<M> {
  private items: Array<{ meta: M; stats: tf.Tensor1D }> = [];

  /** Queue one update's statistics (the queue owns and frees the tensor). */
  push(meta: M, stats: tf.Tensor1D): void {
    this.items.push({ meta, stats });
  }

  get size(): number {
    return this.items.length;
  }

  /** Read every queued update's values at once, in order, and empty the queue. */
  async flush(): Promise<Array<{ meta: M; values: Float32Array }>> {
    const items = this.items;
    this.items = [];
    if (!items.length) return [];
    const all = items.length === 1 ? items[0]!.stats : tf.concat(items.map((i) => i.stats));
    let flat: Float32Array;
    try {
      flat = (await all.data()) as Float32Array;
    } finally {
      if (all !== items[0]!.stats) all.dispose();
      for (const i of items) i.stats.dispose();
    }
    let o = 0;
    return items.map((i) => {
      const n = i.stats.size;
      const values = flat.subarray(o, o + n);
      o += n;
      return { meta: i.meta, values };
    });
  }

  dispose(): void {
    for (const i of this.items) i.stats.dispose();
    this.items = [];
  }
}

/** Throw a TrainingError if any named value is NaN or infinite. */
export function assertFinite(values: Record<string, number>, where: { step: number; backend: string }): void {
  const bad = Object.entries(values).filter(([, v]) => !Number.isFinite(v));
  if (!bad.length) return;
  throw new TrainingError(
    `${bad.map(([k, v]) => `${k} is ${v}`).join(', ')} at update ${where.step} on backend ${where.backend}: training diverged or the backend computed garbage; the last checkpoint before it is intact (lower --lr, or compare with --backend cpu)`,
    { field: bad[0]![0] },
  );
}
