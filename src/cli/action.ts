/**
 * How the command line ends: every error that reaches the user is one line, `univg: <category>: ...`,
 * with its exit code (typed errors carry both; an operating-system error is `io`; anything else is
 * `internal`, a bug). A stack trace is printed only with `--debug`. Secrets are scrubbed from all of it.
 */
import { EXIT, UnivgError, redactSecrets } from '../errors.js';

export type Action<A extends unknown[]> = (...args: A) => Promise<number | void> | number | void;

let debug = process.env.UNIVG_DEBUG === '1';

/** `--debug` (or UNIVG_DEBUG=1): stack traces on errors, for bug reports. */
export function setDebug(on: boolean): void {
  debug = on;
}

/** `--debug` may stand anywhere before `--`; it is taken out before commander sees the arguments. */
export function takeDebug(argv: string[]): { argv: string[]; debug: boolean } {
  const end = argv.indexOf('--');
  const head = end === -1 ? argv : argv.slice(0, end);
  const tail = end === -1 ? [] : argv.slice(end);
  const kept = head.filter((a) => a !== '--debug');
  return { argv: [...kept, ...tail], debug: kept.length !== head.length };
}

function secretsFromEnv(): string[] {
  return Object.entries(process.env)
    .filter(([k, v]) => /KEY|TOKEN|SECRET|PASSWORD/i.test(k) && v && v.length >= 8)
    .map(([, v]) => v as string);
}

/** An error from the operating system (a file, a socket): it has an errno code and a syscall. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException & { syscall: string } {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && /^E[A-Z0-9]+$/.test((err as NodeJS.ErrnoException).code!) && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

function stackOf(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && depth < 5; depth++) {
    parts.push(e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e));
    e = e instanceof Error ? e.cause : undefined;
    if (e !== undefined) parts.push('caused by:');
  }
  return parts.join('\n');
}

/** The one line (and, with --debug, the stack) for an error, and its exit code. */
export function describeError(err: unknown, opts: { debug?: boolean } = {}): { text: string; exitCode: number } {
  const withStack = opts.debug ?? debug;
  let line: string;
  let exitCode: number;
  if (err instanceof UnivgError) {
    line = err.describe();
    exitCode = err.exitCode;
  } else if (isSystemError(err)) {
    const path = (err as NodeJS.ErrnoException).path;
    line = `io: ${err.code} in ${err.syscall}${path ? ` (${path})` : ''}: ${err.message.replace(/^[A-Z]+: /, '')}`;
    exitCode = EXIT.failed;
  } else {
    const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    line = `internal: ${msg.split('\n')[0]} (a bug: please report it${withStack ? '' : ' with the output of --debug'})`;
    exitCode = EXIT.failed;
  }
  const text = `univg: ${line}${withStack ? `\n${stackOf(err)}` : ''}`;
  return { text: redactSecrets(text, secretsFromEnv()), exitCode };
}

/** Print an error the way every command does and set the exit code. */
export function reportError(err: unknown): void {
  const { text, exitCode } = describeError(err);
  process.stderr.write(`${text}\n`);
  process.exitCode = exitCode;
}

export function action<A extends unknown[]>(fn: Action<A>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      process.exitCode = typeof code === 'number' ? code : EXIT.ok;
    } catch (err) {
      reportError(err);
    }
  };
}

/** A usage error (exit 2): a bad flag or a bad combination of flags. */
export const usage = (message: string) => new UnivgError('usage', message, {}, { exitCode: EXIT.usage });
