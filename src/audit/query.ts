/**
 * What the audit app's list can ask for (filters, sort, page), declared once as a zod schema and read
 * from a URL's query string, and the SQL it becomes. Every value reaches DuckDB as a bound parameter;
 * only names from fixed lists are written into the SQL text.
 */
import { z } from 'zod';
import { InputError } from '../errors.js';
import { AuditorName } from '../schema/records.js';

export const VERDICTS = ['kept', 'rejected', 'unverified'] as const;
export const POOLS = ['sft', 'rl', 'none'] as const;
export const STATUSES = ['unlabelled', 'accepted', 'rejected', 'flagged'] as const;
export const SORTS = ['id', 'iou', '-iou', 'difficulty', '-difficulty', 'random'] as const;
export type Status = (typeof STATUSES)[number];

const names = (max: number) => z.array(z.string().min(1).max(max)).max(100).default([]);
const unit = z.coerce.number().min(0).max(1).optional();

/** The list's filters, sort and page. */
export const ListQuery = z.strictObject({
  task: names(200).describe('tasks (any of)'),
  difficulty: names(50).describe('difficulties (any of); (none) for samples without one'),
  verdict: z.array(z.enum(VERDICTS)).default([]).describe('kept: a candidate passed; rejected: none did; unverified: no verdicts'),
  reason: names(100).describe('rejection reasons (a candidate failed any of them)'),
  pool: z.array(z.enum(POOLS)).default([]).describe('selected into the SFT or RL pool, or not selected'),
  source: names(200).describe('sources (any of)'),
  status: z.array(z.enum(STATUSES)).default([]).describe('audit status (any of), of `by` or of any auditor'),
  by: AuditorName.optional().describe('whose decisions the status filter reads; absent: anyone'),
  iouMin: unit.describe('best candidate IoU at least'),
  iouMax: unit.describe('best candidate IoU at most'),
  q: z.string().max(200).optional().describe('text in the id, the question or a chain of thought (case-insensitive)'),
  plan: z.coerce.boolean().default(false).describe('only samples of the audit plan'),
  sort: z.enum(SORTS).default('id'),
  page: z.coerce.number().int().min(0).max(1_000_000).default(0),
  size: z.coerce.number().int().min(1).max(200).default(50),
});
export type ListQuery = z.infer<typeof ListQuery>;

const LIST_KEYS = new Set(['task', 'difficulty', 'verdict', 'reason', 'pool', 'source', 'status']);

/** Parse a query string into a ListQuery; a bad value or an unknown key is an InputError naming it. */
export function parseListQuery(params: URLSearchParams): ListQuery {
  const obj: Record<string, unknown> = {};
  for (const key of new Set(params.keys())) {
    const all = params.getAll(key).filter((v) => v !== '');
    if (LIST_KEYS.has(key)) obj[key] = all;
    else if (all.length > 1) throw new InputError(`query parameter ${key} is given ${all.length} times`, { field: key });
    else if (all.length === 1) obj[key] = key === 'plan' ? all[0] === '1' || all[0] === 'true' : all[0];
  }
  const r = ListQuery.safeParse(obj);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.length ? String(issue.path[0]) : (issue as { keys?: string[] }).keys?.[0];
    throw new InputError(`bad query: ${field ? `${field}: ` : ''}${issue.message}`, { field });
  }
  if (r.data.iouMin !== undefined && r.data.iouMax !== undefined && r.data.iouMin > r.data.iouMax) throw new InputError(`bad query: iouMin ${r.data.iouMin} is above iouMax ${r.data.iouMax}`, { field: 'iouMin' });
  return r.data;
}

/** The query string of a ListQuery (defaults left out), for links and the client. */
export function listQueryString(q: ListQuery, over: Partial<ListQuery> = {}): string {
  const v = { ...q, ...over };
  const p = new URLSearchParams();
  for (const k of ['task', 'difficulty', 'verdict', 'reason', 'pool', 'source', 'status'] as const) for (const x of v[k]) p.append(k, x);
  if (v.by) p.set('by', v.by);
  if (v.iouMin !== undefined) p.set('iouMin', String(v.iouMin));
  if (v.iouMax !== undefined) p.set('iouMax', String(v.iouMax));
  if (v.q) p.set('q', v.q);
  if (v.plan) p.set('plan', '1');
  if (v.sort !== 'id') p.set('sort', v.sort);
  if (v.page !== 0) p.set('page', String(v.page));
  if (v.size !== 50) p.set('size', String(v.size));
  return p.toString();
}

/** A facet of the list: its filter key and the expression it groups by. */
export const FACETS = ['task', 'difficulty', 'verdict', 'reason', 'pool', 'source', 'status'] as const;
export type Facet = (typeof FACETS)[number];

export interface Sql {
  sql: string;
  params: Array<string | number | boolean | null>;
}

/** What the SQL may refer to besides the index. */
export interface QueryContext {
  /** A table `search_hits(id)` holds the samples that match `q` (see searchSql). */
  searchTable: boolean;
}

/**
 * The samples whose id, question or chain of thought contains `needle` (case-insensitive): the question
 * and the chains are read from the shards, so this is computed once per search, not once per facet.
 */
export function searchSql(needle: string, tables: { samples: boolean; candidates: boolean }): Sql {
  const n = needle.toLowerCase();
  const parts = ['SELECT id FROM idx WHERE contains(lower(id), ?)'];
  const params: Sql['params'] = [n];
  if (tables.samples) {
    parts.push('SELECT id FROM samples WHERE contains(lower(question), ?)');
    params.push(n);
  }
  if (tables.candidates) {
    parts.push('SELECT DISTINCT sampleId AS id FROM candidates WHERE contains(lower(completion), ?)');
    params.push(n);
  }
  return { sql: `CREATE OR REPLACE TEMP TABLE search_hits AS ${parts.join(' UNION ')}`, params };
}

const inList = (col: string, values: readonly string[], params: Sql['params']): string => {
  params.push(...values);
  return `${col} IN (${values.map(() => '?').join(', ')})`;
};

/**
 * The WHERE clause of a list query over `idx i LEFT JOIN st` (st: the status of each labelled sample),
 * leaving out the filter of facet `except` (a facet's counts ignore its own selection).
 */
export function whereOf(q: ListQuery, ctx: QueryContext, except?: Facet): Sql {
  const params: Sql['params'] = [];
  const parts: string[] = [];
  if (except !== 'task' && q.task.length) parts.push(inList('i.task', q.task, params));
  if (except !== 'difficulty' && q.difficulty.length) parts.push(inList('i.difficulty', q.difficulty, params));
  if (except !== 'verdict' && q.verdict.length) parts.push(inList('i.verdict', q.verdict, params));
  if (except !== 'pool' && q.pool.length) parts.push(inList('i.pool', q.pool, params));
  if (except !== 'source' && q.source.length) parts.push(inList('i.source', q.source, params));
  if (except !== 'reason' && q.reason.length) parts.push(`i.id IN (SELECT id FROM idx_reasons WHERE ${inList('reason', q.reason, params)})`);
  if (except !== 'status' && q.status.length) {
    const s = q.status.map((x) => ({ unlabelled: 'st.sampleId IS NULL', accepted: 'st.acc', rejected: 'st.rej', flagged: 'st.flg' })[x]);
    parts.push(`(${s.join(' OR ')})`);
  }
  if (q.iouMin !== undefined) {
    parts.push('i.best_iou >= ?');
    params.push(q.iouMin);
  }
  if (q.iouMax !== undefined) {
    parts.push('i.best_iou <= ?');
    params.push(q.iouMax);
  }
  if (q.plan) parts.push('i.id IN (SELECT sampleId FROM plan)');
  if (q.q) {
    if (!ctx.searchTable) throw new Error('whereOf: a text search needs the search_hits table (searchSql) first');
    parts.push('i.id IN (SELECT id FROM search_hits)');
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/** The status of each sample that has decisions: of auditor `by`, or of anyone. */
export function statusCte(by: string | undefined): Sql {
  return {
    sql: `st AS (SELECT sampleId, bool_or(decision = 'accept') AS acc, bool_or(decision = 'reject') AS rej, bool_or(decision = 'flag') AS flg
      FROM latest ${by ? 'WHERE auditor = ?' : ''} GROUP BY sampleId)`,
    params: by ? [by] : [],
  };
}

/** Orders on the index's integer ranks (`ord`: by id, `rnd_ord`: seeded random), cheaper to sort than strings. */
const ORDER: Record<(typeof SORTS)[number], string> = {
  id: 'i.ord',
  iou: 'i.best_iou ASC NULLS LAST, i.ord',
  '-iou': 'i.best_iou DESC NULLS LAST, i.ord',
  difficulty: 'i.difficulty_rank, i.ord',
  '-difficulty': 'i.difficulty_rank DESC, i.ord',
  random: 'i.rnd_ord',
};

/** One page of the list, with each sample's latest decisions. */
export function pageSql(q: ListQuery, ctx: QueryContext): Sql {
  const st = statusCte(q.by);
  const w = whereOf(q, ctx);
  return {
    sql: `WITH ${st.sql}, lab AS (SELECT sampleId, list({auditor: auditor, decision: decision} ORDER BY auditor) AS decisions FROM latest GROUP BY sampleId)
      SELECT i.id, i.task, i.source, i.difficulty, i.verdict, i.pool, i.best_iou, i.n_pass, i.n_cand, i.reasons, i.question, i.n_images,
        coalesce(lab.decisions, []) AS decisions
      FROM idx i LEFT JOIN st ON st.sampleId = i.id LEFT JOIN lab ON lab.sampleId = i.id
      ${w.sql}
      ORDER BY ${ORDER[q.sort]}
      LIMIT ${q.size} OFFSET ${q.page * q.size}`,
    params: [...st.params, ...w.params],
  };
}

/** How many samples match. */
export function countSql(q: ListQuery, ctx: QueryContext): Sql {
  const st = statusCte(q.by);
  const w = whereOf(q, ctx);
  return { sql: `WITH ${st.sql} SELECT count(*) AS n FROM idx i LEFT JOIN st ON st.sampleId = i.id ${w.sql}`, params: [...st.params, ...w.params] };
}

/** Is the filter of facet `f` in use? */
const active = (q: ListQuery, f: Facet): boolean => (q[f] as readonly string[]).length > 0;

/** Counts of one facet over rows `src` (aliased i, with the status flags of st). */
function facetPart(f: Facet, src: string): string {
  if (f === 'reason') return `SELECT 'reason' AS facet, r.reason AS key, count(*) AS n FROM ${src} JOIN idx_reasons r ON r.id = i.id GROUP BY r.reason`;
  if (f === 'status')
    return `SELECT 'status' AS facet, unnest(['unlabelled', 'accepted', 'rejected', 'flagged']) AS key, unnest([c0, c1, c2, c3]) AS n FROM (
      SELECT count(*) FILTER (WHERE i.unl) AS c0, count(*) FILTER (WHERE i.acc) AS c1, count(*) FILTER (WHERE i.rej) AS c2, count(*) FILTER (WHERE i.flg) AS c3 FROM ${src})`;
  return `SELECT '${f}' AS facet, i.${f} AS key, count(*) AS n FROM ${src} GROUP BY i.${f}`;
}

/**
 * Counts per value of every facet, each under all the other filters: one statement, rows of
 * (facet, key, n). The facets whose own filter is not in use all count the same filtered rows, which are
 * found once; a facet whose filter is in use counts under the others only.
 */
export function facetsSql(q: ListQuery, ctx: QueryContext): Sql {
  const st = statusCte(q.by);
  const params: Sql['params'] = [...st.params];
  const rows = (w: Sql) => {
    params.push(...w.params);
    return `(SELECT i.id, i.task, i.difficulty, i.verdict, i.pool, i.source, st.sampleId IS NULL AS unl, coalesce(st.acc, false) AS acc, coalesce(st.rej, false) AS rej, coalesce(st.flg, false) AS flg
      FROM idx i LEFT JOIN st ON st.sampleId = i.id ${w.sql}) i`;
  };
  const idle = FACETS.filter((f) => !active(q, f));
  const ctes: string[] = [st.sql];
  const parts: string[] = [];
  if (idle.length) {
    ctes.push(`f AS MATERIALIZED (SELECT * FROM ${rows(whereOf(q, ctx))})`);
    for (const f of idle) parts.push(facetPart(f, 'f i'));
  }
  for (const f of FACETS.filter((x) => active(q, x))) parts.push(facetPart(f, rows(whereOf(q, ctx, f))));
  return { sql: `WITH ${ctes.join(', ')} ${parts.join('\nUNION ALL\n')} ORDER BY facet, key`, params };
}
