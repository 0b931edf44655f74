/** verifyShards names every kind of damage; readers turn damage into a ShardError, never a short read. */
import { appendFileSync, cpSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShardError } from '../../src/errors.js';
import { readBatches, readRows, verifyShards, writeShards, MANIFEST_NAME, type Manifest } from '../../src/store/index.js';
import { groundingSamples, tempDir } from './helpers.js';

const tmp = tempDir('verify');
const good = join(tmp.dir, 'good');
const ROWS = groundingSamples(40);
let manifest: Manifest;

beforeAll(async () => {
  manifest = await writeShards('GroundingSample', ROWS, { dir: good, count: 2, rowGroupRows: 7 });
});
afterAll(() => tmp.cleanup());

/** A fresh copy of the good stage to damage. */
function copy(name: string): string {
  const dir = join(tmp.dir, name);
  cpSync(good, dir, { recursive: true });
  return dir;
}
const part = (i: number) => `part-0000${i}-of-00002.parquet`;

async function drain(dir: string, opts = {}): Promise<{ rows: number; error: unknown }> {
  let rows = 0;
  try {
    for await (const _ of readRows('GroundingSample', dir, opts)) rows++;
  } catch (error) {
    return { rows, error };
  }
  return { rows, error: null };
}

describe('verifyShards', () => {
  it('passes an intact stage, with row counts per file (and deep decode agrees)', async () => {
    const res = await verifyShards(good, { deep: true });
    expect(res.problems).toEqual([]);
    expect(res.ok).toBe(true);
    expect(res.files.map((f) => [f.file, f.ok])).toEqual([
      [part(0), true],
      [part(1), true],
    ]);
    expect(res.files.reduce((s, f) => s + (f.rows ?? 0), 0)).toBe(40);
    expect(manifest.files.map((f) => f.rows).reduce((a, b) => a + b)).toBe(40);
  });

  it('names a truncated file', async () => {
    const dir = copy('truncated');
    const size = readFileSync(join(dir, part(1))).length;
    truncateSync(join(dir, part(1)), Math.floor(size / 2));
    const res = await verifyShards(dir);
    expect(res.ok).toBe(false);
    expect(res.files.find((f) => f.file === part(0))!.ok).toBe(true);
    const problems = res.problems.filter((p) => p.file === part(1)).map((p) => p.problem);
    expect(problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/size differs/), expect.stringMatching(/sha256 differs/), expect.stringMatching(/truncated or corrupted/)]),
    );
    expect(res.problems.every((p) => p.file === part(1))).toBe(true);
  });

  it('names a file with one flipped byte', async () => {
    const dir = copy('flipped');
    const buf = readFileSync(join(dir, part(0)));
    buf[Math.floor(buf.length / 3)]! ^= 0x01;
    writeFileSync(join(dir, part(0)), buf);
    const res = await verifyShards(dir);
    expect(res.ok).toBe(false);
    expect(res.problems).toEqual([
      { file: part(0), problem: 'sha256 differs from the manifest (corrupted)', expected: manifest.files[0]!.sha256, actual: expect.stringMatching(/^[0-9a-f]{64}$/) },
    ]);
  });

  it('names a missing file', async () => {
    const dir = copy('missing');
    rmSync(join(dir, part(1)));
    const res = await verifyShards(dir);
    expect(res.problems).toEqual([{ file: part(1), problem: 'file listed in the manifest is missing' }]);
  });

  it('names a row-count mismatch between manifest and footer', async () => {
    const dir = copy('rowcount');
    const m = JSON.parse(readFileSync(join(dir, MANIFEST_NAME), 'utf8')) as Manifest;
    m.files[1]!.rows += 1;
    m.rows += 1;
    writeFileSync(join(dir, MANIFEST_NAME), JSON.stringify(m));
    const res = await verifyShards(dir);
    expect(res.problems).toEqual([{ file: part(1), problem: 'row count differs from the manifest', expected: m.files[1]!.rows, actual: m.files[1]!.rows - 1 }]);
  });

  it('names a missing or unreadable manifest, unlisted shards and leftover temp files', async () => {
    const noManifest = copy('nomanifest');
    rmSync(join(noManifest, MANIFEST_NAME));
    writeFileSync(join(noManifest, `.${part(0)}.123-0.tmp`), 'partial');
    const a = await verifyShards(noManifest);
    expect(a.ok).toBe(false);
    expect(a.problems.map((p) => [p.file, p.problem])).toEqual(
      expect.arrayContaining([
        [MANIFEST_NAME, 'manifest is missing (the stage did not finish)'],
        [`.${part(0)}.123-0.tmp`, 'leftover temp file of an interrupted write'],
        [part(0), 'file has no manifest entry'],
      ]),
    );
    const badJson = copy('badjson');
    writeFileSync(join(badJson, MANIFEST_NAME), '{"format": "univg-shards", "files": [');
    expect((await verifyShards(badJson)).problems[0]).toEqual({ file: MANIFEST_NAME, problem: 'manifest is not valid JSON (truncated?)' });
    const extra = copy('extra');
    cpSync(join(extra, part(0)), join(extra, 'part-00009-of-00010.parquet'));
    expect((await verifyShards(extra)).problems.map((p) => [p.file, p.problem])).toEqual([['part-00009-of-00010.parquet', 'file is not listed in the manifest']]);
  });
});

describe('readers refuse damaged shards', () => {
  it('reads an intact stage completely, in manifest order, one row group per batch', async () => {
    const sizes: number[] = [];
    for await (const b of readBatches(good)) sizes.push(b.numRows);
    expect(sizes.every((n) => n <= 7)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(40);
    const { rows, error } = await drain(good);
    expect([rows, error]).toEqual([40, null]);
    const only: number[] = [];
    for await (const b of readBatches(good, { files: [part(1)] })) only.push(b.numRows);
    expect(only.reduce((a, b) => a + b, 0)).toBe(manifest.files[1]!.rows);
  });

  it('a flipped byte is a ShardError naming the file before any of its rows', async () => {
    const dir = copy('read-flipped');
    const buf = readFileSync(join(dir, part(1)));
    buf[100]! ^= 0xff;
    writeFileSync(join(dir, part(1)), buf);
    const { rows, error } = await drain(dir);
    expect(error).toBeInstanceOf(ShardError);
    expect((error as ShardError).context.file).toBe(join(dir, part(1)));
    expect((error as ShardError).message).toMatch(/sha256/);
    expect(rows).toBe(manifest.files[0]!.rows);
  });

  it('a truncated file is a ShardError even when checksums are skipped', async () => {
    const dir = copy('read-truncated');
    truncateSync(join(dir, part(0)), 200);
    for (const verify of [true, false]) {
      const { rows, error } = await drain(dir, { verify });
      expect(error, `verify=${verify}`).toBeInstanceOf(ShardError);
      expect((error as ShardError).context.file).toBe(join(dir, part(0)));
      expect(rows).toBe(0);
    }
  });

  it('a footer whose row count disagrees with the manifest is a ShardError', async () => {
    const dir = copy('read-rowcount');
    const m = JSON.parse(readFileSync(join(dir, MANIFEST_NAME), 'utf8')) as Manifest;
    m.files[0]!.rows -= 1;
    writeFileSync(join(dir, MANIFEST_NAME), JSON.stringify(m));
    const { error } = await drain(dir);
    expect((error as ShardError).message).toMatch(/footer has \d+ rows, manifest says/);
  });

  it('an incomplete stage (no manifest) or a file outside any manifest is refused unless verify is off', async () => {
    const dir = copy('read-nomanifest');
    rmSync(join(dir, MANIFEST_NAME));
    expect((await drain(dir)).error).toBeInstanceOf(ShardError);
    expect((await drain(join(dir, part(0)))).error).toBeInstanceOf(ShardError);
    const { rows, error } = await drain(join(dir, part(0)), { verify: false });
    expect([rows, error]).toEqual([manifest.files[0]!.rows, null]);
  });

  it('a wrong record kind is refused', async () => {
    let caught: unknown;
    try {
      for await (const _ of readRows('Verdict', good)) break;
    } catch (err) {
      caught = err;
    }
    expect((caught as ShardError).message).toBe('holds GroundingSample records, not Verdict');
  });

  it('appended garbage after a valid file is caught by size even without a readable footer', async () => {
    const dir = copy('appended');
    appendFileSync(join(dir, part(0)), Buffer.from('PAR1'));
    const res = await verifyShards(dir);
    expect(res.problems.map((p) => p.problem)).toEqual(expect.arrayContaining([expect.stringMatching(/size differs/)]));
  });
});
