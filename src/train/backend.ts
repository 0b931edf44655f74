/**
 * Backend choice for the trainer: `@tensorflow/tfjs-node-gpu`, then `@tensorflow/tfjs-node` (both optional
 * dependencies; their install downloads libtensorflow and fails where it cannot, which npm tolerates for
 * optional packages), then the WASM backend, then the pure-JS CPU backend. Each attempt that fails keeps
 * its reason, so a run can say why it is not on the fast backend; the choice is stored with every result.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { ConfigError } from '../errors.js';

import { BACKEND_ORDER, type BackendName } from './backend-names.js';

export { BACKEND_ORDER, type BackendName };

export interface BackendChoice {
  /** Our name for the backend (see BACKEND_ORDER). */
  name: BackendName;
  /** The tfjs backend id now active (`tensorflow` for both tfjs-node packages). */
  tfBackend: string;
  /** Why each backend tried before this one failed. */
  reasons: Partial<Record<BackendName, string>>;
  /** Facts about the chosen backend (WASM: SIMD, threads; why not more threads). */
  detail: Record<string, string | number | boolean>;
}

export interface SelectOptions {
  /** Try this backend first (default: the order above; env UNIVG_BACKEND also sets it). */
  prefer?: BackendName;
  /** Fail instead of falling back when `prefer` cannot be used. */
  only?: boolean;
}

/** tfjs-backend-wasm 4.22 turns threads off under Node whatever the host supports (tfjs issue #3830). */
export const WASM_THREADS_NOTE =
  'tfjs-backend-wasm 4.22 reports WASM_HAS_MULTITHREAD_SUPPORT=false under Node (tfjs issue #3830), so XNNPACK runs on one thread';

function message(err: unknown, name: BackendName): string {
  const e = err as { code?: string; message?: string };
  const text = e?.message ?? String(err);
  const line = (e?.code ? `${e.code}: ` : '') + text.split('\n')[0]!.slice(0, 300);
  if (e?.code === 'ERR_MODULE_NOT_FOUND' && (name === 'node' || name === 'node-gpu'))
    return `${line} (optional dependency not installed: its install script downloads libtensorflow, which failed or was skipped)`;
  return line;
}

async function loadNative(pkg: string): Promise<void> {
  // A variable specifier: the packages are optional and usually absent, so nothing may resolve them statically.
  const spec: string = pkg;
  await import(spec);
  if (!tf.findBackend('tensorflow')) throw new Error(`${pkg} loaded but registered no 'tensorflow' backend`);
}

async function tryBackend(name: BackendName): Promise<Pick<BackendChoice, 'tfBackend' | 'detail'>> {
  switch (name) {
    case 'node-gpu':
    case 'node': {
      await loadNative(name === 'node-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node');
      if (!(await tf.setBackend('tensorflow'))) throw new Error("tf.setBackend('tensorflow') returned false");
      return { tfBackend: 'tensorflow', detail: {} };
    }
    case 'wasm': {
      await import('@tensorflow/tfjs-backend-wasm');
      if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') returned false (the .wasm binary could not be loaded)");
      const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
      return { tfBackend: 'wasm', detail: { simd, threads: getThreadsCount(), threadsNote: WASM_THREADS_NOTE } };
    }
    case 'cpu': {
      if (!(await tf.setBackend('cpu'))) throw new Error("tf.setBackend('cpu') returned false");
      return { tfBackend: 'cpu', detail: {} };
    }
  }
}

function envPreference(): BackendName | undefined {
  const v = process.env.UNIVG_BACKEND;
  if (!v) return undefined;
  if (!(BACKEND_ORDER as readonly string[]).includes(v)) throw new ConfigError(`UNIVG_BACKEND must be one of ${BACKEND_ORDER.join(', ')}, got ${JSON.stringify(v)}`, { field: 'UNIVG_BACKEND' });
  return v as BackendName;
}

/**
 * Make the best available backend active and say which, and why the ones before it were passed over.
 * Idempotent for the same answer: a backend already active is re-selected without re-initialising.
 */
export async function selectBackend(opts: SelectOptions = {}): Promise<BackendChoice> {
  const prefer = opts.prefer ?? envPreference();
  if (opts.only && !prefer) throw new ConfigError('selectBackend: `only` needs `prefer`', { field: 'backend' });
  const order: BackendName[] = prefer ? (opts.only ? [prefer] : [prefer, ...BACKEND_ORDER.filter((b) => b !== prefer)]) : [...BACKEND_ORDER];
  const reasons: Partial<Record<BackendName, string>> = {};
  // Production mode skips tfjs's debug checks and its "install tfjs-node" banner.
  tf.env().set('PROD', true);
  for (const name of order) {
    try {
      const got = await tryBackend(name);
      await tf.ready();
      return { name, reasons, ...got };
    } catch (err) {
      reasons[name] = message(err, name);
    }
  }
  throw new ConfigError(`no TensorFlow.js backend could be started: ${Object.entries(reasons).map(([k, v]) => `${k}: ${v}`).join('; ')}`, { field: 'backend' });
}

/** One line for logs: `backend wasm (simd, 1 thread); node-gpu: ..., node: ...`. */
export function describeBackend(c: BackendChoice): string {
  const facts = Object.entries(c.detail)
    .filter(([k]) => k !== 'threadsNote')
    .map(([k, v]) => (typeof v === 'boolean' ? (v ? k : `no ${k}`) : `${k} ${v}`));
  const passed = Object.entries(c.reasons).map(([k, v]) => `${k} unavailable (${v})`);
  return `backend ${c.name}${facts.length ? ` (${facts.join(', ')})` : ''}${passed.length ? `; ${passed.join('; ')}` : ''}`;
}
