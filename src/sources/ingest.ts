/**
 * Ingest drivers: stream a source file's records, look their images up (cached, bounded concurrency,
 * several records in flight), and yield samples and quarantine records in input order. The parsing of
 * each record is the pure `plan*` function of its format; this module is the I/O around it.
 */
import { ConfigError } from '../errors.js';
import { readJsonArray, type ReaderStats } from './json-array.js';
import { ImageCatalog, type ImageCatalogOptions } from './images.js';
import { quarantine } from './reasons.js';
import { mgroundingRecordId, planMGrounding } from './formats/mgrounding.js';
import { migbenchId, planMigBench } from './formats/migbench.js';
import { llamafactoryRecordId, planLlamaFactory } from './formats/llamafactory.js';
import { planVlmR1, vlmr1RecordId } from './formats/vlmr1.js';
import { readJsonLines } from './json-lines.js';
import type { IngestEvent, RecordContext, RecordPlan } from './formats/common.js';

import { SOURCE_FORMATS } from '../schema/config.js';

export { SOURCE_FORMATS };
export type SourceFormat = (typeof SOURCE_FORMATS)[number];

export interface IngestOptions extends ImageCatalogOptions {
  /** Path of the source JSON file (a top-level array). */
  input: string;
  /** Directory the records' image paths are relative to; nothing outside it is ever opened. */
  imageRoot: string;
  /** Name of the input in quarantine records (default: `input` as given). */
  file?: string;
  /** Records whose images are being looked up at once, ahead of the one being yielded (default 64). */
  lookahead?: number;
  /** Filled with the JSON reader's counters (bytes, elements, largest buffer). */
  readerStats?: ReaderStats;
  /** Hash the input file while reading it (into `readerStats.sha256`). */
  hashInput?: boolean;
  /** Use this catalog instead of opening one (shares its cache across files). */
  catalog?: ImageCatalog;
  /**
   * Only the records that become a sample with one of these ids: the others are skipped before their
   * images are looked up and give no event (a few samples read from a large benchmark). Only for formats
   * whose record is one sample with an id known without its images (ConfigError otherwise).
   */
  only?: ReadonlySet<string>;
}

interface FormatSpec {
  plan(raw: unknown, ctx: RecordContext): RecordPlan;
  /** Id used to detect duplicate records, or null when the format has no id of its own. */
  recordId(raw: unknown): string | null;
  /** The id of the one sample a record becomes, read without its images (formats with one sample per record). */
  sampleId?(raw: unknown, row: number): string | null;
  /** JSON lines instead of one top-level array. */
  lines?: boolean;
}

const FORMATS: Record<SourceFormat, FormatSpec> = {
  mgrounding: { plan: planMGrounding, recordId: mgroundingRecordId },
  // MIG-Bench ids are derived from the row and cannot repeat; derived files may carry their own.
  migbench: { plan: planMigBench, recordId: migbenchRecordId, sampleId: (raw, row) => migbenchRecordId(raw) ?? migbenchTaskId(raw, row) },
  // Trainer files univg export writes (and the same formats from elsewhere, when they state what univg needs).
  'vlm-r1': { plan: planVlmR1, recordId: vlmr1RecordId, lines: true },
  llamafactory: { plan: planLlamaFactory, recordId: llamafactoryRecordId },
};

function migbenchRecordId(raw: unknown): string | null {
  return raw && typeof raw === 'object' && typeof (raw as { id?: unknown }).id === 'string' ? (raw as { id: string }).id : null;
}

/** The id planMigBench derives for an item without one. */
function migbenchTaskId(raw: unknown, row: number): string | null {
  return raw && typeof raw === 'object' && typeof (raw as { task?: unknown }).task === 'string' ? migbenchId((raw as { task: string }).task, row) : null;
}

/** MGrounding-630k training JSON -> samples (one per grounded turn) and quarantine records. */
export function ingestMGrounding(opts: IngestOptions): AsyncGenerator<IngestEvent> {
  return ingestSource('mgrounding', opts);
}

/** MIG-Bench `MIG_data.json` -> samples and quarantine records. */
export function ingestMigBench(opts: IngestOptions): AsyncGenerator<IngestEvent> {
  return ingestSource('migbench', opts);
}

type Settled = { ok: true; events: IngestEvent[] } | { ok: false; error: unknown };

export async function* ingestSource(format: SourceFormat, opts: IngestOptions): AsyncGenerator<IngestEvent> {
  const spec = FORMATS[format];
  const file = opts.file ?? opts.input;
  const catalog = opts.catalog ?? (await ImageCatalog.open(opts.imageRoot, opts));
  const only = opts.only;
  if (only && !spec.sampleId) throw new ConfigError(`${format} records cannot be picked by sample id before reading their images`, { field: 'only' });
  const lookahead = Math.max(1, opts.lookahead ?? 64);
  // Duplicate ids: a Set holds every id seen (about 100 bytes each: ~60 MB for MGrounding's 630k).
  const seen = new Set<string>();
  const queue: Promise<Settled>[] = [];

  const reader = spec.lines
    ? readJsonLines(opts.input, { hash: opts.hashInput ?? false, ...(opts.readerStats ? { stats: opts.readerStats } : {}) })
    : readJsonArray(opts.input, {
        file,
        pythonNonFinite: true,
        hash: opts.hashInput ?? false,
        ...(opts.readerStats ? { stats: opts.readerStats } : {}),
      });
  for await (const item of reader) {
    if (only && !(item.ok && only.has(spec.sampleId!(item.value, item.index) ?? ''))) continue;
    const ctx: RecordContext = { row: item.index, file };
    let settled: Promise<Settled>;
    if (!item.ok) {
      const rec = quarantine({ recordId: null, file, row: item.index, field: null }, 'json_invalid', `element at byte ${item.offset} (${item.length} bytes): ${item.error}`);
      settled = Promise.resolve({ ok: true, events: [{ kind: 'quarantine', record: rec }] });
    } else {
      const id = spec.recordId(item.value);
      if (id !== null && seen.has(id)) {
        const rec = quarantine({ recordId: id, file, row: item.index, field: 'id' }, 'duplicate_id', `id ${JSON.stringify(id)} already seen earlier in the file; the first is kept`);
        settled = Promise.resolve({ ok: true, events: [{ kind: 'quarantine', record: rec }] });
      } else {
        if (id !== null) seen.add(id);
        settled = runPlan(spec.plan(item.value, ctx), catalog);
      }
    }
    queue.push(settled);
    while (queue.length >= lookahead) yield* await unwrap(queue.shift()!);
  }
  while (queue.length > 0) yield* await unwrap(queue.shift()!);
}

/** Never rejects, so promises waiting in the queue cannot become unhandled rejections. */
async function runPlan(plan: RecordPlan, catalog: ImageCatalog): Promise<Settled> {
  try {
    if (plan.kind === 'done') return { ok: true, events: plan.events };
    const images = await Promise.all(plan.paths.map((p) => catalog.lookup(p)));
    return { ok: true, events: plan.finish(images) };
  } catch (error) {
    return { ok: false, error };
  }
}

async function unwrap(p: Promise<Settled>): Promise<IngestEvent[]> {
  const s = await p;
  if (!s.ok) throw s.error;
  return s.events;
}
