/**
 * Streams a scored RlRow pool into a filtered and/or curriculum-ordered one (rules in pool.ts). Memory
 * is one open writer per output part: one for `input` order (parts follow the input's parts), `bands`
 * for a banded order, with the row-group budget shared between them.
 */
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, InterruptedError, ShardError } from '../../errors.js';
import { DEFAULT_MEMORY_BYTES, readManifest, removeOtherSets, readRows, ShardWriter, writeManifest, type Lineage, type Manifest, type ShardFileInfo } from '../../store/index.js';
import type { z } from 'zod';
import { keeps, bandPart, resolveSelection, type PoolSelection, type ResolvedSelection } from './pool.js';

export interface SelectionOutcome {
  files: ShardFileInfo[];
  /** Rows written. */
  rows: number;
  /** Scored rows the selection left out. */
  dropped: number;
  /** Rows without a difficulty (never scored): left out. */
  unscored: number;
}

/**
 * Write the selection of the RlRow stage `from` into `out` as part files (no manifest: the caller
 * writes it with its lineage). Part files of another -of-N set left in `out` by an earlier run are removed.
 */
export async function writeSelection(from: string, out: string, sel: ResolvedSelection, opts: { signal?: AbortSignal } = {}): Promise<SelectionOutcome> {
  const manifest = await readManifest(from);
  if (!manifest) throw new ShardError('no _manifest.json: the scored pool is not complete', { file: from });
  if (manifest.kind !== 'RlRow') throw new ShardError(`holds ${manifest.kind} records, not RlRow`, { file: from });
  const banded = sel.order !== 'input';
  const count = banded ? sel.bands : Math.max(1, manifest.files.length);
  const rowGroupBytes = Math.max(1, Math.floor(DEFAULT_MEMORY_BYTES / (banded ? count : 1)));
  const writers: Array<ShardWriter<'RlRow'> | null> = Array.from({ length: count }, () => null);
  const writer = (i: number) => (writers[i] ??= new ShardWriter({ dir: out, kind: 'RlRow', index: i, count, rowGroupBytes }));
  const outcome: SelectionOutcome = { files: [], rows: 0, dropped: 0, unscored: 0 };
  try {
    const files = manifest.files.map((f) => f.file);
    for (let p = 0; p < files.length; p++) {
      for await (const row of readRows('RlRow', join(from, files[p]!))) {
        if (opts.signal?.aborted) throw new InterruptedError('score: interrupted while selecting the pool; re-run to finish (scored parts are kept)');
        if (row.difficulty === null || row.bucket === null) {
          outcome.unscored++;
          continue;
        }
        if (!keeps(sel, row.difficulty, row.bucket)) {
          outcome.dropped++;
          continue;
        }
        await writer(banded ? bandPart(sel, row.difficulty) : p).write(row);
        outcome.rows++;
      }
      // In input order part p is complete once its input part is read: close it now (one writer open).
      if (!banded) outcome.files.push(await writer(p).close());
    }
    // Every name of the -of-N set exists, empty or not.
    for (let i = 0; i < count; i++) if (banded || writers[i] === null) outcome.files.push(await writer(i).close());
  } catch (err) {
    await Promise.all(writers.map((w) => w?.abort()));
    throw err;
  }
  await removeOtherSets(out, 'part', count);
  outcome.files.sort((a, b) => (a.file < b.file ? -1 : 1));
  return outcome;
}

/**
 * Filter and/or curriculum-order an already scored RlRow pool (a `univg score` output, or any RlRow
 * stage whose difficulty columns are filled) into `out`, with its manifest. Rows never scored are left out.
 */
export async function selectPool(o: PoolSelection & { from: string; out: string; signal?: AbortSignal }): Promise<SelectionOutcome & { manifest: Manifest }> {
  if (resolve(o.from) === resolve(o.out)) throw new ConfigError('selectPool writes into another directory than it reads', { field: 'out' });
  const sel = resolveSelection(o);
  await rm(join(o.out, '_manifest.json'), { force: true });
  const r = await writeSelection(o.from, o.out, sel, o.signal ? { signal: o.signal } : {});
  const lineage: z.input<typeof Lineage> = { stage: 'score-select', inputs: [{ path: o.from, kind: 'RlRow' }], params: { selection: { ...sel } } };
  const manifest = await writeManifest(o.out, r.files, { kind: 'RlRow', lineage });
  return { ...r, manifest };
}
