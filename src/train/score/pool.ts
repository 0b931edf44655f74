/**
 * Filtering and curriculum ordering of a scored RL pool. Pure rules here; `selectPool` in score.ts
 * streams the rows through them.
 *
 * Filter: keep rows whose mIoU bucket is in `keep` and whose mIoU lies in [minMiou, maxMiou]. (The
 * paper's stage-2 data is the hard part: `keep: ['lt0.3', '0.3-0.7']` drops what the model already
 * solves, whose group advantages would be near zero anyway.)
 *
 * Order: `input` keeps the input order. `hardest-first` / `easiest-first` write one part file per mIoU
 * band of width 1/bands (default 10): part 0 holds the hardest band (or the easiest), and readers that
 * go through the manifest's files in order (the store's readers, DuckDB over the sorted file list, verl
 * with `data.shuffle=False`) see a curriculum. Within a band rows keep their input order, so the order
 * is exact to the band width without ever holding the corpus in memory (one open writer per band).
 */
import { ConfigError } from '../../errors.js';
import { SCORE_ORDERS } from '../../schema/config.js';
import { parseOptions } from '../../schema/options.js';
import { ScoreSettings } from '../../schema/train-options.js';
import { MIOU_BUCKETS, type MiouBucket } from '../rl/difficulty.js';

/** Defined with the score options (src/schema/config.ts), which the pipeline and the CLI read. */
export const POOL_ORDERS = SCORE_ORDERS;
export type PoolOrder = (typeof POOL_ORDERS)[number];

/** A bucket, by its name or its alias. */
export type BucketName = MiouBucket | 'hard' | 'medium' | 'easy';

export interface PoolSelection {
  /** Keep only these mIoU buckets (default all); `hard`, `medium`, `easy` name lt0.3, 0.3-0.7, gt0.7. */
  keep?: readonly BucketName[];
  /** Keep rows with mIoU >= minMiou. */
  minMiou?: number;
  /** Keep rows with mIoU <= maxMiou. */
  maxMiou?: number;
  order?: PoolOrder;
  /** Bands of the hardest-first / easiest-first order (at most 1000; default in ScoreSettings). */
  bands?: number;
}

/** Friendly names for buckets on the command line: hard = lt0.3, medium = 0.3-0.7, easy = gt0.7. */
export const BUCKET_ALIASES: Readonly<Record<Exclude<BucketName, MiouBucket>, MiouBucket>> = { hard: 'lt0.3', medium: '0.3-0.7', easy: 'gt0.7' };

export function parseBuckets(items: readonly string[]): MiouBucket[] {
  const out = new Set<MiouBucket>();
  for (const raw of items) {
    const v = raw.trim();
    const b = (BUCKET_ALIASES as Readonly<Record<string, MiouBucket>>)[v] ?? ((MIOU_BUCKETS as readonly string[]).includes(v) ? (v as MiouBucket) : undefined);
    if (b === undefined) throw new ConfigError(`unknown bucket ${JSON.stringify(v)}; one of ${[...Object.keys(BUCKET_ALIASES), ...MIOU_BUCKETS].join(', ')}`, { field: 'keep' });
    out.add(b);
  }
  // Canonical order, so the same selection always has the same fingerprint.
  return MIOU_BUCKETS.filter((b) => out.has(b));
}

export interface ResolvedSelection {
  keep: MiouBucket[];
  minMiou: number | null;
  maxMiou: number | null;
  order: PoolOrder;
  bands: number;
}

/** The selection's defaults and ranges are the score options' (ScoreSettings, src/schema/train-options.ts). */
const Selection = ScoreSettings.pick({ keep: true, minMiou: true, maxMiou: true, order: true, bands: true });

export function resolveSelection(s: PoolSelection = {}): ResolvedSelection {
  const keys = Object.keys(Selection.shape);
  const defined = Object.fromEntries(Object.entries(s).filter(([k, v]) => keys.includes(k) && v !== undefined));
  const o = parseOptions(Selection, defined, 'pool selection');
  if (o.minMiou !== undefined && o.maxMiou !== undefined && o.minMiou > o.maxMiou) throw new ConfigError(`minMiou ${o.minMiou} is above maxMiou ${o.maxMiou}`, { field: 'minMiou' });
  const keep = o.keep === undefined ? [...MIOU_BUCKETS] : parseBuckets(o.keep);
  return { keep, minMiou: o.minMiou ?? null, maxMiou: o.maxMiou ?? null, order: o.order, bands: o.bands };
}

/** True when the selection changes anything (the scored parts are then not the output themselves). */
export function selects(s: ResolvedSelection): boolean {
  return s.order !== 'input' || s.keep.length < MIOU_BUCKETS.length || s.minMiou !== null || s.maxMiou !== null;
}

export function keeps(s: ResolvedSelection, miou: number, bucket: string): boolean {
  return (s.keep as readonly string[]).includes(bucket) && (s.minMiou === null || miou >= s.minMiou) && (s.maxMiou === null || miou <= s.maxMiou);
}

/**
 * The part file a row goes to under a banded order: band floor(mIoU x bands), clamped to the range
 * (the paper's IoU can leave [0, 1] for an inverted box), counted from the hard end for hardest-first.
 */
export function bandPart(s: ResolvedSelection, miou: number): number {
  const band = Math.min(s.bands - 1, Math.max(0, Math.floor(miou * s.bands)));
  return s.order === 'easiest-first' ? s.bands - 1 - band : band;
}
