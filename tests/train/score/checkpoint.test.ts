/**
 * scoreCorpus with the in-repo checkpoint: difficulty recomputed independently (sampleGroup with the
 * documented row seed, the paper's reward), determinism to the byte, a bad row quarantined with its id
 * and field while the good rows are kept, the limit, resume after an abort, pool selection, and the
 * output read by DuckDB.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accuracyReward } from '../../../src/completion/index.js';
import { InterruptedError } from '../../../src/errors.js';
import { convertBox } from '../../../src/geometry/index.js';
import type { RecordOf } from '../../../src/schema/arrow.js';
import { readManifest, readRows } from '../../../src/store/index.js';
import { promptIds } from '../../../src/train/batching.js';
import { loadCheckpoint } from '../../../src/train/generate.js';
import { decodeImage } from '../../../src/train/image.js';
import { bucketOf } from '../../../src/train/rl/difficulty.js';
import { sampleGroup } from '../../../src/train/rl/rollout.js';
import { scoreCorpus, type ScoreOptions } from '../../../src/train/score/index.js';
import { tempDir } from '../helpers.js';
import { shortRows, tinyCheckpoint, writeSft } from './fixtures.js';

const tmp = tempDir('score-ckpt');
let rows: RecordOf<'SftRow'>[];
let data: string;
let ckpt: string;
const G = 4;

/** Part files of a stage directory and their sha256, by name. */
function partHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of readdirSync(dir).filter((f) => f.endsWith('.parquet')).sort()) out[n] = createHash('sha256').update(readFileSync(join(dir, n))).digest('hex');
  return out;
}

async function outRows(dir: string): Promise<RecordOf<'RlRow'>[]> {
  const out: RecordOf<'RlRow'>[] = [];
  for await (const r of readRows('RlRow', dir)) out.push(r);
  return out;
}

const base = (out: string, extra: Partial<ScoreOptions> = {}): ScoreOptions => ({ data: [data], dataRoot: tmp.dir, out, model: { checkpoint: ckpt, backend: 'wasm' }, G, seed: 0, ...extra });

beforeAll(async () => {
  rows = await shortRows(7, 3);
  ckpt = await tinyCheckpoint(join(tmp.dir, 'sft-out'), rows, 40);
  // Two bad rows among the good ones: an image that is not there, a target image index with no image.
  const missing = { ...rows[1]!, id: 'bad-missing-image', images: [{ bytes: null, path: 'nowhere/missing.png' }], imageSha256: ['0'.repeat(64)], imageWidth: [40], imageHeight: [30], targetImage: 0, prompt: '<image>Locate the red square.' };
  const badTarget = { ...rows[2]!, id: 'bad-target-index', targetImage: 7 };
  data = await writeSft(join(tmp.dir, 'corpus'), [...rows, missing, badTarget]);
}, 60_000);
afterAll(() => tmp.cleanup());

describe('scoreCorpus from a checkpoint', () => {
  let first: Awaited<ReturnType<typeof scoreCorpus>>;

  it('writes each row with difficulty = mean of its G accuracy rewards, weight = e^(1 - mIoU), and its bucket', async () => {
    const logs: string[] = [];
    first = await scoreCorpus({ ...base(join(tmp.dir, 'a')), log: (l) => logs.push(l) });
    expect(first.source).toMatch(/^checkpoint:.*step-000001$/);
    expect(first).toMatchObject({ rows: 7, scored: 7, quarantined: 2, dropped: 0, resumedParts: 0 });
    const got = await outRows(first.out);
    expect(got.map((r) => r.id).sort()).toEqual(rows.map((r) => r.id).sort());

    // Independently: the checkpoint, sampleGroup with the documented row seed, the paper's reward.
    const loaded = await loadCheckpoint(ckpt, { prefer: 'wasm', only: true });
    let nonZero = 0;
    for (const r of got) {
      const src = rows.find((x) => x.id === r.id)!;
      expect(r).not.toHaveProperty('completion');
      expect(r.prompt).toBe(src.prompt);
      const images = await Promise.all(src.images.map((im) => decodeImage(im.bytes!, { size: loaded.config.imageSize, fit: 'stretch' })));
      const texts = (await sampleGroup(loaded.model, loaded.tokenizer, images, promptIds(loaded.tokenizer, src.prompt), { G, temperature: 1, seed: `score:0:${src.id}` })).map((x) => x.text);
      const gt = convertBox(src.targetBox, 'pixels', 'qwen2vl', { width: src.imageWidth[src.targetImage]!, height: src.imageHeight[src.targetImage]! });
      const acc = texts.map((t) => accuracyReward(t, gt));
      const miou = acc.reduce((a, b) => a + b, 0) / G;
      expect(r.difficulty, r.id).toBeCloseTo(miou, 12);
      expect(r.weight, r.id).toBeCloseTo(Math.exp(1 - miou), 12);
      expect(r.bucket, r.id).toBe(bucketOf(miou));
      if (miou > 0) nonZero++;
    }
    loaded.model.dispose();
    // The fitted model lands on some squares: the check above is not all zeros.
    expect(nonZero).toBeGreaterThan(0);
    const counts = { 'lt0.3': 0, '0.3-0.7': 0, 'gt0.7': 0 };
    for (const r of got) counts[r.bucket as keyof typeof counts]++;
    expect(first.buckets).toEqual(counts);
    expect(first.meanDifficulty).toBeCloseTo(got.reduce((a, r) => a + r.difficulty!, 0) / got.length, 12);
    expect(logs.some((l) => /7 rows scored/.test(l))).toBe(true);
  });

  it('quarantines bad rows with their id, field and reason, and keeps the good rows', () => {
    const q = readFileSync(join(tmp.dir, 'a', 'quarantine.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(q).toHaveLength(2);
    const byId = Object.fromEntries(q.map((x) => [x.recordId, x]));
    expect(byId['bad-missing-image']).toMatchObject({ stage: 'score', field: 'images[0]', reason: 'image_missing' });
    expect(byId['bad-missing-image'].detail).toMatch(/ENOENT/);
    expect(byId['bad-target-index']).toMatchObject({ stage: 'score', field: 'targetImage', reason: 'geometry' });
    expect(first.reasons).toEqual({ image_missing: 1, geometry: 1 });
  });

  it('is deterministic: the same seed gives the same bytes; another seed other rollouts', async () => {
    const again = await scoreCorpus(base(join(tmp.dir, 'b')));
    expect(partHashes(again.out)).toEqual(partHashes(first.out));
    expect((await readManifest(again.out))!.files).toEqual((await readManifest(first.out))!.files);
    const other = await scoreCorpus(base(join(tmp.dir, 'c'), { seed: 1 }));
    const d0 = (await outRows(first.out)).map((r) => r.difficulty);
    const d1 = (await outRows(other.out)).map((r) => r.difficulty);
    expect(d1).not.toEqual(d0);
  });

  it('a rerun of a finished output does nothing; other settings rescore it', async () => {
    const before = partHashes(first.out);
    const r = await scoreCorpus(base(first.out));
    expect(r).toMatchObject({ rows: 7, scored: 7, resumedParts: 2 });
    expect(partHashes(first.out)).toEqual(before);
    const weights = await scoreCorpus(base(join(tmp.dir, 'b'), { phi: 'power', phiPower: 2 }));
    for (const row of await outRows(weights.out)) expect(row.weight).toBeCloseTo((1.05 - row.difficulty!) ** 2, 12);
  });

  it('resumes after an abort: finished parts are kept and the result equals an uninterrupted run', async () => {
    const out = join(tmp.dir, 'resume');
    const ac = new AbortController();
    let seen = 0;
    await expect(scoreCorpus({ ...base(out), signal: ac.signal, progress: () => void (++seen === 6 && ac.abort()) })).rejects.toBeInstanceOf(InterruptedError);
    // The first part (more than 6 rows are not in it) is done, the second is not; no manifest yet.
    expect(existsSync(join(out, '_manifest.json'))).toBe(false);
    const parts = readdirSync(out).filter((n) => n.endsWith('.parquet'));
    expect(parts.length).toBeLessThan(2);
    expect(readdirSync(out).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const r = await scoreCorpus(base(out));
    expect(r.resumedParts).toBe(parts.length);
    expect(partHashes(out)).toEqual(partHashes(first.out));
    expect(readFileSync(join(out, 'quarantine.jsonl'), 'utf8')).toBe(readFileSync(join(first.out, 'quarantine.jsonl'), 'utf8'));
  });

  it('limit scores the first N rows in input order and drops the rest', async () => {
    const r = await scoreCorpus(base(join(tmp.dir, 'limit'), { limit: 3 }));
    expect(r.scored + r.quarantined).toBe(3);
    const inputOrder: string[] = [];
    for await (const x of readRows('SftRow', data)) inputOrder.push(x.id);
    const got = (await outRows(r.out)).map((x) => x.id);
    expect(got).toEqual(inputOrder.slice(0, 3).filter((id) => !id.startsWith('bad-')));
    const full = new Map((await outRows(first.out)).map((x) => [x.id, x.difficulty]));
    for (const x of await outRows(r.out)) expect(x.difficulty).toBe(full.get(x.id));
  });

  it('filters and orders the pool: hardest band first, easier rows dropped, full scored pool kept aside', async () => {
    const all = await outRows(first.out);
    // A cut in the middle of this corpus's mIoUs, so the filter has something to drop whatever they are.
    const sorted = all.map((x) => x.difficulty!).sort((a, b) => a - b);
    const cut = sorted[Math.floor(sorted.length / 2)]!;
    const r = await scoreCorpus(base(join(tmp.dir, 'pool'), { keep: ['hard', 'medium'], maxMiou: cut, order: 'hardest-first', bands: 20 }));
    const want = all.filter((x) => x.bucket !== 'gt0.7' && x.difficulty! <= cut);
    expect(r.dropped).toBe(all.length - want.length);
    expect(r.dropped).toBeGreaterThan(0);
    expect(r.rows).toBe(want.length);
    expect(r.scored).toBe(all.length);
    const got = await outRows(r.out);
    expect(got.map((x) => x.id).sort()).toEqual(want.map((x) => x.id).sort());
    // Through the manifest's files in order, the bands never go back to an easier one.
    const bands = got.map((x) => Math.min(19, Math.floor(x.difficulty! * 20)));
    expect(bands).toEqual([...bands].sort((a, b) => a - b));
    expect(new Set(bands).size).toBeGreaterThan(1);
    expect(readdirSync(r.out).filter((n) => n.endsWith('.parquet'))).toHaveLength(20);
    expect((await outRows(join(r.out, 'scored'))).length).toBe(all.length);
    // Easiest first is the same rows the other way round.
    const e = await scoreCorpus(base(join(tmp.dir, 'pool-easy'), { order: 'easiest-first', bands: 20 }));
    const eb = (await outRows(e.out)).map((x) => Math.min(19, Math.floor(x.difficulty! * 20)));
    expect(eb).toEqual([...eb].sort((a, b) => b - a));
    expect(e.rows).toBe(all.length);
  });

  it('switching a selection on and off moves the scored parts instead of scoring them again', async () => {
    const out = join(tmp.dir, 'switch');
    expect((await scoreCorpus(base(out))).resumedParts).toBe(0);
    const sel = await scoreCorpus(base(out, { order: 'hardest-first', bands: 20 }));
    expect(sel.resumedParts).toBe(2);
    expect(sel.counters).toEqual({});
    expect(partHashes(join(out, 'scored'))).toEqual(partHashes(first.out));
    expect(readdirSync(out).filter((n) => n.endsWith('.parquet'))).toHaveLength(20);
    const back = await scoreCorpus(base(out));
    expect(back).toMatchObject({ resumedParts: 2, counters: {}, rows: 7 });
    expect(partHashes(out)).toEqual(partHashes(first.out));
    expect(existsSync(join(out, 'scored'))).toBe(false);
  });

  it('writes Parquet that DuckDB reads, with the difficulty, weight and bucket columns', async () => {
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const got = (await con.runAndReadAll(`select id, difficulty, weight, bucket from read_parquet('${first.out}/*.parquet') order by id`)).getRowObjectsJS();
    const mine = (await outRows(first.out)).sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(got.map((r) => r.id)).toEqual(mine.map((r) => r.id));
    got.forEach((r, i) => {
      expect(r.difficulty).toBe(mine[i]!.difficulty);
      expect(r.weight).toBe(mine[i]!.weight);
      expect(r.bucket).toBe(mine[i]!.bucket);
    });
    con.closeSync();
  });
});
