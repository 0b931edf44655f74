/**
 * Every error that reaches the user is one line, `univg: <category>: ...`; a stack trace only with --debug.
 * A genuine RuntimeError from the Parquet codec (a Rust panic in parquet-wasm: `unreachable`), raised
 * from inside a command, is the case the issue saw printed raw.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as arrow from 'apache-arrow';
import * as pw from 'parquet-wasm/node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { action, describeError, setDebug, takeDebug } from '../../src/cli/action.js';
import { ConfigError } from '../../src/errors.js';

/** WebAssembly's RuntimeError (the project's TypeScript lib has no WebAssembly types). */
const WasmRuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: ErrorConstructor } }).WebAssembly.RuntimeError;
const BIN = fileURLToPath(new URL('../../bin/univg.js', import.meta.url));

/** A Parquet file corrupted (deterministically) so that reading it panics inside parquet-wasm. */
function codecPanic(): Error {
  const t = arrow.tableFromArrays({ a: Int32Array.from({ length: 100 }, (_, i) => i), s: Array.from({ length: 100 }, (_, i) => `x${i}`) });
  const file = pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(t, 'stream')));
  let x = 12345;
  const rand = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let attempt = 0; attempt < 20000; attempt++) {
    const b = file.slice();
    for (let j = 0; j < 3; j++) b[4 + Math.floor(rand() * (b.length - 8))] = Math.floor(rand() * 256);
    try {
      pw.readParquet(b);
    } catch (err) {
      if (err instanceof WasmRuntimeError) return err;
    }
  }
  throw new Error('no corruption made the codec panic');
}

/** Run an action as a command does; what it printed and the exit code it set. */
async function runAction(fn: () => unknown): Promise<{ stderr: string; code: number }> {
  let stderr = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  });
  const before = process.exitCode;
  try {
    await action(async () => {
      await fn();
    })();
    return { stderr, code: Number(process.exitCode) };
  } finally {
    vi.restoreAllMocks();
    process.exitCode = before;
  }
}

afterEach(() => setDebug(false));

describe('errors reaching the user', () => {
  it('a Parquet codec RuntimeError from deep inside a command is one "univg: internal:" line, exit 1; --debug adds the stack', async () => {
    const panic = codecPanic();
    expect(panic).toBeInstanceOf(WasmRuntimeError);
    // Thrown a few calls down, as it would be from a stage's reader.
    const deep = () => [1].map(() => {
      throw panic;
    });
    const plain = await runAction(deep);
    expect(plain.code).toBe(1);
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    expect(plain.stderr).toMatch(/^univg: internal: RuntimeError: unreachable \(a bug: please report it with the output of --debug\)\n$/);
    expect(plain.stderr).not.toMatch(/\n\s+at /);

    setDebug(true);
    const debug = await runAction(deep);
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/^univg: internal: RuntimeError: unreachable \(a bug: please report it\)\n/);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it('typed errors keep their category and exit code; OS errors are "io"; a secret in a message is redacted', () => {
    expect(describeError(new ConfigError('bad', { file: 'p.yaml', line: 3 }), { debug: false })).toEqual({ text: 'univg: config: bad (p.yaml:3)', exitCode: 2 });
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write', path: '/runs/x/part-0.parquet' });
    expect(describeError(enospc, { debug: false })).toEqual({ text: 'univg: io: ENOSPC in write (/runs/x/part-0.parquet): no space left on device, write', exitCode: 1 });
    expect(describeError(new Error('Bearer sk-abcdefghijklmnop leaked'), { debug: false }).text).not.toContain('sk-abcdefghijklmnop');
  });

  it('--debug is taken out of the arguments wherever it stands before --', () => {
    expect(takeDebug(['node', 'univg', 'train', 'sft', '--data', 'd', '--debug', '--out', 'o'])).toEqual({ argv: ['node', 'univg', 'train', 'sft', '--data', 'd', '--out', 'o'], debug: true });
    expect(takeDebug(['node', 'univg', 'run', 'x', '--', '--debug'])).toEqual({ argv: ['node', 'univg', 'run', 'x', '--', '--debug'], debug: false });
  });

  it('through the binary: one line by default; the stack with --debug after the command\'s own options', () => {
    const args = ['synth', '--out', '/dev/null/x', '--samples', '2'];
    const plain = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
    expect(plain.status).toBe(2);
    expect(plain.stderr).toMatch(/^univg: output: cannot create the output directory: ENOTDIR/);
    expect(plain.stderr.trim().split('\n')).toHaveLength(1);
    const debug = spawnSync(process.execPath, [BIN, ...args, '--debug'], { encoding: 'utf8' });
    expect(debug.status).toBe(2);
    expect(debug.stderr).toMatch(/^univg: output: cannot create the output directory: ENOTDIR/);
    expect(debug.stderr).toMatch(/\n\s+at .*suite\.ts/);
    expect(debug.stderr).toMatch(/caused by:\nError: ENOTDIR/);
  });

  it('a reader that closes the pipe early (univg --help | head -1) is not an error', async () => {
    const child = spawn(process.execPath, [BIN, 'train', 'sft', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
