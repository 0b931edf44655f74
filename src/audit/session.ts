/**
 * An audit session over one run directory: DuckDB over the run's shards (read-only, in place), a small
 * per-sample index built once in DuckDB (task, verdict, best IoU, reasons, pool: what the list filters and
 * sorts on), the labels read from the label log as other processes append them, and the audit plan.
 *
 * Nothing of the corpus is held in JS: pages and facet counts are SQL with LIMIT/OFFSET over the index,
 * a sample's detail is read from the shards by id, text search reads the shards. The index is about 100
 * bytes per sample inside DuckDB, which spills to disk past its memory limit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { placeThinkBoxes, type PlacedThinkBox } from '../completion/index.js';
import { ConfigError, InputError } from '../errors.js';
import { DEFAULT_AUDIT_REASONS } from '../schema/config.js';
import { BoxConvention, type AuditDecision, type AuditLabel, type Turn } from '../schema/records.js';
import { writeFileAtomic } from '../store/fsutil.js';
import { Duck, int, num, sqlString, type DuckOptions, type Row } from '../runview/duck.js';
import { RunImages } from '../runview/images.js';
import { readRunFiles, type RunFiles, type RunProblem } from '../runview/run-files.js';
import { createViews, probeShards } from '../runview/views.js';
import { LabelLog, readLabels, type LogPosition, type NewLabel } from './labels.js';
import { cohensKappa, stratifiedRate, verifierQuality, type Kappa, type VerifierQuality } from './metrics.js';
import { countSql, facetsSql, pageSql, searchSql, type ListQuery, type QueryContext } from './query.js';

export interface SessionOptions {
  /** Where images not in the run's store are found (default: the config's source imageRoot). */
  imageRoot?: string | null;
  /** Seeds the random sort order and the audit plan (default 0). */
  seed?: number;
  /** Draw an audit plan of this many samples, stratified by task and verdict. */
  sample?: number;
  /** Reasons auditors pick from (default: the run's audit.reasons, else the built-in list). */
  reasons?: string[];
  duckdb?: DuckOptions;
}

/** Characters of a completion sent to the page (the rest is summarised by its length). */
export const COMPLETION_CHARS = 100_000;

export interface ListRow {
  id: string;
  task: string;
  source: string;
  difficulty: string;
  verdict: string;
  pool: string;
  bestIou: number | null;
  nPass: number;
  nCand: number;
  reasons: string[];
  question: string;
  nImages: number;
  decisions: Array<{ auditor: string; decision: AuditDecision }>;
}

export interface ListResult {
  rows: ListRow[];
  total: number;
  facets: Record<string, Array<{ key: string; n: number }>>;
}

export interface CandidateView {
  index: number;
  completion: string | null;
  chars: number;
  error: string | null;
  finishReason: string | null;
  model: string | null;
  convention: string | null;
  cached: boolean | null;
  attempts: number | null;
  verdict: { pass: boolean; reasons: string[]; iou: number | null; answerBox: number[] | null; thinkBoxAgrees: boolean | null; namesTargetImage: boolean | null; formatReward: number } | null;
  thinkBoxes: PlacedThinkBox[];
}

export interface SampleDetail {
  id: string;
  task: string;
  source: string | null;
  difficulty: string | null;
  split: string | null;
  question: string | null;
  context: Turn[];
  targetImage: number | null;
  targetBox: number[] | null;
  images: Array<{ index: number; sha256: string; path: string; width: number; height: number }>;
  candidates: CandidateView[];
  /** The candidate shown first: the selected one, else the best by IoU. */
  focus: number | null;
  pool: 'sft' | 'rl' | null;
  selectedCandidate: number | null;
  why: string;
  predictions: Array<{ model: string; completion: string; answerBox: number[] | null; iou: number | null }>;
  history: AuditLabel[];
  inPlan: boolean;
}

export interface PlanInfo {
  n: number;
  seed: number;
  strata: Array<{ task: string; verdict: string; size: number; quota: number }>;
}

export interface TaskQuality extends VerifierQuality {
  key: string;
  disputed: number;
  passTotal: number;
  failTotal: number;
}

export interface AuditStats {
  labels: number;
  auditors: string[];
  decided: number;
  byTask: TaskQuality[];
  overall: { precision: VerifierQuality['precision']; labelled: number };
  kappa: Array<{ a: string; b: string } & Kappa>;
  plan: { n: number; reviewed: number; reviewedByAuditor: Record<string, number> } | null;
  logSkipped: number;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const nums = (v: unknown): number[] | null => (Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : null);
const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);

/** Spread `n` over strata as evenly as their sizes allow (leftovers to the strata with room, in key order). */
export function allocate(n: number, sizes: readonly number[]): number[] {
  const quota = sizes.map(() => 0);
  let left = Math.min(n, sizes.reduce((s, x) => s + x, 0));
  while (left > 0) {
    const open = sizes.map((s, i) => i).filter((i) => quota[i]! < sizes[i]!);
    const each = Math.max(1, Math.floor(left / open.length));
    for (const i of open) {
      if (left === 0) break;
      const add = Math.min(each, sizes[i]! - quota[i]!, left);
      quota[i]! += add;
      left -= add;
    }
  }
  return quota;
}

/** One query at a time on the session's connection, in arrival order. */
class Lock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export class AuditSession {
  private readonly lock = new Lock();
  private pos: LogPosition = { offset: 0, seq: 0 };
  private skipped = 0;
  /** The text search whose matches are in search_hits. */
  private searched: string | null = null;

  private constructor(
    readonly root: string,
    readonly files: RunFiles,
    private readonly duck: Duck,
    readonly present: Set<string>,
    readonly reasons: readonly string[],
    readonly images: RunImages,
    readonly log: LabelLog,
    readonly plan: PlanInfo | null,
    private readonly spill: string,
    private readonly hasJudge: boolean,
  ) {}

  /** What was left out of the run (missing or unreadable shards, a bad run.json), for the page's banner. */
  get problems(): readonly RunProblem[] {
    return this.files.problems;
  }

  /**
   * Open a run. A directory that is not a run is an InputError; missing or corrupt shards are problems
   * named on the page, and the rest is shown.
   */
  static async open(runDir: string, opts: SessionOptions = {}): Promise<AuditSession> {
    const root = resolve(runDir);
    const files = await readRunFiles(root, { tolerant: true });
    const reasons = opts.reasons ?? files.run?.auditReasons ?? [...DEFAULT_AUDIT_REASONS];
    if (reasons.length === 0 || reasons.length > 9) throw new ConfigError(`between 1 and 9 audit reasons are needed (keys 1-9), got ${reasons.length}`, { field: 'audit.reasons' });
    const spill = mkdtempSync(join(tmpdir(), 'univg-audit-duck-'));
    const duck = await Duck.open({ threads: 2, memoryLimit: '512MB', tempDirectory: spill, ...opts.duckdb });
    try {
      await probeShards(duck, files);
      const present = await createViews(duck, files);
      const seed = opts.seed ?? 0;
      await buildIndex(duck, present, seed);
      await duck.exec(
        `CREATE TABLE labels (seq BIGINT PRIMARY KEY, id VARCHAR, sampleId VARCHAR, candidateIndex BIGINT, auditor VARCHAR, decision VARCHAR, reason VARCHAR, note VARCHAR, time VARCHAR, undoes VARCHAR)`,
        'creating the labels table',
      );
      await duck.exec(
        `CREATE VIEW latest AS SELECT * EXCLUDE (rn) FROM (SELECT *, row_number() OVER (PARTITION BY sampleId, auditor ORDER BY seq DESC) AS rn FROM labels) WHERE rn = 1 AND decision <> 'clear'`,
        'creating the latest-decision view',
      );
      const plan = await buildPlan(duck, root, opts.sample, seed);
      const hasJudge = await judgeView(duck, root);
      const session = new AuditSession(root, files, duck, present, reasons, new RunImages(root, opts.imageRoot ?? files.run?.imageRoot ?? null), new LabelLog(root), plan, spill, hasJudge);
      await session.refreshLabels();
      return session;
    } catch (err) {
      duck.close();
      rmSync(spill, { recursive: true, force: true });
      throw err;
    }
  }

  /** Samples in the index. */
  async sampleCount(): Promise<number> {
    return this.lock.run(async () => int((await this.duck.one('SELECT count(*) AS n FROM idx', [], 'counting samples')).n));
  }

  /** Read decisions other processes (and this one) appended since the last look. */
  refreshLabels(): Promise<void> {
    return this.lock.run(() => this.readNewLabels());
  }

  private async readNewLabels(): Promise<void> {
    // Streamed into DuckDB 200 at a time (a long history is never held in JS); keyed by seq, so a batch
    // read again after a failed refresh is not counted twice.
    let batch: AuditLabel[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const params = batch.flatMap((l) => [l.seq, l.id, l.sampleId, l.candidateIndex, l.auditor, l.decision, l.reason, l.note, l.time, l.undoes]);
      const rows = batch.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
      batch = [];
      await this.duck.all(`INSERT OR IGNORE INTO labels VALUES ${rows}`, params, 'loading labels');
    };
    const r = await readLabels(this.log.file, this.pos, async (l) => {
      batch.push(l);
      if (batch.length >= 200) await flush();
    });
    await flush();
    this.skipped += r.skipped.length;
    this.pos = r.next;
  }

  async list(q: ListQuery): Promise<ListResult> {
    await this.refreshLabels();
    return this.lock.run(async () => {
      if (q.q && q.q.toLowerCase() !== this.searched) {
        const s = searchSql(q.q, { samples: this.present.has('samples'), candidates: this.present.has('candidates') });
        await this.duck.all(s.sql, s.params, 'searching the text');
        this.searched = q.q.toLowerCase();
      }
      const ctx: QueryContext = { searchTable: Boolean(q.q) };
      const page = pageSql(q, ctx);
      const rows = await this.duck.all(page.sql, page.params, 'listing samples');
      const count = countSql(q, ctx);
      const total = int((await this.duck.one(count.sql, count.params, 'counting samples')).n);
      const f = facetsSql(q, ctx);
      const facets: ListResult['facets'] = {};
      for (const r of await this.duck.all(f.sql, f.params, 'counting facets')) (facets[String(r.facet)] ??= []).push({ key: str(r.key) ?? '', n: int(r.n) });
      return {
        total,
        facets,
        rows: rows.map((r) => ({
          id: String(r.id),
          task: str(r.task) ?? '',
          source: str(r.source) ?? '',
          difficulty: str(r.difficulty) ?? '',
          verdict: str(r.verdict) ?? '',
          pool: str(r.pool) ?? 'none',
          bestIou: num(r.best_iou),
          nPass: int(r.n_pass),
          nCand: int(r.n_cand),
          reasons: Array.isArray(r.reasons) ? r.reasons.map(String) : [],
          question: str(r.question) ?? '',
          nImages: int(r.n_images),
          decisions: Array.isArray(r.decisions) ? (r.decisions as Row[]).map((d) => ({ auditor: String(d.auditor), decision: String(d.decision) as AuditDecision })) : [],
        })),
      };
    });
  }

  /** Is this sample in the run (the index)? */
  async hasSample(id: string): Promise<boolean> {
    return this.lock.run(async () => (await this.duck.all('SELECT 1 FROM idx WHERE id = ? LIMIT 1', [id], 'looking up a sample')).length > 0);
  }

  /** A sample with its candidates, verdicts, selection, predictions and label history; null when unknown. */
  async sample(id: string): Promise<SampleDetail | null> {
    await this.refreshLabels();
    return this.lock.run(async () => {
      const idx = await this.duck.all('SELECT * FROM idx WHERE id = ?', [id], 'reading the sample index');
      if (idx.length === 0) return null;
      const ix = idx[0]!;
      const p = this.present;
      const s = p.has('samples') ? ((await this.duck.all('SELECT * FROM samples WHERE id = ? LIMIT 1', [id], 'reading the sample'))[0] ?? null) : null;
      const cands = p.has('candidates')
        ? await this.duck.all(
            `SELECT candidateIndex, left(completion, ${COMPLETION_CHARS}) AS completion, length(completion) AS chars, error, finishReason, model, convention, seenSizes, cached, attempts
             FROM candidates WHERE sampleId = ? ORDER BY candidateIndex`,
            [id],
            'reading candidates',
          )
        : [];
      const verdicts = p.has('verdicts') ? await this.duck.all('SELECT * FROM verdicts WHERE sampleId = ? ORDER BY candidateIndex', [id], 'reading verdicts') : [];
      const history = (await this.duck.all('SELECT * FROM labels WHERE sampleId = ? ORDER BY seq', [id], 'reading labels')).map(labelOf);
      const predictions = p.has('predictions')
        ? (await this.duck.all('SELECT model, left(completion, 20000) AS completion, answerBox, iou FROM predictions WHERE id = ? ORDER BY model', [id], 'reading predictions')).map((r) => ({
            model: str(r.model) ?? '',
            completion: str(r.completion) ?? '',
            answerBox: nums(r.answerBox),
            iou: num(r.iou),
          }))
        : [];
      const judge = this.hasJudge ? ((await this.duck.all('SELECT chosen, pickBest, source FROM judge WHERE sampleId = ? LIMIT 1', [id], 'reading the judge log'))[0] ?? null) : null;
      const inPlan = this.plan ? (await this.duck.all('SELECT 1 FROM plan WHERE sampleId = ?', [id], 'reading the plan')).length > 0 : false;

      const images = Array.isArray(s?.images)
        ? (s.images as Row[]).map((im, index) => ({ index, sha256: str(im.sha256) ?? '', path: str(im.path) ?? '', width: int(im.width), height: int(im.height) }))
        : [];
      const targetImage = typeof s?.targetImage === 'number' ? s.targetImage : null;
      const byIndex = new Map<number, Row>();
      for (const v of verdicts) byIndex.set(int(v.candidateIndex), v);
      const indexes = [...new Set([...cands.map((c) => int(c.candidateIndex)), ...byIndex.keys()])].sort((a, b) => a - b);
      const candidates: CandidateView[] = indexes.map((index) => {
        const c = cands.find((x) => int(x.candidateIndex) === index) ?? null;
        const v = byIndex.get(index) ?? null;
        const completion = str(c?.completion);
        const conv = BoxConvention.safeParse(c?.convention);
        const seen = Array.isArray(c?.seenSizes) ? (c.seenSizes as Row[]).map((x) => (int(x.width) > 0 && int(x.height) > 0 ? { width: int(x.width), height: int(x.height) } : undefined)) : [];
        const sized = images.length > 0 && images.every((im) => im.width > 0 && im.height > 0);
        return {
          index,
          completion,
          chars: int(c?.chars),
          error: str(c?.error),
          finishReason: str(c?.finishReason),
          model: str(c?.model),
          convention: str(c?.convention),
          cached: bool(c?.cached),
          attempts: c ? int(c.attempts) : null,
          verdict: v
            ? {
                pass: v.pass === true,
                reasons: Array.isArray(v.reasons) ? v.reasons.map(String) : [],
                iou: num(v.iou),
                answerBox: nums(v.answerBox),
                thinkBoxAgrees: bool(v.thinkBoxAgrees),
                namesTargetImage: bool(v.namesTargetImage),
                formatReward: int(v.formatReward),
              }
            : null,
          thinkBoxes: completion !== null && conv.success && sized && targetImage !== null ? placeThinkBoxes(completion, { convention: conv.data, images, seenSizes: seen, targetImage }) : [],
        };
      });
      const pool = ix.pool === 'sft' || ix.pool === 'rl' ? ix.pool : null;
      const selectedCandidate = typeof ix.sel_cand === 'number' ? ix.sel_cand : null;
      const best = [...candidates].filter((c) => c.verdict?.iou !== null && c.verdict !== null).sort((a, b) => (b.verdict!.iou ?? 0) - (a.verdict!.iou ?? 0))[0];
      const focus = selectedCandidate ?? best?.index ?? candidates[0]?.index ?? null;
      return {
        id,
        task: str(ix.task) ?? '',
        source: str(s?.source) ?? str(ix.source),
        difficulty: str(s?.difficulty) ?? null,
        split: str(s?.split),
        question: str(s?.question),
        context: Array.isArray(s?.context) ? (s.context as Row[]).map((t) => ({ role: t.role === 'assistant' ? 'assistant' : 'user', content: str(t.content) ?? '' })) : [],
        targetImage,
        targetBox: nums(s?.targetBox),
        images,
        candidates,
        focus,
        pool,
        selectedCandidate,
        why: whySelected(candidates, pool, selectedCandidate, judge),
        predictions,
        history,
        inPlan,
      };
    });
  }

  /** Every decision about a sample, oldest first. */
  async history(sampleId: string): Promise<AuditLabel[]> {
    await this.refreshLabels();
    return this.lock.run(async () => (await this.duck.all('SELECT * FROM labels WHERE sampleId = ? ORDER BY seq', [sampleId], 'reading labels')).map(labelOf));
  }

  /** The recorded path of an image of this run, or null when no sample refers to `sha`. */
  async imagePath(sha: string): Promise<string | null> {
    if (!this.present.has('samples')) return null;
    return this.lock.run(async () => str((await this.duck.all('SELECT path FROM imgs WHERE sha256 = ? LIMIT 1', [sha], 'looking up an image'))[0]?.path));
  }

  /**
   * Record a decision durably, then read it back (with its position) along with whatever other writers
   * appended meanwhile. Refuses unknown samples, candidates and reasons.
   */
  async decide(input: NewLabel): Promise<AuditLabel> {
    if (!(await this.hasSample(input.sampleId))) throw new InputError('no such sample in this run', { recordId: input.sampleId });
    if (input.reason !== null && !this.reasons.includes(input.reason)) throw new InputError(`unknown reason ${JSON.stringify(input.reason)}; this run's reasons are ${this.reasons.join(', ')}`, { field: 'reason' });
    if (input.candidateIndex !== null) {
      const known = await this.lock.run(async () =>
        this.present.has('candidates') || this.present.has('verdicts')
          ? (await this.duck.all(`SELECT 1 FROM ${this.present.has('verdicts') ? 'verdicts' : 'candidates'} WHERE sampleId = ? AND candidateIndex = ? LIMIT 1`, [input.sampleId, input.candidateIndex], 'checking the candidate')).length > 0
          : false,
      );
      if (!known) throw new InputError(`sample has no candidate ${input.candidateIndex}`, { recordId: input.sampleId, field: 'candidateIndex' });
    }
    const written = await this.log.append(input);
    await this.refreshLabels();
    return this.lock.run(async () => labelOf((await this.duck.all('SELECT * FROM labels WHERE id = ?', [written.id], 'reading back a label'))[0]!));
  }

  /**
   * Undo decision `id`: write what its auditor had decided about the sample before it (or clear it). Only
   * the latest decision of that auditor about that sample can be undone.
   */
  async undo(id: string): Promise<AuditLabel> {
    await this.refreshLabels();
    const { target, prev } = await this.lock.run(async () => {
      const t = (await this.duck.all('SELECT * FROM labels WHERE id = ?', [id], 'finding the decision'))[0];
      if (!t) return { target: null, prev: null };
      const rows = await this.duck.all('SELECT * FROM labels WHERE sampleId = ? AND auditor = ? ORDER BY seq DESC', [t.sampleId as string, t.auditor as string], 'reading the decision history');
      return { target: labelOf(t), prev: rows.map(labelOf) };
    });
    if (!target) throw new InputError('no such decision', { recordId: id });
    if (prev![0]!.id !== target.id) throw new InputError('a later decision about this sample replaced this one: undo that one first', { recordId: id, field: 'id' });
    const before = prev![1];
    const restore: NewLabel =
      before && before.decision !== 'clear'
        ? { sampleId: before.sampleId, candidateIndex: before.candidateIndex, auditor: target.auditor, decision: before.decision, reason: before.reason, note: before.note, undoes: target.id }
        : { sampleId: target.sampleId, candidateIndex: target.candidateIndex, auditor: target.auditor, decision: 'clear', reason: null, note: '', undoes: target.id };
    const written = await this.log.append(restore);
    await this.refreshLabels();
    return this.lock.run(async () => labelOf((await this.duck.all('SELECT * FROM labels WHERE id = ?', [written.id], 'reading back a label'))[0]!));
  }

  /** The verifier against the auditors, per task; agreement between auditors; plan progress. */
  async stats(): Promise<AuditStats> {
    await this.refreshLabels();
    return this.lock.run(async () => {
      const d = this.duck;
      const labels = int((await d.one('SELECT count(*) AS n FROM labels', [], 'counting labels')).n);
      const auditors = (await d.all('SELECT DISTINCT auditor FROM labels ORDER BY auditor', [], 'listing auditors')).map((r) => String(r.auditor));
      const decided = int((await d.one('SELECT count(DISTINCT sampleId) AS n FROM latest', [], 'counting decided samples')).n);
      // One verdict per labelled candidate: the auditors' majority (a tie is disputed, a flag is no verdict).
      const passOf = this.present.has('verdicts')
        ? 'LEFT JOIN verdicts v ON v.sampleId = c.sampleId AND v.candidateIndex = c.candidateIndex'
        : 'LEFT JOIN (SELECT NULL::VARCHAR AS sampleId, NULL::BIGINT AS candidateIndex, NULL::BOOLEAN AS pass) v ON false';
      const rows = await d.all(
        `WITH l AS (
           SELECT sampleId, candidateIndex, sum(CASE decision WHEN 'accept' THEN 1 WHEN 'reject' THEN -1 ELSE 0 END) AS score,
             count(*) FILTER (WHERE decision IN ('accept', 'reject')) AS votes
           FROM latest GROUP BY ALL
         ), c AS (SELECT * FROM l WHERE votes > 0)
         SELECT i.task AS key,
           count(*) FILTER (WHERE coalesce(v.pass, false) AND score > 0) AS pa, count(*) FILTER (WHERE coalesce(v.pass, false) AND score < 0) AS pr,
           count(*) FILTER (WHERE NOT coalesce(v.pass, false) AND score > 0) AS fa, count(*) FILTER (WHERE NOT coalesce(v.pass, false) AND score < 0) AS fr,
           count(*) FILTER (WHERE score = 0) AS disputed
         FROM c JOIN idx i ON i.id = c.sampleId ${passOf}
         GROUP BY i.task`,
        [],
        'comparing the verifier with the auditors',
      );
      const sizes = await d.all('SELECT task AS key, sum(n_pass) AS pass, sum(n_cand - n_pass) AS fail FROM idx GROUP BY task ORDER BY task', [], 'sizing the verdict groups');
      const byKey = new Map(rows.map((r) => [String(r.key), r]));
      const byTask: TaskQuality[] = sizes
        .filter((s) => byKey.has(String(s.key)))
        .map((s) => {
          const r = byKey.get(String(s.key))!;
          const counts = { passAccepted: int(r.pa), passRejected: int(r.pr), failAccepted: int(r.fa), failRejected: int(r.fr), passTotal: int(s.pass), failTotal: int(s.fail) };
          return { key: String(s.key), disputed: int(r.disputed), passTotal: counts.passTotal, failTotal: counts.failTotal, ...verifierQuality(counts) };
        });
      const overall = {
        precision: stratifiedRate(byTask.map((t) => ({ k: t.precision.p === null ? 0 : Math.round(t.precision.p * t.precision.n), n: t.precision.n, weight: t.passTotal }))),
        labelled: byTask.reduce((s, t) => s + t.labelled, 0),
      };
      const pairs = await d.all(
        `SELECT a.auditor AS a, b.auditor AS b, a.decision AS da, b.decision AS db, count(*) AS n
         FROM latest a JOIN latest b ON a.sampleId = b.sampleId AND a.auditor < b.auditor GROUP BY ALL ORDER BY a, b`,
        [],
        'pairing auditors',
      );
      const kappa: AuditStats['kappa'] = [];
      for (const key of [...new Set(pairs.map((p) => `${p.a}\u0000${p.b}`))]) {
        const [a, b] = key.split('\u0000') as [string, string];
        const list = pairs.filter((p) => p.a === a && p.b === b).flatMap((p) => Array.from({ length: int(p.n) }, () => [String(p.da), String(p.db)] as const));
        kappa.push({ a, b, ...cohensKappa(list) });
      }
      let plan: AuditStats['plan'] = null;
      if (this.plan) {
        const rev = await d.all('SELECT auditor, count(DISTINCT sampleId) AS n FROM latest WHERE sampleId IN (SELECT sampleId FROM plan) GROUP BY auditor ORDER BY auditor', [], 'plan progress');
        const any = int((await d.one('SELECT count(DISTINCT sampleId) AS n FROM latest WHERE sampleId IN (SELECT sampleId FROM plan)', [], 'plan progress')).n);
        plan = { n: this.plan.n, reviewed: any, reviewedByAuditor: Object.fromEntries(rev.map((r) => [String(r.auditor), int(r.n)])) };
      }
      return { labels, auditors, decided, byTask, overall, kappa, plan, logSkipped: this.skipped };
    });
  }

  /** The auditors with decisions in the log. */
  async auditors(): Promise<string[]> {
    await this.refreshLabels();
    return this.lock.run(async () => (await this.duck.all('SELECT DISTINCT auditor FROM labels ORDER BY auditor', [], 'listing auditors')).map((r) => String(r.auditor)));
  }

  async close(): Promise<void> {
    await this.lock.run(async () => undefined);
    await this.log.close();
    this.duck.close();
    rmSync(this.spill, { recursive: true, force: true });
  }
}

function labelOf(r: Row): AuditLabel {
  return {
    seq: int(r.seq),
    id: String(r.id),
    sampleId: String(r.sampleId),
    candidateIndex: typeof r.candidateIndex === 'number' ? r.candidateIndex : null,
    auditor: String(r.auditor),
    decision: String(r.decision) as AuditDecision,
    reason: str(r.reason),
    note: str(r.note) ?? '',
    time: String(r.time),
    undoes: str(r.undoes),
  };
}

/** Why the sample's corpus row uses the candidate it uses (or why it has none), in words. */
function whySelected(candidates: CandidateView[], pool: 'sft' | 'rl' | null, selected: number | null, judge: Row | null): string {
  const passing = candidates.filter((c) => c.verdict?.pass);
  if (pool === 'rl') return 'in the RL pool: RL rows keep the prompt and the ground truth, not a chain (the split is a stable hash of the sample id)';
  if (pool === 'sft' && selected !== null) {
    if (judge && int(judge.chosen) === selected && int(judge.pickBest) !== selected && judge.source === 'judge')
      return `chosen by the judge LLM among the ${passing.length} passing candidates (the IoU order would have taken candidate ${int(judge.pickBest)})`;
    if (passing.length === 1) return 'the only candidate that passed every check';
    const mine = candidates.find((c) => c.index === selected)?.verdict?.iou ?? null;
    const others = passing.filter((c) => c.index !== selected).map((c) => c.verdict!.iou ?? 0);
    const top = mine !== null && others.every((o) => o <= mine);
    return top
      ? `the highest IoU among the ${passing.length} passing candidates (${mine!.toFixed(3)}; next ${Math.max(...others).toFixed(3)})`
      : `ranked first among the ${passing.length} passing candidates (IoU, then think and answer agreeing, then the shorter chain)`;
  }
  if (candidates.length === 0) return 'no candidates: generate has not run for this sample';
  if (passing.length === 0) return candidates.some((c) => c.verdict) ? 'not selected: no candidate passed every check' : 'not verified yet';
  return 'not in the corpus: select has not run, or audit labels removed it';
}

/** The per-sample index the list filters, sorts and pages on, from whichever tables exist. */
async function buildIndex(duck: Duck, present: Set<string>, seed: number): Promise<void> {
  const base = present.has('samples')
    ? `SELECT id, task, source, difficulty, split, len(images) AS n_images, left(question, 200) AS question FROM samples`
    : present.has('verdicts')
      ? `SELECT sampleId AS id, any_value(task) AS task, NULL AS source, any_value(difficulty) AS difficulty, NULL AS split, 0 AS n_images, '' AS question FROM verdicts GROUP BY sampleId`
      : present.has('candidates')
        ? `SELECT DISTINCT sampleId AS id, NULL AS task, NULL AS source, NULL AS difficulty, NULL AS split, 0 AS n_images, '' AS question FROM candidates`
        : `SELECT NULL::VARCHAR AS id, NULL AS task, NULL AS source, NULL AS difficulty, NULL AS split, 0 AS n_images, '' AS question WHERE false`;
  const v = present.has('verdicts')
    ? `SELECT sampleId, count(*) AS n_cand, count(*) FILTER (WHERE pass) AS n_pass, max(iou) AS best_iou, list_sort(list_distinct(flatten(list(reasons)))) AS reasons FROM verdicts GROUP BY sampleId`
    : `SELECT NULL::VARCHAR AS sampleId, 0 AS n_cand, 0 AS n_pass, NULL::DOUBLE AS best_iou, []::VARCHAR[] AS reasons WHERE false`;
  const sel = [
    present.has('sft') ? `SELECT id, 'sft' AS pool, candidateIndex FROM sft` : null,
    present.has('rl') ? `SELECT id, 'rl' AS pool, NULL::BIGINT AS candidateIndex FROM rl` : null,
  ].filter(Boolean);
  const selSql = sel.length ? sel.join(' UNION ALL ') : `SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS pool, NULL::BIGINT AS candidateIndex WHERE false`;
  await duck.exec(
    `CREATE TABLE idx AS
     WITH b AS (${base}), v AS (${v}), sel AS (${selSql})
     SELECT b.id, coalesce(b.task, '(unknown)') AS task, coalesce(b.source, '(unknown)') AS source, coalesce(b.difficulty, '(none)') AS difficulty,
       CASE b.difficulty WHEN 'easy' THEN 0 WHEN 'medium' THEN 1 WHEN 'hard' THEN 2 ELSE 3 END AS difficulty_rank,
       b.split, b.n_images, b.question,
       coalesce(v.n_cand, 0) AS n_cand, coalesce(v.n_pass, 0) AS n_pass, v.best_iou, coalesce(v.reasons, []::VARCHAR[]) AS reasons,
       CASE WHEN v.sampleId IS NULL THEN 'unverified' WHEN v.n_pass > 0 THEN 'kept' ELSE 'rejected' END AS verdict,
       coalesce(sel.pool, 'none') AS pool, sel.candidateIndex AS sel_cand,
       row_number() OVER (ORDER BY b.id) AS ord,
       row_number() OVER (ORDER BY md5(${sqlString(`order:${seed}:`)} || b.id), b.id) AS rnd_ord
     FROM b LEFT JOIN v ON v.sampleId = b.id LEFT JOIN sel ON sel.id = b.id
     ORDER BY ord`,
    'building the sample index',
  );
  await duck.exec('CREATE TABLE idx_reasons AS SELECT id, unnest(reasons) AS reason FROM idx', 'indexing the rejection reasons');
  if (present.has('samples')) {
    await duck.exec(
      `CREATE TABLE imgs AS SELECT im.sha256 AS sha256, min(im.path) AS path FROM (SELECT unnest(images) AS im FROM samples) GROUP BY im.sha256`,
      'indexing the images',
    );
  }
}

/**
 * The audit plan: `n` samples drawn at random (seeded) within each (task, verdict) group, as evenly over
 * the groups as their sizes allow, so every task's kept and rejected samples are both reviewed. Written
 * to audit/plan.json (the same seed and run give the same plan).
 */
async function buildPlan(duck: Duck, root: string, n: number | undefined, seed: number): Promise<PlanInfo | null> {
  await duck.exec('CREATE TABLE plan (sampleId VARCHAR, task VARCHAR, verdict VARCHAR)', 'creating the plan table');
  if (n === undefined) return null;
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--sample must be a positive integer, got ${n}`, { field: 'sample' });
  const strata = await duck.all('SELECT task, verdict, count(*) AS size FROM idx GROUP BY ALL ORDER BY task, verdict', [], 'sizing the plan strata');
  const quota = allocate(n, strata.map((s) => int(s.size)));
  const rows = strata.map((s, i) => ({ task: String(s.task), verdict: String(s.verdict), size: int(s.size), quota: quota[i]! })).filter((s) => s.size > 0);
  const used = rows.filter((r) => r.quota > 0);
  if (used.length > 0) {
    await duck.all(
      `INSERT INTO plan SELECT id, task, verdict FROM (
         SELECT id, task, verdict, row_number() OVER (PARTITION BY task, verdict ORDER BY md5(? || id), id) AS r FROM idx
       ) JOIN (VALUES ${used.map(() => '(?, ?, ?)').join(', ')}) q(qt, qv, quota) ON qt = task AND qv = verdict
       WHERE r <= quota`,
      [`plan:${seed}:`, ...used.flatMap((r) => [r.task, r.verdict, r.quota])],
      'drawing the audit plan',
    );
  }
  const ids = (await duck.all('SELECT sampleId FROM plan ORDER BY task, verdict, md5(? || sampleId), sampleId', [`plan:${seed}:`], 'reading the plan')).map((r) => String(r.sampleId));
  const plan: PlanInfo = { n: ids.length, seed, strata: rows };
  await mkdir(join(root, 'audit'), { recursive: true });
  await writeFileAtomic(join(root, 'audit', 'plan.json'), `${JSON.stringify({ ...plan, requested: n, samples: ids }, null, 2)}\n`);
  return plan;
}

/** A view over the judge's log (select with the judge on), when the run has one. */
async function judgeView(duck: Duck, root: string): Promise<boolean> {
  const dir = join(root, 'judge');
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.jsonl') && !f.startsWith('.')).map((f) => join(dir, f));
  if (files.length === 0) return false;
  await duck.exec(
    `CREATE VIEW judge AS SELECT * FROM read_json([${files.map(sqlString).join(', ')}], format = 'newline_delimited', columns = {sampleId: 'VARCHAR', chosen: 'BIGINT', pickBest: 'BIGINT', source: 'VARCHAR'}, ignore_errors = true)`,
    'reading the judge log',
  );
  return true;
}
