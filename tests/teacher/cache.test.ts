import { spawn } from 'node:child_process';
import { createHash, pbkdf2 } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ResponseCache, type CachedResponse } from '../../src/teacher/cache.js';

const key = (i: number) => createHash('sha256').update(`k${i}`).digest('hex');
const value = (i: number): CachedResponse => ({
  format: 1,
  requestModel: 'm',
  promptVersion: 'hinted-v1',
  params: { n: 3, i },
  response: { id: `c${i}`, choices: [{ index: 0, message: { content: `<think>ok ${i} ünïcode</think><answer>(1,2),(3,4)</answer>` }, finish_reason: 'stop' }] },
  usage: { promptTokens: 100 + i, completionTokens: 20 },
  costUsd: 0.001 * i,
  latencyMs: 12.5,
  attempts: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
});

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'univg-cache-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const files = (dir: string, ext: string) => readdirSync(dir).filter((f) => f.endsWith(ext)).map((f) => join(dir, f));

async function filled(n: number): Promise<string> {
  const dir = tmp();
  const c = await ResponseCache.open(dir);
  for (let i = 0; i < n; i++) await c.put(key(i), value(i));
  await c.close();
  return dir;
}

const child = (dir: string, from: number, to: number, tag: string, pauseMs = 0) =>
  spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'cache-writer.ts'), dir, String(from), String(to), tag, String(pauseMs)], { stdio: ['ignore', 'pipe', 'pipe'] });

describe('ResponseCache', () => {
  it('puts that overlap a segment rotation and background syncs all land (no fd closed under a pending fdatasync)', async () => {
    const dir = tmp();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      // A segment every ~2 entries, a sync every 2 puts and a background sync at once: every rotation
      // happens while some put's fdatasync is still on the thread pool.
      const c = await ResponseCache.open(dir, { syncEvery: 2, syncMs: 0, segmentMaxBytes: 700 });
      const N = 300;
      // Keep libuv's thread pool busy so the fdatasyncs queue behind it and run after the rotations and
      // the final close have happened on this thread.
      const busy = Array.from({ length: 4 }, () => new Promise((r) => pbkdf2('x', 'y', 300_000, 32, 'sha256', r)));
      const puts = Promise.all(Array.from({ length: N }, (_, i) => c.put(key(i), value(i))));
      const closed = c.close();
      await Promise.all([puts, closed, ...busy]);
      await new Promise((r) => setTimeout(r, 20));
      expect(unhandled).toEqual([]);
      expect(files(dir, '.jsonl').length).toBeGreaterThan(50);
      const d = await ResponseCache.open(dir);
      expect(d.size).toBe(N);
      for (let i = 0; i < N; i += 37) expect(await d.get(key(i))).toEqual(value(i));
      expect(d.stats()).toMatchObject({ corrupt: 0, tornTails: 0 });
      await d.close();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('returns what was put, in this process and after reopening', async () => {
    const dir = await filled(20);
    const c = await ResponseCache.open(dir);
    expect(c.size).toBe(20);
    for (let i = 0; i < 20; i++) expect(await c.get(key(i))).toEqual(value(i));
    expect(await c.get(key(99))).toBeUndefined();
    expect(c.stats()).toMatchObject({ hits: 20, misses: 1, corrupt: 0, tornTails: 0 });
    await c.close();
  });

  it('ignores a torn last line and keeps every complete entry; new writes go to a new segment', async () => {
    const dir = await filled(5);
    const [seg] = files(dir, '.jsonl');
    appendFileSync(seg!, `{"k":"${key(5)}","s":"0123456789abcdef","v":{"format":1,"requestMo`);
    const c = await ResponseCache.open(dir);
    expect(c.size).toBe(5);
    expect(c.stats().tornTails).toBe(1);
    expect(await c.get(key(5))).toBeUndefined();
    await c.put(key(5), value(5));
    await c.close();
    expect(files(dir, '.jsonl')).toHaveLength(2);
    const again = await ResponseCache.open(dir);
    for (let i = 0; i <= 5; i++) expect(await again.get(key(i))).toEqual(value(i));
    await again.close();
  });

  it('finds entries the sidecar index misses (killed between the two writes, index lost or cut)', async () => {
    const dir = await filled(6);
    const [idx] = files(dir, '.idx');
    truncateSync(idx!, statSync(idx!).size - 48 - 7); // last record gone, the one before cut mid-way
    let c = await ResponseCache.open(dir);
    expect(c.size).toBe(6);
    for (let i = 0; i < 6; i++) expect(await c.get(key(i))).toEqual(value(i));
    await c.close();
    rmSync(idx!);
    c = await ResponseCache.open(dir);
    expect(c.size).toBe(6);
    expect(await c.get(key(3))).toEqual(value(3));
    await c.close();
  });

  it('never serves an entry whose bytes changed on disk', async () => {
    const dir = await filled(4);
    const [seg] = files(dir, '.jsonl');
    const text = readFileSync(seg!, 'utf8');
    const at = text.indexOf('ok 2');
    writeFileSync(seg!, text.slice(0, at) + 'OK 2' + text.slice(at + 4));
    const c = await ResponseCache.open(dir);
    expect(await c.get(key(2))).toBeUndefined();
    expect(c.stats().corrupt).toBe(1);
    for (const i of [0, 1, 3]) expect(await c.get(key(i))).toEqual(value(i));
    await c.close();
  });

  it('takes writes from several processes at once; a reader sees them without reopening', async () => {
    const dir = tmp();
    const reader = await ResponseCache.open(dir, { refreshMs: 0 });
    const run = (p: ReturnType<typeof child>) =>
      new Promise<number | null>((res) => {
        p.stderr.on('data', (d) => process.stderr.write(d));
        p.on('exit', (code) => res(code));
      });
    const [a, b] = await Promise.all([run(child(dir, 0, 300, 'A')), run(child(dir, 200, 500, 'B'))]);
    expect([a, b]).toEqual([0, 0]);
    expect(files(dir, '.jsonl')).toHaveLength(2);
    for (const i of [0, 150, 250, 499]) {
      const v = await reader.get(key(i));
      expect(v?.params).toEqual({ i });
    }
    expect(reader.size).toBe(500);
    await reader.close();
    const fresh = await ResponseCache.open(dir);
    expect(fresh.size).toBe(500);
    // Overlapping keys were written twice; either copy is a valid answer, and it is always the same one.
    const v = await fresh.get(key(250));
    const again = await ResponseCache.open(dir);
    expect(await again.get(key(250))).toEqual(v);
    await Promise.all([fresh.close(), again.close()]);
  });

  it('loses nothing a SIGKILLed writer had put', async () => {
    const dir = tmp();
    const p = child(dir, 0, 100_000, 'K', 1);
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      if (out.split('\n').length > 60) p.kill('SIGKILL');
    });
    const signal = await new Promise((res) => p.on('exit', (_c, s) => res(s)));
    expect(signal).toBe('SIGKILL');
    const done = out.split('\n').filter((l) => /^[0-9a-f]{64}$/.test(l));
    expect(done.length).toBeGreaterThanOrEqual(60);
    const c = await ResponseCache.open(dir);
    for (const k of done) expect(c.has(k), k).toBe(true);
    const got = await Promise.all(done.map((k) => c.get(k)));
    expect(got.every((v) => v !== undefined)).toBe(true);
    await c.close();
  });
});
