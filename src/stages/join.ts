/**
 * Streaming joins of a task's samples with rows keyed by sample id. Upstream stages write rows in
 * sample order, so a merge join holds one sample's rows at a time, whatever the corpus size.
 */
import { ShardError } from '../errors.js';

export interface Keyed {
  sampleId: string;
}

/**
 * For each sample, the rows of each `streams` entry that belong to it. Rows must come in sample order
 * (as generate and verify write them); a row whose sample is not next is an error, never skipped.
 */
export async function* joinBySample<S extends { id: string }, R extends Record<string, Keyed[]>>(
  samples: AsyncIterable<S>,
  streams: { [K in keyof R]: AsyncIterable<R[K][number]> },
): AsyncGenerator<{ sample: S } & R> {
  const iters = Object.fromEntries(Object.entries(streams).map(([k, v]) => [k, (v as AsyncIterable<Keyed>)[Symbol.asyncIterator]()])) as Record<string, AsyncIterator<Keyed>>;
  const pending: Record<string, Keyed | null | undefined> = {};
  const next = async (k: string): Promise<Keyed | null> => {
    if (pending[k] === undefined) {
      const r = await iters[k]!.next();
      pending[k] = r.done ? null : r.value;
    }
    return pending[k]!;
  };
  for await (const sample of samples) {
    const out: Record<string, Keyed[]> = {};
    for (const k of Object.keys(iters)) {
      const rows: Keyed[] = [];
      for (let row = await next(k); row && row.sampleId === sample.id; row = await next(k)) {
        rows.push(row);
        pending[k] = undefined;
      }
      out[k] = rows;
    }
    yield { sample, ...(out as R) };
  }
  for (const k of Object.keys(iters)) {
    const extra = await next(k);
    if (extra) throw new ShardError(`${k} row for sample ${JSON.stringify(extra.sampleId)} has no matching sample in this task (rows out of order, or from another run)`, { recordId: extra.sampleId });
  }
}
