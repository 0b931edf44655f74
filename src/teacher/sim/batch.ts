/**
 * The simulated teacher's Batch API: `/v1/files` (upload, list, retrieve, content, delete) and
 * `/v1/batches` (create, retrieve, list, cancel) in the shapes OpenAI documents and the official client
 * reads. A batch moves through `validating`, `in_progress` and `finalizing` to `completed` on its own
 * timers; its lines are answered by the same code as `/v1/chat/completions` (same perception, same
 * writing, same content faults), so a request gets the same answer online and in a batch.
 *
 * Faults are seeded like the online ones: per batch (`batch_slow`, `batch_fail`, `batch_expire`) from
 * (server seed, input file bytes, how many batches were made of that file), per line (`line_error`)
 * from (server seed, line body, how many batches carried that body).
 *
 * Output files hold `{id, custom_id, response: {status_code, request_id, body}, error}` lines in the
 * order lines finish (not input order); the error file holds lines answered with an HTTP error and, for
 * an expired batch, the lines never run (`error.code` `batch_expired`). A cancelled batch keeps what it
 * answered and lists nothing for the rest.
 */
import { ApiError } from './request.js';
import { pick } from './faults.js';
import { BATCH_FAULTS, LINE_FAULTS, type FaultName } from './options.js';
import { hashHex, hashUniform } from './rng.js';

export type BatchStatus = 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';
export const BATCH_STATUSES: readonly BatchStatus[] = ['validating', 'failed', 'in_progress', 'finalizing', 'completed', 'expired', 'cancelling', 'cancelled'];
const FINAL = new Set<BatchStatus>(['failed', 'completed', 'expired', 'cancelled']);

const FILE_PURPOSES = new Set(['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals']);
const ENDPOINTS = new Set(['/v1/chat/completions', '/v1/responses', '/v1/embeddings', '/v1/completions', '/v1/moderations']);
export const EXPIRED_MESSAGE = 'This request could not be executed before the completion window expired.';

/** What answering one line gave: an HTTP status and the body a client would have received. */
export interface LineAnswer {
  status: number;
  body: unknown;
  promptTokens: number;
  completionTokens: number;
}

export interface SimBatchStats {
  /** Files uploaded with purpose batch. */
  files: number;
  /** Batches created. */
  created: number;
  /** Batches by the status they ended in (and the ones still running, by their current status). */
  byStatus: Record<BatchStatus, number>;
  /** Lines of created batches that passed validation. */
  lines: number;
  /** Lines answered 200, answered with an HTTP error, and expired unanswered. */
  answered: number;
  errored: number;
  expired: number;
  /** Lines answered 200 whose body had been answered 200 in an earlier batch: paid for twice. */
  paidTwice: number;
  tokens: { prompt: number; completion: number };
}

export function emptyBatchStats(): SimBatchStats {
  return {
    files: 0,
    created: 0,
    byStatus: Object.fromEntries(BATCH_STATUSES.map((s) => [s, 0])) as Record<BatchStatus, number>,
    lines: 0,
    answered: 0,
    errored: 0,
    expired: 0,
    paidTwice: 0,
    tokens: { prompt: 0, completion: 0 },
  };
}

interface SimFile {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: 'processed';
  expires_at: number | null;
  data: Buffer;
}

interface SimBatch {
  id: string;
  object: 'batch';
  endpoint: string;
  errors: { object: 'list'; data: Array<{ code: string; message: string; param: string | null; line: number | null }> } | null;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
  model: string | null;
  usage: { input_tokens: number; output_tokens: number; total_tokens: number; input_tokens_details: { cached_tokens: number }; output_tokens_details: { reasoning_tokens: number } };
}

interface Line {
  index: number;
  customId: string;
  body: unknown;
  bodyHash: string;
}

export interface BatchEngineOptions {
  seed: number;
  faults: Partial<Record<FaultName, number>>;
  validatingMs: number;
  lineMs: number;
  concurrency: number;
  finalizingMs: number;
  cancellingMs: number;
  slowMs: number;
  windowMs: number;
  maxRequests: number;
  maxFileBytes: number;
  /** Answer one chat-completions body (attempt: how many batches carried this body, this one included). */
  answer: (body: unknown, bodyHash: string, attempt: number) => Promise<LineAnswer>;
}

const now = () => Date.now();
const seconds = (ms: number) => Math.floor(ms / 1000);
const notFound = (what: string, id: string, param = 'id') => new ApiError(404, `No such ${what} object: ${id}`, 'invalid_request_error', null, param);
const bad = (message: string, param: string | null = null, code: string | null = null) => new ApiError(400, message, 'invalid_request_error', code, param);

export class BatchEngine {
  private readonly files = new Map<string, SimFile>();
  private readonly batches = new Map<string, SimBatch>();
  /** Batches made of each input file's bytes, and batches that carried each line body. */
  private readonly fileSubmissions = new Map<string, number>();
  private readonly lineAttempts = new Map<string, number>();
  private readonly answeredBodies = new Set<string>();
  private readonly timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private seq = 0;
  private closed = false;
  stats = emptyBatchStats();

  constructor(private readonly o: BatchEngineOptions) {}

  private nextId(prefix: string, ...parts: Array<string | number>): string {
    this.seq++;
    return `${prefix}${hashHex(prefix, this.o.seed, this.seq, process.pid, now(), ...parts).slice(0, 24)}`;
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const entry = { timer: setTimeout(() => done(), ms), resolve: () => done() };
      const done = () => {
        if (!this.timers.delete(entry)) return;
        clearTimeout(entry.timer);
        resolve();
      };
      entry.timer.unref();
      this.timers.add(entry);
    });
  }

  close(): void {
    this.closed = true;
    for (const t of [...this.timers]) t.resolve();
  }

  // ---- files ----

  upload(filename: string, purpose: string, data: Buffer): Omit<SimFile, 'data'> {
    if (!FILE_PURPOSES.has(purpose)) throw bad(`'${purpose}' is not one of ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'] - 'purpose'`, 'purpose', 'invalid_value');
    if (purpose === 'batch') {
      if (!filename.endsWith('.jsonl')) throw bad('Invalid file format for Batch API. Must be .jsonl', 'file', 'invalid_file_format');
      if (data.length > this.o.maxFileBytes) throw new ApiError(413, `File is too large for the Batch API: ${data.length} bytes; the limit is ${this.o.maxFileBytes} bytes.`, 'invalid_request_error', 'file_too_large', 'file');
      this.stats.files++;
    }
    return this.addFile(filename, purpose, data);
  }

  private addFile(filename: string, purpose: string, data: Buffer): Omit<SimFile, 'data'> {
    const t = now();
    const f: SimFile = { id: this.nextId('file-', filename), object: 'file', bytes: data.length, created_at: seconds(t), filename, purpose, status: 'processed', expires_at: purpose === 'batch' || purpose === 'batch_output' ? seconds(t) + 30 * 86400 : null, data };
    this.files.set(f.id, f);
    return fileObject(f);
  }

  file(id: string): Omit<SimFile, 'data'> {
    const f = this.files.get(id);
    if (!f) throw notFound('File', id);
    return fileObject(f);
  }

  content(id: string): Buffer {
    const f = this.files.get(id);
    if (!f) throw notFound('File', id);
    return f.data;
  }

  deleteFile(id: string): { id: string; object: 'file'; deleted: true } {
    if (!this.files.delete(id)) throw notFound('File', id);
    return { id, object: 'file', deleted: true };
  }

  listFiles(q: URLSearchParams): { object: 'list'; data: Array<Omit<SimFile, 'data'>>; first_id: string | null; last_id: string | null; has_more: boolean } {
    const purpose = q.get('purpose');
    const order = q.get('order') === 'asc' ? 'asc' : 'desc';
    let all = [...this.files.values()].filter((f) => purpose === null || f.purpose === purpose);
    if (order === 'desc') all = all.reverse();
    return page(all.map(fileObject), q, 10_000);
  }

  // ---- batches ----

  create(raw: unknown): SimBatch {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('The request body must be a JSON object.');
    const b = raw as Record<string, unknown>;
    if (typeof b.input_file_id !== 'string') throw bad("Missing required parameter: 'input_file_id'.", 'input_file_id', 'missing_required_parameter');
    if (typeof b.endpoint !== 'string' || !ENDPOINTS.has(b.endpoint)) throw bad(`Invalid value for 'endpoint': ${JSON.stringify(b.endpoint ?? null)}.`, 'endpoint', 'invalid_value');
    if (b.completion_window !== '24h') throw bad(`Invalid value for 'completion_window': ${JSON.stringify(b.completion_window ?? null)}. Supported values are: '24h'.`, 'completion_window', 'invalid_value');
    const metadata = b.metadata === undefined || b.metadata === null ? null : checkMetadata(b.metadata);
    const file = this.files.get(b.input_file_id);
    if (!file) throw notFound('File', b.input_file_id, 'input_file_id');
    if (file.purpose !== 'batch') throw bad(`The input file ${file.id} must be uploaded with purpose 'batch', not '${file.purpose}'.`, 'input_file_id', 'invalid_file_purpose');
    const t = now();
    const batch: SimBatch = {
      id: this.nextId('batch_', file.id),
      object: 'batch',
      endpoint: b.endpoint,
      errors: null,
      input_file_id: file.id,
      completion_window: '24h',
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      created_at: seconds(t),
      in_progress_at: null,
      expires_at: seconds(t + this.o.windowMs),
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      metadata,
      model: null,
      usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } },
    };
    this.batches.set(batch.id, batch);
    this.stats.created++;
    this.stats.byStatus.validating++;
    const fileHash = hashHex(file.data);
    const nth = (this.fileSubmissions.get(fileHash) ?? 0) + 1;
    this.fileSubmissions.set(fileHash, nth);
    const fault = pick(hashUniform('batch', this.o.seed, fileHash, nth), BATCH_FAULTS, this.o.faults);
    void this.run(batch, file, t + this.o.windowMs, fault, hashUniform('batch-cut', this.o.seed, fileHash, nth)).catch((err: unknown) => {
      process.stderr.write(`univg sim teacher: internal error in batch ${batch.id}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    });
    return view(batch);
  }

  batch(id: string): SimBatch {
    const b = this.batches.get(id);
    if (!b) throw new ApiError(404, `No batch found with id '${id}'.`, 'invalid_request_error', null, 'batch_id');
    return view(b);
  }

  listBatches(q: URLSearchParams) {
    return page([...this.batches.values()].reverse().map(view), q, 100);
  }

  cancel(id: string): SimBatch {
    const b = this.batches.get(id);
    if (!b) throw new ApiError(404, `No batch found with id '${id}'.`, 'invalid_request_error', null, 'batch_id');
    if (FINAL.has(b.status) || b.status === 'cancelling') {
      if (b.status === 'cancelling' || b.status === 'cancelled') return view(b);
      throw new ApiError(409, `Cannot cancel a batch with status '${b.status}'.`, 'invalid_request_error', null);
    }
    this.setStatus(b, 'cancelling');
    b.cancelling_at = seconds(now());
    return view(b);
  }

  private setStatus(b: SimBatch, s: BatchStatus): void {
    this.stats.byStatus[b.status]--;
    this.stats.byStatus[s]++;
    b.status = s;
  }

  private fail(b: SimBatch, errors: NonNullable<SimBatch['errors']>['data']): void {
    this.setStatus(b, 'failed');
    b.failed_at = seconds(now());
    b.errors = { object: 'list', data: errors };
  }

  /** Validate the input file's lines: the lines, or the errors OpenAI would list (the first ten). */
  private parse(b: SimBatch, file: SimFile): { lines: Line[]; errors: NonNullable<SimBatch['errors']>['data'] } {
    const errors: NonNullable<SimBatch['errors']>['data'] = [];
    const lines: Line[] = [];
    const seen = new Set<string>();
    const text = file.data.toString('utf8');
    const rows = text.split('\n');
    if (rows.at(-1) === '') rows.pop();
    rows.forEach((row, i) => {
      if (errors.length >= 10) return;
      const line = i + 1;
      let v: unknown;
      try {
        v = JSON.parse(row);
      } catch {
        errors.push({ code: 'invalid_json_line', message: `This line is not parseable as valid JSON.`, param: null, line });
        return;
      }
      const o = v as Record<string, unknown>;
      if (typeof o !== 'object' || o === null || typeof o.custom_id !== 'string') {
        errors.push({ code: 'missing_required_parameter', message: 'Missing required parameter: custom_id.', param: 'custom_id', line });
        return;
      }
      if (o.method !== 'POST') errors.push({ code: 'invalid_value', message: `Invalid value for method: ${JSON.stringify(o.method ?? null)}. Supported values are: 'POST'.`, param: 'method', line });
      else if (o.url !== b.endpoint) errors.push({ code: 'mismatched_endpoint', message: `The URL provided for this request does not match the batch endpoint ${b.endpoint}.`, param: 'url', line });
      else if (typeof o.body !== 'object' || o.body === null || Array.isArray(o.body)) errors.push({ code: 'missing_required_parameter', message: 'Missing required parameter: body.', param: 'body', line });
      else if (seen.has(o.custom_id)) errors.push({ code: 'duplicate_custom_id', message: `The custom_id for this request is a duplicate of another request. The custom_id parameter must be unique for each request in a batch.`, param: 'custom_id', line });
      else {
        seen.add(o.custom_id);
        lines.push({ index: i, customId: o.custom_id, body: o.body, bodyHash: hashHex(JSON.stringify(o.body)) });
      }
    });
    if (errors.length === 0 && lines.length === 0) errors.push({ code: 'empty_file', message: 'The batch input file is empty.', param: null, line: null });
    if (errors.length === 0 && lines.length > this.o.maxRequests) {
      errors.push({ code: 'too_many_requests', message: `The batch input file contains ${lines.length} requests; the limit is ${this.o.maxRequests} requests per batch.`, param: null, line: null });
    }
    const models = new Set(lines.map((l) => (l.body as { model?: unknown }).model));
    if (errors.length === 0 && models.size > 1) errors.push({ code: 'model_mismatch', message: 'All requests in a batch must use the same model.', param: 'body.model', line: null });
    return { lines, errors };
  }

  private async run(b: SimBatch, file: SimFile, expiresAtMs: number, fault: (typeof BATCH_FAULTS)[number] | null, cutU: number): Promise<void> {
    await this.sleep(this.o.validatingMs);
    if (this.closed) return;
    if (cancelling(b)) return this.finish(b, [], [], []);
    const { lines, errors } = this.parse(b, file);
    if (errors.length) return this.fail(b, errors);
    b.model = String((lines[0]!.body as { model?: unknown }).model ?? '') || null;
    if (fault === 'batch_fail') {
      const enqueued = Math.round(file.data.length / 4);
      return this.fail(b, [{ code: 'token_limit_exceeded', message: `Enqueued token limit reached for ${b.model ?? 'the model'} in organization org-univg-sim. Limit: ${Math.max(1, enqueued - 1)} enqueued tokens. Please try again once some in_progress batches have been completed.`, param: null, line: null }]);
    }
    this.setStatus(b, 'in_progress');
    b.in_progress_at = seconds(now());
    b.request_counts.total = lines.length;
    this.stats.lines += lines.length;
    if (fault === 'batch_slow') await this.sleep(this.o.slowMs);
    // An expiring batch gets through 20-80% of its lines before the window closes on it.
    const cut = fault === 'batch_expire' ? Math.max(1, Math.min(lines.length - 1, Math.floor(lines.length * (0.2 + 0.6 * cutU)))) : lines.length;
    const out: string[] = [];
    const err: string[] = [];
    const ran = new Set<number>();
    let next = 0;
    let expired = fault === 'batch_expire' && lines.length > 1;
    const worker = async () => {
      for (;;) {
        if (this.closed || cancelling(b)) return;
        if (next >= cut) return;
        if (now() >= expiresAtMs) {
          expired = true;
          return;
        }
        const line = lines[next++]!;
        const attempt = (this.lineAttempts.get(line.bodyHash) ?? 0) + 1;
        this.lineAttempts.set(line.bodyHash, attempt);
        // Lines take 0.5-1.5 lineMs each, so with concurrency > 1 they finish out of input order.
        await this.sleep(this.o.lineMs * (0.5 + hashUniform('line-ms', this.o.seed, line.bodyHash, attempt)));
        if (this.closed) return;
        const lineFault = pick(hashUniform('line', this.o.seed, line.bodyHash, attempt), LINE_FAULTS, this.o.faults);
        const a = lineFault === 'line_error'
          ? { status: 500, body: new ApiError(500, 'The server had an error while processing your request. Sorry about that!', 'server_error').body(), promptTokens: 0, completionTokens: 0 }
          : await this.o.answer(line.body, line.bodyHash, attempt);
        ran.add(line.index);
        const requestId = `req_${hashHex('batch-line', b.id, line.customId).slice(0, 24)}`;
        const record = JSON.stringify({ id: `batch_req_${hashHex(b.id, line.customId).slice(0, 24)}`, custom_id: line.customId, response: { status_code: a.status, request_id: requestId, body: a.body }, error: null });
        if (a.status === 200) {
          out.push(record);
          b.request_counts.completed++;
          this.stats.answered++;
          if (this.answeredBodies.has(line.bodyHash)) this.stats.paidTwice++;
          this.answeredBodies.add(line.bodyHash);
          b.usage.input_tokens += a.promptTokens;
          b.usage.output_tokens += a.completionTokens;
          b.usage.total_tokens += a.promptTokens + a.completionTokens;
          this.stats.tokens.prompt += a.promptTokens;
          this.stats.tokens.completion += a.completionTokens;
        } else {
          err.push(record);
          b.request_counts.failed++;
          this.stats.errored++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, lines.length) }, worker));
    if (this.closed) return;
    const notRun = lines.filter((l) => !ran.has(l.index));
    if (cancelling(b)) {
      await this.sleep(this.o.cancellingMs);
      return this.finish(b, out, err, []);
    }
    if (expired && notRun.length > 0) return this.finish(b, out, err, notRun);
    this.setStatus(b, 'finalizing');
    b.finalizing_at = seconds(now());
    await this.sleep(this.o.finalizingMs);
    if (this.closed) return;
    this.finish(b, out, err, [], fault === 'batch_corrupt');
  }

  /** Write the output and error files and end the batch (completed, expired with `expiredLines`, or cancelled). */
  private finish(b: SimBatch, out: string[], err: string[], expiredLines: Line[], corrupt = false): void {
    for (const l of expiredLines) {
      err.push(JSON.stringify({ id: `batch_req_${hashHex(b.id, l.customId).slice(0, 24)}`, custom_id: l.customId, response: null, error: { code: 'batch_expired', message: EXPIRED_MESSAGE } }));
      b.request_counts.failed++;
      this.stats.expired++;
    }
    let outText = `${out.join('\n')}\n`;
    // batch_corrupt: the file ends half way through its last line, as a cut download would.
    if (corrupt && out.length) outText = outText.slice(0, outText.length - Math.ceil(out.at(-1)!.length / 2) - 1);
    if (out.length) b.output_file_id = this.addFile(`${b.id}_output.jsonl`, 'batch_output', Buffer.from(outText)).id;
    if (err.length) b.error_file_id = this.addFile(`${b.id}_error.jsonl`, 'batch_output', Buffer.from(`${err.join('\n')}\n`)).id;
    const t = seconds(now());
    if (cancelling(b)) {
      this.setStatus(b, 'cancelled');
      b.cancelled_at = t;
    } else if (expiredLines.length) {
      this.setStatus(b, 'expired');
      b.expired_at = t;
    } else {
      this.setStatus(b, 'completed');
      b.completed_at = t;
    }
  }
}

/** A function, so a check after an await is not narrowed away by one before it (cancel() runs in between). */
function cancelling(b: SimBatch): boolean {
  return b.status === 'cancelling';
}

function fileObject(f: SimFile): Omit<SimFile, 'data'> {
  const { data: _data, ...rest } = f;
  return rest;
}

function view(b: SimBatch): SimBatch {
  return structuredClone(b);
}

function checkMetadata(m: unknown): Record<string, string> {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw bad("Invalid type for 'metadata': expected an object.", 'metadata', 'invalid_type');
  const entries = Object.entries(m as Record<string, unknown>);
  if (entries.length > 16) throw bad("Invalid 'metadata': too many properties. Expected an object with at most 16 properties.", 'metadata', 'object_above_max_properties');
  for (const [k, v] of entries) {
    if (k.length > 64) throw bad(`Invalid 'metadata': key ${JSON.stringify(k)} is longer than 64 characters.`, 'metadata', 'invalid_value');
    if (typeof v !== 'string' || v.length > 512) throw bad(`Invalid 'metadata.${k}': expected a string of at most 512 characters.`, `metadata.${k}`, 'invalid_value');
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

/** One page of a cursor list: `limit` items after the item whose id is `after`. */
function page<T extends { id: string }>(all: T[], q: URLSearchParams, maxLimit: number) {
  const limitRaw = q.get('limit');
  const limit = limitRaw === null ? Math.min(20, maxLimit) : Number(limitRaw);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) throw bad(`Invalid 'limit': expected an integer from 1 to ${maxLimit}.`, 'limit', 'invalid_value');
  const after = q.get('after');
  let start = 0;
  if (after !== null) {
    const i = all.findIndex((x) => x.id === after);
    start = i < 0 ? all.length : i + 1;
  }
  const data = all.slice(start, start + limit);
  return { object: 'list' as const, data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + limit < all.length };
}
