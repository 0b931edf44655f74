/**
 * Kernels the WASM backend lacks, registered for it so the model uses one code path on every backend.
 *
 * `UnsortedSegmentSum` is the gradient of `gather` (the token-embedding lookup). The WASM backend has no
 * such kernel, so this one adds rows in JS straight on the WASM heap: WASM memory is host memory, so this
 * is no readback, and GPU backends use their own kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

interface SegmentSumInputs {
  x: tf.TensorInfo;
  segmentIds: tf.TensorInfo;
}

function unsortedSegmentSum({ inputs, backend, attrs }: { inputs: SegmentSumInputs; backend: BackendWasm; attrs: { numSegments: number } }): tf.TensorInfo {
  const { x, segmentIds } = inputs;
  if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum (wasm): float32 only, got ${x.dtype}`);
  const n = segmentIds.shape.reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
  const out = backend.makeOutput([attrs.numSegments, ...x.shape.slice(segmentIds.shape.length)], 'float32');
  // Views are taken after the output is allocated: allocating can grow (and move) the heap.
  const xs = backend.typedArrayFromHeap(x) as Float32Array;
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  const acc = backend.typedArrayFromHeap(out) as Float32Array;
  acc.fill(0);
  for (let i = 0; i < n; i++) {
    const s = ids[i]!;
    // TensorFlow drops rows whose segment id is out of range.
    if (s < 0 || s >= attrs.numSegments) continue;
    const o = s * inner;
    const src = i * inner;
    for (let k = 0; k < inner; k++) acc[o + k]! += xs[src + k]!;
  }
  return out;
}

let registered = false;

/** Register the missing kernels once (before or after the backend starts). */
export function registerWasmKernels(): void {
  if (registered || tf.getKernel('UnsortedSegmentSum', 'wasm')) return;
  tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc });
  registered = true;
}
