/**
 * Pieces shared by the source formats: the plan a record parses into, the event type ingest yields, and
 * turning a parsed grounding unit plus image metadata into a validated GroundingSample. All pure.
 */
import { convertBox } from '../../geometry/index.js';
import { GroundingSample, type QuarantineRecord, type Turn } from '../../schema/records.js';
import type { SourceBox, SourceGrid } from '../boxes.js';
import type { ImageLookup } from '../images.js';
import { quarantine, type DefectSite } from '../reasons.js';

export type IngestEvent = { kind: 'sample'; sample: GroundingSample } | { kind: 'quarantine'; record: QuarantineRecord };

/** Where a record came from, for quarantine records. */
export interface RecordContext {
  /** 0-based position of the record in the file's top-level array. */
  row: number;
  /** The input file as the user named it. */
  file: string | null;
}

/**
 * A parsed record. Either it is settled without looking at any image (structurally broken, or every
 * turn quarantined), or it lists the image paths it needs and `finish` turns their metadata into events.
 */
export type RecordPlan =
  | { kind: 'done'; events: IngestEvent[] }
  | { kind: 'needs-images'; paths: string[]; finish(images: readonly ImageLookup[]): IngestEvent[] };

/** How the target image was decided, kept in `meta.targetRule` so audits can filter on it. */
export type TargetRule = 'answer' | 'question' | 'additional_info' | 'single_image' | 'default_last';

/** One grounded question ready to become a sample once image sizes are known. */
export interface GroundingUnit {
  id: string;
  task: string;
  question: string;
  context: Turn[];
  targetImage: number;
  sourceBox: SourceBox;
  /** The box's frame: a source grid, original pixels, or pixels of a model input of size `frame` (qwen25vl). */
  grid: SourceGrid | 'pixels' | 'qwen25vl';
  frame?: { width: number; height: number };
  split: string | null;
  /** Difficulty label when the source states one (the synthetic suite does). */
  difficulty?: 'easy' | 'medium' | 'hard' | null;
  meta: Record<string, unknown>;
  /** Position of the event among the record's events (keeps turn order with quarantined turns). */
  order: number;
}

export function q(site: DefectSite, reason: Parameters<typeof quarantine>[1], detail: string): IngestEvent {
  return { kind: 'quarantine', record: quarantine(site, reason, detail) };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `images` must be a non-empty list of non-empty strings; returns the first problem or the list. */
export function readImageList(v: unknown): { ok: true; paths: string[] } | { ok: false; field: string; detail: string } {
  if (!Array.isArray(v) || v.length === 0) return { ok: false, field: 'images', detail: 'expected a non-empty list of image paths' };
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'string' || (v[i] as string).trim() === '') return { ok: false, field: `images[${i}]`, detail: 'expected a non-empty path string' };
  }
  return { ok: true, paths: v as string[] };
}

const PLACEHOLDER = /<image>\n?/g;

export function countPlaceholders(text: string): number {
  return (text.match(/<image>/g) ?? []).length;
}

/** Text with `<image>` placeholders (and the newline after each) removed, trimmed. */
export function stripPlaceholders(text: string): string {
  return text.replace(PLACEHOLDER, '').trim();
}

/**
 * Finish a record: if any image failed, quarantine the record once per failing image (its samples all
 * need every image); otherwise build one sample per unit. `pending` are the record's quarantine events
 * that did not need images, merged back in their original order.
 */
export function finishRecord(
  recordSite: DefectSite,
  paths: readonly string[],
  units: readonly GroundingUnit[],
  pending: ReadonlyArray<{ order: number; event: IngestEvent }>,
  images: readonly ImageLookup[],
  source: string,
): IngestEvent[] {
  const imageEvents: IngestEvent[] = [];
  images.forEach((img, i) => {
    if (!img.ok) imageEvents.push(q({ ...recordSite, field: `images[${i}]` }, img.reason, img.detail));
  });
  const ordered: Array<{ order: number; event: IngestEvent }> = [...pending];
  if (imageEvents.length === 0) {
    const refs = paths.map((p, i) => {
      const img = images[i] as Extract<ImageLookup, { ok: true }>;
      return { sha256: img.sha256, path: p, width: img.width, height: img.height };
    });
    const orientations = images.map((img) => (img.ok ? img.orientation : null));
    const rotated = orientations.some((o) => o !== null && o !== 1);
    for (const u of units) ordered.push({ order: u.order, event: buildSample(u, refs, rotated ? orientations : null, source, recordSite) });
  }
  ordered.sort((a, b) => a.order - b.order);
  return [...imageEvents, ...ordered.map((o) => o.event)];
}

function buildSample(
  u: GroundingUnit,
  refs: Array<{ sha256: string; path: string; width: number; height: number }>,
  orientations: Array<number | null> | null,
  source: string,
  recordSite: DefectSite,
): IngestEvent {
  const target = refs[u.targetImage]!;
  const targetBox = convertBox(u.sourceBox, u.grid, 'pixels', { width: target.width, height: target.height, ...(u.frame ? { resized: u.frame } : {}) });
  const meta: Record<string, unknown> = { ...u.meta, sourceBox: u.sourceBox, sourceConvention: u.grid };
  // Sizes are the stored (pre-EXIF-rotation) sizes, as PIL-based trainers read them; flag rotated files.
  if (orientations) meta.exifOrientation = orientations;
  const parsed = GroundingSample.safeParse({
    id: u.id,
    source,
    task: u.task,
    images: refs,
    question: u.question,
    context: u.context,
    targetImage: u.targetImage,
    targetBox,
    difficulty: u.difficulty ?? null,
    split: u.split,
    meta,
  });
  if (!parsed.success) {
    // Every field was checked above; reaching this means a check is missing, so keep the evidence.
    return q({ ...recordSite, recordId: u.id, field: parsed.error.issues[0]?.path.join('.') ?? null }, 'record_invalid', parsed.error.issues.map((i) => i.message).join('; '));
  }
  return { kind: 'sample', sample: parsed.data };
}
