/**
 * What a trainer format is to the exporter: which pools it takes, the record kind of its rows and how a
 * PreparedRow becomes one, the files it is stored in, and the plugins and launch recipes that go with it.
 * One module per trainer in formats/ implements it; export.ts runs them all the same way.
 */
import type { ExportConfig, ExportFormat, ModelFamily } from '../schema/config.js';
import type { BoxConvention, RecordKind } from '../schema/records.js';
import type { PixelBudget } from './family.js';
import type { PreparedImage, PreparedRow } from './rows.js';

export type Pool = 'sft' | 'rl';

/** Everything a format needs to know about the export it is part of. */
export interface FormatContext {
  pool: Pool;
  family: ModelFamily;
  answerConvention: BoxConvention;
  budget: PixelBudget;
  config: ExportConfig;
  /** Data files of the export, relative to its directory, in order. */
  dataFiles: string[];
  /** Rows written. */
  rows: number;
  /** Whether rows come in a curriculum order (the trainer must not shuffle). */
  curriculum: boolean;
}

export interface RecipeFile {
  /** Path relative to the format's export directory. */
  path: string;
  text: string;
  executable?: boolean;
}

export interface FormatSpec {
  name: ExportFormat;
  /** Trainer name as people write it. */
  title: string;
  pools: readonly Pool[];
  defaultPool: Pool;
  /** How rows are stored: Parquet with embedded images, or JSON / JSON lines with an image folder. */
  storage: 'parquet' | 'json' | 'jsonl';
  kind(pool: Pool): RecordKind;
  /** Whether rows of this pool must carry a chain of thought. */
  needsChain(pool: Pool): boolean;
  /** The row for this trainer; `imagePath` names a stored image (file-based formats). */
  toRow(r: PreparedRow, ctx: { pool: Pool; imagePath: (im: PreparedImage) => string }): unknown;
  /** Plugin files (in src/export/plugins/) copied to plugins/. */
  plugins: readonly string[];
  /** Recipes and trainer configs, rendered for this export. */
  recipes(ctx: FormatContext): RecipeFile[];
}
