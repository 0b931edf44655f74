/** Writer behaviour: determinism, partitioning, row-group bounds, temp-then-rename, abort and crash. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { RecordError } from '../../src/errors.js';
import { recordCodec } from '../../src/schema/arrow.js';
import {
  MANIFEST_NAME,
  ShardWriter,
  openParquet,
  readManifest,
  readRows,
  stableTaskOf,
  stageInput,
  verifyShards,
  writeManifest,
  writeShards,
} from '../../src/store/index.js';
import { fakeImage, groundingSamples, query, sftRows, sqlString, tempDir } from './helpers.js';

const tmp = tempDir('writer');
afterAll(() => tmp.cleanup());
const sub = (name: string) => join(tmp.dir, name);
const parquetFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.parquet')).sort();

async function footerRowGroups(file: string): Promise<number[]> {
  const f = await openParquet(file);
  try {
    return f.footer.rowGroupRows;
  } finally {
    f.close();
  }
}

describe('writeShards', () => {
  it('is deterministic: the same rows give byte-identical part files and manifest', async () => {
    const rows = groundingSamples(30);
    const a = await writeShards('GroundingSample', rows, { dir: sub('det-a'), count: 3, rowGroupRows: 4 });
    async function* again() {
      yield* groundingSamples(30);
    }
    const b = await writeShards('GroundingSample', again(), { dir: sub('det-b'), count: 3, rowGroupRows: 4 });
    expect(b).toEqual(a);
    for (const name of [...parquetFiles(sub('det-a')), MANIFEST_NAME])
      expect(readFileSync(join(sub('det-b'), name)).equals(readFileSync(join(sub('det-a'), name))), name).toBe(true);
    expect(readFileSync(join(sub('det-a'), MANIFEST_NAME), 'utf8')).not.toMatch(/20\d\d-\d\d-\d\d/);
  });

  it('puts each row in the part stableTaskOf(key) picks, keeping input order within a part', async () => {
    const rows = groundingSamples(25);
    await writeShards('GroundingSample', rows, { dir: sub('part'), count: 4 });
    for (let p = 0; p < 4; p++) {
      const ids: string[] = [];
      for await (const r of readRows('GroundingSample', join(sub('part'), `part-0000${p}-of-00004.parquet`))) ids.push(r.id);
      expect(ids).toEqual(rows.filter((r) => stableTaskOf(r.id, 4) === p).map((r) => r.id));
    }
    const custom = await writeShards('GroundingSample', rows, { dir: sub('part-custom'), count: 2, keyOf: (r) => r.task });
    // Two task values -> each part holds one task.
    expect(custom.files.filter((f) => f.rows > 0).length).toBeLessThanOrEqual(2);
  });

  it('writes every part of the -of-N set, empty ones included, with the schema', async () => {
    const m = await writeShards('GroundingSample', groundingSamples(2), { dir: sub('empty'), count: 6 });
    expect(parquetFiles(sub('empty'))).toHaveLength(6);
    expect(m.files.filter((f) => f.rows === 0).length).toBeGreaterThanOrEqual(4);
    const n = await query(`SELECT count(*) AS n FROM read_parquet(${sqlString(join(sub('empty'), '*.parquet'))})`);
    expect(Number(n[0]!.n)).toBe(2);
    expect((await verifyShards(sub('empty'))).ok).toBe(true);
  });

  it('bounds row groups by rows', async () => {
    await writeShards('GroundingSample', groundingSamples(23), { dir: sub('rg-rows'), count: 1, rowGroupRows: 5 });
    expect(await footerRowGroups(join(sub('rg-rows'), 'part-00000-of-00001.parquet'))).toEqual([5, 5, 5, 5, 3]);
  });

  it('bounds row groups by decoded bytes even when images compress to almost nothing', async () => {
    // 60 x 200 KB of periodic bytes: zstd shrinks them ~1000x, so parquet-rs's own byte cap (on encoded
    // bytes) alone would put all 60 rows (12 MB decoded) in one row group.
    const rows = sftRows(60, true).map((r, i) => ({ ...r, images: [{ bytes: fakeImage(i, 200_000), path: `img/${i}.png` }] }));
    await writeShards('SftRow', rows, { dir: sub('rg-bytes'), count: 1, rowGroupRows: 1000, rowGroupBytes: 4_000_000 });
    const file = await openParquet(join(sub('rg-bytes'), 'part-00000-of-00001.parquet'));
    const { rowGroupRows, rowGroupBytes, size } = file.footer;
    file.close();
    expect(rowGroupRows.reduce((a, b) => a + b, 0)).toBe(60);
    expect(Math.max(...rowGroupRows)).toBeLessThanOrEqual(20);
    expect(Math.max(...rowGroupBytes)).toBeLessThanOrEqual(4_400_000);
    expect(size).toBeLessThan(1_000_000);
  });

  it('names the input row of a bad record, leaves no part file and no manifest, and drops the old manifest', async () => {
    const dir = sub('bad-row');
    await writeShards('GroundingSample', groundingSamples(5), { dir, count: 2 });
    expect(existsSync(join(dir, MANIFEST_NAME))).toBe(true);
    const rows: unknown[] = groundingSamples(5);
    rows[3] = { ...(rows[3] as object), targetImage: -1.5 };
    let caught: unknown;
    try {
      await writeShards('GroundingSample', rows as never, { dir, count: 2 });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RecordError);
    expect((caught as RecordError).context).toMatchObject({ row: 3, field: 'targetImage' });
    expect(existsSync(join(dir, MANIFEST_NAME))).toBe(false);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    // validate: true applies the zod refinements too (here: an inverted box the encoder cannot know about).
    const inverted = groundingSamples(2).map((r, i) => (i === 1 ? { ...r, targetBox: [50, 50, 10, 10] as [number, number, number, number] } : r));
    await expect(writeShards('GroundingSample', inverted, { dir, count: 1, validate: true })).rejects.toMatchObject({ context: { row: 1, field: 'targetBox' } });
  });

  it('removes parts of an earlier run with another shard count', async () => {
    const dir = sub('recount');
    await writeShards('GroundingSample', groundingSamples(8), { dir, count: 4 });
    await writeShards('GroundingSample', groundingSamples(8), { dir, count: 2 });
    expect(parquetFiles(dir)).toEqual(['part-00000-of-00002.parquet', 'part-00001-of-00002.parquet']);
    expect((await verifyShards(dir)).ok).toBe(true);
  });

  it('records lineage, and stageInput describes a finished stage by its manifest checksum', async () => {
    const input = await stageInput(sub('det-a'), tmp.dir);
    expect(input).toMatchObject({ path: 'det-a', kind: 'GroundingSample', rows: 30, schemaFingerprint: recordCodec('GroundingSample').fingerprint });
    const m = await writeShards('GroundingSample', groundingSamples(1), { dir: sub('lineage'), count: 1, lineage: { stage: 'ingest', inputs: [input], params: { seed: 7 } } });
    expect((await readManifest(sub('lineage')))!.lineage).toEqual({ stage: 'ingest', inputs: [input], params: { seed: 7 } });
    expect(m.kind).toBe('GroundingSample');
    await expect(stageInput(sub('nope'))).rejects.toThrow(/no manifest/);
  });
});

describe('ShardWriter', () => {
  it('skips a bad row with a RecordError and keeps writing', async () => {
    const dir = sub('skip');
    const w = new ShardWriter({ dir, kind: 'GroundingSample', index: 0, count: 1, rowGroupRows: 2 });
    const rows = groundingSamples(5);
    for (const [i, r] of rows.entries()) {
      if (i === 2) await expect(w.write({ ...r, images: [] as never[], question: 7 } as never)).rejects.toBeInstanceOf(RecordError);
      await w.write(r);
    }
    const info = await w.close();
    expect(info.rows).toBe(5);
    await writeManifest(dir, [info], { kind: 'GroundingSample' });
    const ids: string[] = [];
    for await (const r of readRows('GroundingSample', dir)) ids.push(r.id);
    expect(ids).toEqual(rows.map((r) => r.id));
  });

  it('abort after row groups were written leaves no file that looks complete', async () => {
    const dir = sub('abort');
    const w = new ShardWriter({ dir, kind: 'GroundingSample', index: 1, count: 2, rowGroupRows: 3 });
    for (const r of groundingSamples(10)) await w.write(r);
    expect(existsSync(w.tempPath)).toBe(true);
    expect(w.tempPath).toMatch(/\/\.part-00001-of-00002\.parquet\.\d+-\d+\.tmp$/);
    await w.abort();
    expect(readdirSync(dir)).toEqual([]);
    await expect(w.write(groundingSamples(1)[0]!)).rejects.toThrow(/aborted/);
  });

  it('a process killed mid-write leaves only a hidden temp file, which the next run of that part removes', async () => {
    const dir = sub('crash');
    const script = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const temp = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /writing (.+)\n/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`writer exited early (${code}): ${stderr}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    expect(existsSync(temp)).toBe(true);
    expect(parquetFiles(dir)).toEqual([]);
    const res = await verifyShards(dir);
    expect(res.ok).toBe(false);
    expect(res.problems.map((p) => p.problem)).toEqual(['manifest is missing (the stage did not finish)', 'leftover temp file of an interrupted write']);
    await writeShards('GroundingSample', groundingSamples(3), { dir, count: 1 });
    expect(readdirSync(dir).sort()).toEqual([MANIFEST_NAME, 'part-00000-of-00001.parquet']);
  });

  it('rejects bad options with a ConfigError', () => {
    expect(() => new ShardWriter({ dir: sub('x'), kind: 'Verdict', index: 2, count: 2 })).toThrow(/shard index must be in 0..1/);
    expect(() => new ShardWriter({ dir: sub('x'), kind: 'Verdict', index: 0, count: 1, rowGroupRows: 0 })).toThrow(/rowGroupRows/);
    expect(() => new ShardWriter({ dir: sub('x'), kind: 'Nope' as never, index: 0, count: 1 })).toThrow(/unknown record kind/);
  });

  it('a manifest is written atomically and re-read identically', async () => {
    const dir = sub('manifest');
    const m = await writeShards('GroundingSample', groundingSamples(4), { dir, count: 2 });
    expect(await readManifest(dir)).toEqual(m);
    expect(readdirSync(dir).some((n) => n.endsWith('.tmp'))).toBe(false);
    writeFileSync(join(dir, MANIFEST_NAME), JSON.stringify({ ...m, rows: -1 }));
    await expect(readManifest(dir)).rejects.toMatchObject({ context: { field: 'rows' } });
    expect(await readManifest(sub('no-such-stage'))).toBeNull();
  });
});

describe('ShardWriter without awaiting each write', () => {
  it('keeps every row, in order, when writes are fired together', async () => {
    const dir = sub('concurrent');
    const w = new ShardWriter({ dir, kind: 'GroundingSample', index: 0, count: 1, rowGroupRows: 3 });
    const rows = groundingSamples(20);
    await Promise.all(rows.map((r) => w.write(r)));
    const info = await w.close();
    await writeManifest(dir, [info], { kind: 'GroundingSample' });
    const ids: string[] = [];
    for await (const r of readRows('GroundingSample', dir)) ids.push(r.id);
    expect(ids).toEqual(rows.map((r) => r.id));
    expect(await footerRowGroups(join(dir, info.file))).toEqual([3, 3, 3, 3, 3, 3, 2]);
  });
});
