/**
 * Backend choice for the trainer: `@tensorflow/tfjs-node-gpu`, then WebGPU through Dawn (see
 * backends/webgpu.ts; chosen only where a GPU adapter exists), then `@tensorflow/tfjs-node` (the tfjs-node
 * packages are optional dependencies whose install downloads libtensorflow and fails where it cannot, which
 * npm tolerates for optional packages), then the WASM backend, then the pure-JS CPU backend. Each attempt
 * that fails keeps its reason, so a run can say why it is not on the fast backend; the choice (with the GPU
 * adapter, where there is one) is stored with every log, checkpoint and result.
 */
import * as tf from '@tensorflow/tfjs-core';
// Imported by name, not for its side effect alone: bundlers drop a bare import of this package (its
// package.json marks the Node build side-effect free), and the backend would then be missing.
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { ConfigError } from '../errors.js';
import { BACKEND_ORDER, type BackendName } from './backend-names.js';
import { registerHostKernels } from './backends/host-kernels.js';
import { startWebGpu, type AdapterInfo } from './backends/webgpu.js';

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
  /** The GPU adapter (vendor, device, driver) when the backend is WebGPU; null otherwise. */
  adapter: AdapterInfo | null;
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

async function tryBackend(name: BackendName): Promise<Pick<BackendChoice, 'tfBackend' | 'detail' | 'adapter'>> {
  switch (name) {
    case 'node-gpu':
    case 'node': {
      await loadNative(name === 'node-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node');
      if (!(await tf.setBackend('tensorflow'))) throw new Error("tf.setBackend('tensorflow') returned false");
      return { tfBackend: 'tensorflow', detail: {}, adapter: null };
    }
    case 'webgpu': {
      const { adapter, detail } = await startWebGpu();
      return { tfBackend: 'webgpu', detail, adapter };
    }
    case 'wasm': {
      await import('@tensorflow/tfjs-backend-wasm');
      registerHostKernels('wasm');
      if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') returned false (the .wasm binary could not be loaded)");
      const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
      return { tfBackend: 'wasm', detail: { simd, threads: getThreadsCount(), threadsNote: WASM_THREADS_NOTE }, adapter: null };
    }
    case 'cpu': {
      if (!tf.findBackend('cpu')) tf.registerBackend('cpu', () => new MathBackendCPU(), 1);
      registerHostKernels('cpu');
      if (!(await tf.setBackend('cpu'))) throw new Error("tf.setBackend('cpu') returned false");
      return { tfBackend: 'cpu', detail: {}, adapter: null };
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

/**
 * One line for logs. Short by default: `backend wasm (simd, threads 1); passed over node-gpu, webgpu, node`;
 * with `verbose` (or UNIVG_VERBOSE=1) each passed-over backend's reason, e.g. `node-gpu unavailable (...)`.
 */
export function describeBackend(c: BackendChoice, verbose = process.env.UNIVG_VERBOSE === '1'): string {
  const facts = c.adapter
    ? [c.adapter.description || [c.adapter.vendor, c.adapter.device].filter(Boolean).join(' ')].filter(Boolean)
    : Object.entries(c.detail)
        .filter(([k]) => k !== 'threadsNote')
        .map(([k, v]) => (typeof v === 'boolean' ? (v ? k : `no ${k}`) : `${k} ${v}`));
  const head = `backend ${c.name}${facts.length ? ` (${facts.join(', ')})` : ''}`;
  const passed = Object.keys(c.reasons);
  if (!passed.length) return head;
  if (verbose) return `${head}; ${Object.entries(c.reasons).map(([k, v]) => `${k} unavailable (${v})`).join('; ')}`;
  return `${head}; passed over ${passed.join(', ')} (UNIVG_VERBOSE=1 says why)`;
}

let announced = '';

/**
 * describeBackend for a process that trains several times (a pipeline runs SFT, scoring, GRPO and eval):
 * the line the first time, null when the same backend was already announced.
 */
export function announceBackend(c: BackendChoice): string | null {
  const line = describeBackend(c);
  if (line === announced) return null;
  announced = line;
  return line;
}

/** `{ device: "NVIDIA H200 ..." }` for log lines of a run on a GPU adapter, `{}` otherwise. */
export function deviceField(c: Pick<BackendChoice, 'adapter'>): { device?: string } {
  if (!c.adapter) return {};
  return { device: c.adapter.description || [c.adapter.vendor, c.adapter.device].filter(Boolean).join(' ') };
}
