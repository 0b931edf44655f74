/**
 * LLaMA-Factory sharegpt rows as univg export writes them: `{messages: [{role: user, content:
 * "<image>...question"}, {role: assistant, content: "<think>...</think><answer>(x1,y1),(x2,y2)</answer>"}],
 * images: [paths], univg: {...GroundTruth, id, task, source}}` (`conversations` with from/value is read
 * too). The answer box is in `univg.convention`, which must be stated: a trainer file does not say which
 * convention its boxes are in, and univg never guesses. The pixel box univg stored (`bbox_px`) is the
 * sample's box when it agrees with the answer text to within the convention's grid step.
 */
import { parseCompletion } from '../../completion/parse.js';
import { convertBox } from '../../geometry/convert.js';
import type { ImageLookup } from '../images.js';
import type { DefectSite } from '../reasons.js';
import { countPlaceholders, finishRecord, isObject, q, readImageList, type GroundingUnit, type IngestEvent, type RecordContext, type RecordPlan } from './common.js';
import { exportedTruth, questionOf } from './exported.js';

export const LLAMAFACTORY_SOURCE = 'llamafactory';

function turns(raw: Record<string, unknown>): Array<{ role: string; content: string }> | null {
  const list = Array.isArray(raw.messages) ? raw.messages : Array.isArray(raw.conversations) ? raw.conversations : null;
  if (!list) return null;
  const out: Array<{ role: string; content: string }> = [];
  for (const t of list) {
    if (!isObject(t)) return null;
    const role = typeof t.role === 'string' ? t.role : typeof t.from === 'string' ? t.from : null;
    const content = typeof t.content === 'string' ? t.content : typeof t.value === 'string' ? t.value : null;
    if (role === null || content === null) return null;
    out.push({ role: role === 'human' ? 'user' : role === 'gpt' ? 'assistant' : role, content });
  }
  return out;
}

export function llamafactoryRecordId(raw: unknown): string | null {
  if (!isObject(raw) || !isObject(raw.univg)) return null;
  return typeof raw.univg.id === 'string' && raw.univg.id !== '' ? raw.univg.id : null;
}

export function planLlamaFactory(raw: unknown, ctx: RecordContext): RecordPlan {
  const site: DefectSite = { recordId: null, file: ctx.file, row: ctx.row, field: null };
  const done = (...events: IngestEvent[]): RecordPlan => ({ kind: 'done', events });
  if (!isObject(raw)) return done(q(site, 'record_invalid', 'expected an object'));
  site.recordId = llamafactoryRecordId(raw) ?? `row-${ctx.row}`;
  const ts = turns(raw);
  const user = ts?.find((t) => t.role === 'user');
  const assistant = ts && user ? ts[ts.indexOf(user) + 1] : undefined;
  if (!user || assistant?.role !== 'assistant') return done(q({ ...site, field: 'messages' }, 'conversation_malformed', 'expected a user turn followed by an assistant turn'));
  const imgs = readImageList(raw.images);
  if (!imgs.ok) return done(q({ ...site, field: imgs.field }, 'record_invalid', imgs.detail));
  const placeholders = countPlaceholders(user.content);
  if (placeholders !== imgs.paths.length) return done(q({ ...site, field: 'messages[0].content' }, 'image_count_mismatch', `${placeholders} <image> placeholder(s) for ${imgs.paths.length} image(s)`));
  const question = questionOf(user.content);
  if (question === '') return done(q({ ...site, field: 'messages[0].content' }, 'question_empty', 'the question is empty once <image> placeholders are removed'));
  const info = isObject(raw.univg) ? raw.univg : null;
  const gt = exportedTruth(info);
  if (!info || !gt) return done(q({ ...site, field: 'univg' }, 'convention_unknown', 'no univg block with the box convention and target image (a LLaMA-Factory file written by univg export carries one)'));
  if (gt.target_image >= imgs.paths.length) return done(q({ ...site, field: 'univg.target_image' }, 'image_ordinal_unknown', `target image ${gt.target_image} of ${imgs.paths.length}`));
  const parsed = parseCompletion(assistant.content, gt.convention);
  if (!parsed.answerBox) return done(q({ ...site, field: 'messages[1].content' }, 'box_unparsable', 'no box in the <answer> block'));
  const frame = gt.input_w !== null && gt.input_h !== null ? { width: gt.input_w, height: gt.input_h } : undefined;
  if (gt.convention.replace(/-xywh$/, '') === 'qwen25vl' && !frame) return done(q({ ...site, field: 'univg.input_w' }, 'convention_unknown', 'a qwen25vl box without the model-input size it is in'));
  const fromText = convertBox(parsed.answerBox, gt.convention, 'pixels', { width: gt.image_w, height: gt.image_h, ...(frame ? { resized: frame } : {}) });
  // One step of the answer's grid, in pixels: how far the text box may be from the exact stored box.
  const gw = gt.convention === 'qwen2vl' ? gt.image_w / 1000 : frame ? gt.image_w / frame.width : 0.5;
  const gh = gt.convention === 'qwen2vl' ? gt.image_h / 1000 : frame ? gt.image_h / frame.height : 0.5;
  const off = fromText.map((v, k) => Math.abs(v - gt.bbox_px[k]!) / (k % 2 ? gh : gw));
  if (off.some((d) => d > 1)) return done(q({ ...site, field: 'messages[1].content' }, 'box_disagrees', `answer box [${parsed.answerBox.join(', ')}] (${gt.convention}) is [${fromText.map((v) => v.toFixed(1)).join(', ')}] px, univg.bbox_px is [${gt.bbox_px.join(', ')}]`));
  const unit: GroundingUnit = {
    id: site.recordId,
    task: typeof info.task === 'string' && info.task !== '' ? info.task : 'unknown',
    question,
    context: [],
    targetImage: gt.target_image,
    sourceBox: [...gt.bbox_px] as GroundingUnit['sourceBox'],
    grid: 'pixels',
    split: 'train',
    meta: { targetRule: 'answer', answerBox: parsed.answerBox, answerConvention: gt.convention, ...(typeof info.source === 'string' ? { exportedFrom: info.source } : {}) },
    order: 0,
  };
  return { kind: 'needs-images', paths: imgs.paths, finish: (images: readonly ImageLookup[]) => finishRecord(site, imgs.paths, [unit], [], images, LLAMAFACTORY_SOURCE) };
}
