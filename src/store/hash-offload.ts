/**
 * sha256 of a byte stream computed on a worker thread, so hashing a shard overlaps with encoding it (the
 * Parquet encoder runs on the main thread). One worker per process, shared by every writer; it holds the
 * process open only while a digest is awaited. Chunks are transferred, not copied, when they own their
 * buffer; the caller must not touch a chunk after passing it.
 */
import { Worker } from 'node:worker_threads';
import { ShardError } from '../errors.js';

// Plain CommonJS, evaluated in the worker: no file to ship beside bundles or dist/.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const open = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'update') {
    let h = open.get(m.id);
    if (!h) open.set(m.id, (h = createHash('sha256')));
    h.update(new Uint8Array(m.buf, m.off, m.len));
  } else if (m.op === 'digest') {
    const h = open.get(m.id) || createHash('sha256');
    open.delete(m.id);
    parentPort.postMessage({ id: m.id, digest: h.digest('hex') });
  } else if (m.op === 'drop') open.delete(m.id);
});
`;

let worker: Worker | null = null;
let failure: Error | null = null;
let nextId = 0;
const waiting = new Map<number, { resolve: (d: string) => void; reject: (e: Error) => void }>();

function shared(): Worker {
  if (worker) return worker;
  const w = new Worker(WORKER_SOURCE, { eval: true });
  w.unref();
  w.on('message', (m: { id: number; digest: string }) => {
    const p = waiting.get(m.id);
    waiting.delete(m.id);
    if (waiting.size === 0) w.unref();
    p?.resolve(m.digest);
  });
  const fail = (err: Error) => {
    failure = err;
    worker = null;
    for (const p of waiting.values()) p.reject(err);
    waiting.clear();
  };
  w.on('error', fail);
  w.on('exit', (code) => {
    if (waiting.size) fail(new Error(`hash worker exited with code ${code}`));
    worker = null;
  });
  worker = w;
  return w;
}

export class OffloadedSha256 {
  private readonly id = nextId++;
  private readonly w = shared();

  update(chunk: Uint8Array): void {
    const owns = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
    const buf = owns ? (chunk.buffer as ArrayBuffer) : chunk.slice().buffer;
    this.w.postMessage({ op: 'update', id: this.id, buf, off: 0, len: chunk.byteLength }, [buf]);
  }

  digest(file: string): Promise<string> {
    if (failure) return Promise.reject(new ShardError(`cannot hash the shard: ${failure.message}`, { file }));
    return new Promise((resolve, reject) => {
      waiting.set(this.id, { resolve, reject: (e) => reject(new ShardError(`cannot hash the shard: ${e.message}`, { file }, { cause: e })) });
      this.w.ref();
      this.w.postMessage({ op: 'digest', id: this.id });
    });
  }

  /** Forget a stream that will not be finished (an aborted writer). */
  drop(): void {
    this.w.postMessage({ op: 'drop', id: this.id });
  }
}
