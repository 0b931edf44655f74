/**
 * Interop is tested, not assumed: every record kind written by the store is read back by DuckDB
 * (`read_parquet`, a different Parquet implementation) with the same values, and the footer is checked
 * for what Hugging Face `datasets` needs (reference/trainer-formats.md §7).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recordCodec, type RecordOf } from '../../src/schema/arrow.js';
import { canonicalJson } from '../../src/schema/canonical.js';
import { RECORDS, type RecordKind } from '../../src/schema/records.js';
import { readBatches, readRows, writeShards } from '../../src/store/index.js';
import { groundingSamples, normalize, predictions, query, rlRows, sftRows, sqlString, teacherCandidates, tempDir, verdicts } from './helpers.js';

const tmp = tempDir('interop');
afterAll(() => tmp.cleanup());

const KEY: Partial<Record<RecordKind, string>> = {
  GroundingSample: 'id',
  TeacherCandidate: 'sampleId',
  Verdict: 'sampleId',
  SftRow: 'id',
  RlRow: 'id',
  Prediction: 'id',
  QuarantineRecord: 'recordId',
  AuditLabel: 'id',
};

const cases: Array<[string, RecordKind, unknown[]]> = [
  ['GroundingSample', 'GroundingSample', groundingSamples(12)],
  ['TeacherCandidate', 'TeacherCandidate', teacherCandidates(9)],
  ['Verdict', 'Verdict', verdicts(8)],
  ['SftRow with embedded bytes', 'SftRow', sftRows(6, true)],
  ['SftRow with image-store paths', 'SftRow', sftRows(6, false)],
  ['RlRow', 'RlRow', rlRows(6)],
  ['Prediction', 'Prediction', predictions(6)],
  [
    'AuditLabel',
    'AuditLabel',
    Array.from({ length: 7 }, (_, i) => ({
      seq: i, id: `l-${i}`, sampleId: `s-${i % 3}`, candidateIndex: i % 2 ? null : i, auditor: i % 2 ? 'ana' : 'bo', decision: (['accept', 'reject', 'flag', 'clear'] as const)[i % 4],
      reason: i % 4 === 1 ? 'wrong_box' : null, note: i === 3 ? 'a note with "quotes" and <b>' : '', time: `2025-01-0${i + 1}T00:00:00.000Z`, undoes: i === 3 ? 'l-1' : null,
    })),
  ],
];

describe('DuckDB reads what the store writes', () => {
  for (const [label, kind, rows] of cases) {
    it(`${label}: same values through DuckDB read_parquet and through readRows`, async () => {
      const dir = join(tmp.dir, label.replace(/\W+/g, '-'));
      const manifest = await writeShards(kind, rows as Iterable<RecordOf<typeof kind>>, { dir, count: 3, rowGroupRows: 2 });
      expect(manifest.rows).toBe(rows.length);
      const key = KEY[kind]!;
      const expected = rows
        .map((r) => RECORDS[kind].parse(r) as Record<string, unknown>)
        .map((r) => ('meta' in r ? { ...r, meta: canonicalJson(r.meta) } : r))
        .sort((a, b) => (String(a[key]) < String(b[key]) ? -1 : 1));
      const got = (await query(`SELECT * FROM read_parquet(${sqlString(join(dir, '*.parquet'))}) ORDER BY "${key}"`)).map(normalize);
      expect(got).toEqual(expected);

      const ours: unknown[] = [];
      for await (const r of readRows(kind, dir, { validate: true })) ours.push(r);
      const parsed = rows.map((r) => RECORDS[kind].parse(r) as Record<string, unknown>);
      const sortKey = (r: unknown) => String((r as Record<string, unknown>)[key]);
      expect([...ours].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1))).toEqual([...parsed].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1)));
    });
  }

  it('an SftRow image keeps its exact bytes (0x00, 0xff, a 3-byte prefix) and null path', async () => {
    const dir = join(tmp.dir, 'bytes');
    const rows = sftRows(2, true);
    await writeShards('SftRow', rows, { dir, count: 1 });
    const got = await query(`SELECT images[1].bytes AS a, images[2].bytes AS b, images[2].path AS p, octet_length(images[1].bytes) AS n FROM read_parquet(${sqlString(join(dir, '*.parquet'))}) ORDER BY id`);
    expect(new Uint8Array(got[0]!.a as Uint8Array)).toEqual(rows[0]!.images[0]!.bytes);
    expect(new Uint8Array(got[1]!.b as Uint8Array)).toEqual(rows[1]!.images[1]!.bytes);
    expect(got[0]!.p).toBeNull();
    expect(Number(got[0]!.n)).toBe(64);
  });
});

describe('the footer is what Hugging Face datasets needs (§7)', () => {
  const dir = join(tmp.dir, 'footer');
  const files = async () => {
    await writeShards('SftRow', sftRows(9, true), { dir, count: 3, rowGroupRows: 2 });
    return readdirSync(dir).filter((n) => n.endsWith('.parquet')).sort().map((n) => join(dir, n));
  };
  let written: Promise<string[]> | null = null;
  const get = () => (written ??= files());

  it('names shards part-0000i-of-00003.parquet', async () => {
    expect((await get()).map((p) => p.slice(dir.length + 1))).toEqual([
      'part-00000-of-00003.parquet',
      'part-00001-of-00003.parquet',
      'part-00002-of-00003.parquet',
    ]);
  });

  it('every field, struct child and list element is OPTIONAL; strings carry the String logical type; images are {bytes, path}', async () => {
    const [first] = await get();
    const schema = await query(`SELECT name, type, repetition_type, converted_type, logical_type, num_children FROM parquet_schema(${sqlString(first!)})`);
    const [root, ...nodes] = schema;
    expect(root!.repetition_type ?? 'REQUIRED').not.toBe('OPTIONAL');
    for (const n of nodes) {
      // The middle `list` group of the 3-level LIST encoding is REPEATED by definition; all else OPTIONAL.
      if (n.name === 'list') expect(n.repetition_type, 'list group').toBe('REPEATED');
      else expect(n.repetition_type, String(n.name)).toBe('OPTIONAL');
    }
    const names = nodes.map((n) => n.name);
    const imagesAt = names.indexOf('images');
    expect(names.slice(imagesAt, imagesAt + 5)).toEqual(['images', 'list', 'item', 'bytes', 'path']);
    const bytes = nodes[imagesAt + 3]!;
    const path = nodes[imagesAt + 4]!;
    expect([bytes.type, bytes.logical_type]).toEqual(['BYTE_ARRAY', null]);
    expect([path.type, path.converted_type, path.logical_type]).toEqual(['BYTE_ARRAY', 'UTF8', 'StringType()']);
    const id = nodes.find((n) => n.name === 'id')!;
    expect([id.type, id.logical_type]).toEqual(['BYTE_ARRAY', 'StringType()']);
    expect(nodes.find((n) => n.name === 'candidateIndex')!.type).toBe('INT64');
    expect(nodes.find((n) => n.name === 'iou')!.type).toBe('DOUBLE');
  });

  it('carries the exact huggingface metadata, zstd, and bounded row groups, in every shard', async () => {
    const paths = await get();
    const schemas = new Set<string>();
    for (const p of paths) {
      const kv = await query(`SELECT key, value FROM parquet_kv_metadata(${sqlString(p)})`);
      const text = (b: unknown) => Buffer.from(b as Uint8Array).toString('utf8');
      const hf = kv.filter((r) => text(r.key) === 'huggingface');
      expect(hf).toHaveLength(1);
      expect(text(hf[0]!.value)).toBe(recordCodec('SftRow').huggingface);
      const meta = await query(`SELECT row_group_id, row_group_num_rows, compression FROM parquet_metadata(${sqlString(p)})`);
      for (const m of meta) {
        expect(m.compression).toBe('ZSTD');
        expect(Number(m.row_group_num_rows)).toBeLessThanOrEqual(2);
      }
      schemas.add(JSON.stringify(await query(`SELECT name, type, repetition_type, logical_type FROM parquet_schema(${sqlString(p)})`)));
    }
    expect(schemas.size).toBe(1);
  });

  it('our reader hands back the huggingface metadata on every batch', async () => {
    await get();
    let n = 0;
    for await (const b of readBatches(dir)) {
      expect(b.schema.metadata.get('huggingface')).toBe(recordCodec('SftRow').huggingface);
      n += b.numRows;
    }
    expect(n).toBe(9);
  });
});
