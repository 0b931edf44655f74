/**
 * Wraps a command's action: typed errors become one clear line and their exit code; anything else is a
 * bug and keeps its stack. Secrets are scrubbed from whatever is printed.
 */
import { EXIT, UnivgError, redactSecrets } from '../errors.js';

export type Action<A extends unknown[]> = (...args: A) => Promise<number | void> | number | void;

function secretsFromEnv(): string[] {
  return Object.entries(process.env)
    .filter(([k, v]) => /KEY|TOKEN|SECRET|PASSWORD/i.test(k) && v && v.length >= 8)
    .map(([, v]) => v as string);
}

export function action<A extends unknown[]>(fn: Action<A>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      process.exitCode = typeof code === 'number' ? code : EXIT.ok;
    } catch (err) {
      const secrets = secretsFromEnv();
      if (err instanceof UnivgError) {
        process.stderr.write(`univg: ${redactSecrets(err.describe(), secrets)}\n`);
        process.exitCode = err.exitCode;
      } else {
        const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
        process.stderr.write(`univg: internal error (a bug; please report it)\n${redactSecrets(text, secrets)}\n`);
        process.exitCode = EXIT.failed;
      }
    }
  };
}

/** A usage error (exit 2): a bad flag or a bad combination of flags. */
export const usage = (message: string) => new UnivgError('usage', message, {}, { exitCode: EXIT.usage });

/** Parse an optional number option, or fail with a usage error naming the option. */
export function numberOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw usage(`--${name} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

/** Parse an optional integer option. */
export const optionalInt = (name: string, v: string | undefined): number | undefined => (v === undefined ? undefined : intOption(name, v));

/** Parse an integer option, or fail with a usage error naming the option. */
export function intOption(name: string, value: string | undefined, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new UnivgError('usage', `missing required option --${name}`, {}, { exitCode: EXIT.usage });
    return fallback;
  }
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UnivgError('usage', `--${name} must be an integer, got ${JSON.stringify(value)}`, {}, { exitCode: EXIT.usage });
  return n;
}
