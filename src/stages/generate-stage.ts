/**
 * The generate stage: k teacher candidates per sample, through the cached, rate-limited client.
 *
 * Failed candidates are not done work. A sample whose request failed for a reason that can pass
 * (connection refused, timeout, 5xx, 429 after retries) gets no rows, and its task is not marked done:
 * the runner keeps no part file, the run fails with a summary, and a rerun redoes the task, where every
 * answer already paid for comes from the response cache, so exactly the failed requests go out again.
 * A task's output is therefore the same bytes however many runs it took. A sample that is itself the
 * problem (the endpoint refused its content, an image cannot be encoded) is quarantined with its id
 * and reason, and the others go on; above `teacher.maxFailureShare` of the stage's samples, the stage
 * fails the run.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { GroundingSample, TeacherCandidate } from '../schema/records.js';
import { ConfigError, InterruptedError, TaskIncompleteError, UnivgError, type TaskFailures } from '../errors.js';
import { shardFileName } from '../store/names.js';
import { BatchRunner, readBatchState, type BatchRecord } from '../teacher/batch.js';
import { costOf } from '../teacher/cost.js';
import { resolveEndpoint } from '../teacher/client.js';
import type { TeacherHandle } from '../teacher/handle.js';
import type { ImagePreparer } from '../teacher/images.js';
import { batchRequests, generateCandidates, imagePreparerFor, type GenerateOptions, type SampleFailure } from './generate.js';
import type { Stage, TaskContext, TaskSetupContext } from './stage.js';

/**
 * Where a task's Batch API state lives: `batches/generate-00003-of-00016/state.json`, next to its input
 * files. Not the stage's workDir on purpose: `--force generate` must not forget batches still running
 * (their answers are paid for); a forced rerun polls them and finds their answers in the cache.
 */
export const BATCH_DIR = 'batches';
export function batchStateFile(runDir: string, index: number, count: number): string {
  return join(runDir, BATCH_DIR, shardFileName(index, count, 'generate').replace(/\.parquet$/, ''), 'state.json');
}

/** Every generate task's recorded batches, by task directory name (`generate-00003-of-00016`), for `univg status`. */
export async function readRunBatches(runDir: string): Promise<Array<{ task: string; batches: BatchRecord[] }>> {
  const dir = join(runDir, BATCH_DIR);
  if (!existsSync(dir)) return [];
  const out: Array<{ task: string; batches: BatchRecord[] }> = [];
  for (const task of readdirSync(dir).sort()) {
    const file = join(dir, task, 'state.json');
    if (existsSync(file)) out.push({ task, batches: (await readBatchState(file)).batches });
  }
  return out;
}

/** The batch runner of one task. */
function batchRunner(ctx: TaskSetupContext, teacher: TeacherHandle, images: ImagePreparer): BatchRunner {
  return new BatchRunner({
    openai: teacher.client.batchSdk(),
    cache: teacher.cache,
    config: teacher.config,
    cost: teacher.client.cost,
    estimator: teacher.client.estimator,
    stateFile: batchStateFile(ctx.runDir, ctx.task.index, ctx.task.count),
    label: `${ctx.config.name} generate task ${ctx.task.index}/${ctx.task.count}`,
    requests: () => batchRequests(ctx.read<GroundingSample>('ingest'), teacher.config, teacher.client, images),
    signal: ctx.signal,
    log: (m) => ctx.log(m),
    onAnswer: (usage) => teacher.client.countBatchAnswer(usage),
  });
}

/** Runners whose first round beforeTasks submitted, by state file, per process (teacher handle): their task picks them up, reservations and all. */
const submittedAhead = new WeakMap<TeacherHandle, Map<string, BatchRunner>>();

/**
 * teacher.api batch, before the tasks run: submit every task's first round, so their batches run side
 * by side (a task waits up to 24 h for its own). A failure stops the submitting; each task then meets it
 * again when it runs, with the usual failure handling.
 */
async function submitAhead(tasks: TaskSetupContext[]): Promise<void> {
  const first = tasks[0];
  if (!first?.config.teacher || first.config.teacher.api !== 'batch' || tasks.length < 2) return;
  const teacher = await first.services.teacher();
  const images = imagePreparerFor(teacher.config, (sha) => first.services.images.get(sha));
  const started = new Map<string, BatchRunner>();
  submittedAhead.set(teacher, started);
  for (const ctx of tasks) {
    const runner = batchRunner(ctx, teacher, images);
    started.set(batchStateFile(ctx.runDir, ctx.task.index, ctx.task.count), runner);
    try {
      await runner.submitAhead();
    } catch (err) {
      if (err instanceof InterruptedError || !(err instanceof UnivgError)) throw err;
      ctx.log(`batch: stopped submitting ahead at task ${ctx.task.index}/${ctx.task.count} (${err.message}); each task tries again when it runs`);
      return;
    }
  }
}

/** teacher.api batch: send the task's requests through the Batch API into the cache first (resuming batches a killed run left). */
async function fillByBatch(ctx: TaskContext, teacher: TeacherHandle, images: ImagePreparer): Promise<NonNullable<GenerateOptions['batch']>> {
  const file = batchStateFile(ctx.runDir, ctx.task.index, ctx.task.count);
  const runner = submittedAhead.get(teacher)?.get(file) ?? batchRunner(ctx, teacher, images);
  submittedAhead.get(teacher)?.delete(file);
  const r = await runner.run();
  const online = costOf({ promptTokens: r.tokens.prompt, completionTokens: r.tokens.completion }, teacher.config.price);
  ctx.tally({ batchesSubmitted: r.submitted, batchesResumed: r.resumed, batchUsd: r.costUsd, batchOnlineUsd: online });
  return { fresh: r.fresh, failures: r.failures };
}

/** Counts of a task's failures by reason, with the first message of each. */
class FailureTally {
  readonly f: TaskFailures;
  constructor(endpoint: string) {
    this.f = { failed: 0, total: 0, unit: 'candidates', byReason: {}, examples: {}, endpoint };
  }
  add(reason: string, n: number, message: string): void {
    this.f.failed += n;
    this.f.byReason[reason] = (this.f.byReason[reason] ?? 0) + n;
    this.f.examples[reason] ??= message;
  }
}

export const generateStage: Stage = {
  name: 'generate',
  description: 'ask the teacher for k chain-of-thought candidates per sample (cached by request hash)',
  inputs: ['ingest'],
  outputs: [{ name: 'candidates', dir: 'candidates', kind: 'TeacherCandidate' }],
  mode: 'partitioned',
  // Only what changes the requests or the rows: limits, concurrency, the cache location and api (online
  // or batch: the same requests, the same answers) do not.
  settings: (c) => {
    const t = c.teacher;
    if (!t) return null;
    return { model: t.model, mode: t.mode, promptVersion: t.promptVersion, candidates: t.candidates, convention: t.convention, temperature: t.temperature, maxTokens: t.maxTokens, minPixels: t.minPixels, maxPixels: t.maxPixels, nMode: t.nMode, seed: t.seed ?? null, simulated: t.simulated ? { ...t.simulated, batch: undefined } : null };
  },
  beforeTasks: submitAhead,
  failureBudget: (c) => (c.teacher ? { share: c.teacher.maxFailureShare, field: 'teacher.maxFailureShare', unit: 'samples' } : null),
  preflight(c) {
    if (!c.teacher) throw new ConfigError('the generate stage needs a teacher section in the pipeline', { field: 'teacher' });
    // A real endpoint needs its key before the first sample, not after an hour of ingest.
    if (!c.teacher.simulated) resolveEndpoint(c.teacher, process.env);
  },
  async runTask(ctx) {
    const teacher = await ctx.services.teacher();
    const inputRows = await ctx.inputRows('ingest');
    if (inputRows !== null) ctx.progress.setTotal(inputRows);
    const out = ctx.output<TeacherCandidate>('candidates');
    const endpoint = teacher.client.endpoint;
    const transient = new FailureTally(endpoint);
    const quarantines: SampleFailure[] = [];
    let last = 0;
    let candidates = 0;
    const images = imagePreparerFor(teacher.config, (sha) => ctx.services.images.get(sha));
    const generate = (batch: GenerateOptions['batch']) => generateCandidates(ctx.read<GroundingSample>('ingest'), {
      config: teacher.config,
      images,
      ...(batch ? { batch } : {}),
      client: teacher.client,
      cache: teacher.cache,
      imageLoader: (sha) => ctx.services.images.get(sha),
      signal: ctx.signal,
      ...(inputRows !== null ? { totalSamples: inputRows } : {}),
      failedRows: false,
      onFailure: (f) => {
        if (f.transient) transient.add(f.reason, f.candidates, f.message);
        else quarantines.push(f);
      },
      onProgress: (p) => {
        ctx.progress.advance(p.samplesDone - last);
        last = p.samplesDone;
        candidates = p.candidates;
        ctx.progress.note({ spent: `$${p.costUsd.toFixed(4)}`, ...(p.projectedCostUsd !== null ? { projected: `$${p.projectedCostUsd.toFixed(4)}` } : {}), failed: p.failedCandidates, cached: p.cachedCandidates });
      },
    });
    // Quarantine records are written in output order (onFailure runs just before a sample's rows would).
    const flush = async () => {
      for (const f of quarantines.splice(0)) {
        const detail = f.reason === 'teacher_rejected' ? `${f.message} (endpoint ${endpoint})` : f.message;
        await ctx.quarantine({ recordId: f.sampleId, file: null, row: null, field: null, reason: f.reason, detail });
      }
    };
    const t = { requests: 0, spentUsd: 0, candidates: 0, fromCache: 0, replayedUsd: 0 };
    let lastHash = '';
    try {
      const rows = generate(teacher.config.api === 'batch' ? await fillByBatch(ctx, teacher, images) : undefined);
      for await (const row of rows) {
        await flush();
        await out.write(row);
        t.candidates++;
        if (row.cached) {
          t.fromCache++;
          t.replayedUsd += row.costUsd;
        } else {
          t.spentUsd += row.costUsd;
          // A request's rows come out together; rows with no attempt never reached the endpoint.
          if (row.attempts > 0 && row.requestHash !== lastHash) t.requests++;
        }
        lastHash = row.requestHash;
      }
      await flush();
      ctx.tally(t);
    } catch (err) {
      if (err instanceof InterruptedError || !(err instanceof UnivgError)) throw err;
      // The stage stops (a fatal refusal, a breaker that gave up, the cost cap): every candidate of the
      // task not generated yet is failed work, for that reason.
      const total = inputRows !== null ? inputRows * teacher.config.candidates : candidates;
      transient.f.total = total;
      const left = total - candidates;
      if (left > 0) transient.add(err.code, left, err.message);
      throw new TaskIncompleteError(err.message, transient.f, { cause: err, stop: true, exitCode: err.exitCode });
    }
    transient.f.total = candidates;
    if (transient.f.failed > 0) {
      throw new TaskIncompleteError(`${transient.f.failed} of ${candidates} candidates failed for reasons that can pass`, transient.f);
    }
  },
  summary: (t) => generateSummary(t),
};

const usd = (x: number) => `$${x.toFixed(x === 0 || x >= 1 ? 2 : 4)}`;

/** "0 requests sent, $0.00 spent by this run, 273 of 273 candidates replayed from the cache ($0.1358 not paid again)". */
export function generateSummary(t: Readonly<Record<string, number>>): string {
  const n = (k: string) => t[k] ?? 0;
  const cached = n('fromCache');
  const batches = n('batchesSubmitted') + n('batchesResumed');
  return (
    `${n('requests')} request${n('requests') === 1 ? '' : 's'} sent, ${usd(n('spentUsd'))} spent by this run, ` +
    `${cached} of ${n('candidates')} candidates replayed from the cache${cached > 0 ? ` (${usd(n('replayedUsd'))} not paid again)` : ''}` +
    (batches > 0 ? `; Batch API: ${n('batchesSubmitted')} batch${n('batchesSubmitted') === 1 ? '' : 'es'} submitted, ${n('batchesResumed')} resumed, ${usd(n('batchUsd'))} at the batch price (${usd(n('batchOnlineUsd'))} online)` : '')
  );
}
