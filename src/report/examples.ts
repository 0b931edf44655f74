/**
 * Example candidates for each rejection reason (and a few that passed), chosen in SQL with a limit per
 * reason so a corpus of any size costs the same. Candidates that failed fewest checks come first (they
 * show the reason most plainly), ties broken by a stable pseudo-random order (md5 of the id). A sample is
 * shown once on the page: the rarest reasons choose first, so each gets its examples when it can. Each is
 * joined to its completion and sample, with small thumbnails of the sample's images and the boxes the
 * reasoning wrote.
 */
import { placeThinkBoxes } from '../completion/index.js';
import { BoxConvention, VERDICT_REASONS } from '../schema/records.js';
import { Duck, int, num, sqlString, type Row } from '../runview/duck.js';
import { Thumbnailer, type ExampleImage } from './thumbs.js';
import { orderReasons } from './figures.js';

/** Group key of the examples that passed every check. */
export const PASSED = '(passed)';
/** Characters of a completion shown; the rest is summarised by its length. */
export const COMPLETION_CHARS = 4000;

export interface Example {
  group: string;
  sampleId: string;
  candidateIndex: number;
  task: string;
  difficulty: string | null;
  reasons: string[];
  iou: number | null;
  answerBox: number[] | null;
  /** Boxes written in the reasoning, in pixels of the target image, in order (the last is the one it commits to). */
  thinkBoxes: number[][];
  thinkBoxAgrees: boolean | null;
  namesTargetImage: boolean | null;
  /** Sample fields; null when samples/ is absent or lacks the id. */
  question: string | null;
  targetImage: number | null;
  targetBox: number[] | null;
  images: ExampleImage[];
  /** Candidate fields; null when candidates/ is absent. */
  completion: string | null;
  completionChars: number | null;
  error: string | null;
  finishReason: string | null;
  model: string | null;
  attempts: number | null;
}

export interface ExampleOptions {
  /** Examples per reason (default 3). */
  perReason: number;
  /** Examples that passed (default 2). */
  passed: number;
  /** Where images not in the run's image store are looked up (the source's image root). */
  imageRoot: string | null;
  /** Longest side of the target image's thumbnail (px). */
  targetSide?: number;
  /** Longest side of the other images' thumbnails (px). */
  otherSide?: number;
  /** Most non-target images shown per example. */
  maxOtherImages?: number;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);
const nums = (v: unknown): number[] | null => (Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : null);

/** Characters of a completion read for the boxes of its reasoning (a bound on hostile, huge completions). */
const PARSE_CHARS = 200_000;
/** Group sizes the allocation considers: enough for every group to find its examples among unused samples. */
const GROUPS = VERDICT_REASONS.length + 2;

/**
 * The SQL that ranks example candidates: per group (each reason, and PASSED), one candidate per sample,
 * best first, the first `perGroup`; `samples` is how many distinct samples the group has.
 */
export function exampleCandidatesSql(perGroup: number): string {
  return `WITH grouped AS (
      SELECT sampleId, candidateIndex, len(reasons) AS n_reasons, unnest(reasons) AS grp FROM verdicts WHERE NOT pass
      UNION ALL SELECT sampleId, candidateIndex, 0 AS n_reasons, ${sqlString(PASSED)} AS grp FROM verdicts WHERE pass
    ), one_per_sample AS (
      SELECT grp, sampleId, candidateIndex, n_reasons, md5(sampleId || chr(0) || candidateIndex::VARCHAR) AS h,
        row_number() OVER (PARTITION BY grp, sampleId ORDER BY n_reasons, md5(sampleId || chr(0) || candidateIndex::VARCHAR), candidateIndex) AS j
      FROM grouped
    ), ranked AS (
      SELECT grp, sampleId, candidateIndex,
        row_number() OVER (PARTITION BY grp ORDER BY n_reasons, h, sampleId, candidateIndex) AS k,
        count(*) OVER (PARTITION BY grp) AS samples
      FROM one_per_sample WHERE j = 1
    )
    SELECT grp, sampleId, candidateIndex, k, samples FROM ranked WHERE k <= ${perGroup} ORDER BY grp, k`;
}

interface ExamplePick {
  grp: string;
  sampleId: string;
  candidateIndex: number;
  k: number;
}

/**
 * Give each group up to its limit of candidates whose sample no other group shows. Groups with the fewest
 * samples choose first (a rare reason would otherwise lose its only sample to a common one), ties in
 * check order; each takes its best-ranked candidates.
 */
export function allocateExamples(rows: ReadonlyArray<ExamplePick & { samples: number }>, limitOf: (grp: string) => number): ExamplePick[] {
  const byGroup = new Map<string, Array<ExamplePick & { samples: number }>>();
  for (const r of rows) {
    if (!byGroup.has(r.grp)) byGroup.set(r.grp, []);
    byGroup.get(r.grp)!.push(r);
  }
  const checkOrder = [...orderReasons([...byGroup.keys()].filter((g) => g !== PASSED)), PASSED];
  const order = [...byGroup.keys()].sort((a, b) => byGroup.get(a)![0]!.samples - byGroup.get(b)![0]!.samples || checkOrder.indexOf(a) - checkOrder.indexOf(b));
  const used = new Set<string>();
  const out: ExamplePick[] = [];
  for (const g of order) {
    let n = 0;
    for (const r of [...byGroup.get(g)!].sort((a, b) => a.k - b.k)) {
      if (n >= limitOf(g)) break;
      if (used.has(r.sampleId)) continue;
      used.add(r.sampleId);
      out.push({ grp: r.grp, sampleId: r.sampleId, candidateIndex: r.candidateIndex, k: r.k });
      n++;
    }
  }
  return out;
}

/** The SQL that fetches the chosen examples (`picks` as a VALUES list); joins only the tables present. */
export function exampleSql(present: Set<string>, picks: readonly ExamplePick[]): string {
  const c = present.has('candidates');
  const s = present.has('samples');
  const values = picks.map((p) => `(${sqlString(p.grp)}, ${p.k}, ${sqlString(p.sampleId)}, ${p.candidateIndex})`).join(', ');
  return `WITH picked(grp, k, sampleId, candidateIndex) AS (VALUES ${values})
    SELECT p.grp, p.k, v.sampleId, v.candidateIndex, v.task, v.difficulty, v.reasons, v.iou, v.answerBox, v.thinkBoxAgrees, v.namesTargetImage,
      ${c ? `left(c.completion, ${COMPLETION_CHARS}) AS completion, left(c.completion, ${PARSE_CHARS}) AS completion_parse, length(c.completion) AS completion_chars, c.error, c.finishReason, c.model, c.attempts, c.convention, c.seenSizes` : `NULL AS completion, NULL AS completion_parse, NULL AS completion_chars, NULL AS error, NULL AS finishReason, NULL AS model, NULL AS attempts, NULL AS convention, NULL AS seenSizes`},
      ${s ? `s.question, s.targetImage, s.targetBox, s.images` : `NULL AS question, NULL AS targetImage, NULL AS targetBox, NULL AS images`}
    FROM picked p
    JOIN verdicts v ON v.sampleId = p.sampleId AND v.candidateIndex = p.candidateIndex
    ${c ? `LEFT JOIN candidates c ON c.sampleId = p.sampleId AND c.candidateIndex = p.candidateIndex` : ''}
    ${s ? `LEFT JOIN samples s ON s.id = p.sampleId` : ''}
    ORDER BY p.grp, p.k`;
}

/**
 * The boxes the reasoning wrote about the target image, in its pixels (boxes about another image belong on
 * that image, not here); empty when the completion, its convention or the target image's size is unknown.
 */
function thinkBoxesOf(r: Row): number[][] {
  const text = str(r.completion_parse);
  const conv = BoxConvention.safeParse(r.convention);
  const images = Array.isArray(r.images) ? (r.images as Row[]).map((i) => ({ width: int(i.width), height: int(i.height) })) : [];
  const t = typeof r.targetImage === 'number' ? r.targetImage : -1;
  if (text === null || !conv.success || !images[t] || images.some((i) => i.width <= 0 || i.height <= 0)) return [];
  const seenSizes = Array.isArray(r.seenSizes) ? (r.seenSizes as Row[]).map((x) => (int(x.width) > 0 && int(x.height) > 0 ? { width: int(x.width), height: int(x.height) } : undefined)) : [];
  return placeThinkBoxes(text, { convention: conv.data, images, seenSizes, targetImage: t })
    .filter((b) => b.image === t)
    .map((b) => b.box);
}

async function imagesOf(r: Row, thumbs: Thumbnailer, o: ExampleOptions): Promise<ExampleImage[]> {
  const list = Array.isArray(r.images) ? (r.images as Row[]) : [];
  const target = typeof r.targetImage === 'number' ? r.targetImage : -1;
  const out: ExampleImage[] = [];
  let others = 0;
  for (let index = 0; index < list.length; index++) {
    const img = list[index]!;
    const isTarget = index === target;
    if (!isTarget && others >= (o.maxOtherImages ?? 5)) continue;
    if (!isTarget) others++;
    const facts = { sha256: str(img.sha256) ?? '', path: str(img.path) ?? '', width: int(img.width), height: int(img.height) };
    out.push(await thumbs.image(facts, index, isTarget, isTarget ? (o.targetSide ?? 420) : (o.otherSide ?? 120)));
  }
  return out;
}

/** Examples grouped by reason code (check order), then PASSED; each group's order is stable. */
export async function selectExamples(duck: Duck, present: Set<string>, runRoot: string, o: ExampleOptions): Promise<Map<string, Example[]>> {
  const groups = new Map<string, Example[]>();
  if (!present.has('verdicts')) return groups;
  const limitOf = (g: string) => (g === PASSED ? o.passed : o.perReason);
  const ranked = await duck.all(exampleCandidatesSql(Math.max(o.perReason, o.passed) * GROUPS), [], 'ranking examples');
  const picks = allocateExamples(
    ranked.map((r) => ({ grp: str(r.grp) ?? '', sampleId: str(r.sampleId) ?? '', candidateIndex: int(r.candidateIndex), k: int(r.k), samples: int(r.samples) })),
    limitOf,
  );
  if (picks.length === 0) return groups;
  const rows = await duck.all(exampleSql(present, picks), [], 'choosing examples');
  const thumbs = new Thumbnailer(runRoot, o.imageRoot);
  const byGroup = new Map<string, Row[]>();
  for (const r of rows) {
    const g = str(r.grp) ?? '';
    if (!byGroup.has(g)) byGroup.set(g, []);
    byGroup.get(g)!.push(r);
  }
  const order = [...orderReasons([...byGroup.keys()].filter((g) => g !== PASSED)), ...(byGroup.has(PASSED) ? [PASSED] : [])];
  for (const g of order) {
    const list: Example[] = [];
    for (const r of byGroup.get(g)!) {
      list.push({
        group: g,
        sampleId: str(r.sampleId) ?? '',
        candidateIndex: int(r.candidateIndex),
        task: str(r.task) ?? '',
        difficulty: str(r.difficulty),
        reasons: Array.isArray(r.reasons) ? r.reasons.map(String) : [],
        iou: num(r.iou),
        answerBox: nums(r.answerBox),
        thinkBoxes: thinkBoxesOf(r),
        thinkBoxAgrees: bool(r.thinkBoxAgrees),
        namesTargetImage: bool(r.namesTargetImage),
        question: str(r.question),
        targetImage: typeof r.targetImage === 'number' ? r.targetImage : null,
        targetBox: nums(r.targetBox),
        images: await imagesOf(r, thumbs, o),
        completion: str(r.completion),
        completionChars: num(r.completion_chars),
        error: str(r.error),
        finishReason: str(r.finishReason),
        model: str(r.model),
        attempts: num(r.attempts),
      });
    }
    groups.set(g, list);
  }
  return groups;
}
