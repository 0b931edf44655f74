/**
 * The OpenAI Batch API as a way to fill the response cache: the same requests online mode would send,
 * written as JSONL batch inputs (custom_id = the request's cache key), uploaded, run as batches at the
 * batch price, polled, and their output files written into the response cache exactly as online
 * answers are. Whoever asked then reads every answer from the cache, so a batch run and an online run
 * produce the same rows.
 *
 * Paying twice is what this module is built against. Every batch is recorded in a state file (written
 * to a temp name, then renamed) before anything waits on it: the input file's id as soon as it is
 * uploaded, the batch's id as soon as it is created. A process that starts with a state file polls
 * the batches recorded there and never submits their requests again while they run; only requests
 * that no finished batch answered go into a new batch (an expired or cancelled batch keeps the lines it
 * answered). Line errors, expired lines and lines of a corrupt output file are recorded with their
 * reason and retried in follow-up batches up to `teacher.batch.maxRetries`; what is still unanswered
 * after that is reported to the caller, which fails those candidates by the usual rules.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type OpenAI from 'openai';
import { InterruptedError, redactSecrets, UnivgError } from '../errors.js';
import type { TeacherConfig } from '../schema/config.js';
import { writeFileAtomic } from '../store/fsutil.js';
import { classifyStatus, type AttemptOutcome } from './backoff.js';
import type { CachedResponse, ResponseCache } from './cache.js';
import { asChatCompletion, type ChatBody } from './client.js';
import { batchPrice, costOf, type CostTracker } from './cost.js';
import { CostCapError, TeacherRequestError, TeacherUnavailableError } from './errors.js';
import type { TokenEstimator } from './tokens.js';
import { sleep } from '../async/sleep.js';

/** One request a batch may carry: its cache key, what the cache records next to the answer, and its body (built only when sent). */
export interface BatchRequest {
  hash: string;
  requestModel: string;
  promptVersion: string;
  params: Record<string, unknown>;
  rawPromptTokens: number;
  choices: number;
  body: () => Promise<ChatBody>;
}

export type BatchState = 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';
const FINAL = new Set<string>(['failed', 'completed', 'expired', 'cancelled']);

/** A batch as the state file records it. */
export interface BatchRecord {
  /** Local input file (relative to the state file's directory) and its sidecar of per-line metadata. */
  input: string;
  lines: number;
  bytes: number;
  /** Submission round of the process that made it (0: first, then follow-ups). */
  round: number;
  inputFileId: string | null;
  batchId: string | null;
  /** `lost`: the endpoint does not know the batch (404): nothing of it can be had, its requests are asked again. */
  status: BatchState | 'uploading' | 'creating' | 'lost';
  counts: { total: number; completed: number; failed: number };
  createdAt: string;
  /** Last time the batch was asked its status. */
  checkedAt: string | null;
  outputFileId: string | null;
  errorFileId: string | null;
  /** Why the batch failed (its errors), when it did. */
  errors: string | null;
  /** Its output and error files are in the cache (or recorded as failures): nothing left to do with it. */
  ingested: boolean;
  /** Lines answered into the cache, lines that came back as errors, lines of the output file that could not be read. */
  answered: number;
  lineErrors: number;
  corruptLines: number;
  /** Tokens of the answers ingested and what they cost at the batch price. */
  tokens: { prompt: number; completion: number };
  costUsd: number;
}

export interface BatchStateFile {
  format: 1;
  batches: BatchRecord[];
}

/** Per-line metadata kept next to an input file (the input itself holds images; this is small). */
type LineMeta = Omit<BatchRequest, 'body'>;

export interface BatchRunOptions {
  openai: OpenAI;
  cache: ResponseCache;
  config: TeacherConfig;
  cost: CostTracker;
  estimator: TokenEstimator;
  /** The state file of this unit of work (one per generate task). */
  stateFile: string;
  /** Put in each batch's metadata, so a person looking at the account knows what it is. */
  label: string;
  /** Every request of the unit of work, in a stable order; called once per submission round. */
  requests: () => AsyncIterable<BatchRequest>;
  signal?: AbortSignal;
  log?: (message: string) => void;
  /** Test hook: called with the state after each write. */
  onState?: (s: BatchStateFile) => void;
  /** Called for every answer written into the cache (the teacher client counts it). */
  onAnswer?: (usage: { promptTokens: number; completionTokens: number }) => void;
}

export interface BatchRunResult {
  /** Requests answered by a batch in this process (their rows are this run's spend, not cache replays). */
  fresh: Set<string>;
  /** Why each request that is still unanswered got no answer. */
  failures: Map<string, Error>;
  /** Batches submitted by this process, and batches it found in flight and polled instead. */
  submitted: number;
  resumed: number;
  /** Tokens answered by batches this process ingested (for the online-price comparison) and what they cost. */
  tokens: { prompt: number; completion: number };
  costUsd: number;
}

export async function readBatchState(file: string): Promise<BatchStateFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { format: 1, batches: [] };
    throw err;
  }
  try {
    const s = JSON.parse(text) as BatchStateFile;
    if (s.format !== 1 || !Array.isArray(s.batches)) throw new Error('not a batch state file');
    return s;
  } catch (err) {
    throw new UnivgError('batch_state', `the batch state file is not readable (${(err as Error).message}); it records batches already paid for, so it is not replaced: fix or remove it by hand`, { file });
  }
}

/** The failure a line error stands for: a 5xx can pass, a 4xx is this request's own problem (never fatal to the run in a batch). */
function lineFailure(batchId: string, status: number, body: unknown): TeacherRequestError {
  const err = (body as { error?: { message?: unknown; code?: unknown; param?: unknown } } | null)?.error;
  const message = typeof err?.message === 'string' ? err.message : JSON.stringify(body).slice(0, 200);
  let outcome: AttemptOutcome = classifyStatus(status, null, { code: typeof err?.code === 'string' ? err.code : null, param: typeof err?.param === 'string' ? err.param : null });
  if (outcome === 'fatal') outcome = 'client_error';
  return new TeacherRequestError(`${outcome} (HTTP ${status}) in batch ${batchId}: ${message}`, outcome, 1, status);
}

export class BatchRunner {
  private state: BatchStateFile = { format: 1, batches: [] };
  private readonly dir: string;
  private readonly failures = new Map<string, Error>();
  private readonly fresh = new Set<string>();
  private readonly ingested = { prompt: 0, completion: 0, costUsd: 0 };
  /** Cost reserved under the cap for batches this process submitted, by batch input. */
  private readonly reserved = new Map<string, number>();
  private readonly api: OpenAI;
  /** Batches submitted by submitAhead (counted as submitted by run()). */
  private ahead = 0;

  constructor(private readonly o: BatchRunOptions) {
    this.dir = dirname(o.stateFile);
    this.api = o.openai;
  }

  private async save(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.o.stateFile, `${JSON.stringify(this.state, null, 2)}\n`);
    this.o.onState?.(structuredClone(this.state));
  }

  async run(): Promise<BatchRunResult> {
    return this.guard(() => this.rounds());
  }

  /**
   * Submit the first round without waiting for it, unless batches are already in flight (then they are
   * the first round); `run()` later polls them. Returns the batches made.
   */
  async submitAhead(): Promise<number> {
    return this.guard(async () => {
      this.state = await readBatchState(this.o.stateFile);
      if (this.state.batches.some((b) => !b.ingested)) return 0;
      this.ahead = await this.submitMissing(0);
      return this.ahead;
    });
  }

  private async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof UnivgError) throw err;
      if (this.o.signal?.aborted) throw new InterruptedError('interrupted while batches run; their ids are recorded, re-run to pick them up');
      // The Batch API itself failed (down, refused a file): the batches recorded so far are kept for the rerun.
      const message = redactSecrets(err instanceof Error ? err.message : String(err));
      throw new TeacherUnavailableError(`the Batch API failed: ${message} (batches recorded in ${this.o.stateFile} are polled again on the next run)`, { file: this.o.stateFile }, { cause: err });
    }
  }

  private async rounds(): Promise<BatchRunResult> {
    this.state = await readBatchState(this.o.stateFile);
    const open = this.state.batches.filter((b) => !b.ingested);
    const resumed = open.filter((b) => b.batchId !== null).length - this.ahead;
    if (resumed > 0) this.o.log?.(`batch: resuming ${resumed} batch${resumed === 1 ? '' : 'es'} recorded in ${basename(this.o.stateFile)} (polled, not submitted again)`);
    let submitted = this.ahead;
    const b = this.o.config.batch;
    // Batches found in flight (submitted ahead, or by a killed run) are the first round.
    for (let round = open.length > 0 ? 1 : 0; ; round++) {
      await this.settle();
      if (round > b.maxRetries) break;
      const made = await this.submitMissing(round);
      if (made === 0) break;
      submitted += made;
    }
    const { prompt, completion, costUsd } = this.ingested;
    return { fresh: this.fresh, failures: this.failures, submitted, resumed, tokens: { prompt, completion }, costUsd };
  }

  /** Bring every recorded batch that is not ingested to an end and ingest it. */
  private async settle(): Promise<void> {
    for (const rec of this.state.batches) {
      if (rec.ingested) continue;
      if (rec.batchId === null) await this.finishSubmission(rec);
      await this.poll(rec);
      await this.ingest(rec);
    }
  }

  /**
   * A record left between upload and create by a killed process: the create call may have reached the
   * API without its answer being recorded, so look for a batch made of that input file first; create
   * one only when there is none.
   */
  private async finishSubmission(rec: BatchRecord): Promise<void> {
    if (rec.inputFileId !== null) {
      for await (const existing of this.api.batches.list({ limit: 100 })) {
        if (existing.input_file_id === rec.inputFileId) {
          rec.batchId = existing.id;
          rec.status = existing.status;
          await this.save();
          return;
        }
        if (existing.created_at * 1000 < Date.parse(rec.createdAt) - 60_000) break;
      }
    }
    await this.create(rec);
  }

  private async upload(rec: BatchRecord): Promise<void> {
    rec.status = 'uploading';
    const f = await this.api.files.create({ file: createReadStream(join(this.dir, rec.input)), purpose: 'batch' });
    rec.inputFileId = f.id;
  }

  private async create(rec: BatchRecord): Promise<void> {
    if (rec.inputFileId === null) await this.upload(rec);
    // Said before the call: a record found 'creating' may have a batch the process never heard of.
    rec.status = 'creating';
    await this.save();
    // The server has the input: the local copy (every image of the batch again) is not needed any more.
    await rm(join(this.dir, rec.input), { force: true });
    const batch = await this.api.batches.create({
      input_file_id: rec.inputFileId!,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { univg: this.o.label.slice(0, 512) },
    });
    rec.batchId = batch.id;
    rec.status = batch.status;
    await this.save();
  }

  private async poll(rec: BatchRecord): Promise<void> {
    const { pollMs, maxPollMs } = this.o.config.batch;
    let wait = pollMs;
    for (;;) {
      if (this.o.signal?.aborted) throw new InterruptedError('interrupted while batches run; their ids are recorded, re-run to pick them up');
      let batch: Awaited<ReturnType<OpenAI['batches']['retrieve']>>;
      try {
        batch = await this.api.batches.retrieve(rec.batchId!);
      } catch (err) {
        if ((err as { status?: unknown }).status !== 404) throw err;
        // Another account or project, or a server that forgot it (a simulated teacher that was restarted).
        rec.status = 'lost';
        rec.errors = `the endpoint does not know batch ${rec.batchId} (HTTP 404)`;
        await this.save();
        this.o.log?.(`batch ${rec.batchId}: unknown to the endpoint (HTTP 404); its requests will be asked again`);
        return;
      }
      const changed = batch.status !== rec.status || batch.request_counts?.completed !== rec.counts.completed;
      rec.status = batch.status;
      rec.checkedAt = new Date().toISOString();
      if (batch.request_counts) rec.counts = { total: batch.request_counts.total, completed: batch.request_counts.completed, failed: batch.request_counts.failed };
      rec.outputFileId = batch.output_file_id ?? null;
      rec.errorFileId = batch.error_file_id ?? null;
      if (batch.errors?.data?.length) rec.errors = batch.errors.data.map((e) => `${e.code ?? 'error'}${e.line != null ? ` (line ${e.line})` : ''}: ${e.message ?? ''}`).join('; ');
      if (changed) {
        await this.save();
        this.o.log?.(`batch ${rec.batchId}: ${rec.status}, ${rec.counts.completed}/${rec.counts.total || rec.lines} done${rec.counts.failed ? `, ${rec.counts.failed} failed` : ''}`);
      }
      if (FINAL.has(batch.status)) return;
      try {
        await sleep(wait, this.o.signal);
      } catch {
        throw new InterruptedError('interrupted while batches run; their ids are recorded, re-run to pick them up');
      }
      wait = Math.min(maxPollMs, Math.ceil(wait * 1.5));
    }
  }

  private async readMeta(rec: BatchRecord): Promise<Map<string, LineMeta>> {
    const meta = new Map<string, LineMeta>();
    const text = await readFile(join(this.dir, `${rec.input}.meta`), 'utf8');
    for (const line of text.split('\n')) if (line) {
      const m = JSON.parse(line) as LineMeta;
      meta.set(m.hash, m);
    }
    return meta;
  }

  /** Lines of a downloaded file, streamed; `onLine` gets each one with its 1-based number. */
  private async eachLine(fileId: string, onLine: (line: string, n: number, last: boolean) => Promise<void>): Promise<void> {
    const res = await this.api.files.content(fileId);
    if (!res.body) return;
    const rl = createInterface({ input: Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), crlfDelay: Infinity });
    let n = 0;
    let pending: string | null = null;
    // One line behind, so the last one is known (a truncated file's damage is its last line).
    for await (const line of rl) {
      if (pending !== null) await onLine(pending, n, false);
      pending = line;
      n++;
    }
    if (pending !== null && pending !== '') await onLine(pending, n, true);
  }

  /** Write a finished batch's answers into the cache and record why the other lines got none. */
  private async ingest(rec: BatchRecord): Promise<void> {
    const meta = await this.readMeta(rec);
    const id = rec.batchId!;
    const price = batchPrice(this.o.config);
    const seen = new Set<string>();
    let cost = 0;
    rec.tokens = { prompt: 0, completion: 0 };
    const handle = async (fileId: string, line: string, n: number) => {
      let r: { custom_id?: unknown; response?: { status_code?: unknown; body?: unknown } | null; error?: { code?: unknown; message?: unknown } | null };
      try {
        r = JSON.parse(line) as typeof r;
      } catch {
        rec.corruptLines++;
        this.o.log?.(`batch ${id}: line ${n} of output file ${fileId} is not JSON (a truncated or corrupt file); its request will be asked again`);
        return;
      }
      const hash = typeof r.custom_id === 'string' ? r.custom_id : '';
      const m = meta.get(hash);
      if (!m) {
        rec.corruptLines++;
        this.o.log?.(`batch ${id}: line ${n} of file ${fileId} answers custom_id ${JSON.stringify(String(r.custom_id).slice(0, 80))}, which the batch never asked`);
        return;
      }
      seen.add(hash);
      const status = typeof r.response?.status_code === 'number' ? r.response.status_code : null;
      const body = status === 200 ? asChatCompletion(r.response!.body) : null;
      if (body) {
        if (this.o.cache.has(hash)) return;
        const u = body.usage;
        const usage = { promptTokens: Number(u?.prompt_tokens ?? 0), completionTokens: Number(u?.completion_tokens ?? 0) };
        const value: CachedResponse = { format: 1, requestModel: m.requestModel, promptVersion: m.promptVersion, params: m.params, response: body, usage, costUsd: costOf(usage, price), latencyMs: 0, attempts: 1, createdAt: new Date().toISOString() };
        await this.o.cache.put(hash, value);
        this.o.estimator.observe(m.rawPromptTokens, usage, m.choices);
        this.o.onAnswer?.(usage);
        this.fresh.add(hash);
        this.failures.delete(hash);
        cost += value.costUsd;
        rec.tokens.prompt += usage.promptTokens;
        rec.tokens.completion += usage.completionTokens;
        rec.answered++;
        return;
      }
      rec.lineErrors++;
      if (status === 200) this.failures.set(hash, new TeacherRequestError(`malformed (HTTP 200) in batch ${id}: the answer is not a chat completion`, 'malformed', 1, 200));
      else if (status !== null) this.failures.set(hash, lineFailure(id, status, r.response!.body));
      else {
        const code = typeof r.error?.code === 'string' ? r.error.code : 'batch_error';
        const message = typeof r.error?.message === 'string' ? r.error.message : 'no answer';
        this.failures.set(hash, new TeacherRequestError(`timeout (${code}) in batch ${id}: ${message}`, 'timeout', 1, null));
      }
    };
    if (rec.outputFileId) await this.eachLine(rec.outputFileId, (line, n) => handle(rec.outputFileId!, line, n));
    if (rec.errorFileId) await this.eachLine(rec.errorFileId, (line, n) => handle(rec.errorFileId!, line, n));
    // Lines no file mentions: a failed or cancelled batch, or the cut end of a corrupt file.
    for (const [hash] of meta) {
      if (seen.has(hash) || this.o.cache.has(hash)) continue;
      const why =
        rec.status === 'failed' || rec.status === 'lost'
          ? `batch ${id} ${rec.status}: ${rec.errors ?? 'no reason given'}`
          : rec.corruptLines > 0
            ? `batch_output: the output file ${rec.outputFileId} of batch ${id} is truncated or corrupt (${rec.corruptLines} line${rec.corruptLines === 1 ? '' : 's'} unreadable); this request's answer was in it or missing`
            : `batch ${id} ended ${rec.status} without answering this request`;
      this.failures.set(hash, new TeacherRequestError(why, rec.status === 'failed' || rec.status === 'lost' ? 'server_error' : rec.corruptLines > 0 ? 'malformed' : 'timeout', 1, null));
    }
    const est = this.reserved.get(rec.input) ?? 0;
    this.reserved.delete(rec.input);
    this.o.cost.settle(est, cost);
    rec.costUsd = cost;
    rec.ingested = true;
    this.ingested.prompt += rec.tokens.prompt;
    this.ingested.completion += rec.tokens.completion;
    this.ingested.costUsd += cost;
    await this.save();
    await rm(join(this.dir, `${rec.input}.meta`), { force: true });
    if (rec.corruptLines > 0) this.o.log?.(`batch ${id}: output file ${rec.outputFileId} had ${rec.corruptLines} unreadable line${rec.corruptLines === 1 ? '' : 's'}; ${rec.answered} answers kept`);
  }

  /**
   * Write the requests no batch has answered into input files (split at the API's limits) and submit
   * each as soon as it is written: its cost reserved under the cap, recorded, uploaded, its local copy
   * deleted (it holds every image again; the server has it now), its batch created. So the disk holds
   * one input file at a time however large the task. Returns the batches made.
   */
  private async submitMissing(round: number): Promise<number> {
    const { maxRequestsPerBatch, maxBytesPerBatch } = this.o.config.batch;
    const price = batchPrice(this.o.config);
    const stamp = `r${String(this.state.batches.length).padStart(4, '0')}`;
    type Writing = { rec: BatchRecord; fh: FileHandle; meta: FileHandle; est: number };
    let made = 0;
    let lines = 0;
    let cur: Writing | null = null;
    const queued = new Set<string>();
    const submit = async () => {
      const w = cur;
      if (!w) return;
      cur = null;
      await Promise.all([w.fh.sync(), w.meta.sync()]);
      await Promise.all([w.fh.close(), w.meta.close()]);
      // The spend cap applies before anything is uploaded.
      if (!(await this.o.cost.admit(w.est, this.o.signal))) {
        await Promise.all([rm(join(this.dir, w.rec.input), { force: true }), rm(join(this.dir, `${w.rec.input}.meta`), { force: true })]);
        throw new CostCapError(this.o.cost.spentUsd, this.o.cost.capUsd!);
      }
      this.reserved.set(w.rec.input, w.est);
      // Recorded before the upload: a process killed from here on finds it and finishes it.
      this.state.batches.push(w.rec);
      await this.save();
      await this.create(w.rec);
      made++;
      lines += w.rec.lines;
    };
    try {
      for await (const req of this.o.requests()) {
        if (this.o.signal?.aborted) throw new InterruptedError();
        if (queued.has(req.hash) || this.o.cache.has(req.hash)) continue;
        const known = this.failures.get(req.hash);
        // A request that cannot be asked (an image that will not encode) or that the endpoint refused for its own content: asking again will not help.
        if (known && (!(known instanceof TeacherRequestError) || known.outcome === 'client_error')) continue;
        let body: ChatBody;
        try {
          body = await req.body();
        } catch (err) {
          this.failures.set(req.hash, err as Error);
          continue;
        }
        const line = Buffer.from(`${JSON.stringify({ custom_id: req.hash, method: 'POST', url: '/v1/chat/completions', body })}\n`);
        const { body: _body, ...meta } = req satisfies LineMeta & { body: unknown };
        if (line.length > maxBytesPerBatch) {
          this.failures.set(req.hash, new TeacherRequestError(`client_error: the request is ${line.length} bytes, more than a batch input file may hold (${maxBytesPerBatch})`, 'client_error', 0, null));
          continue;
        }
        const c = cur as Writing | null;
        if (c && (c.rec.lines >= maxRequestsPerBatch || c.rec.bytes + line.length > maxBytesPerBatch)) await submit();
        if (!cur) {
          const name = `${stamp}-${String(made).padStart(3, '0')}.jsonl`;
          await mkdir(this.dir, { recursive: true });
          cur = {
            rec: { input: name, lines: 0, bytes: 0, round, inputFileId: null, batchId: null, status: 'uploading', counts: { total: 0, completed: 0, failed: 0 }, createdAt: new Date().toISOString(), checkedAt: null, outputFileId: null, errorFileId: null, errors: null, ingested: false, answered: 0, lineErrors: 0, corruptLines: 0, tokens: { prompt: 0, completion: 0 }, costUsd: 0 },
            fh: await open(join(this.dir, name), 'w'),
            meta: await open(join(this.dir, `${name}.meta`), 'w'),
            est: 0,
          };
        }
        const w = cur as Writing;
        await w.fh.write(line);
        await w.meta.write(`${JSON.stringify(meta)}\n`);
        w.rec.lines++;
        w.rec.bytes += line.length;
        const promptEst = this.o.estimator.prompt(req.rawPromptTokens);
        w.est += costOf({ promptTokens: promptEst, completionTokens: this.o.estimator.completion(req.choices) }, price);
        queued.add(req.hash);
      }
      await submit();
    } catch (err) {
      const c = cur as Writing | null;
      if (c) await Promise.all([c.fh.close(), c.meta.close()]);
      throw err;
    } finally {
      if (made > 0) this.o.log?.(`batch: submitted ${made} batch${made === 1 ? '' : 'es'} of ${lines} requests (${round === 0 ? 'first round' : `follow-up ${round}`})`);
    }
    return made;
  }
}
