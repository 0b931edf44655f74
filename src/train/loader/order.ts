/**
 * The sample order of one epoch, as pure integer bookkeeping (no I/O, no row data).
 *
 * 1. Shard order: every file of every stage directory, sorted by (directory index, file name), then
 *    permuted by a PRNG keyed on (seed, epoch). All consumers compute the same order.
 * 2. Partition: the rows of the files in that order form a stream of global positions 0..N-1. Consumer
 *    c of C (c = rank * numWorkers + workerIndex, C = worldSize * numWorkers) takes the positions
 *    p with p % C === c, so the consumers together see every row exactly once per epoch and their
 *    counts differ by at most one, whatever the number of files.
 * 3. Shuffle: each consumer passes its substream (indices i = (p - c) / C) through a shuffle buffer of
 *    K slots driven by a PRNG keyed on (seed, epoch, c, C): fill K slots, then repeatedly emit a random
 *    slot and put the next input there; at the end drain the slots in random order (tf.data's rule).
 *    K >= the substream length gives a uniform permutation; K = 1 keeps the shard order.
 *
 * Because the shuffle only moves integers, a resumed loader replays the first `position` outputs in
 * microseconds and learns exactly which rows are still waiting in the buffer, without reading them.
 */
import { Rng } from './rng.js';

export interface Partition {
  /** This consumer, 0 <= consumer < consumers. */
  consumer: number;
  consumers: number;
}

/** How many of `total` global positions consumer c of C receives. */
export function consumerRows(total: number, part: Partition): number {
  if (part.consumer >= total) return 0;
  return Math.floor((total - 1 - part.consumer) / part.consumers) + 1;
}

/** Global position of substream index i. */
export function globalPosition(i: number, part: Partition): number {
  return part.consumer + i * part.consumers;
}

/** The substream indices whose global positions lie in [from, to): [lo, hi), possibly empty. */
export function substreamRange(from: number, to: number, part: Partition): [number, number] {
  const lo = Math.max(0, Math.ceil((from - part.consumer) / part.consumers));
  const hi = to <= part.consumer ? 0 : Math.floor((to - 1 - part.consumer) / part.consumers) + 1;
  return [lo, Math.max(lo, hi)];
}

/** A seeded permutation (Fisher-Yates) of `items` for (seed, epoch); the input is not modified. */
export function shuffleFiles<T>(items: readonly T[], seed: number, epoch: number): T[] {
  const out = [...items];
  const rng = new Rng(`univg-loader/files:${seed}:${epoch}`);
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The bounded shuffle buffer over substream indices 0..n-1, one output per next(). */
export class ShuffleStream {
  private readonly buf: number[] = [];
  private readonly rng: Rng;
  /** The next substream index to enter the buffer; every emitted index is below it. */
  inNext = 0;
  /** Outputs so far. */
  emitted = 0;

  constructor(
    readonly length: number,
    readonly slots: number,
    seed: number,
    epoch: number,
    part: Partition,
  ) {
    this.rng = new Rng(`univg-loader/shuffle:${seed}:${epoch}:${part.consumer}/${part.consumers}`);
  }

  /** The next substream index, or null when the epoch is exhausted. */
  next(): number | null {
    while (this.buf.length < this.slots && this.inNext < this.length) this.buf.push(this.inNext++);
    if (this.buf.length === 0) return null;
    this.emitted++;
    const j = this.rng.int(this.buf.length);
    const out = this.buf[j]!;
    if (this.inNext < this.length) this.buf[j] = this.inNext++;
    else {
      this.buf[j] = this.buf[this.buf.length - 1]!;
      this.buf.pop();
    }
    return out;
  }

  /** Indices read into the buffer but not yet emitted. */
  waiting(): readonly number[] {
    return this.buf;
  }
}

/**
 * Which substream indices a (possibly resumed) epoch still needs: every index from `from` on, plus
 * the ones waiting in the shuffle buffer at the resume point. Everything else was already emitted.
 */
export interface Needed {
  from: number;
  extra: ReadonlySet<number>;
}

export function isNeeded(n: Needed, i: number): boolean {
  return i >= n.from || n.extra.has(i);
}

/** Whether any index in [lo, hi) is needed. */
export function anyNeeded(n: Needed, lo: number, hi: number): boolean {
  if (hi <= lo) return false;
  if (hi > n.from) return true;
  for (const i of n.extra) if (i >= lo && i < hi) return true;
  return false;
}

/** Replay the first `position` outputs of an epoch (integers only) and report what is still needed. */
export function replay(stream: ShuffleStream, position: number): Needed {
  for (let q = 0; q < position; q++) if (stream.next() === null) break;
  return position === 0 ? { from: 0, extra: new Set() } : { from: stream.inNext, extra: new Set(stream.waiting()) };
}
