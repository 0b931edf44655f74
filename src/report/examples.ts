/**
 * Example candidates for each rejection reason (and a few that passed), chosen in SQL with a limit per
 * reason so a corpus of any size costs the same. Candidates that failed fewest checks come first (they
 * show the reason most plainly), ties broken by a stable pseudo-random order (md5 of the id). Each is
 * joined to its completion and sample, with small thumbnails of the sample's images.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import sharp from 'sharp';
import { ImageStore } from '../store/images.js';
import { Duck, int, num, sqlString, type Row } from './duck.js';
import { orderReasons } from './figures.js';

/** Group key of the examples that passed every check. */
export const PASSED = '(passed)';
/** Characters of a completion shown; the rest is summarised by its length. */
export const COMPLETION_CHARS = 4000;

export interface Thumb {
  dataUrl: string;
  width: number;
  height: number;
}

export interface ExampleImage {
  index: number;
  isTarget: boolean;
  sha256: string;
  path: string;
  width: number;
  height: number;
  thumb: Thumb | null;
  /** Why there is no thumbnail (not in the store, undecodable). */
  problem: string | null;
}

export interface Example {
  group: string;
  sampleId: string;
  candidateIndex: number;
  task: string;
  difficulty: string | null;
  reasons: string[];
  iou: number | null;
  answerBox: number[] | null;
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

/** The SQL that picks the examples; joins only the tables present. */
export function exampleSql(present: Set<string>, perReason: number, passed: number): string {
  const c = present.has('candidates');
  const s = present.has('samples');
  return `WITH grouped AS (
      SELECT sampleId, candidateIndex, len(reasons) AS n_reasons, unnest(reasons) AS grp FROM verdicts WHERE NOT pass
      UNION ALL SELECT sampleId, candidateIndex, 0 AS n_reasons, ${sqlString(PASSED)} AS grp FROM verdicts WHERE pass
    ), picked AS (
      SELECT grp, sampleId, candidateIndex,
        row_number() OVER (PARTITION BY grp ORDER BY n_reasons, md5(sampleId || chr(0) || candidateIndex::VARCHAR), sampleId, candidateIndex) AS k
      FROM grouped
    )
    SELECT p.grp, p.k, v.sampleId, v.candidateIndex, v.task, v.difficulty, v.reasons, v.iou, v.answerBox, v.thinkBoxAgrees, v.namesTargetImage,
      ${c ? `left(c.completion, ${COMPLETION_CHARS}) AS completion, length(c.completion) AS completion_chars, c.error, c.finishReason, c.model, c.attempts` : `NULL AS completion, NULL AS completion_chars, NULL AS error, NULL AS finishReason, NULL AS model, NULL AS attempts`},
      ${s ? `s.question, s.targetImage, s.targetBox, s.images` : `NULL AS question, NULL AS targetImage, NULL AS targetBox, NULL AS images`}
    FROM picked p
    JOIN verdicts v ON v.sampleId = p.sampleId AND v.candidateIndex = p.candidateIndex
    ${c ? `LEFT JOIN candidates c ON c.sampleId = p.sampleId AND c.candidateIndex = p.candidateIndex` : ''}
    ${s ? `LEFT JOIN samples s ON s.id = p.sampleId` : ''}
    WHERE p.k <= CASE WHEN p.grp = ${sqlString(PASSED)} THEN ${passed} ELSE ${perReason} END
    ORDER BY p.grp, p.k`;
}

/**
 * Resolve and thumbnail images, once per image and size. Images come from the run's content-addressed
 * store, else from the source's image root (never from outside it).
 */
export class Thumbnailer {
  private readonly store: ImageStore;
  private readonly cache = new Map<string, Promise<{ thumb: Thumb | null; problem: string | null }>>();

  constructor(
    runRoot: string,
    private readonly imageRoot: string | null,
  ) {
    this.store = new ImageStore(join(runRoot, 'images'));
  }

  private async bytesOf(sha: string, path: string): Promise<Buffer | null> {
    const stored = await this.store.locate(sha);
    if (stored) return readFile(stored);
    if (this.imageRoot && !isAbsolute(path)) {
      const root = resolve(this.imageRoot);
      const p = resolve(root, path);
      const rel = relative(root, p);
      if (rel && !rel.startsWith('..') && !isAbsolute(rel)) {
        try {
          return await readFile(p);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
    }
    return null;
  }

  thumb(sha: string, path: string, side: number): Promise<{ thumb: Thumb | null; problem: string | null }> {
    const key = `${sha}:${side}`;
    let p = this.cache.get(key);
    if (!p) {
      p = (async () => {
        const bytes = await this.bytesOf(sha, path);
        if (!bytes) return { thumb: null, problem: `image not found in images/${this.imageRoot ? ' or the image root' : ''}` };
        try {
          // No EXIF rotation: boxes are in the stored pixel grid, which is what the verifier used.
          const { data, info } = await sharp(bytes, { limitInputPixels: 1e9 })
            .resize(side, side, { fit: 'inside', withoutEnlargement: true })
            .flatten({ background: '#ffffff' })
            .jpeg({ quality: 80 })
            .toBuffer({ resolveWithObject: true });
          return { thumb: { dataUrl: `data:image/jpeg;base64,${data.toString('base64')}`, width: info.width, height: info.height }, problem: null };
        } catch (err) {
          return { thumb: null, problem: `image could not be decoded: ${err instanceof Error ? err.message : String(err)}` };
        }
      })();
      this.cache.set(key, p);
    }
    return p;
  }
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
    const sha = str(img.sha256) ?? '';
    const path = str(img.path) ?? '';
    const t = /^[0-9a-f]{64}$/.test(sha)
      ? await thumbs.thumb(sha, path, isTarget ? (o.targetSide ?? 420) : (o.otherSide ?? 120))
      : { thumb: null, problem: 'no valid sha256 recorded' };
    out.push({ index, isTarget, sha256: sha, path, width: int(img.width), height: int(img.height), ...t });
  }
  return out;
}

/** Examples grouped by reason code (check order), then PASSED; each group's order is stable. */
export async function selectExamples(duck: Duck, present: Set<string>, runRoot: string, o: ExampleOptions): Promise<Map<string, Example[]>> {
  const groups = new Map<string, Example[]>();
  if (!present.has('verdicts')) return groups;
  const rows = await duck.all(exampleSql(present, o.perReason, o.passed), [], 'choosing examples');
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
