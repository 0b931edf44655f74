/**
 * MIG-Bench (Migician) items: `{task, images, question, answer: [x1,y1,x2,y2] in 0-1 floats,
 * additional_info, need_format}`. Items carry no id, so the id is `<task>-<row>` with row the item's
 * 0-based position in the file (stable, unique, and independent of how other tasks are ordered).
 * Optional `id`, `split` (default "test") and `difficulty` fields, as the synthetic suite writes, are kept.
 *
 * Target image: the question names it ("locate this object in the 2th image", "Find it and locate it in
 * the second image", "in the source image"); group_grounding questions do not, but `additional_info` does
 * ("It is in the fourth image."); when nothing names an image, the target is the LAST image (the
 * `diff` task: the box marks the difference in the second of two aligned images). Not quarantined;
 * `meta.targetRule` records which rule decided.
 */
import { checkBoxOnGrid, parseBoxValue } from '../boxes.js';
import type { ImageLookup } from '../images.js';
import { resolveMention, targetMention } from '../image-refs.js';
import type { DefectSite } from '../reasons.js';
import { countPlaceholders, finishRecord, isObject, q, readImageList, stripPlaceholders, type IngestEvent, type RecordContext, type RecordPlan, type TargetRule } from './common.js';

export const MIGBENCH_SOURCE = 'migbench';

export function migbenchId(task: string, row: number): string {
  return `${task}-${row}`;
}

export function planMigBench(raw: unknown, ctx: RecordContext): RecordPlan {
  const site: DefectSite = { recordId: null, file: ctx.file, row: ctx.row, field: null };
  const done = (...events: IngestEvent[]): RecordPlan => ({ kind: 'done', events });
  if (!isObject(raw)) return done(q(site, 'record_invalid', `expected an object, got ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`));
  if (typeof raw.task !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(raw.task)) {
    return done(q({ ...site, field: 'task' }, 'record_invalid', 'missing "task", or not a simple name ([A-Za-z0-9_.-]+)'));
  }
  const task = raw.task;
  // Files derived from MIG-Bench (the synthetic suite) may carry their own id, split and difficulty.
  if (raw.id !== undefined && (typeof raw.id !== 'string' || raw.id === '')) return done(q({ ...site, field: 'id' }, 'record_invalid', 'expected a non-empty string'));
  site.recordId = typeof raw.id === 'string' ? raw.id : migbenchId(task, ctx.row);
  const split = raw.split === undefined || raw.split === null ? 'test' : raw.split;
  if (typeof split !== 'string') return done(q({ ...site, field: 'split' }, 'record_invalid', 'expected a string'));
  const rawDifficulty = raw.difficulty === undefined || raw.difficulty === null ? null : raw.difficulty;
  if (rawDifficulty !== null && rawDifficulty !== 'easy' && rawDifficulty !== 'medium' && rawDifficulty !== 'hard') {
    return done(q({ ...site, field: 'difficulty' }, 'record_invalid', 'expected easy, medium or hard'));
  }
  const difficulty: 'easy' | 'medium' | 'hard' | null = rawDifficulty;

  const imgs = readImageList(raw.images);
  if (!imgs.ok) return done(q({ ...site, field: imgs.field }, 'record_invalid', imgs.detail));
  const paths = imgs.paths;

  if (typeof raw.question !== 'string') return done(q({ ...site, field: 'question' }, 'record_invalid', 'missing "question" string'));
  const additional = raw.additional_info === undefined || raw.additional_info === null ? '' : raw.additional_info;
  if (typeof additional !== 'string') return done(q({ ...site, field: 'additional_info' }, 'record_invalid', 'expected a string'));
  const needFormat = raw.need_format === undefined || raw.need_format === null ? null : raw.need_format;
  if (needFormat !== null && typeof needFormat !== 'boolean') return done(q({ ...site, field: 'need_format' }, 'record_invalid', 'expected a boolean'));

  // MIG-Bench questions carry no placeholders; if a converted file adds them, they must match.
  const placeholders = countPlaceholders(raw.question);
  if (placeholders > 0 && placeholders !== paths.length) {
    return done(q({ ...site, field: 'question' }, 'image_count_mismatch', `${placeholders} <image> placeholder(s) for ${paths.length} image(s)`));
  }
  const question = stripPlaceholders(raw.question);
  if (question === '') return done(q({ ...site, field: 'question' }, 'question_empty', 'the question is empty'));

  const parsed = parseBoxValue(raw.answer);
  if (!parsed.ok) return done(q({ ...site, field: 'answer' }, parsed.reason, parsed.detail));
  const checked = checkBoxOnGrid(parsed.box, 'norm');
  if (!checked.ok) return done(q({ ...site, field: 'answer' }, checked.reason, checked.detail));

  const target = pickTarget(question, additional, paths.length);
  if (!target.ok) return done(q({ ...site, field: target.field }, 'image_ordinal_unknown', target.detail));

  const unit = {
    id: site.recordId,
    task,
    question,
    context: [],
    targetImage: target.index,
    sourceBox: checked.box,
    grid: 'norm' as const,
    split,
    difficulty,
    meta: { need_format: needFormat, additional_info: additional, targetRule: target.rule, row: ctx.row },
    order: 0,
  };
  return { kind: 'needs-images', paths, finish: (images: readonly ImageLookup[]) => finishRecord(site, paths, [unit], [], images, MIGBENCH_SOURCE) };
}

type Target = { ok: true; index: number; rule: TargetRule } | { ok: false; field: string; detail: string };

function pickTarget(question: string, additional: string, imageCount: number): Target {
  for (const [text, field, rule] of [
    [question, 'question', 'question'],
    [additional, 'additional_info', 'additional_info'],
  ] as const) {
    const m = targetMention(text);
    if (!m) continue;
    const i = resolveMention(m, imageCount);
    return i === null ? { ok: false, field, detail: `${field} names "${m.text}" but the item has ${imageCount} image(s)` } : { ok: true, index: i, rule };
  }
  return imageCount === 1 ? { ok: true, index: 0, rule: 'single_image' } : { ok: true, index: imageCount - 1, rule: 'default_last' };
}

/** Convenience for tests and small inputs: plan a record and finish it with a synchronous image lookup. */
export function migbenchRecordToEvents(raw: unknown, ctx: RecordContext, lookup: (path: string) => ImageLookup): IngestEvent[] {
  const plan = planMigBench(raw, ctx);
  return plan.kind === 'done' ? plan.events : plan.finish(plan.paths.map(lookup));
}
