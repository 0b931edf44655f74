/**
 * Kernels for the backends whose tensors live in host memory (WASM, the pure-JS CPU backend), registered
 * so the model uses one code path on every backend.
 *
 * `UnsortedSegmentSum` is the gradient of `gather` (the token-embedding lookup). The WASM backend has no
 * such kernel, and the CPU backend's builds a mask per segment (vocabulary-size passes: 4 s of a 7 s step
 * on a 1,473-token vocabulary), so both get a single pass that adds each row into its segment. The data is
 * already in host memory there, so this is no readback; GPU backends keep their own kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

interface SegmentSumInputs {
  x: tf.TensorInfo;
  segmentIds: tf.TensorInfo;
}
interface SegmentSumAttrs {
  numSegments: number;
}

/** out[ids[i]] += x[i] over rows of `inner` values; ids out of range are dropped, as TensorFlow does. */
function scatterAdd(xs: Float32Array, ids: Int32Array, acc: Float32Array, n: number, inner: number, numSegments: number): void {
  acc.fill(0);
  for (let i = 0; i < n; i++) {
    const s = ids[i]!;
    if (s < 0 || s >= numSegments) continue;
    const o = s * inner;
    const src = i * inner;
    for (let k = 0; k < inner; k++) acc[o + k]! += xs[src + k]!;
  }
}

function shapes({ x, segmentIds }: SegmentSumInputs, numSegments: number) {
  if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum (host): float32 only, got ${x.dtype}`);
  const n = segmentIds.shape.reduce((a, b) => a * b, 1);
  const rest = x.shape.slice(segmentIds.shape.length);
  return { n, inner: rest.reduce((a, b) => a * b, 1), outShape: [numSegments, ...rest] };
}

function wasmSegmentSum({ inputs, backend, attrs }: { inputs: SegmentSumInputs; backend: BackendWasm; attrs: SegmentSumAttrs }): tf.TensorInfo {
  const { n, inner, outShape } = shapes(inputs, attrs.numSegments);
  const out = backend.makeOutput(outShape, 'float32');
  // Views are taken after the output is allocated: allocating can grow (and move) the heap.
  const xs = backend.typedArrayFromHeap(inputs.x) as Float32Array;
  const ids = backend.typedArrayFromHeap(inputs.segmentIds) as Int32Array;
  scatterAdd(xs, ids, backend.typedArrayFromHeap(out) as Float32Array, n, inner, attrs.numSegments);
  return out;
}

interface HostBackend {
  readSync(dataId: tf.DataId): tf.BackendValues;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.BackendValues): tf.TensorInfo;
}

function cpuSegmentSum({ inputs, backend, attrs }: { inputs: SegmentSumInputs; backend: HostBackend; attrs: SegmentSumAttrs }): tf.TensorInfo {
  const { n, inner, outShape } = shapes(inputs, attrs.numSegments);
  const acc = new Float32Array(outShape.reduce((a, b) => a * b, 1));
  scatterAdd(backend.readSync(inputs.x.dataId) as Float32Array, Int32Array.from(backend.readSync(inputs.segmentIds.dataId) as ArrayLike<number>), acc, n, inner, attrs.numSegments);
  return backend.makeTensorInfo(outShape, 'float32', acc);
}

const registered = new Set<string>();

/** Register (or replace) the kernels for one host backend, once per process. */
export function registerHostKernels(backendName: 'wasm' | 'cpu'): void {
  if (registered.has(backendName)) return;
  if (tf.getKernel('UnsortedSegmentSum', backendName)) tf.unregisterKernel('UnsortedSegmentSum', backendName);
  const kernelFunc = (backendName === 'wasm' ? wasmSegmentSum : cpuSegmentSum) as unknown as tf.KernelFunc;
  tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName, kernelFunc });
  registered.add(backendName);
}
