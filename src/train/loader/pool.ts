/**
 * A pool of image-decode worker threads (decode-worker.mjs). Jobs go to the worker with the fewest
 * outstanding jobs; image bytes are transferred, not copied, when the caller owns their buffer.
 *
 * Lifetime: a worker is ref'ed only while it has jobs, so a loader that is dropped without close()
 * never keeps the process alive; close() asks each worker to finish its current job and exit (killing
 * a thread inside libvips can crash the process), then terminates any that do not within a grace period.
 */
import { Worker } from 'node:worker_threads';
import { UnivgError } from '../../errors.js';

export interface DecodeJob {
  /** Encoded image bytes (transferred when the view spans its whole buffer), or ... */
  bytes?: Uint8Array;
  /** ... an absolute path the worker reads. */
  path?: string;
  /** What the row says the image size is; a mismatch is an error (its boxes would be wrong). */
  width: number;
  height: number;
  size: number;
  rw: number;
  rh: number;
  left: number;
  top: number;
  kernel: string;
}

export interface DecodeResult {
  /** S x S x 3 RGB, letterboxed. */
  pixels: Uint8Array;
  threadId: number;
  ms: number;
}

/** A worker could not decode an image; the caller adds which row and file. */
export class DecodeFailure extends Error {}

interface Reply {
  id: number;
  ok: boolean;
  pixels?: Uint8Array;
  message?: string;
  threadId: number;
  ms: number;
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (r: DecodeResult) => void; reject: (e: Error) => void }>;
  alive: boolean;
  exited: Promise<void>;
}

const WORKER_URL = new URL('./decode-worker.mjs', import.meta.url);
const CLOSE_GRACE_MS = 5000;

export class DecodePool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private closed = false;

  private constructor(count: number) {
    for (let i = 0; i < count; i++) this.slots.push(this.spawn());
  }

  static async create(count: number): Promise<DecodePool> {
    // sharp must be loaded by the main thread before workers load it: on glibc Linux a worker's exit
    // would otherwise unload libvips under the other threads (sharp's documented requirement).
    await import('sharp');
    return new DecodePool(count);
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_URL);
    worker.unref();
    const slot: Slot = { worker, pending: new Map(), alive: true, exited: Promise.resolve() };
    slot.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (r: Reply) => {
      const p = slot.pending.get(r.id);
      if (!p) return;
      slot.pending.delete(r.id);
      if (slot.pending.size === 0) worker.unref();
      if (r.ok) p.resolve({ pixels: r.pixels!, threadId: r.threadId, ms: r.ms });
      else p.reject(new DecodeFailure(r.message ?? 'decode failed'));
    });
    const fail = (err: Error) => {
      slot.alive = false;
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    };
    worker.on('error', (err) => fail(new UnivgError('decode_worker', `image decode worker crashed: ${err.message}`, {}, { cause: err })));
    worker.on('exit', (code) => {
      if (!this.closed) fail(new UnivgError('decode_worker', `image decode worker exited unexpectedly (code ${code})`));
      slot.alive = false;
    });
    return slot;
  }

  /** Decode one image in a worker. */
  decode(job: DecodeJob): Promise<DecodeResult> {
    if (this.closed) return Promise.reject(new UnivgError('closed', 'the loader is closed'));
    const live = this.slots.filter((s) => s.alive);
    if (live.length === 0) return Promise.reject(new UnivgError('decode_worker', 'every image decode worker has died'));
    let slot = live[0]!;
    for (const s of live) if (s.pending.size < slot.pending.size) slot = s;
    const id = this.nextId++;
    const transfer: ArrayBuffer[] = [];
    let bytes = job.bytes;
    if (bytes) {
      const owns = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
      if (!owns) bytes = bytes.slice();
      transfer.push(bytes.buffer as ArrayBuffer);
    }
    return new Promise((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...job, bytes, id }, transfer);
    });
  }

  /** Worker threads still running. */
  get live(): number {
    return this.slots.filter((s) => s.alive).length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.slots) {
      for (const p of s.pending.values()) p.reject(new UnivgError('closed', 'the loader was closed'));
      s.pending.clear();
      if (s.alive) {
        s.worker.ref();
        s.worker.postMessage({ type: 'close' });
      }
    }
    await Promise.all(
      this.slots.map(async (s) => {
        if (!s.alive) return;
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), CLOSE_GRACE_MS)));
        const r = await Promise.race([s.exited.then(() => 'exited' as const), timeout]);
        clearTimeout(timer);
        if (r === 'timeout') await s.worker.terminate();
        s.alive = false;
      }),
    );
  }
}

