/** The CLI as a child process for tests that start their own servers (it must not block them), and a free port for those servers. */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'univg.js');

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string>;
  /** SIGKILL after this long (default 180 s). */
  timeoutMs?: number;
  /** Checked every 20 ms: send `killSignal` (default SIGKILL) to the run once it returns true. */
  killWhen?: () => boolean;
  killSignal?: NodeJS.Signals;
}

/** `univg <args>` in `cwd` (so runs/ and cache/ land there). */
export function cli(args: string[], cwd: string, opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killWhen = opts.killWhen;
    let sent = false;
    const watch = killWhen
      ? setInterval(() => {
          if (!sent && killWhen()) sent = child.kill(opts.killSignal ?? 'SIGKILL');
        }, 20)
      : null;
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 180_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (watch) clearInterval(watch);
      resolve({ status: code, signal, stdout, stderr });
    });
  });
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
