/**
 * The GPU path: WebGPU through Dawn's Node binding (the optional `webgpu` package, which ships
 * `dawn.node`; nothing is downloaded at install) under `@tensorflow/tfjs-backend-webgpu`.
 *
 * - Dawn is tried only where a Vulkan loader exists: without one it prints a warning on every start, and a
 *   CPU machine would show it on every run.
 * - The device is requested here (tfjs's own factory does the same with `navigator.gpu`) so that its
 *   validation, internal and out-of-memory errors can be collected: Dawn prints them and carries on, and a
 *   shader that fails to compile turns the loss into NaN without an exception.
 * - In a bundle carried to a GPU host without node_modules, `DAWN_NODE` names the `dawn.node` to load.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { TrainingError } from '../../errors.js';

/** What the adapter says about itself; stored with every log, checkpoint and result. */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
}

/** The parts of the WebGPU API used here (the `webgpu` package's types are not a dependency of CI). */
interface GpuErrorLike {
  message: string;
}
interface GpuDeviceLike {
  pushErrorScope(filter: 'validation' | 'internal' | 'out-of-memory'): void;
  popErrorScope(): Promise<GpuErrorLike | null>;
  lost?: Promise<{ reason?: string; message?: string }>;
}
interface GpuAdapterLike {
  info?: Partial<AdapterInfo>;
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  requestDevice(desc: unknown): Promise<GpuDeviceLike>;
}
interface GpuLike {
  requestAdapter(o?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<GpuAdapterLike | null>;
}

const VULKAN_LOADER = 'libvulkan.so.1';

/** Whether the dynamic linker can find the Vulkan loader (the ld.so cache, or LD_LIBRARY_PATH). */
export function hasVulkanLoader(): boolean {
  if (process.platform !== 'linux') return true; // Dawn uses Metal / D3D12 elsewhere
  for (const dir of (process.env.LD_LIBRARY_PATH ?? '').split(delimiter).filter(Boolean)) if (existsSync(join(dir, VULKAN_LOADER))) return true;
  try {
    // The cache lists every library name it knows as a plain string.
    return readFileSync('/etc/ld.so.cache').includes(VULKAN_LOADER);
  } catch {
    return false;
  }
}

async function loadDawn(): Promise<{ create: (flags: string[]) => GpuLike; globals: Record<string, unknown> }> {
  const path = process.env.DAWN_NODE;
  if (path) return createRequire(import.meta.url)(path) as never;
  // A variable specifier: the package is optional, so nothing may resolve it statically.
  const spec: string = 'webgpu';
  return (await import(spec)) as never;
}

let session: { adapter: AdapterInfo; device: GpuDeviceLike } | null = null;

/**
 * Find an adapter, register tfjs's WebGPU backend on a device of ours, and make it active. Throws with a
 * one-line reason when there is no loader, no package or no adapter.
 */
export async function startWebGpu(): Promise<{ adapter: AdapterInfo; detail: Record<string, string | number | boolean> }> {
  // Started before (a process that switches backends, like the parity check): switch back to the same
  // device rather than making another.
  if (session && tf.findBackend('webgpu')) {
    if (!(await tf.setBackend('webgpu'))) throw new Error("tf.setBackend('webgpu') returned false");
    return { adapter: session.adapter, detail: { ...session.adapter } };
  }
  if (!hasVulkanLoader()) throw new Error(`no Vulkan loader (${VULKAN_LOADER} is not in the linker cache or LD_LIBRARY_PATH)`);
  const dawn = await loadDawn();
  // tfjs-backend-webgpu expects the browser's globals (GPUBufferUsage, GPUMapMode, ...).
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('Dawn found no WebGPU adapter (no Vulkan driver for a GPU here)');
  const i = adapter.info ?? {};
  const info: AdapterInfo = { vendor: i.vendor ?? '', architecture: i.architecture ?? '', device: i.device ?? '', description: i.description ?? '' };
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  // tfjs's own factory (registered only where navigator.gpu existed at import) would make another device.
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', async () => {
    // The descriptor tfjs's own factory asks for: the adapter's full limits, timestamps where offered.
    const limits = adapter.limits;
    const device = await adapter.requestDevice({
      requiredFeatures: adapter.features.has('timestamp-query') ? ['timestamp-query'] : [],
      requiredLimits: Object.fromEntries(
        ['maxComputeWorkgroupStorageSize', 'maxComputeWorkgroupsPerDimension', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupSizeX', 'maxComputeInvocationsPerWorkgroup'].map((k) => [k, limits[k]]),
      ),
    });
    session = { adapter: info, device };
    return new WebGPUBackend(device as never, info as never);
  });
  // tfjs-backend-webgpu's tuning flags, e.g. UNIVG_WEBGPU_FLAGS='{"WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE":64}'.
  const flags = process.env.UNIVG_WEBGPU_FLAGS;
  if (flags) for (const [k, v] of Object.entries(JSON.parse(flags) as Record<string, number | boolean>)) tf.env().set(k, v);
  if (!(await tf.setBackend('webgpu'))) throw new Error("tf.setBackend('webgpu') returned false (the device could not be created)");
  return { adapter: info, detail: { ...info } };
}

/** The adapter of the active WebGPU backend, or null when another backend is active. */
export function activeAdapter(): AdapterInfo | null {
  return session && tf.getBackend() === 'webgpu' ? session.adapter : null;
}

const SCOPES = ['out-of-memory', 'internal', 'validation'] as const;

/** Watches the GPU device for errors over a stretch of work (see watchGpuErrors). */
export interface GpuErrorWatch {
  /** Throw a TrainingError naming `what` if the device reported errors since the last check, then watch on. */
  check(what: string): Promise<void>;
  /** Stop watching (pops the scopes; reports nothing). */
  close(): Promise<void>;
}

/**
 * Error scopes around a stretch of GPU work. Dawn reports a shader that fails to compile or a buffer it
 * cannot allocate through these scopes and otherwise only prints them, so a trainer checks once per
 * logging interval, where it reads the loss back anyway. A no-op on other backends.
 */
export function watchGpuErrors(): GpuErrorWatch {
  const device = session && tf.getBackend() === 'webgpu' ? session.device : null;
  if (!device) return { check: async () => {}, close: async () => {} };
  const push = () => SCOPES.forEach((s) => device.pushErrorScope(s));
  const pop = async () => {
    const errors: string[] = [];
    // Scopes pop innermost first.
    for (const s of [...SCOPES].reverse()) {
      const e = await device.popErrorScope();
      if (e) errors.push(`${s}: ${e.message.split('\n')[0]}`);
    }
    return errors;
  };
  push();
  let open = true;
  return {
    async check(what: string) {
      if (!open) return;
      const errors = await pop();
      push();
      if (errors.length) throw new TrainingError(`the WebGPU backend reported errors during ${what}: ${errors.join('; ')}`, { field: 'backend' });
    },
    async close() {
      if (!open) return;
      open = false;
      await pop();
    },
  };
}
