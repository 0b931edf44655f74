/**
 * MGrounding-630k (Migician) training records: ShareGPT-style conversations, one `<image>` placeholder per
 * image, answers like `It's in the third image. <|box_start|>(316,58),(764,999)<|box_end|>` in Qwen2-VL
 * 0-1000 coordinates. One sample per grounded turn, id `<id>#<turn>` (turn = 0-based question index);
 * the turns before it become `context`. Pure: record JSON (+ image metadata) in, events out.
 */
import type { Turn } from '../../schema/records.js';
import { checkBoxOnGrid, findBoxSpans, parseBoxText } from '../boxes.js';
import type { ImageLookup } from '../images.js';
import { resolveMention, targetMention, findImageMentions } from '../image-refs.js';
import type { DefectSite } from '../reasons.js';
import {
  countPlaceholders,
  finishRecord,
  isObject,
  q,
  readImageList,
  stripPlaceholders,
  type GroundingUnit,
  type IngestEvent,
  type RecordContext,
  type RecordPlan,
  type TargetRule,
} from './common.js';

export const MGROUNDING_SOURCE = 'mgrounding';

/**
 * Task keys from the record's `type` (e.g. `gg_train`), aligned with MIG-Bench's task names where the
 * sub-set matches one. Unknown types keep their raw value; the raw `type` is always in `meta.type`.
 */
const TASK_BY_TYPE: ReadonlyArray<[RegExp, string]> = [
  [/^(gg|group)/i, 'group_grounding'],
  [/^common/i, 'common_object'],
  [/^diff/i, 'diff'],
  [/^free/i, 'free_form'],
  [/^(ot|track|object_track)/i, 'object_tracking'],
  [/^refer/i, 'refer_grounding'],
  [/^region/i, 'region'],
];

export function mgroundingTask(type: string | null): string {
  if (type === null || type.trim() === '') return 'unknown';
  for (const [re, task] of TASK_BY_TYPE) if (re.test(type)) return task;
  return type;
}

const ROLE: Record<string, Turn['role']> = { human: 'user', user: 'user', gpt: 'assistant', assistant: 'assistant' };

/** The record id used for duplicate detection, or null when the record has none. */
export function mgroundingRecordId(raw: unknown): string | null {
  if (!isObject(raw)) return null;
  const id = raw.id;
  if (typeof id === 'string' && id.trim() !== '') return id;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return String(id);
  return null;
}

export function planMGrounding(raw: unknown, ctx: RecordContext): RecordPlan {
  const site: DefectSite = { recordId: null, file: ctx.file, row: ctx.row, field: null };
  const done = (...events: IngestEvent[]): RecordPlan => ({ kind: 'done', events });
  if (!isObject(raw)) return done(q(site, 'record_invalid', `expected an object, got ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`));
  const id = mgroundingRecordId(raw);
  if (id === null) return done(q({ ...site, field: 'id' }, 'record_invalid', 'missing or empty "id"'));
  site.recordId = id;

  const imgs = readImageList(raw.images);
  if (!imgs.ok) return done(q({ ...site, field: imgs.field }, 'record_invalid', imgs.detail));
  const paths = imgs.paths;

  const conv = raw.conversations;
  if (!Array.isArray(conv) || conv.length < 2) return done(q({ ...site, field: 'conversations' }, 'record_invalid', 'expected a list of at least 2 turns'));
  const turns: Turn[] = [];
  for (let i = 0; i < conv.length; i++) {
    const t = conv[i];
    if (!isObject(t) || typeof t.value !== 'string' || typeof t.from !== 'string') {
      return done(q({ ...site, field: `conversations[${i}]` }, 'record_invalid', 'expected {"from": string, "value": string}'));
    }
    const role = ROLE[t.from.toLowerCase()];
    const expected = i % 2 === 0 ? 'user' : 'assistant';
    if (role !== expected) {
      return done(q({ ...site, field: `conversations[${i}].from` }, 'conversation_malformed', `turn ${i} is from ${JSON.stringify(t.from)}; expected ${expected === 'user' ? 'human' : 'gpt'} (turns must alternate, starting with human)`));
    }
    turns.push({ role, content: t.value });
  }
  if (turns.length % 2 !== 0) {
    return done(q({ ...site, field: `conversations[${turns.length - 1}]` }, 'conversation_malformed', 'the last human turn has no answer'));
  }

  const placeholders = turns.reduce((n, t) => n + countPlaceholders(t.content), 0);
  if (placeholders !== paths.length) {
    return done(q({ ...site, field: 'conversations' }, 'image_count_mismatch', `${placeholders} <image> placeholder(s) for ${paths.length} image(s)`));
  }

  const type = typeof raw.type === 'string' ? raw.type : null;
  const task = mgroundingTask(type);
  const context: Turn[] = turns.map((t) => ({ role: t.role, content: stripPlaceholders(t.content) }));
  const units: GroundingUnit[] = [];
  const pending: Array<{ order: number; event: IngestEvent }> = [];

  for (let k = 0; k * 2 + 1 < turns.length; k++) {
    const qField = `conversations[${2 * k}].value`;
    const aField = `conversations[${2 * k + 1}].value`;
    const answer = turns[2 * k + 1]!.content;
    const { spans, unclosedAt } = findBoxSpans(answer);
    if (spans.length === 0 && unclosedAt === null) continue; // a turn without a box is context, not a sample
    const unitId = `${id}#${k}`;
    const unitSite: DefectSite = { ...site, recordId: unitId };
    const reject = (field: string, reason: Parameters<typeof q>[1], detail: string) => pending.push({ order: k, event: q({ ...unitSite, field }, reason, detail) });

    const question = context[2 * k]!.content;
    if (question === '') {
      reject(qField, 'question_empty', 'the question is empty once <image> placeholders are removed');
      continue;
    }
    if (unclosedAt !== null) {
      reject(aField, 'box_unparsable', `unbalanced <|box_start|>/<|box_end|> at character ${unclosedAt}`);
      continue;
    }
    if (spans.length > 1) {
      reject(aField, 'box_multiple', `${spans.length} boxes in one answer; the target box is ambiguous`);
      continue;
    }
    const parsed = parseBoxText(spans[0]!.inner);
    if (!parsed.ok) {
      reject(aField, parsed.reason, parsed.detail);
      continue;
    }
    const checked = checkBoxOnGrid(parsed.box, 'qwen2vl');
    if (!checked.ok) {
      reject(aField, checked.reason, checked.detail);
      continue;
    }
    const target = pickTarget(answer, spans[0]!.at, question, paths.length);
    if (!target.ok) {
      reject(target.fromAnswer ? aField : qField, 'image_ordinal_unknown', target.detail);
      continue;
    }
    units.push({
      id: unitId,
      task,
      question,
      context: context.slice(0, 2 * k),
      targetImage: target.index,
      sourceBox: checked.box,
      grid: 'qwen2vl',
      split: 'train',
      meta: { type, turn: k, targetRule: target.rule },
      order: k,
    });
  }

  if (units.length === 0 && pending.length === 0) {
    return done(q({ ...site, field: 'conversations' }, 'no_grounded_turn', 'no answer contains a <|box_start|>…<|box_end|> box'));
  }
  if (units.length === 0) return done(...pending.map((p) => p.event));
  return {
    kind: 'needs-images',
    paths,
    finish: (images: readonly ImageLookup[]) => finishRecord(site, paths, units, pending, images, MGROUNDING_SOURCE),
  };
}

type Target = { ok: true; index: number; rule: TargetRule } | { ok: false; fromAnswer: boolean; detail: string };

/**
 * The answer's own words win ("It's in the third image" before the box); then the question's (see
 * image-refs.ts); a single image is the target; otherwise the last image (the documented default).
 */
function pickTarget(answer: string, boxAt: number, question: string, imageCount: number): Target {
  const inAnswer = findImageMentions(answer);
  const before = inAnswer.filter((m) => m.at < boxAt);
  const named = before.at(-1) ?? inAnswer.at(-1);
  if (named) {
    const i = resolveMention(named, imageCount);
    return i === null ? { ok: false, fromAnswer: true, detail: `answer names "${named.text}" but the record has ${imageCount} image(s)` } : { ok: true, index: i, rule: 'answer' };
  }
  const inQuestion = targetMention(question);
  if (inQuestion) {
    const i = resolveMention(inQuestion, imageCount);
    return i === null ? { ok: false, fromAnswer: false, detail: `question names "${inQuestion.text}" but the record has ${imageCount} image(s)` } : { ok: true, index: i, rule: 'question' };
  }
  return imageCount === 1 ? { ok: true, index: 0, rule: 'single_image' } : { ok: true, index: imageCount - 1, rule: 'default_last' };
}

/** Convenience for tests and small inputs: plan a record and finish it with a synchronous image lookup. */
export function mgroundingRecordToEvents(raw: unknown, ctx: RecordContext, lookup: (path: string) => ImageLookup): IngestEvent[] {
  const plan = planMGrounding(raw, ctx);
  return plan.kind === 'done' ? plan.events : plan.finish(plan.paths.map(lookup));
}
