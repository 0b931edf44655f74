/** Lifecycle: bounded prefetch, bounded row memory, close, early exit, and a process that exits. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoader, type LoaderOptions } from '../../../src/train/loader/index.js';
import { take, tempDir, writeCorpus } from './helpers.js';

const tmp = tempDir('loader-life');
afterAll(() => tmp.cleanup());
let dir = '';
beforeAll(async () => {
  dir = await writeCorpus({ dir: join(tmp.dir, 'sft'), rows: 40, files: 3, rowGroupRows: 5 });
});

const opts = (over: Partial<LoaderOptions<'SftRow'>> = {}): LoaderOptions<'SftRow'> => ({
  dirs: [dir],
  kind: 'SftRow',
  batchSize: 2,
  seed: 11,
  imageSize: 8,
  maxImages: 3,
  maxPromptTokens: 48,
  maxTargetTokens: 64,
  workers: 1,
  ...over,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('prefetch', () => {
  it('a slow consumer: the loader works ahead, but never holds more than `prefetch` batches', async () => {
    const l = await createLoader(opts({ prefetch: 3, epochs: 1 }));
    const heldSeen: number[] = [];
    let n = 0;
    for await (const b of l) {
      void b;
      await sleep(60);
      heldSeen.push(l.stats().held);
      n++;
    }
    expect(n).toBe(20);
    expect(l.stats().maxHeld).toBe(3);
    expect(Math.max(...heldSeen)).toBe(3);
    // while the consumer slept, batches were ready: it rarely waited
    expect(heldSeen.filter((h) => h === 3).length).toBeGreaterThan(10);
  });

  it('prefetch 1 keeps a single batch in preparation', async () => {
    const l = await createLoader(opts({ prefetch: 1, epochs: 1 }));
    for await (const _ of l) {
      await sleep(5);
      expect(l.stats().held).toBeLessThanOrEqual(1);
    }
    expect(l.stats().maxHeld).toBe(1);
  });

  it('rows held in memory stay within the shuffle buffer plus one Arrow batch, whatever the epoch count', async () => {
    const l = await createLoader(opts({ shuffleBuffer: 4, epochs: 3 }));
    for await (const _ of l) void _;
    // one converted Arrow batch is at most one row group (5 rows)
    expect(l.stats().maxRowsHeld).toBeLessThanOrEqual(4 + 5);
    expect(l.stats().samples).toBe(120);
  });
});

describe('close', () => {
  it('close() resolves with every worker thread gone; next() then returns null; close twice is fine', async () => {
    const l = await createLoader(opts({ workers: 3, prefetch: 4 }));
    await take(l, 2);
    expect(l.stats().liveWorkers).toBe(3);
    await l.close();
    expect(l.stats().liveWorkers).toBe(0);
    expect(await l.next()).toBeNull();
    await l.close();
  });

  it('close() while a batch is being prepared ends the stream: the pending next() gives null', async () => {
    const l = await createLoader(opts({ workers: 1 }));
    const pending = l.next();
    await l.close();
    expect(await pending).toBeNull();
    expect(l.stats().liveWorkers).toBe(0);
  });

  it('breaking out of for-await closes the loader', async () => {
    const l = await createLoader(opts({ workers: 2 }));
    for await (const _ of l) break;
    expect(l.stats().liveWorkers).toBe(0);
  });

  it('a process using loaders exits by itself, closed or abandoned mid-epoch', async () => {
    const script = fileURLToPath(new URL('./fixtures/exit-check.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('hung');
      }, 30_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c ?? -1);
      });
    });
    expect(code, err).toBe(0);
    expect(JSON.parse(out.trim())).toEqual({ closedLive: 0, abandonedLive: 2 });
  });
});
