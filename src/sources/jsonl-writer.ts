/**
 * A JSON-lines file (or, with `array`, one JSON array with an element per line) written under a hidden
 * temp name and renamed into place only by `commit()`, so a crashed or failed run never leaves a file
 * that looks complete. Streams (bounded memory).
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export class JsonlWriter {
  private fh: FileHandle | null = null;
  private buffered: string[] = [];
  private bufferedBytes = 0;
  private lines = 0;
  readonly tempPath: string;

  private array = false;

  private constructor(readonly path: string) {
    this.tempPath = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  }

  static async create(path: string, opts: { array?: boolean } = {}): Promise<JsonlWriter> {
    const w = new JsonlWriter(path);
    w.fh = await open(w.tempPath, 'wx');
    w.array = opts.array ?? false;
    return w;
  }

  get count(): number {
    return this.lines;
  }

  /** Append one record; flushed in blocks of ~1 MiB. */
  async write(record: unknown): Promise<void> {
    const json = JSON.stringify(record);
    const line = this.array ? `${this.lines === 0 ? '[\n' : ',\n'}${json}` : `${json}\n`;
    this.buffered.push(line);
    this.bufferedBytes += line.length;
    this.lines++;
    if (this.bufferedBytes >= 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.fh || this.buffered.length === 0) return;
    const text = this.buffered.join('');
    this.buffered = [];
    this.bufferedBytes = 0;
    await this.fh.write(text);
  }

  /** Flush, fsync, and rename to the final name. */
  async commit(): Promise<void> {
    if (this.array) this.buffered.push(this.lines === 0 ? '[]\n' : '\n]\n');
    await this.flush();
    const fh = this.fh!;
    this.fh = null;
    await fh.sync();
    await fh.close();
    await rename(this.tempPath, this.path);
  }

  /** Drop the temp file (after a failure). Safe to call more than once. */
  async abort(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    this.buffered = [];
    await fh?.close().catch(() => undefined);
    await rm(this.tempPath, { force: true });
  }
}
