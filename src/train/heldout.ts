/** The held-out slice of a corpus, by a hash of each row's id (SFT's held-out loss, tower pretraining). */
import { createHash } from 'node:crypto';

/** Whether a row is in the held-out slice: a hash of its id alone, so every run holds out the same rows. */
export function isHeldOut(id: string, fraction: number): boolean {
  if (!(fraction > 0)) return false;
  return createHash('sha256').update(`heldout\u0000${id}`).digest().readUInt32BE(0) / 4294967296 < fraction;
}
