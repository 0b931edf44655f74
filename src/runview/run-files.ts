/**
 * What a run directory holds: run.json, each stage's shard files (complete with a manifest, partial
 * without one, or absent) and the quarantine files. The report and the audit app read runs through this
 * one survey. It never fails for an absent stage, only for a directory that is not a run at all; files
 * that contradict their manifest are an error for the report (strict) and, for the audit app (tolerant),
 * a problem named on the page while everything else is shown.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, ShardError } from '../errors.js';
import type { RecordKind } from '../schema/records.js';
import { isNotFound } from '../store/fsutil.js';
import { readManifest } from '../store/manifest.js';
import { parseShardFileName } from '../store/names.js';

/** The stage tables of a run, with their directory in the run and record kind. */
export const TABLES = {
  samples: { dir: 'samples', kind: 'GroundingSample', stage: 'ingest' },
  candidates: { dir: 'candidates', kind: 'TeacherCandidate', stage: 'generate' },
  verdicts: { dir: 'verdicts', kind: 'Verdict', stage: 'verify' },
  sft: { dir: 'corpus/sft', kind: 'SftRow', stage: 'select' },
  rl: { dir: 'corpus/rl', kind: 'RlRow', stage: 'select' },
  predictions: { dir: 'eval/predictions', kind: 'Prediction', stage: 'eval' },
} as const satisfies Record<string, { dir: string; kind: RecordKind; stage: string }>;
export type TableName = keyof typeof TABLES;
export const TABLE_NAMES = Object.keys(TABLES) as TableName[];
/** The corpus-building stages' tables (the report's "tables" figure). */
export const CORPUS_TABLES = ['samples', 'candidates', 'verdicts', 'sft', 'rl'] as const satisfies readonly TableName[];
export type CorpusTable = (typeof CORPUS_TABLES)[number];

/** Something wrong with a file of the run, found by a tolerant survey (the file is left out). */
export interface RunProblem {
  /** The table the file belongs to, or `run.json`. */
  table: TableName | 'run.json';
  file: string;
  message: string;
}

export interface SurveyOptions {
  /**
   * Collect what contradicts a manifest (a missing or resized part, a corrupt manifest, a bad run.json) in
   * `problems` and leave those files out, instead of throwing (default false).
   */
  tolerant?: boolean;
}

export interface TableFiles {
  name: TableName;
  /** Directory relative to the run, e.g. `corpus/sft`. */
  dir: string;
  /** complete: a manifest lists the files; partial: part files without a manifest (stopped early). */
  state: 'complete' | 'partial' | 'absent';
  /** Absolute paths of the part files, sorted by name. */
  files: string[];
}

/** The run's run.json fields the report uses; everything else in the file is ignored. */
export interface RunInfo {
  name: string | null;
  version: string | null;
  configHash: string | null;
  startedAt: string | null;
  endedAt: string | null;
  stages: Record<string, { status: string; tasksDone: number | null; tasks: number | null }>;
  /** The teacher client's counters as run.json has them (shape owned by the teacher module). */
  teacher: Record<string, unknown> | null;
  /** The source's image root from the config, for images that are not in the run's image store. */
  imageRoot: string | null;
  /** The corpus run a training-only pipeline read (config train.from), else null. */
  trainFrom: string | null;
  /** The reasons auditors pick from (config audit.reasons), else null. */
  auditReasons: string[] | null;
}

export interface RunFiles {
  root: string;
  run: RunInfo | null;
  tables: Record<TableName, TableFiles>;
  /** Absolute paths of quarantine JSONL files, sorted. */
  quarantine: string[];
  /** What a tolerant survey left out, and why (always empty for a strict one, which throws instead). */
  problems: RunProblem[];
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Pick the report's fields out of a parsed run.json (pure; tolerant of fields a newer runner adds). */
export function runInfoOf(doc: unknown, file: string): RunInfo {
  if (!isObj(doc)) throw new InputError('run.json is not a JSON object', { file });
  const stages: RunInfo['stages'] = {};
  if (isObj(doc.stages)) {
    for (const name of Object.keys(doc.stages).sort()) {
      const s = doc.stages[name];
      if (isObj(s)) stages[name] = { status: str(s.status) ?? 'unknown', tasksDone: numOrNull(s.tasksDone), tasks: numOrNull(s.tasks) };
    }
  }
  const config = isObj(doc.config) ? doc.config : {};
  const source = isObj(config.source) ? config.source : {};
  const train = isObj(config.train) ? config.train : {};
  const audit = isObj(config.audit) ? config.audit : {};
  const reasons = Array.isArray(audit.reasons) && audit.reasons.every((r) => typeof r === 'string') ? (audit.reasons as string[]) : null;
  return {
    name: str(doc.name),
    version: str(doc.version),
    configHash: str(doc.configHash),
    startedAt: str(doc.startedAt),
    endedAt: str(doc.endedAt),
    stages,
    teacher: isObj(doc.teacher) ? doc.teacher : null,
    imageRoot: str(source.imageRoot),
    trainFrom: str(train.from),
    auditReasons: reasons,
  };
}

async function readRunInfo(root: string): Promise<RunInfo | null> {
  const file = join(root, 'run.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isNotFound(err)) return null;
    throw new InputError(`cannot read run.json: ${(err as Error).message}`, { file }, { cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InputError('run.json is not valid JSON (truncated?)', { file }, { cause: err });
  }
  return runInfoOf(doc, file);
}

async function listDir(dir: string): Promise<string[] | null> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if (isNotFound(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
}

/** Report a problem: thrown by a strict survey, collected (and the file left out) by a tolerant one. */
type Complain = (problem: RunProblem, err: Error) => void;

async function tableFiles(root: string, name: TableName, complain: Complain): Promise<TableFiles> {
  const { dir, kind } = TABLES[name];
  const abs = join(root, dir);
  let manifest;
  try {
    manifest = await readManifest(abs);
  } catch (err) {
    if (!(err instanceof ShardError)) throw err;
    complain({ table: name, file: join(abs, '_manifest.json'), message: err.message }, err);
    manifest = null;
  }
  if (manifest) {
    if (manifest.kind !== kind) {
      const err = new ShardError(`${dir}/ holds ${manifest.kind} records, expected ${kind}`, { file: join(abs, '_manifest.json') });
      complain({ table: name, file: join(abs, '_manifest.json'), message: err.message }, err);
      return { name, dir, state: 'absent', files: [] };
    }
    const files: string[] = [];
    for (const f of manifest.files) {
      const path = join(abs, f.file);
      // A size check is cheap and catches a truncated or replaced part before DuckDB reads garbage.
      let size: number;
      try {
        size = (await stat(path)).size;
      } catch (err) {
        if (!isNotFound(err)) throw err;
        complain({ table: name, file: path, message: 'part file listed in the manifest is missing' }, new ShardError('part file listed in the manifest is missing', { file: path }, { cause: err }));
        continue;
      }
      if (size !== f.bytes) {
        const message = `part file is ${size} bytes, the manifest says ${f.bytes}`;
        complain({ table: name, file: path, message }, new ShardError(message, { file: path }));
        continue;
      }
      files.push(path);
    }
    return { name, dir, state: 'complete', files: files.sort() };
  }
  const names = (await listDir(abs))?.filter((n) => parseShardFileName(n) !== null) ?? [];
  return { name, dir, state: names.length ? 'partial' : 'absent', files: names.map((n) => join(abs, n)) };
}

/**
 * Survey a run directory. A missing directory, or one with none of run.json, samples/, candidates/,
 * verdicts/, corpus/ or quarantine/, is an InputError (the CLI prints it and exits 2).
 */
export async function readRunFiles(root: string, opts: SurveyOptions = {}): Promise<RunFiles> {
  let st;
  try {
    st = await stat(root);
  } catch (err) {
    if (isNotFound(err)) throw new InputError('run directory not found', { file: root }, { cause: err });
    throw err;
  }
  if (!st.isDirectory()) throw new InputError('not a directory (expected a run directory such as runs/demo)', { file: root });
  const markers = ['run.json', 'samples', 'candidates', 'verdicts', 'corpus', 'quarantine', 'train', 'eval'];
  if (!markers.some((m) => existsSync(join(root, m))))
    throw new InputError('not a run directory: it has none of run.json, samples/, candidates/, verdicts/, corpus/, quarantine/', { file: root });

  const problems: RunProblem[] = [];
  const complain: Complain = (problem, err) => {
    if (!opts.tolerant) throw err;
    problems.push(problem);
  };
  let run: RunInfo | null = null;
  try {
    run = await readRunInfo(root);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    complain({ table: 'run.json', file: join(root, 'run.json'), message: err.message }, err);
  }
  const tables = {} as Record<TableName, TableFiles>;
  for (const name of TABLE_NAMES) tables[name] = await tableFiles(root, name, complain);
  const qdir = join(root, 'quarantine');
  const quarantine = ((await listDir(qdir)) ?? []).filter((n) => n.endsWith('.jsonl') && !n.startsWith('.')).map((n) => join(qdir, n));
  // `univg ingest --out DIR` writes DIR/quarantine.jsonl next to its shards.
  if (existsSync(join(root, 'quarantine.jsonl'))) quarantine.push(join(root, 'quarantine.jsonl'));
  return { root, run, tables, quarantine, problems };
}
