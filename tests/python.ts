/** Running Python from tests: Debian's python3 (standard library only) unless PYTHON names another. */
import { spawnSync } from 'node:child_process';

export const PY = process.env.PYTHON ?? 'python3';

/** Run `PY args` with `input` on stdin; its stdout, or an error with its stderr. */
export function runPython(args: string[], input: string): string {
  const r = spawnSync(PY, args, { input, encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${PY} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
