/**
 * Typed errors. Every error the user can cause carries where it happened (file, row, field, byte
 * offset, line) so the CLI can print one precise line instead of a stack trace.
 */
export interface ErrorContext {
  file?: string;
  row?: number;
  field?: string;
  offset?: number;
  line?: number;
  column?: number;
  recordId?: string;
  [key: string]: unknown;
}

/** Exit codes shared by every command: 0 done, 1 failed, 2 bad usage or config, 130 interrupted. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

export class UnivgError extends Error {
  readonly code: string;
  readonly context: ErrorContext;
  /** Exit code the CLI uses when this error ends a command. */
  readonly exitCode: number;

  constructor(code: string, message: string, context: ErrorContext = {}, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.context = context;
    this.exitCode = options?.exitCode ?? EXIT.failed;
  }

  /** One line for humans: `code: message (file:line, row 3, field "x")`. */
  describe(): string {
    const where: string[] = [];
    const c = this.context;
    if (c.file !== undefined) where.push(c.line !== undefined ? `${c.file}:${c.line}${c.column !== undefined ? `:${c.column}` : ''}` : c.file);
    if (c.offset !== undefined) where.push(`byte ${c.offset}`);
    if (c.row !== undefined) where.push(`row ${c.row}`);
    if (c.recordId !== undefined) where.push(`record ${JSON.stringify(c.recordId)}`);
    if (c.field !== undefined) where.push(`field ${JSON.stringify(c.field)}`);
    return `${this.code}: ${this.message}${where.length ? ` (${where.join(', ')})` : ''}`;
  }
}

/** A pipeline, CLI or stage configuration the user wrote is wrong. Exit code 2. */
export class ConfigError extends UnivgError {
  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super('config', message, context, { ...options, exitCode: EXIT.usage });
  }
}

/** An input file is missing, unreadable or malformed as a whole (a bad record is quarantined instead). */
export class InputError extends UnivgError {
  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super('input', message, context, { ...options, exitCode: EXIT.usage });
  }
}

/** A stored shard or manifest does not match what it claims (checksum, row count, schema, truncation). */
export class ShardError extends UnivgError {
  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super('shard', message, context, options);
  }
}

/** A record does not satisfy its schema. */
export class RecordError extends UnivgError {
  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super('record', message, context, options);
  }
}

/** A box or conversion request that cannot be honoured (e.g. qwen25vl without a pixel budget). */
export class GeometryError extends UnivgError {
  constructor(message: string, context: ErrorContext = {}) {
    super('geometry', message, context);
  }
}

/**
 * Training cannot go on: the loss or gradient norm became NaN or infinite, or the GPU backend reported a
 * validation or out-of-memory error (Dawn prints those and carries on, so they are checked for explicitly).
 */
export class TrainingError extends UnivgError {
  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super('training', message, context, options);
  }
}

/** The run was interrupted by the user (SIGINT/SIGTERM). Exit code 130. */
export class InterruptedError extends UnivgError {
  constructor(message = 'interrupted') {
    super('interrupted', message, {}, { exitCode: EXIT.interrupted });
  }
}

/** Replace anything that looks like a secret before it reaches a log, error or file. */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[REDACTED]');
  return out.replace(/\b(sk-[A-Za-z0-9_-]{8,})/g, '[REDACTED]').replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, '$1[REDACTED]');
}

/** What failed in one task of a stage: counts by reason, for the summary line and `univg status`. */
export interface TaskFailures {
  /** Units that failed (e.g. candidates) and how many the task had. */
  failed: number;
  total: number;
  unit: string;
  byReason: Record<string, number>;
  /** The first message seen for each reason (redacted). */
  examples: Record<string, string>;
  /** The endpoint the failures came from (redacted), when there is one. */
  endpoint?: string;
}

/**
 * A task did what it could but part of its work failed for reasons that can pass (the endpoint was
 * down, timed out, rate-limited): it is not done, its outputs are not kept, and a rerun redoes it
 * (what was paid for comes back from the cache). `stop`: the cause (a fatal refusal, a breaker that
 * gave up, a cost cap) would fail every other task too, so the stage stops here.
 */
export class TaskIncompleteError extends UnivgError {
  constructor(
    message: string,
    readonly failures: TaskFailures,
    options: { cause?: unknown; stop?: boolean; exitCode?: number } = {},
  ) {
    super('task_incomplete', message, {}, { cause: options.cause, exitCode: options.exitCode ?? EXIT.failed });
    this.stop = options.stop ?? false;
  }

  readonly stop: boolean;
}

/** A stage ended with work not done or above its failure budget: the run fails with this one line. */
export class StageFailedError extends UnivgError {
  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown; exitCode?: number }) {
    super('stage_failed', message, context, options);
  }
}
