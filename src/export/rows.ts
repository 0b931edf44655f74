/**
 * A corpus row made ready for any trainer: image bytes loaded, the prompt's placeholders checked, the
 * ground truth and every box of the chain of thought written in the model family's convention, the
 * difficulty signals carried along. Per-format modules only rearrange a PreparedRow into their columns.
 *
 * Problems (a row the format cannot use) are returned, not thrown, so an export can name every bad row
 * before it gives up; see `ExportProblem`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { formatBox } from '../completion/parse.js';
import { rewriteBoxes } from '../completion/rewrite.js';
import { convertBox } from '../geometry/convert.js';
import { canonicalJson } from '../schema/canonical.js';
import { Box, type BoxConvention, type GroundTruth, type HfImage, type RlRow, type SftRow } from '../schema/records.js';
import { isNotFound } from '../store/fsutil.js';
import { modelInputSize, type ExportFormat, type PixelBudget } from './family.js';

/** Why a row cannot be exported, with where it is. */
export interface ExportProblem {
  id: string | null;
  file: string;
  row: number;
  field: string;
  reason: 'no_chain_of_thought' | 'no_ground_truth' | 'image_count_mismatch' | 'image_missing' | 'image_unknown_type' | 'not_scored' | 'convention_unsupported';
  detail: string;
}

export interface PreparedImage {
  bytes: Uint8Array<ArrayBuffer>;
  sha256: string;
  /** File extension with the dot, from the bytes' signature (or the stored name). */
  ext: string;
  width: number;
  height: number;
}

export interface PreparedRow {
  /** Position of the row in the input (files in manifest order): unique and stable under filters and resume. */
  index: number;
  id: string;
  source: string;
  task: string;
  images: PreparedImage[];
  /** User text with one `<image>` per image, in order. */
  prompt: string;
  /** The same text without the placeholders (TRL inserts image blocks itself). */
  text: string;
  /** The chain of thought with its boxes in the family's convention; null for an RL row. */
  completion: string | null;
  gt: GroundTruth;
  /** `gt` as canonical JSON (sorted keys): what reward functions receive. */
  gtJson: string;
  difficulty: number | null;
  weight: number | null;
  bucket: string | null;
}

export interface PrepareContext {
  format: ExportFormat;
  answerConvention: BoxConvention;
  budget: PixelBudget;
  /** Whether the format trains on chains of thought (SFT) and so needs one in every row. */
  needsChain: boolean;
  /** Directory relative image paths of the rows resolve under (the run directory). */
  dataRoot: string;
  /** The input file, for problems. */
  file: string;
}

const SIGNATURES: Array<[number[], string]> = [
  [[0x89, 0x50, 0x4e, 0x47], '.png'],
  [[0xff, 0xd8, 0xff], '.jpg'],
  [[0x47, 0x49, 0x46, 0x38], '.gif'],
  [[0x42, 0x4d], '.bmp'],
];

/** The extension of an image from its first bytes (then its stored name); null when unknown. */
export function imageExtension(bytes: Uint8Array, name: string | null): string | null {
  for (const [sig, ext] of SIGNATURES) if (sig.every((b, i) => bytes[i] === b)) return ext;
  if (bytes.length >= 12 && String.fromCharCode(...bytes.subarray(0, 4)) === 'RIFF' && String.fromCharCode(...bytes.subarray(8, 12)) === 'WEBP') return '.webp';
  const e = name ? extname(name).toLowerCase() : '';
  return /^\.[a-z0-9]{1,5}$/.test(e) ? e : null;
}

const CHAIN = /<think>[^]*?<\/think>[^]*?<answer>[^]*?<\/answer>/;
const ANSWER_BLOCK = /(<answer>)([^]*?)(<\/answer>)/;

type PoolRow = (SftRow | RlRow) & { completion?: string; difficulty?: number | null; weight?: number | null; bucket?: string | null };

async function loadImage(img: HfImage, dataRoot: string): Promise<Uint8Array<ArrayBuffer> | 'missing'> {
  if (img.bytes) return img.bytes;
  if (!img.path) return 'missing';
  const p = isAbsolute(img.path) ? img.path : resolve(dataRoot, img.path);
  // A stored path must stay inside the data root: rows are data, not instructions to read anywhere.
  const rel = relative(resolve(dataRoot), p);
  if (!isAbsolute(img.path) && (rel.startsWith(`..${sep}`) || rel === '..')) return 'missing';
  try {
    return new Uint8Array(await readFile(p));
  } catch (err) {
    if (isNotFound(err)) return 'missing';
    throw err;
  }
}

/** The ground truth of a row in the family's convention, beside its image size and pixel box. */
export function groundTruthOf(row: Pick<PoolRow, 'targetBox' | 'targetImage' | 'imageWidth' | 'imageHeight'>, ctx: Pick<PrepareContext, 'format' | 'answerConvention' | 'budget'>): GroundTruth {
  const t = row.targetImage;
  const W = row.imageWidth[t]!;
  const H = row.imageHeight[t]!;
  const input = ctx.answerConvention === 'qwen25vl' ? modelInputSize(ctx.format, W, H, ctx.budget) : null;
  const bbox = convertBox(row.targetBox, 'pixels', ctx.answerConvention, { width: W, height: H, ...(input ? { resized: input } : {}) });
  return {
    bbox,
    convention: ctx.answerConvention,
    image_w: W,
    image_h: H,
    input_w: input?.width ?? null,
    input_h: input?.height ?? null,
    bbox_px: [...row.targetBox] as GroundTruth['bbox_px'],
    target_image: t,
  };
}

/**
 * Prepare one pool row for `ctx.format`, or say why it cannot be exported. `index` is the row's
 * position in the input; `rowInFile` its position in `ctx.file`.
 */
export async function prepareRow(raw: PoolRow, index: number, rowInFile: number, ctx: PrepareContext): Promise<PreparedRow | ExportProblem[]> {
  const problems: ExportProblem[] = [];
  const id = typeof raw.id === 'string' ? raw.id : null;
  const bad = (field: string, reason: ExportProblem['reason'], detail: string) => problems.push({ id, file: ctx.file, row: rowInFile, field, reason, detail });
  const n = Array.isArray(raw.images) ? raw.images.length : 0;

  const t = raw.targetImage;
  const box = Box.safeParse(raw.targetBox);
  if (!box.success || !Number.isInteger(t) || t < 0 || t >= n || !(raw.imageWidth?.[t]! > 0) || !(raw.imageHeight?.[t]! > 0))
    bad('targetBox', 'no_ground_truth', box.success ? `target image ${String(t)} is not one of the row's ${n} image(s) with a size` : `no usable ground-truth box (${box.error.issues[0]?.message ?? 'missing'})`);
  const prompt = typeof raw.prompt === 'string' ? raw.prompt : '';
  const placeholders = (prompt.match(/<image>/g) ?? []).length;
  if (n === 0 || placeholders !== n) bad('prompt', 'image_count_mismatch', `${placeholders} <image> placeholder(s) for ${n} image(s)`);
  if (ctx.needsChain && !(typeof raw.completion === 'string' && CHAIN.test(raw.completion)))
    bad('completion', 'no_chain_of_thought', typeof raw.completion === 'string' && raw.completion !== '' ? 'the completion has no <think>…</think> … <answer>…</answer>' : 'the row has no chain of thought (an RL-pool row?)');
  const from = raw.convention;
  if (ctx.needsChain && from.replace(/-xywh$/, '') === 'qwen25vl')
    bad('convention', 'convention_unsupported', 'the chain is in qwen25vl pixels of an unknown pixel budget; export from a corpus in qwen2vl, norm or pixels');

  const images: PreparedImage[] = [];
  for (let k = 0; k < n; k++) {
    const img = raw.images[k]!;
    const bytes = await loadImage(img, ctx.dataRoot);
    if (bytes === 'missing') {
      bad(`images[${k}]`, 'image_missing', img.path ? `image ${img.path} is not under ${ctx.dataRoot}` : 'the row has neither image bytes nor a path');
      continue;
    }
    const ext = imageExtension(bytes, img.path);
    if (!ext) {
      bad(`images[${k}]`, 'image_unknown_type', 'the image bytes have no known signature and the path no extension');
      continue;
    }
    const sha256 = raw.imageSha256?.[k] ?? createHash('sha256').update(bytes).digest('hex');
    images.push({ bytes, sha256, ext, width: raw.imageWidth[k]!, height: raw.imageHeight[k]! });
  }
  if (problems.length) return problems;

  const gt = groundTruthOf(raw, ctx);
  let completion: string | null = null;
  if (ctx.needsChain) {
    const input = gt.input_w !== null ? { resized: { width: gt.input_w, height: gt.input_h! } } : {};
    const owner = { images: raw.imageWidth.map((w, k) => ({ width: w, height: raw.imageHeight[k]! })), targetImage: t };
    completion = rewriteBoxes(raw.completion!, from, ctx.answerConvention, owner, undefined, input);
    // An answer copied from the ground truth is written from the exact pixel box, not re-rounded from the
    // training convention; a teacher's own answer (select.answerFrom: teacher) keeps its rewritten box.
    const m = ANSWER_BLOCK.exec(raw.completion!);
    if (m && m[2]!.trim() === raw.answer.trim()) completion = completion.replace(ANSWER_BLOCK, (_a, o: string, _b, c: string) => `${o}${formatBox(gt.bbox, ctx.answerConvention)}${c}`);
  }
  return {
    index,
    id: raw.id,
    source: raw.source,
    task: raw.task,
    images,
    prompt,
    text: prompt.replace(/<image>/g, '').trim(),
    completion,
    gt,
    gtJson: canonicalJson(gt),
    difficulty: raw.difficulty ?? null,
    weight: raw.weight ?? null,
    bucket: raw.bucket ?? null,
  };
}

/** Images of a row as HF `Image` structs with embedded bytes (the name keeps the extension for readers that sniff it). */
export function embedded(row: PreparedRow): HfImage[] {
  return row.images.map((im) => ({ bytes: im.bytes, path: `${im.sha256}${im.ext}` }));
}

/** Where a row's images live inside a file-based export: content-addressed, relative to the export directory. */
export function imageRelPath(im: PreparedImage): string {
  return join('images', im.sha256.slice(0, 2), `${im.sha256}${im.ext}`).split(sep).join('/');
}
