/** Loader order: determinism, shuffling, rank/worker partition, exact resume, masks and truncation. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, RecordError } from '../../../src/errors.js';
import { createLoader, LoaderState, utf8Encode, type LoaderOptions } from '../../../src/train/loader/index.js';
import { digest, imageCount, realIds, rowsOf, take, tempDir, writeCorpus } from './helpers.js';
import { join } from 'node:path';

const tmp = tempDir('loader');
afterAll(() => tmp.cleanup());
const N = 30;
let dir = '';
let storageOrder: string[] = [];

beforeAll(async () => {
  dir = await writeCorpus({ dir: join(tmp.dir, 'sft'), rows: N, files: 4, rowGroupRows: 4 });
  // the order a plain sequential read would give: files by name, rows in file order
  const { readRows } = await import('../../../src/store/index.js');
  for await (const r of readRows('SftRow', dir)) storageOrder.push(r.id);
});

const base = (over: Partial<LoaderOptions<'SftRow'>> = {}): LoaderOptions<'SftRow'> => ({
  dirs: [dir],
  kind: 'SftRow',
  batchSize: 3,
  seed: 7,
  imageSize: 8,
  maxImages: 3,
  maxPromptTokens: 64,
  maxTargetTokens: 64,
  shuffleBuffer: 8,
  workers: 1,
  ...over,
});

async function all(over: Partial<LoaderOptions<'SftRow'>>) {
  const loader = await createLoader(base(over));
  const out = [];
  for await (const b of loader) out.push(b);
  return out;
}

describe('order', () => {
  it('is deterministic: same seed and epoch give identical batches (ids and every array)', async () => {
    const a = await all({ epochs: 2 });
    const b = await all({ epochs: 2, workers: 2, prefetch: 4 });
    expect(a.map(digest)).toEqual(b.map(digest));
    expect(a).toHaveLength(20);
  });

  it('shuffles: not storage order, each epoch a permutation of all rows, epochs and seeds differ', async () => {
    const batches = await all({ epochs: 2 });
    const e0 = batches.filter((b) => b.epoch === 0).flatMap(realIds);
    const e1 = batches.filter((b) => b.epoch === 1).flatMap(realIds);
    expect([...e0].sort()).toEqual([...storageOrder].sort());
    expect([...e1].sort()).toEqual([...storageOrder].sort());
    expect(e0).not.toEqual(storageOrder);
    expect(e1).not.toEqual(e0);
    const other = (await all({ epochs: 1, seed: 8 })).flatMap(realIds);
    expect(other).not.toEqual(e0);
  });

  it('a shuffle buffer of 1 with a fixed shard order reads files whole, rows in file order', async () => {
    const ids = (await all({ epochs: 1, shuffleBuffer: 1 })).flatMap(realIds);
    // rows of one file stay contiguous and in storage order
    const pos = new Map(storageOrder.map((id, i) => [id, i]));
    let runs = 1;
    for (let i = 1; i < ids.length; i++) if (pos.get(ids[i]!)! !== pos.get(ids[i - 1]!)! + 1) runs++;
    expect(runs).toBeLessThanOrEqual(4);
  });
});

describe('partition', () => {
  it('ranks x workers together see every row exactly once per epoch (4 files, 30 rows, 3 ranks x 2 workers)', async () => {
    for (const [worldSize, numWorkers] of [
      [3, 1],
      [3, 2],
      [4, 1],
    ] as const) {
      const seen = new Map<string, number>();
      const counts: number[] = [];
      for (let rank = 0; rank < worldSize; rank++)
        for (let workerIndex = 0; workerIndex < numWorkers; workerIndex++) {
          const batches = await all({ epochs: 2, rank, worldSize, workerIndex, numWorkers, batchSize: 2 });
          const ids = batches.flatMap((b) => realIds(b).map((id) => `${b.epoch}:${id}`));
          counts.push(ids.length);
          for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
        }
      expect(seen.size, `${worldSize}x${numWorkers}`).toBe(2 * N);
      expect([...seen.values()].every((v) => v === 1)).toBe(true);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(2);
    }
  });

  it('refuses a consumer that would get no batch', async () => {
    await expect(createLoader(base({ worldSize: 31, rank: 30 }))).rejects.toThrow(ConfigError);
    await expect(createLoader(base({ worldSize: 4, rank: 4 }))).rejects.toThrow(/rank 4 must be below worldSize 4/);
  });
});

describe('resume', () => {
  async function resumeMatches(over: Partial<LoaderOptions<'SftRow'>>, cut: number, total: number) {
    const straight = await createLoader(base(over));
    const ref = await take(straight, total);
    await straight.close();
    const first = await createLoader(base(over));
    const head = await take(first, cut);
    const saved = JSON.parse(JSON.stringify(first.state())) as unknown;
    await first.close();
    expect(head.map(digest)).toEqual(ref.slice(0, cut).map(digest));
    const resumed = await createLoader(base({ ...over, state: LoaderState.parse(saved) }));
    const tail = await take(resumed, total - cut);
    const stats = resumed.stats();
    await resumed.close();
    expect(tail.map(digest)).toEqual(ref.slice(cut).map(digest));
    return { stats, tail };
  }

  it('mid-epoch: 7 batches, save, a new loader yields exactly batches 8..', async () => {
    const { stats, tail } = await resumeMatches({ epochs: 3 }, 7, 16);
    // skipped rows are counted, not decoded: only the delivered batches' images plus prefetch were decoded
    const delivered = tail.reduce((s, b) => s + b.imageMask.reduce((x, y) => x + y, 0), 0);
    expect(stats.imagesDecoded).toBeLessThanOrEqual(delivered + 2 * 3 * 3);
  });

  it('two rows before the end of an epoch, when the files still to read hold none of them (18 rows, 4 files)', async () => {
    // The rows left can all sit in files already passed in storage order: the reader then skips the last
    // files without reading them and must still report the indices as covered (a resume used to fail here).
    const small = await writeCorpus({ dir: join(tmp.dir, 'sft-18'), rows: 18, files: 4, rowGroupRows: 4 });
    for (const seed of [0, 1, 2, 3, 4, 5]) await resumeMatches({ dirs: [small], epochs: 2, batchSize: 4, seed }, 4, 9);
  });

  it('across an epoch boundary (and exactly at one), with a short last batch, for rank 1 of 2', async () => {
    // 30 rows / 2 ranks = 15 per epoch = 4 batches of 4 (last one short)
    await resumeMatches({ epochs: 3, worldSize: 2, rank: 1, batchSize: 4 }, 4, 11);
    await resumeMatches({ epochs: 3, worldSize: 2, rank: 1, batchSize: 4 }, 6, 11);
    await resumeMatches({ epochs: 3, dropLast: true, batchSize: 4 }, 9, 20);
  });

  it('skips files it does not need when resuming deep into an epoch', async () => {
    const l = await createLoader(base({ shuffleBuffer: 1, state: { ...(await stateAt(9)) } }));
    await take(l, 1);
    const s = l.stats();
    await l.close();
    expect(s.filesSkipped).toBeGreaterThan(0);
  });

  async function stateAt(batches: number): Promise<LoaderState> {
    const l = await createLoader(base({ shuffleBuffer: 1 }));
    await take(l, batches);
    const s = l.state();
    await l.close();
    return s;
  }

  it('state is small and normalized; wrong seed, corpus or mid-epoch partition change is refused', async () => {
    const l = await createLoader(base());
    const [b] = await take(l, 1);
    await l.close();
    const st = b!.state;
    expect(JSON.stringify(st).length).toBeLessThan(400);
    expect(st).toMatchObject({ epoch: 0, position: 3, seed: 7 });
    await expect(createLoader(base({ seed: 8, state: st }))).rejects.toThrow(/seed/);
    await expect(createLoader(base({ worldSize: 2, state: st }))).rejects.toThrow(/epoch boundary/);
    await expect(createLoader(base({ state: { ...st, corpus: 'x'.repeat(64) } }))).rejects.toThrow(/another corpus/);
    await expect(createLoader(base({ state: { ...st, position: -1 } }))).rejects.toThrow(/not a loader state.*\(field "state.position"\)|not a loader state/);
    // at an epoch boundary the partition may change
    const ok = await createLoader(base({ worldSize: 2, state: { ...st, epoch: 1, position: 0 } }));
    expect(ok.state()).toMatchObject({ epoch: 1, position: 0, worldSize: 2 });
    await ok.close();
  });
});

describe('batch layout', () => {
  it('pads and masks images, tokens and short batches; fills the ground truth', async () => {
    const rows = new Map((await rowsOf({ dir: '', rows: N, files: 1 })).map((r) => [r.id, r]));
    const batches = await all({ epochs: 1, batchSize: 4, maxImages: 4 });
    const last = batches.at(-1)!;
    expect(last.size).toBe(2);
    expect(Array.from(last.rowMask)).toEqual([1, 1, 0, 0]);
    expect(last.ids.slice(2)).toEqual(['', '']);
    for (const b of batches) {
      expect(b.images.length).toBe(4 * 4 * 8 * 8 * 3);
      expect(b.shapes.images).toEqual([4, 4, 8, 8, 3]);
      for (let r = 0; r < b.batchSize; r++) {
        const id = b.ids[r]!;
        const row = id ? rows.get(id)! : null;
        const i = row ? Number(id.split('-')[1]) : -1;
        const nImg = row ? imageCount(i) : 0;
        for (let k = 0; k < 4; k++) {
          expect(b.imageMask[r * 4 + k]).toBe(k < nImg ? 1 : 0);
          if (k >= nImg) {
            const slot = b.images.subarray((r * 4 + k) * 192, (r * 4 + k + 1) * 192);
            expect(slot.every((v) => v === 0)).toBe(true);
          }
        }
        const enc = row ? utf8Encode(row) : { promptTokens: new Int32Array(0), targetTokens: new Int32Array(0) };
        const pm = Array.from(b.promptMask.subarray(r * 64, (r + 1) * 64));
        expect(pm.reduce((s, v) => s + v, 0)).toBe(enc.promptTokens.length);
        expect(Array.from(b.promptTokens.subarray(r * 64, r * 64 + enc.promptTokens.length))).toEqual(Array.from(enc.promptTokens));
        expect(b.promptTokens.subarray(r * 64 + enc.promptTokens.length, (r + 1) * 64).every((v) => v === 0)).toBe(true);
        expect(Array.from(b.targetTokens.subarray(r * 64, r * 64 + enc.targetTokens.length))).toEqual(Array.from(enc.targetTokens));
        if (row) {
          expect(Array.from(b.targetBox.subarray(r * 4, r * 4 + 4))).toEqual(row.targetBox);
          expect(b.targetImage[r]).toBe(row.targetImage);
          expect(b.answers[r]).toBe(row.answer);
        }
      }
      expect(b.truncated).toBe(0);
    }
  });

  it('truncates over-long token lists with a counter, or throws a RecordError naming the row', async () => {
    const l = await createLoader(base({ epochs: 1, maxTargetTokens: 40 }));
    let truncated = 0;
    for await (const b of l) {
      truncated += b.truncated;
      expect(b.targetMask.length).toBe(3 * 40);
    }
    // completions are 36 + i%7 + digits(i) bytes: rows with longer ones are cut
    const want = (await rowsOf({ dir: '', rows: N, files: 1 })).filter((r) => utf8Encode(r).targetTokens.length > 40).length;
    expect(want).toBeGreaterThan(0);
    expect(truncated).toBe(want);
    expect(l.stats().truncatedTarget).toBe(want);
    const strict = await createLoader(base({ epochs: 1, maxTargetTokens: 40, overflow: 'error' }));
    const err = await (async () => {
      try {
        for await (const _ of strict) void _;
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(RecordError);
    expect((err as RecordError).describe()).toMatch(/target has \d+ tokens, maxTargetTokens is 40.*part-\d+-of-00004\.parquet.*record "r-\d+"/);
    expect(strict.stats().liveWorkers).toBe(0);
  });

  it('RlRow batches carry weight (null -> 1) and difficulty (null -> NaN)', async () => {
    const rl = await writeCorpus({ dir: join(tmp.dir, 'rl'), rows: 10, files: 2, kind: 'RlRow' });
    const l = await createLoader({ ...base(), kind: 'RlRow', dirs: [rl], epochs: 1, encode: undefined } as LoaderOptions<'RlRow'>);
    let n = 0;
    for await (const b of l) {
      expect(b.shapes.weight).toEqual([3]);
      for (let r = 0; r < b.size; r++) {
        const i = Number(b.ids[r]!.split('-')[1]);
        expect(b.weight![r]).toBeCloseTo(i % 2 ? 1 : 1 + i / 100, 5);
        if (i % 2) expect(Number.isNaN(b.difficulty![r])).toBe(true);
        else expect(b.difficulty![r]).toBeCloseTo(i / 100, 5);
        n++;
      }
    }
    expect(n).toBe(10);
  });

  it('refuses a corpus of the other kind and rows with more images than maxImages', async () => {
    await expect(createLoader({ ...base(), kind: 'RlRow' } as unknown as LoaderOptions<'RlRow'>)).rejects.toThrow(/holds SftRow records/);
    const l = await createLoader(base({ maxImages: 2, shuffleBuffer: 1 }));
    await expect(take(l, 10)).rejects.toThrow(/row has 3 images, maxImages is 2/);
  });
});

describe('corpus', () => {
  it('reads several stage directories as one corpus, every row once per epoch', async () => {
    const other = await writeCorpus({ dir: join(tmp.dir, 'sft-b'), rows: 7, files: 2, idPrefix: 'b' });
    const ids = (await all({ dirs: [dir, other], epochs: 1 })).flatMap(realIds);
    expect(ids).toHaveLength(N + 7);
    expect(new Set(ids).size).toBe(N + 7);
    expect(ids.filter((i) => i.startsWith('b-'))).toHaveLength(7);
  });

  it('a shard that no longer matches its manifest is a ShardError naming the file', async () => {
    const { readFileSync, writeFileSync, readdirSync } = await import('node:fs');
    const bad = await writeCorpus({ dir: join(tmp.dir, 'tampered'), rows: 6, files: 1 });
    const file = join(bad, readdirSync(bad).find((n) => n.endsWith('.parquet'))!);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(file, bytes);
    const l = await createLoader(base({ dirs: [bad] }));
    await expect(l.next()).rejects.toThrow(/sha256 does not match the manifest/);
    expect(l.stats().liveWorkers).toBe(0);
  });

  it('an encode hook that throws becomes a RecordError naming the row', async () => {
    const l = await createLoader(
      base({
        encode: (r) => {
          if (r.id === 'r-5') throw new Error('unknown token');
          return utf8Encode(r);
        },
        shuffleBuffer: 1,
        epochs: 1,
      }),
    );
    const err = await take(l, 20).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordError);
    expect((err as RecordError).describe()).toMatch(/encode\(\) failed: unknown token.*record "r-5"/);
  });
});
