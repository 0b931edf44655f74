/**
 * Predictions made elsewhere: a JSONL file, one `{"id": ..., "completion": ..., "convention"?: ...}` per
 * line (other fields, such as those of a `Prediction` record written by `univg eval --out`, are ignored).
 * Read line by line; held as a map from id to completion (a benchmark's worth: MIG-Bench is 4,295 items).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { InputError } from '../../errors.js';
import { BoxConvention } from '../../schema/records.js';

export interface ExternalPrediction {
  /** null: the line says the model gave no answer (scored as an empty completion). */
  completion: string | null;
  convention: BoxConvention;
  /** The line's `model` field when it has one (a file written by `univg eval --out` does). */
  model?: string;
  /** 1-based line in the file, for messages. */
  line: number;
}

export interface ReadPredictionsOptions {
  /** Convention of lines that do not name one; without it such a line is an error. */
  defaultConvention?: BoxConvention;
}

/** Bad lines listed in the error; the rest are counted (a file of a million broken lines stays one readable line). */
const MAX_LISTED = 20;

/** Read and check a predictions file: every bad line is reported, in one InputError naming the file and the lines. */
export async function readPredictionsFile(file: string, opts: ReadPredictionsOptions = {}): Promise<Map<string, ExternalPrediction>> {
  const out = new Map<string, ExternalPrediction>();
  const stream = createReadStream(file, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (err) {
    throw new InputError(`cannot read predictions (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file }, { cause: err });
  }
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  // Every bad line is reported, not just the first: a file made elsewhere is fixed in one pass.
  const problems: InputError[] = [];
  let badLines = 0;
  const bad = (e: InputError) => {
    badLines++;
    if (problems.length < MAX_LISTED) problems.push(e);
  };
  let n = 0;
  for await (const raw of lines) {
    n++;
    if (raw.trim() === '') continue;
    const where = { file, line: n };
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (err) {
      bad(new InputError(`not JSON: ${(err as Error).message}`, where));
      continue;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      bad(new InputError('expected a JSON object {"id", "completion"}', where));
      continue;
    }
    const o = v as Record<string, unknown>;
    if (typeof o.id !== 'string' || o.id === '') {
      bad(new InputError('"id" must be a non-empty string', { ...where, field: 'id' }));
      continue;
    }
    if (!(typeof o.completion === 'string' || o.completion === null)) {
      bad(new InputError('"completion" must be a string (or null for no answer)', { ...where, field: 'completion', recordId: o.id }));
      continue;
    }
    let convention: BoxConvention;
    if (o.convention === undefined || o.convention === null) {
      if (opts.defaultConvention === undefined) {
        bad(new InputError('no "convention" on the line and no --convention given; declare the box convention the model answers in', { ...where, field: 'convention', recordId: o.id }));
        continue;
      }
      convention = opts.defaultConvention;
    } else {
      const c = BoxConvention.safeParse(o.convention);
      if (!c.success) {
        bad(new InputError(`unknown convention ${JSON.stringify(o.convention)}; one of ${BoxConvention.options.join(', ')}`, { ...where, field: 'convention', recordId: o.id }));
        continue;
      }
      convention = c.data;
    }
    const prev = out.get(o.id);
    if (prev) {
      bad(new InputError(`id ${JSON.stringify(o.id)} appears twice (first on line ${prev.line})`, { ...where, field: 'id', recordId: o.id }));
      continue;
    }
    out.set(o.id, { completion: o.completion as string | null, convention, line: n, ...(typeof o.model === 'string' && o.model !== '' ? { model: o.model } : {}) });
  }
  if (badLines === 1) throw problems[0]!;
  if (badLines > 1) {
    const listed = problems.map((e) => `line ${e.context.line}: ${e.message}`).join('; ');
    throw new InputError(`${badLines} bad lines: ${listed}${badLines > problems.length ? `; and ${badLines - problems.length} more` : ''}`, { file, line: problems[0]!.context.line });
  }
  return out;
}

/**
 * Ids in the predictions that the bench does not have: an error listing the first few (a file for another
 * bench or split, or ids in another scheme). Ids of bench items that ingest quarantined are known, not
 * unknown; they are reported as unscored by the caller.
 */
export function checkPredictionIds(ids: Iterable<string>, known: ReadonlySet<string>, file: string, show = 5): void {
  const unknown: string[] = [];
  let count = 0;
  for (const id of ids) {
    if (known.has(id)) continue;
    count++;
    if (unknown.length < show) unknown.push(id);
  }
  if (count > 0) {
    const eg = [...known].slice(0, 2).map((s) => JSON.stringify(s)).join(', ');
    throw new InputError(
      `${count} prediction id(s) are not in the bench: ${unknown.map((s) => JSON.stringify(s)).join(', ')}${count > unknown.length ? ', …' : ''} (bench ids look like ${eg || 'nothing: the bench is empty'})`,
      { file, field: 'id' },
    );
  }
}
