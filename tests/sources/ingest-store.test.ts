/**
 * Ingest to real Parquet shards (the store module, parquet-wasm) and through the real CLI process:
 * round trip, determinism, failure leaves nothing that looks complete, bounded memory on a big file.
 */
import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { QuarantineRecord, type GroundingSample } from '../../src/schema/records.js';
import { ingestMGrounding, newReaderStats, type IngestEvent } from '../../src/sources/index.js';
import { ingestToStore } from '../../src/sources/write.js';
import { ImageStore, readRows, verifyShards } from '../../src/store/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FIX = join(ROOT, 'datasets', 'fixtures');
const MG_INPUT = join(FIX, 'mgrounding', 'train.json');
const MG_ROOT = join(FIX, 'mgrounding');
const MB_INPUT = join(FIX, 'migbench', 'MIG_data.json');
const MB_ROOT = join(FIX, 'migbench');
const made: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'univg-ingest-'));
  made.push(d);
  return d;
};
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
const run = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [join(ROOT, 'bin', 'univg.js'), ...args], { cwd: ROOT });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

async function readAll(dir: string): Promise<GroundingSample[]> {
  const out: GroundingSample[] = [];
  for await (const r of readRows('GroundingSample', dir)) out.push(r);
  return out;
}

const filesIn = (dir: string) => readdirSync(dir).sort();

describe('ingestToStore', () => {
  it('writes shards that read back to exactly the samples ingest yields, plus quarantine.jsonl', async () => {
    const out = tmp();
    const res = await ingestToStore({ format: 'mgrounding', input: MG_INPUT, imageRoot: MG_ROOT, out, shards: 3 });
    expect(res.records).toBe(23);
    expect(res.summary).toEqual({
      samples: 8,
      quarantined: 19,
      byTask: { common_object: 2, diff: 1, group_grounding: 5 },
      byReason: {
        box_degenerate: 1,
        box_inverted: 2,
        box_multiple: 1,
        box_not_finite: 1,
        box_out_of_range: 1,
        box_unparsable: 1,
        conversation_malformed: 1,
        duplicate_id: 1,
        image_count_mismatch: 1,
        image_missing: 1,
        image_ordinal_unknown: 1,
        image_unreadable: 1,
        json_invalid: 1,
        no_grounded_turn: 1,
        path_escapes_root: 2,
        question_empty: 1,
        record_invalid: 1,
      },
    });
    expect(filesIn(out)).toEqual(['_manifest.json', 'part-00000-of-00003.parquet', 'part-00001-of-00003.parquet', 'part-00002-of-00003.parquet', 'quarantine.jsonl']);
    const v = await verifyShards(out);
    expect(v.problems).toEqual([]);
    expect(res.manifest.rows).toBe(8);
    // The input's hash, computed while streaming, is the manifest's lineage.
    const { createHash } = await import('node:crypto');
    expect(res.manifest.lineage.inputs[0]).toMatchObject({ path: MG_INPUT, kind: 'mgrounding', sha256: createHash('sha256').update(readFileSync(MG_INPUT)).digest('hex') });

    const expected: GroundingSample[] = [];
    for await (const e of ingestMGrounding({ input: MG_INPUT, imageRoot: MG_ROOT })) if (e.kind === 'sample') expected.push(e.sample);
    const back = await readAll(out);
    const byId = (a: GroundingSample, b: GroundingSample) => (a.id < b.id ? -1 : 1);
    expect(back.sort(byId)).toEqual(expected.sort(byId));

    const lines = readFileSync(join(out, 'quarantine.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(19);
    for (const l of lines) QuarantineRecord.parse(JSON.parse(l));
  });

  it('is deterministic: the same input gives byte-identical shards, manifest and quarantine file', async () => {
    const a = tmp();
    const b = tmp();
    await ingestToStore({ format: 'migbench', input: MB_INPUT, imageRoot: MB_ROOT, out: a, shards: 4 });
    await ingestToStore({ format: 'migbench', input: MB_INPUT, imageRoot: MB_ROOT, out: b, shards: 4, concurrency: 1 });
    expect(filesIn(a)).toEqual(filesIn(b));
    for (const f of filesIn(a)) expect(readFileSync(join(b, f)).equals(readFileSync(join(a, f))), f).toBe(true);
  });

  it('leaves no shard, manifest or quarantine file behind when the input is truncated', async () => {
    const dir = tmp();
    const cut = join(dir, 'cut.json');
    const text = readFileSync(MG_INPUT);
    writeFileSync(cut, text.subarray(0, 3000));
    const out = join(dir, 'out');
    // An earlier successful run in the same directory: its manifest and quarantine file must not survive.
    await ingestToStore({ format: 'mgrounding', input: MG_INPUT, imageRoot: MG_ROOT, out });
    expect(filesIn(out)).toEqual(['_manifest.json', 'part-00000-of-00001.parquet', 'quarantine.jsonl']);
    await expect(ingestToStore({ format: 'mgrounding', input: cut, imageRoot: MG_ROOT, out })).rejects.toMatchObject({ code: 'input', context: { offset: 3000, file: cut } });
    // The old part file may stay, but without a manifest the stage reads as not done, and nothing new
    // (no temp file, no quarantine file) is left.
    expect(filesIn(out).filter((f) => f !== 'part-00000-of-00001.parquet')).toEqual([]);
  });

  it('copies images into the content-addressed store with --copy-images', async () => {
    const out = tmp();
    const res = await ingestToStore({ format: 'migbench', input: MB_INPUT, imageRoot: MB_ROOT, out, copyImages: true });
    const store = new ImageStore(join(out, 'images'));
    const samples = await readAll(out);
    const shas = new Set(samples.flatMap((s) => s.images.map((i) => i.sha256)));
    expect(res.imagesCopied).toBe(shas.size);
    for (const sha of shas) expect((await store.get(sha, { verify: true })).length).toBeGreaterThan(0);
  });

  it('keeps memory bounded on a large input (reader buffer stays one chunk + one record)', async () => {
    const dir = tmp();
    const input = join(dir, 'big.json');
    const fd = openSync(input, 'w');
    const n = 20_000;
    const imgs = ['sa_1', 'sa_2', 'sa_3', 'sa_4'].map((x) => `./MGrounding-630k/Group_Grounding/SA-1B/${x}.png`);
    writeSync(fd, '[');
    for (let i = 0; i < n; i++) {
      const rec = {
        id: `big_${i}`,
        images: imgs,
        conversations: [
          { from: 'human', value: `<image>\n<image>\n<image>\n<image>\nFind object ${i}: ${'a long description '.repeat(i % 20)}` },
          { from: 'gpt', value: `It's in the ${['first', 'second', 'third', 'fourth'][i % 4]} image. <|box_start|>(${i % 500},10),(${(i % 500) + 100},900)<|box_end|>` },
        ],
        type: 'gg_train',
      };
      writeSync(fd, (i ? ',\n' : '\n') + JSON.stringify(rec, null, 2));
    }
    writeSync(fd, '\n]\n');
    closeSync(fd);
    const size = statSync(input).size;
    const stats = newReaderStats();
    let samples = 0;
    let last: IngestEvent | null = null;
    for await (const e of ingestMGrounding({ input, imageRoot: MG_ROOT, readerStats: stats })) {
      if (e.kind === 'sample') samples++;
      last = e;
    }
    expect(samples).toBe(n);
    expect(last).toMatchObject({ kind: 'sample', sample: { id: `big_${n - 1}#0`, targetImage: 3 } });
    expect(size).toBeGreaterThan(10_000_000);
    expect(stats.bytesRead).toBe(size);
    expect(stats.maxBufferedBytes).toBeLessThanOrEqual(64 * 1024 + stats.maxElementBytes);
    expect(stats.maxBufferedBytes).toBeLessThan(size / 100);
  }, 60_000);
});

describe('univg ingest (CLI)', () => {
  it('prints a JSON summary and writes the outputs', async () => {
    const out = tmp();
    const r = await cli(['ingest', '--format', 'migbench', '--input', MB_INPUT, '--image-root', MB_ROOT, '--out', out, '--shards', '2', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({
      format: 'migbench',
      records: 21,
      samples: 8,
      quarantined: 13,
      byTask: { common_object: 1, correspondence: 1, diff: 1, group_grounding: 1, object_tracking: 1, reasoning: 1, refer_grounding: 1, region: 1 },
    });
    expect(Object.values(s.byReason as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(13);
    expect(s.shards.map((f: { file: string }) => f.file)).toEqual(['part-00000-of-00002.parquet', 'part-00001-of-00002.parquet']);
    expect(filesIn(out)).toContain('quarantine.jsonl');
  }, 60_000);

  it('prints counts per task and per reason for humans', async () => {
    const out = tmp();
    const r = await cli(['ingest', '--format', 'mgrounding', '--input', MG_INPUT, '--image-root', MG_ROOT, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ingest mgrounding: 23 records read, 8 samples, 19 quarantined');
    expect(r.stdout).toMatch(/group_grounding\s+5/);
    expect(r.stdout).toMatch(/path_escapes_root\s+2/);
  }, 60_000);

  it('answers bad usage and missing input with one clear line and exit code 2', async () => {
    const out = join(tmp(), 'never');
    const missing = await cli(['ingest', '--format', 'migbench', '--input', '/nonexistent/MIG_data.json', '--image-root', MB_ROOT, '--out', out]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('/nonexistent/MIG_data.json');
    const badFormat = await cli(['ingest', '--format', 'coco', '--input', MB_INPUT, '--image-root', MB_ROOT, '--out', out]);
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toContain('coco');
    const badShards = await cli(['ingest', '--format', 'migbench', '--input', MB_INPUT, '--image-root', MB_ROOT, '--out', out, '--shards', '0']);
    expect(badShards.code).toBe(2);
    expect(() => statSync(out)).toThrow(); // nothing was created
  }, 60_000);
});
