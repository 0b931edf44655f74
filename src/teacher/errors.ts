/** Errors of the teacher client. Messages never carry the API key (see redactSecrets in client.ts). */
import { EXIT, UnivgError, type ErrorContext } from '../errors.js';
import type { AttemptOutcome } from './backoff.js';

/** One request failed after its last retry (or was refused outright, e.g. 400). Becomes a row with `error`. */
export class TeacherRequestError extends UnivgError {
  constructor(
    message: string,
    readonly outcome: AttemptOutcome,
    readonly attempts: number,
    readonly status: number | null,
    context: ErrorContext = {},
  ) {
    super('teacher_request', message, context);
  }
}

/** Every request would fail the same way (401, 403, 404: key, permission, model or URL). Stops the stage. */
export class TeacherFatalError extends UnivgError {
  constructor(message: string, readonly status: number | null, context: ErrorContext = {}) {
    super('teacher_fatal', message, context, { exitCode: EXIT.usage });
  }
}

/** The circuit breaker stayed open through every probe: the endpoint is down or refusing most calls. */
export class TeacherUnavailableError extends UnivgError {
  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super('teacher_unavailable', message, context, options);
  }
}

/** The cost cap was reached: no new request is sent; requests in flight finish and are cached. */
export class CostCapError extends UnivgError {
  constructor(readonly spentUsd: number, readonly capUsd: number) {
    super('cost_cap', `cost cap reached: spent $${spentUsd.toFixed(4)} of $${capUsd.toFixed(4)}; raise teacher.maxCostUsd and re-run (paid responses are cached)`, {});
  }
}
