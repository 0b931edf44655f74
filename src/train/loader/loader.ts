/**
 * The streaming training loader: SftRow / RlRow shards in, fixed-shape batches out.
 *
 * Order (see order.ts): seeded shard order per epoch, rows strided over consumers (rank x worker),
 * then a seeded bounded shuffle buffer per consumer. Rows are read on this thread (Arrow batches via
 * `readBatches`); images are decoded and resized in worker threads; tokens come from the `encode` hook.
 * At most `prefetch` batches are being prepared or waiting at any time. `state()` after any batch is a
 * small object from which a new loader continues with exactly the next sample.
 */
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, RecordError, UnivgError } from '../../errors.js';
import type { RecordOf } from '../../schema/arrow.js';
import { allocBatch, clearRow, type Batch, type BatchDims, type SkippedRow } from './batch.js';
import { openCorpus, RowSource, type Corpus, type HeldRow, type RowSourceCounters, type TrainingKind } from './corpus.js';
import { utf8Encode, type Encoder } from './encode.js';
import { consumerRows, replay, shuffleFiles, ShuffleStream, type Partition } from './order.js';
import { PixelCache, type CachedImage } from './cache.js';
import { DecodeFailure, DecodePool } from './pool.js';
import { resizePlan, type Fit } from './resize.js';
import { checkResumable, LoaderState } from './state.js';

export interface LoaderOptions<K extends TrainingKind> {
  /** Stage directories of shards of `kind` (each with its `_manifest.json`), read as one corpus. */
  dirs: string[];
  kind: K;
  batchSize: number;
  seed: number;
  /** First epoch (default 0). Ignored when `state` is given. */
  epoch?: number;
  /** Stop before this epoch (default: never stop). */
  epochs?: number;
  rank?: number;
  worldSize?: number;
  /** DataLoader-style consumer workers within a rank: each is its own loader with its own state. */
  workerIndex?: number;
  numWorkers?: number;
  /** Image decode threads (default: cores - 1, at least 1, at most 4). */
  workers?: number;
  /** Side S of the square model input. */
  imageSize: number;
  /** Image slots per row; fewer images are padded and masked, more is an error. */
  maxImages: number;
  /** letterbox (default: keep aspect, centre on black) or stretch. */
  fit?: Fit;
  /** sharp resize kernel (default 'lanczos3'). */
  kernel?: 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';
  /** Row -> token ids (default utf8Encode). */
  encode?: Encoder<K>;
  maxPromptTokens: number;
  maxTargetTokens: number;
  /** Padding token id (default 0). */
  padId?: number;
  /** Too many tokens: keep the first max and count it (default), or throw a RecordError. */
  overflow?: 'truncate' | 'error';
  /** Shuffle buffer slots per consumer (default 512). Memory: this many rows with their image bytes. */
  shuffleBuffer?: number;
  /** Batches prepared ahead, at most (default 2, at least 1). */
  prefetch?: number;
  /** Continue from a saved state (`loader.state()` or `batch.state`). */
  state?: LoaderState;
  /** Directory that relative HfImage.path values are relative to (the run directory). */
  imageBase?: string;
  /** Drop the short last batch of each epoch (default false: it is padded and masked). */
  dropLast?: boolean;
  /** An image that cannot be decoded: throw (default), or mask the row out and report it. */
  onBadImage?: 'error' | 'skip';
  /**
   * Check a shard's sha256 against the manifest before decoding it: the first time this loader reads
   * the file ('once', default), every epoch ('always'), or not at all ('never').
   */
  verify?: 'once' | 'always' | 'never';
  /**
   * Bytes of resized images kept by sha256 for later epochs (default 64 MiB; 0 turns it off). At S = 64
   * an image takes 12 KiB, so the default holds about 5,000 images.
   */
  imageCacheBytes?: number;
}

export interface LoaderInfo {
  /** Rows in the corpus. */
  rows: number;
  files: number;
  /** Rows this consumer receives per epoch. */
  rowsPerEpoch: number;
  batchesPerEpoch: number;
  consumer: number;
  consumers: number;
  decodeThreads: number;
}

export interface LoaderStats extends RowSourceCounters {
  batches: number;
  samples: number;
  skipped: number;
  truncatedPrompt: number;
  truncatedTarget: number;
  imagesDecoded: number;
  /** Images served from the decoded-image cache or an identical decode already in flight (no decode). */
  cacheHits: number;
  /** Images decoded per thread id (the main thread is 0). */
  decodeThreads: Record<number, number>;
  /** Summed worker time spent decoding (ms). */
  decodeMs: number;
  /** Time the consumer spent waiting inside next() (ms). */
  waitMs: number;
  /** Batches being prepared or ready, not yet delivered: now and the most ever. */
  held: number;
  maxHeld: number;
  liveWorkers: number;
}

interface Plan<K extends TrainingKind> {
  epoch: number;
  index: number;
  rows: HeldRow<K>[];
  state: LoaderState;
}

const INV255 = 1 / 255;

function intOpt(name: string, v: number | undefined, dflt: number, min: number): number {
  const x = v ?? dflt;
  if (!Number.isSafeInteger(x) || x < min) throw new ConfigError(`${name} must be an integer >= ${min}, got ${v}`, { field: name });
  return x;
}

export async function createLoader<K extends TrainingKind>(opts: LoaderOptions<K>): Promise<Loader<K>> {
  const corpus = await openCorpus(opts.dirs, opts.kind);
  const loader = new Loader(opts, corpus);
  await loader.start();
  return loader;
}

export class Loader<K extends TrainingKind> implements AsyncIterable<Batch> {
  readonly info: LoaderInfo;
  private readonly dims: BatchDims;
  private readonly part: Partition;
  private readonly base: Omit<LoaderState, 'epoch' | 'position'>;
  private readonly epochs: number;
  private readonly encode: Encoder<K>;
  private readonly padId: number;
  private readonly fit: Fit;
  private readonly kernel: string;
  private readonly prefetch: number;
  private readonly threads: number;
  private current: LoaderState;
  private pool: DecodePool | null = null;
  private plans: AsyncGenerator<Plan<K>> | null = null;
  private planChain: Promise<unknown> = Promise.resolve();
  private readonly queue: Promise<Batch | null>[] = [];
  private awaiting = 0;
  private ended = false;
  private closed = false;
  private failure: unknown = undefined;
  private nextChain: Promise<unknown> = Promise.resolve();
  private readonly st: LoaderStats;
  private readonly cache: PixelCache;
  /** Images being decoded, by sha256: a second request waits for the first. */
  private readonly inflight = new Map<string, Promise<CachedImage>>();
  /** Shard files already checked against their manifest (verify: 'once'). */
  private readonly verified = new Set<string>();

  constructor(
    private readonly opts: LoaderOptions<K>,
    private readonly corpus: Corpus,
  ) {
    const worldSize = intOpt('worldSize', opts.worldSize, 1, 1);
    const rank = intOpt('rank', opts.rank, 0, 0);
    const numWorkers = intOpt('numWorkers', opts.numWorkers, 1, 1);
    const workerIndex = intOpt('workerIndex', opts.workerIndex, 0, 0);
    if (rank >= worldSize) throw new ConfigError(`rank ${rank} must be below worldSize ${worldSize}`, { field: 'rank' });
    if (workerIndex >= numWorkers) throw new ConfigError(`workerIndex ${workerIndex} must be below numWorkers ${numWorkers}`, { field: 'workerIndex' });
    if (!Number.isSafeInteger(opts.seed)) throw new ConfigError(`seed must be an integer, got ${opts.seed}`, { field: 'seed' });
    this.dims = {
      batchSize: intOpt('batchSize', opts.batchSize, 0, 1),
      maxImages: intOpt('maxImages', opts.maxImages, 0, 1),
      imageSize: intOpt('imageSize', opts.imageSize, 0, 1),
      maxPromptTokens: intOpt('maxPromptTokens', opts.maxPromptTokens, 0, 1),
      maxTargetTokens: intOpt('maxTargetTokens', opts.maxTargetTokens, 0, 1),
    };
    this.part = { consumer: rank * numWorkers + workerIndex, consumers: worldSize * numWorkers };
    this.base = {
      version: 1,
      seed: opts.seed,
      rank,
      worldSize,
      workerIndex,
      numWorkers,
      shuffleBuffer: intOpt('shuffleBuffer', opts.shuffleBuffer, 512, 1),
      corpus: corpus.fingerprint,
    };
    this.epochs = opts.epochs ?? Infinity;
    if (this.epochs !== Infinity) intOpt('epochs', opts.epochs, 0, 0);
    this.encode = opts.encode ?? (utf8Encode as Encoder<K>);
    this.padId = opts.padId ?? 0;
    this.fit = opts.fit ?? 'letterbox';
    this.kernel = opts.kernel ?? 'lanczos3';
    this.prefetch = intOpt('prefetch', opts.prefetch, 2, 1);
    this.threads = intOpt('workers', opts.workers, Math.max(1, Math.min(4, availableParallelism() - 1)), 1);
    this.cache = new PixelCache(intOpt('imageCacheBytes', opts.imageCacheBytes, 64 * 1024 * 1024, 0));
    if (opts.verify !== undefined && !['once', 'always', 'never'].includes(opts.verify))
      throw new ConfigError(`verify must be 'once', 'always' or 'never', got ${JSON.stringify(opts.verify)}`, { field: 'verify' });
    if (opts.state) {
      const parsed = LoaderState.safeParse(opts.state);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new ConfigError(`not a loader state: ${issue?.message ?? 'invalid'}`, { field: `state.${issue?.path.join('.') ?? ''}` });
      }
      const saved = parsed.data;
      checkResumable(saved, this.base);
      this.current = { ...this.base, epoch: saved.epoch, position: saved.position };
    } else this.current = { ...this.base, epoch: intOpt('epoch', opts.epoch, 0, 0), position: 0 };
    const rowsPerEpoch = consumerRows(corpus.rows, this.part);
    const B = this.dims.batchSize;
    const batchesPerEpoch = opts.dropLast ? Math.floor(rowsPerEpoch / B) : Math.ceil(rowsPerEpoch / B);
    if (batchesPerEpoch === 0)
      throw new ConfigError(
        `consumer ${this.part.consumer} of ${this.part.consumers} gets ${rowsPerEpoch} rows per epoch of ${corpus.rows}: no batch of ${B}${opts.dropLast ? ' (dropLast)' : ''}`,
        { field: 'batchSize' },
      );
    this.current = this.normalize(this.current.epoch, this.current.position);
    this.info = {
      rows: corpus.rows,
      files: corpus.files.length,
      rowsPerEpoch,
      batchesPerEpoch,
      consumer: this.part.consumer,
      consumers: this.part.consumers,
      decodeThreads: this.threads,
    };
    this.st = {
      batches: 0,
      samples: 0,
      skipped: 0,
      truncatedPrompt: 0,
      truncatedTarget: 0,
      imagesDecoded: 0,
      cacheHits: 0,
      decodeThreads: {},
      decodeMs: 0,
      waitMs: 0,
      held: 0,
      maxHeld: 0,
      liveWorkers: 0,
      filesRead: 0,
      filesSkipped: 0,
      batchesConverted: 0,
      batchesSkipped: 0,
      rowsHeld: 0,
      maxRowsHeld: 0,
    };
  }

  /** @internal Start the decode workers and the order. Called by createLoader. */
  async start(): Promise<void> {
    this.pool = await DecodePool.create(this.threads);
    this.plans = this.planBatches(this.current);
  }

  /** The state after the last delivered batch (before any: the starting state). */
  state(): LoaderState {
    return { ...this.current };
  }

  stats(): LoaderStats {
    return { ...this.st, decodeThreads: { ...this.st.decodeThreads }, held: this.queue.length + this.awaiting, liveWorkers: this.pool?.live ?? 0 };
  }

  /** An epoch's end (or a dropped short tail) moves the state to the next epoch's start. */
  private normalize(epoch: number, position: number): LoaderState {
    const n = this.info?.rowsPerEpoch ?? consumerRows(this.corpus.rows, this.part);
    const rest = n - position;
    if (rest <= 0 || (this.opts.dropLast && rest < this.dims.batchSize)) return { ...this.base, epoch: epoch + 1, position: 0 };
    return { ...this.base, epoch, position };
  }

  /** Rows of each batch in order, from `from` on; integers only until a row is needed. */
  private async *planBatches(from: LoaderState): AsyncGenerator<Plan<K>> {
    const B = this.dims.batchSize;
    const mode = this.opts.verify ?? 'once';
    const verify = (file: string) => mode === 'always' || (mode === 'once' && !this.verified.has(file));
    const verifiedOne = (file: string) => void this.verified.add(file);
    let { epoch, position } = from;
    while (epoch < this.epochs) {
      const files = shuffleFiles(this.corpus.files, this.base.seed, epoch);
      const n = consumerRows(this.corpus.rows, this.part);
      const stream = new ShuffleStream(n, this.base.shuffleBuffer, this.base.seed, epoch, this.part);
      const needed = replay(stream, position);
      const source = new RowSource(this.opts.kind, files, this.part, needed, { verify, verifiedOne }, this.st);
      let index = Math.ceil(position / B);
      try {
        for (;;) {
          const take = Math.min(B, n - position);
          if (take <= 0 || (this.opts.dropLast && take < B)) break;
          const rows: HeldRow<K>[] = [];
          for (let k = 0; k < take; k++) {
            const i = stream.next()!;
            await source.ensure(stream.inNext - 1);
            rows.push(source.take(i));
          }
          position += take;
          const state = this.normalize(epoch, position);
          yield { epoch, index: index++, rows, state };
        }
      } finally {
        await source.close();
      }
      epoch++;
      position = 0;
    }
  }

  /** Start preparing one more batch (plans are pulled one at a time, in order; decoding overlaps). */
  private startOne(): void {
    const plans = this.plans!;
    const planP = this.planChain.then(() => (this.closed ? ({ done: true, value: undefined } as const) : plans.next()));
    this.planChain = planP.catch(() => undefined);
    const batchP = planP.then((r) => (r.done ? null : this.assemble(r.value)));
    // Rejections are delivered by next(); this handler only stops Node reporting them as unhandled.
    batchP.catch(() => undefined);
    this.queue.push(batchP);
    this.st.maxHeld = Math.max(this.st.maxHeld, this.queue.length + this.awaiting);
  }

  private topUp(): void {
    while (!this.ended && !this.closed && this.queue.length + this.awaiting < this.prefetch) this.startOne();
  }

  /** The next batch, or null at the end (after `epochs`). Calls are served one after another. */
  next(): Promise<Batch | null> {
    const p = this.nextChain.then(() => this.nextNow());
    this.nextChain = p.catch(() => undefined);
    return p;
  }

  private async nextNow(): Promise<Batch | null> {
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) return null;
    this.topUp();
    const head = this.queue.shift();
    if (!head) return null;
    this.awaiting = 1;
    const t0 = performance.now();
    let batch: Batch | null;
    try {
      batch = await head;
    } catch (err) {
      this.awaiting = 0;
      // Closed by the caller while this batch was in preparation: that is the end, not a failure.
      if (this.closed) return null;
      this.failure = err;
      await this.close();
      throw err;
    } finally {
      this.st.waitMs += performance.now() - t0;
    }
    this.awaiting = 0;
    if (batch === null) {
      this.ended = true;
      return null;
    }
    this.current = batch.state;
    this.st.batches++;
    this.st.samples += batch.size;
    this.topUp();
    return batch;
  }

  /** Iterate until the end. Leaving the loop early (break, throw) closes the loader. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Batch> {
    try {
      for (;;) {
        const b = await this.next();
        if (!b) return;
        yield b;
      }
    } finally {
      await this.close();
    }
  }

  /** Stop: workers exit, the open shard is closed. Safe to call twice; resolves when threads are gone. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    await this.pool?.close();
    // Let an in-progress plan pull finish before closing the generator (its finally closes the file).
    await this.planChain;
    await this.plans?.return(undefined);
  }

  private resolvePath(h: HeldRow<K>, k: number, path: string | null): string {
    if (path === null) throw new RecordError(`image ${k} has neither bytes nor path`, { recordId: h.row.id, file: h.file, row: h.rowInFile, field: `images[${k}]` });
    if (isAbsolute(path)) return path;
    if (this.opts.imageBase === undefined)
      throw new ConfigError(`row has image paths relative to the run directory; pass imageBase (image ${k}: ${path})`, {
        recordId: h.row.id,
        file: h.file,
        row: h.rowInFile,
        field: 'imageBase',
      });
    return resolve(this.opts.imageBase, path);
  }

  private fillTokens(h: HeldRow<K>, which: 'prompt' | 'target', tokens: ArrayLike<number>, out: Int32Array, mask: Uint8Array, b: number, max: number): boolean {
    const ctx = { recordId: h.row.id, file: h.file, row: h.rowInFile, field: `${which}Tokens` };
    if (!(tokens instanceof Int32Array) && !Array.isArray(tokens)) throw new RecordError(`encode() must return ${which}Tokens as an Int32Array or number[]`, ctx);
    const over = tokens.length > max;
    if (over && (this.opts.overflow ?? 'truncate') === 'error')
      throw new RecordError(`${which} has ${tokens.length} tokens, max${which === 'prompt' ? 'Prompt' : 'Target'}Tokens is ${max}`, ctx);
    const n = Math.min(max, tokens.length);
    for (let t = 0; t < n; t++) {
      out[b * max + t] = tokens[t]!;
      mask[b * max + t] = 1;
    }
    return over;
  }

  private async assemble(plan: Plan<K>): Promise<Batch> {
    const d = this.dims;
    const { maxImages: M, imageSize: S } = d;
    const arr = allocBatch(this.opts.kind, d, this.padId);
    const pixelsPerImage = S * S * 3;
    let truncated = 0;
    const perRow: Promise<CachedImage[]>[] = [];
    for (let b = 0; b < plan.rows.length; b++) {
      const h = plan.rows[b]!;
      const row = h.row as RecordOf<'SftRow'> | RecordOf<'RlRow'>;
      const ctx = { recordId: row.id, file: h.file, row: h.rowInFile };
      const nImg = row.images.length;
      if (nImg > M) throw new RecordError(`row has ${nImg} images, maxImages is ${M}`, { ...ctx, field: 'images' });
      if (row.imageWidth.length !== nImg || row.imageHeight.length !== nImg)
        throw new RecordError(`row has ${nImg} images but ${row.imageWidth.length} widths and ${row.imageHeight.length} heights`, { ...ctx, field: 'imageWidth' });
      if (row.targetImage >= nImg) throw new RecordError(`targetImage ${row.targetImage} is out of range (${nImg} images)`, { ...ctx, field: 'targetImage' });
      let enc: ReturnType<Encoder<K>>;
      try {
        enc = this.encode(h.row);
      } catch (err) {
        if (err instanceof UnivgError) throw err;
        throw new RecordError(`encode() failed: ${err instanceof Error ? err.message : String(err)}`, ctx, { cause: err });
      }
      const tp = this.fillTokens(h, 'prompt', enc.promptTokens, arr.promptTokens, arr.promptMask, b, d.maxPromptTokens);
      const tt = this.fillTokens(h, 'target', enc.targetTokens, arr.targetTokens, arr.targetMask, b, d.maxTargetTokens);
      if (tp) this.st.truncatedPrompt++;
      if (tt) this.st.truncatedTarget++;
      if (tp || tt) truncated++;
      arr.rowMask[b] = 1;
      arr.ids[b] = row.id;
      arr.tasks[b] = row.task;
      arr.answers[b] = row.answer;
      arr.conventions[b] = row.convention;
      arr.targetImage[b] = row.targetImage;
      arr.targetBox.set(row.targetBox, b * 4);
      if (arr.weight && 'weight' in row) arr.weight[b] = row.weight ?? 1;
      if (arr.difficulty && 'difficulty' in row) arr.difficulty[b] = row.difficulty ?? NaN;
      if (row.imageSha256.length !== nImg) throw new RecordError(`row has ${nImg} images but ${row.imageSha256.length} sha256 values`, { ...ctx, field: 'imageSha256' });
      const jobs: Promise<CachedImage>[] = [];
      for (let k = 0; k < nImg; k++) {
        const w = row.imageWidth[k]!;
        const hgt = row.imageHeight[k]!;
        const plan2 = resizePlan(w, hgt, S, this.fit);
        const slot = b * M + k;
        arr.imageMask[slot] = 1;
        arr.imageScale.set([plan2.sx, plan2.sy, plan2.left, plan2.top], slot * 4);
        arr.imageSize.set([w, hgt], slot * 2);
        const img = row.images[k]!;
        const sha = row.imageSha256[k]!;
        const hit = this.cache.get(sha);
        if (hit && hit.width === w && hit.height === hgt) {
          this.st.cacheHits++;
          jobs.push(Promise.resolve(hit));
          continue;
        }
        const pending = this.inflight.get(sha);
        if (pending) {
          this.st.cacheHits++;
          jobs.push(pending.then((r) => (r.width === w && r.height === hgt ? r : Promise.reject(new RecordError(`image ${k} has sha256 ${sha} but size ${w}x${hgt}, another row says ${r.width}x${r.height}`, { ...ctx, field: `imageWidth[${k}]` })))));
          continue;
        }
        const src = img.bytes ? { bytes: img.bytes } : { path: this.resolvePath(h, k, img.path) };
        const job = this.pool!.decode({ ...src, width: w, height: hgt, size: S, rw: plan2.width, rh: plan2.height, left: plan2.left, top: plan2.top, kernel: this.kernel }).then(
          (r) => {
            this.st.imagesDecoded++;
            this.st.decodeMs += r.ms;
            this.st.decodeThreads[r.threadId] = (this.st.decodeThreads[r.threadId] ?? 0) + 1;
            const c: CachedImage = { pixels: r.pixels, width: w, height: hgt };
            this.cache.set(sha, c);
            return c;
          },
          (err: unknown) => {
            if (err instanceof DecodeFailure)
              throw new RecordError(`cannot decode image ${k}${src.path ? ` (${src.path})` : ''}: ${err.message}`, { ...ctx, field: `images[${k}]` }, { cause: err });
            throw err;
          },
        );
        this.inflight.set(sha, job);
        const forget = () => void this.inflight.delete(sha);
        job.then(forget, forget);
        jobs.push(job);
      }
      // The row no longer needs its image bytes (they were transferred to the workers).
      const all = Promise.all(jobs);
      all.catch(() => undefined);
      perRow.push(all);
    }
    const skipped: SkippedRow[] = [];
    for (let b = 0; b < perRow.length; b++) {
      let results: CachedImage[];
      try {
        results = await perRow[b]!;
      } catch (err) {
        if (this.opts.onBadImage === 'skip' && err instanceof RecordError) {
          const h = plan.rows[b]!;
          skipped.push({ id: h.row.id, file: h.file, row: h.rowInFile, reason: err.message });
          clearRow(arr, d, b, this.padId);
          arr.ids[b] = arr.tasks[b] = arr.answers[b] = arr.conventions[b] = '';
          this.st.skipped++;
          continue;
        }
        throw err;
      }
      for (let k = 0; k < results.length; k++) {
        const px = results[k]!.pixels;
        const o = (b * M + k) * pixelsPerImage;
        for (let j = 0; j < pixelsPerImage; j++) arr.images[o + j] = px[j]! * INV255;
      }
    }
    if (this.closed) throw new UnivgError('closed', 'the loader was closed');
    return { ...arr, epoch: plan.epoch, index: plan.index, size: plan.rows.length, truncated, skipped, state: plan.state };
  }
}
