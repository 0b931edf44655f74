/**
 * The loader's resumable state: where one consumer stands in the deterministic order. Small on
 * purpose (no buffers): a resumed loader replays the order as integers and reads only what it needs.
 * Store it with each checkpoint (JSON); `LoaderState.parse` validates one read back.
 */
import { z } from 'zod';
import { ConfigError } from '../../errors.js';

export const LoaderState = z.object({
  version: z.literal(1),
  seed: z.number().int(),
  /** The epoch the next sample comes from. */
  epoch: z.number().int().nonnegative(),
  /** Samples this consumer has taken from that epoch (delivered rows, masked-out bad rows included). */
  position: z.number().int().nonnegative(),
  rank: z.number().int().nonnegative(),
  worldSize: z.number().int().positive(),
  workerIndex: z.number().int().nonnegative(),
  numWorkers: z.number().int().positive(),
  shuffleBuffer: z.number().int().positive(),
  /** Fingerprint of the corpus (kind, files, rows, sha256): resuming on other data is refused. */
  corpus: z.string(),
});
export type LoaderState = z.infer<typeof LoaderState>;

/**
 * Check that a saved state can continue under these settings. Seed and corpus must match. Partition
 * and buffer size change the order, so they must match mid-epoch; at an epoch boundary (position 0)
 * they may change (e.g. resuming on more machines).
 */
export function checkResumable(saved: LoaderState, now: Omit<LoaderState, 'epoch' | 'position'>): void {
  const where = { field: 'state' };
  if (saved.seed !== now.seed) throw new ConfigError(`loader state has seed ${saved.seed}, the loader was given seed ${now.seed}`, where);
  if (saved.corpus !== now.corpus)
    throw new ConfigError('loader state belongs to another corpus (files, rows or checksums differ): cannot resume exactly', where);
  if (saved.position === 0) return;
  for (const k of ['rank', 'worldSize', 'workerIndex', 'numWorkers', 'shuffleBuffer'] as const) {
    if (saved[k] !== now[k])
      throw new ConfigError(`loader state has ${k} ${saved[k]}, now ${now[k]}: these can change only at an epoch boundary (position 0)`, where);
  }
}
