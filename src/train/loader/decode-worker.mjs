// Image decode worker (plain JS so it runs under node, tsx and vitest alike without a loader hook).
// It receives encoded image bytes (transferred) or a file path plus a resize plan computed on the main
// thread, and returns S x S x 3 uint8 RGB pixels (transferred), the content placed at (left, top) on
// black; the loader scales them to 0..1 floats while filling the batch. One job at a time: a worker is one unit of decode parallelism.
import { readFile } from 'node:fs/promises';
import { parentPort, threadId } from 'node:worker_threads';
import sharp from 'sharp';

// libvips' own thread pool and cache would oversubscribe cores and grow memory across many workers.
sharp.concurrency(1);
sharp.cache(false);

const queue = [];
let busy = false;
let closing = false;

parentPort.on('message', (msg) => {
  if (msg.type === 'close') {
    // Finish the job in hand (terminating mid-libvips can crash the process), drop the rest, exit.
    closing = true;
    queue.length = 0;
    if (!busy) parentPort.close();
    return;
  }
  queue.push(msg);
  void pump();
});

async function pump() {
  if (busy) return;
  busy = true;
  while (queue.length > 0 && !closing) await run(queue.shift());
  busy = false;
  if (closing) parentPort.close();
}

async function run(job) {
  const t0 = performance.now();
  try {
    // A Buffer over the transferred memory, not a copy of it.
    const input = job.bytes ? Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength) : await readFile(job.path);
    const img = sharp(input);
    const meta = await img.metadata();
    if (meta.width !== job.width || meta.height !== job.height)
      throw new Error(`decoded image is ${meta.width}x${meta.height}, the row says ${job.width}x${job.height}`);
    const { data, info } = await img
      .flatten({ background: '#000000' })
      .toColourspace('srgb')
      .resize(job.rw, job.rh, { fit: 'fill', kernel: job.kernel })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.width !== job.rw || info.height !== job.rh || info.channels !== 3)
      throw new Error(`resize gave ${info.width}x${info.height}x${info.channels}, expected ${job.rw}x${job.rh}x3`);
    // Letterbox on the worker: the S x S x 3 result is what the batch (and the loader's cache) holds.
    const S = job.size;
    let px;
    if (job.rw === S && job.rh === S) px = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    else {
      px = new Uint8Array(S * S * 3);
      const rowLen = job.rw * 3;
      for (let y = 0; y < job.rh; y++) px.set(data.subarray(y * rowLen, (y + 1) * rowLen), ((job.top + y) * S + job.left) * 3);
    }
    parentPort.postMessage({ id: job.id, ok: true, pixels: px, threadId, ms: performance.now() - t0 }, [px.buffer]);
  } catch (err) {
    parentPort.postMessage({ id: job.id, ok: false, message: err instanceof Error ? err.message : String(err), threadId, ms: performance.now() - t0 });
  }
}
