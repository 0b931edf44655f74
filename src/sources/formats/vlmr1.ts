/**
 * VLM-R1 JSON lines (`grpo_jsonl.py`, the trainer UniVG-R1 forked): `{id, image: path | [paths],
 * conversations: [{from: human, value: "<image>question"}, {from: gpt, value: "[x1, y1, x2, y2]"}]}`, the
 * answer a box in original pixels. The target image is the only one, or the one univg export recorded
 * (`univg_gt.target_image`); a multi-image row that says neither is quarantined, not guessed.
 */
import { parseBoxValue } from '../boxes.js';
import type { ImageLookup } from '../images.js';
import type { DefectSite } from '../reasons.js';
import { countPlaceholders, finishRecord, isObject, q, readImageList, type IngestEvent, type RecordContext, type RecordPlan } from './common.js';
import { exportedTruth, questionOf } from './exported.js';

export const VLMR1_SOURCE = 'vlm-r1';

export function vlmr1RecordId(raw: unknown): string | null {
  if (!isObject(raw)) return null;
  if (typeof raw.id === 'string' && raw.id !== '') return raw.id;
  if (typeof raw.id === 'number' && Number.isSafeInteger(raw.id)) return String(raw.id);
  return null;
}

export function planVlmR1(raw: unknown, ctx: RecordContext): RecordPlan {
  const site: DefectSite = { recordId: null, file: ctx.file, row: ctx.row, field: null };
  const done = (...events: IngestEvent[]): RecordPlan => ({ kind: 'done', events });
  if (!isObject(raw)) return done(q(site, 'record_invalid', 'expected an object'));
  const id = vlmr1RecordId(raw);
  if (id === null) return done(q({ ...site, field: 'id' }, 'record_invalid', 'missing or empty "id"'));
  site.recordId = id;
  const imgs = readImageList(typeof raw.image === 'string' ? [raw.image] : raw.image);
  if (!imgs.ok) return done(q({ ...site, field: imgs.field.replace(/^images/, 'image') }, 'record_invalid', imgs.detail));
  const conv = raw.conversations;
  if (!Array.isArray(conv) || conv.length < 2 || !conv.slice(0, 2).every((t) => isObject(t) && typeof t.value === 'string'))
    return done(q({ ...site, field: 'conversations' }, 'record_invalid', 'expected [{"from": "human", "value": ...}, {"from": "gpt", "value": ...}]'));
  const human = (conv[0] as { value: string }).value;
  const answer = (conv[1] as { value: string }).value;
  const placeholders = countPlaceholders(human);
  if (placeholders !== imgs.paths.length) return done(q({ ...site, field: 'conversations[0].value' }, 'image_count_mismatch', `${placeholders} <image> placeholder(s) for ${imgs.paths.length} image(s)`));
  const question = questionOf(human);
  if (question === '') return done(q({ ...site, field: 'conversations[0].value' }, 'question_empty', 'the question is empty once <image> placeholders are removed'));
  let value: unknown;
  try {
    value = JSON.parse(answer.replace(/<\/?answer>/g, '').trim());
  } catch {
    return done(q({ ...site, field: 'conversations[1].value' }, 'box_unparsable', `expected a JSON box [x1, y1, x2, y2], got ${JSON.stringify(answer.slice(0, 80))}`));
  }
  const box = parseBoxValue(value);
  if (!box.ok) return done(q({ ...site, field: 'conversations[1].value' }, box.reason, box.detail));
  const [x1, y1, x2, y2] = box.box;
  if (x1 > x2 || y1 > y2) return done(q({ ...site, field: 'conversations[1].value' }, 'box_inverted', `[${box.box.join(', ')}] is inverted`));
  if (x1 === x2 || y1 === y2 || Math.min(x1, y1) < 0) return done(q({ ...site, field: 'conversations[1].value' }, x1 === x2 || y1 === y2 ? 'box_degenerate' : 'box_out_of_range', `[${box.box.join(', ')}] is not a box of positive size in pixels`));
  const gt = exportedTruth(raw.univg_gt);
  const target = gt?.target_image ?? (imgs.paths.length === 1 ? 0 : null);
  if (target === null || target >= imgs.paths.length)
    return done(q({ ...site, field: 'univg_gt' }, 'image_ordinal_unknown', `${imgs.paths.length} images and no univg_gt.target_image saying which one the box is in`));
  const unit = {
    id,
    task: typeof raw.task === 'string' && raw.task !== '' ? raw.task : 'rec',
    question,
    context: [],
    targetImage: target,
    sourceBox: box.box,
    grid: 'pixels' as const,
    split: 'train',
    meta: { targetRule: gt ? 'answer' : 'single_image', ...(typeof raw.source === 'string' ? { exportedFrom: raw.source } : {}) },
    order: 0,
  };
  return { kind: 'needs-images', paths: imgs.paths, finish: (images: readonly ImageLookup[]) => finishRecord(site, imgs.paths, [unit], [], images, VLMR1_SOURCE) };
}
