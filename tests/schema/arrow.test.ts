import * as arrow from 'apache-arrow';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordError } from '../../src/errors.js';
import {
  arrowSchemaFor,
  describeSchema,
  hfFeaturesFor,
  recordBatchToRows,
  recordCodec,
  rowsToRecordBatch,
  schemaFingerprint,
} from '../../src/schema/arrow.js';
import { canonicalJson } from '../../src/schema/canonical.js';
import { GroundingSample, RECORDS, type RecordKind } from '../../src/schema/records.js';
import { groundingSamples, predictions, rlRows, sftRows, teacherCandidates, verdicts } from '../store/helpers.js';

const KINDS = Object.keys(RECORDS) as RecordKind[];

function everyField(t: arrow.DataType, visit: (f: arrow.Field) => void): void {
  for (const c of (t.children ?? []) as arrow.Field[]) {
    visit(c);
    everyField(c.type, visit);
  }
}

describe('arrowSchemaFor', () => {
  it('maps zod types to Arrow types column by column, keeping camelCase names', () => {
    const s = arrowSchemaFor('GroundingSample');
    expect(s.fields.map((f) => f.name)).toEqual(Object.keys(GroundingSample.shape));
    expect(describeSchema(s).split('\n').slice(0, -1)).toEqual([
      'id: utf8',
      'source: utf8',
      'task: utf8',
      'images: list<item: struct<sha256: utf8, path: utf8, width: int64, height: int64>>',
      'question: utf8',
      'context: list<item: struct<role: utf8, content: utf8>>',
      'targetImage: int64',
      'targetBox: list<item: float64>',
      'difficulty: utf8',
      'split: utf8',
      'meta: utf8',
    ]);
    const tc = arrowSchemaFor('TeacherCandidate');
    expect(tc.fields.find((f) => f.name === 'cached')!.type.typeId).toBe(arrow.Type.Bool);
    expect(tc.fields.find((f) => f.name === 'costUsd')!.type).toBeInstanceOf(arrow.Float64);
  });

  it('makes every column, struct child and list element nullable (Parquet OPTIONAL) for every kind', () => {
    for (const kind of KINDS) {
      const s = arrowSchemaFor(kind);
      for (const f of s.fields) {
        expect(f.nullable, `${kind}.${f.name}`).toBe(true);
        everyField(f.type, (c) => expect(c.nullable, `${kind}.${f.name}/${c.name}`).toBe(true));
      }
    }
  });

  it('stores HF images as struct<bytes: binary, path: string> in that order', () => {
    const images = arrowSchemaFor('SftRow').fields.find((f) => f.name === 'images')!;
    const item = (images.type as arrow.List).children[0]!;
    const struct = item.type as arrow.Struct;
    expect(struct.children.map((c) => [c.name, c.type.typeId])).toEqual([
      ['bytes', arrow.Type.Binary],
      ['path', arrow.Type.Utf8],
    ]);
  });

  it('writes the huggingface metadata in the spelling datasets reads on old and new versions', () => {
    const f = hfFeaturesFor('SftRow');
    expect(f.images).toEqual([{ _type: 'Image' }]);
    expect(f.targetBox).toEqual([{ dtype: 'float64', _type: 'Value' }]);
    expect(f.imageWidth).toEqual([{ dtype: 'int64', _type: 'Value' }]);
    expect(f.id).toEqual({ dtype: 'string', _type: 'Value' });
    expect(hfFeaturesFor('GroundingSample').context).toEqual([
      { role: { dtype: 'string', _type: 'Value' }, content: { dtype: 'string', _type: 'Value' } },
    ]);
    expect(hfFeaturesFor('TeacherCandidate').cached).toEqual({ dtype: 'bool', _type: 'Value' });
    const meta = JSON.parse(arrowSchemaFor('SftRow').metadata.get('huggingface')!);
    expect(Object.keys(meta)).toEqual(['info']);
    expect(Object.keys(meta.info)).toEqual(['features']);
    // Feature order follows column order, and every column is described.
    for (const kind of KINDS) expect(Object.keys(hfFeaturesFor(kind))).toEqual(arrowSchemaFor(kind).fields.map((x) => x.name));
  });

  it('gives each kind a distinct, stable fingerprint that tracks type changes', () => {
    const fps = KINDS.map((k) => recordCodec(k).fingerprint);
    expect(new Set(fps).size).toBe(KINDS.length);
    expect(schemaFingerprint(arrowSchemaFor('Verdict'))).toBe(recordCodec('Verdict').fingerprint);
    const s = arrowSchemaFor('Verdict');
    const changed = new arrow.Schema(
      s.fields.map((f) => (f.name === 'iou' ? new arrow.Field('iou', new arrow.Float32(), true) : f)),
      s.metadata,
    );
    expect(schemaFingerprint(changed)).not.toBe(recordCodec('Verdict').fingerprint);
    const notNull = new arrow.Schema(s.fields.map((f) => (f.name === 'iou' ? new arrow.Field('iou', f.type, false) : f)), s.metadata);
    expect(schemaFingerprint(notNull)).not.toBe(recordCodec('Verdict').fingerprint);
  });
});

describe('rows <-> Arrow', () => {
  const cases: Array<[RecordKind, unknown[]]> = [
    ['GroundingSample', groundingSamples(7)],
    ['TeacherCandidate', teacherCandidates(6)],
    ['Verdict', verdicts(5)],
    ['SftRow', sftRows(4, true)],
    ['SftRow', sftRows(4, false)],
    ['RlRow', rlRows(4)],
    ['Prediction', predictions(4)],
  ];
  for (const [kind, rows] of cases) {
    it(`round-trips ${kind} rows exactly (nulls, nested lists, bytes, floats) and validates them`, () => {
      const batch = rowsToRecordBatch(kind, rows);
      expect(batch.numRows).toBe(rows.length);
      const back = recordBatchToRows(kind, batch, { validate: true });
      const expected = rows.map((r) => RECORDS[kind].parse(r));
      expect(back).toEqual(expected);
    });
  }

  it('round-trips through Arrow IPC as well (what the Parquet encoder receives)', () => {
    const rows = rlRows(3);
    const batch = rowsToRecordBatch('RlRow', rows);
    const table = arrow.tableFromIPC(arrow.tableToIPC(new arrow.Table([batch]), 'stream'));
    expect(recordBatchToRows('RlRow', table.batches[0]!)).toEqual(rows);
  });

  it('applies zod defaults for omitted fields and stores meta as canonical JSON', () => {
    const row = { ...groundingSamples(1)[0]!, meta: { b: 1, a: { d: 2, c: 3 } } } as Record<string, unknown>;
    delete row.context;
    delete row.difficulty;
    const batch = rowsToRecordBatch('GroundingSample', [row]);
    expect(batch.getChild('meta')!.get(0)).toBe('{"a":{"c":3,"d":2},"b":1}');
    expect(batch.getChild('context')!.get(0)!.length).toBe(0);
    expect(batch.getChild('difficulty')!.get(0)).toBeNull();
    expect(canonicalJson({ y: [{ b: 1, a: 2 }], x: null })).toBe('{"x":null,"y":[{"a":2,"b":1}]}');
  });

  it('names the row and field of a value that does not fit, and appends nothing of it', () => {
    const good = groundingSamples(2);
    const bad = { ...good[1]!, images: [{ ...good[1]!.images[0]!, width: 'wide' }] };
    let caught: unknown;
    try {
      rowsToRecordBatch('GroundingSample', [good[0], bad]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RecordError);
    expect((caught as RecordError).context).toMatchObject({ row: 1, field: 'images[].width', recordId: 'gs-1' });
    expect(() => rowsToRecordBatch('GroundingSample', [{ ...good[0]!, id: null }])).toThrow(/null is not allowed/);
    expect(() => rowsToRecordBatch('GroundingSample', [{ ...good[0]!, targetBox: [1, 2, 3] }])).toThrow(/expected 4 items/);
    expect(() => rowsToRecordBatch('TeacherCandidate', [{ ...teacherCandidates(1)[0]!, promptMode: 'loud' }])).toThrow(/expected one of hinted \| blind/);
    expect(() => rowsToRecordBatch('Verdict', [{ ...verdicts(1)[0]!, completionChars: 1.5 }])).toThrow(RecordError);
  });

  it('reports a batch whose column types differ from the record kind', () => {
    const batch = rowsToRecordBatch('Prediction', predictions(1));
    const s = batch.schema;
    const idx = s.fields.findIndex((f) => f.name === 'iou');
    const wrong = new arrow.Schema(s.fields.map((f, i) => (i === idx ? new arrow.Field('iou', new arrow.Utf8(), true) : f)));
    const data = arrow.makeData({ type: new arrow.Struct(wrong.fields), length: 1, nullCount: 0, children: batch.data.children });
    expect(() => recordBatchToRows('Prediction', new arrow.RecordBatch(wrong, data))).toThrow(/column "iou" has type utf8, expected float64/);
  });

  it('round-trips arbitrary valid GroundingSamples (property)', () => {
    const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 });
    const sample = fc.record({
      id: fc.string({ minLength: 1 }),
      source: fc.string({ minLength: 1 }),
      task: fc.string({ minLength: 1 }),
      images: fc.array(
        fc.record({
          sha256: fc.stringMatching(/^[0-9a-f]{64}$/),
          path: fc.string({ minLength: 1 }),
          width: fc.integer({ min: 1, max: 1 << 30 }),
          height: fc.integer({ min: 1, max: 1 << 30 }),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      question: fc.string({ minLength: 1 }),
      context: fc.array(fc.record({ role: fc.constantFrom('user' as const, 'assistant' as const), content: fc.string() }), { maxLength: 3 }),
      targetImage: fc.nat(),
      targetBox: fc.tuple(finite, finite, fc.double({ min: 1, max: 1e6, noNaN: true }), fc.double({ min: 1, max: 1e6, noNaN: true })).map(
        ([x, y, w, h]) => [x, y, x + w, y + h] as [number, number, number, number],
      ),
      difficulty: fc.constantFrom(null, 'easy' as const, 'medium' as const, 'hard' as const),
      split: fc.option(fc.string(), { nil: null }),
      meta: fc.dictionary(fc.string(), fc.jsonValue()),
    });
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 5 }), (rows) => {
        const valid = rows.filter((r) => GroundingSample.safeParse(r).success);
        const back = recordBatchToRows('GroundingSample', rowsToRecordBatch('GroundingSample', valid));
        // JSON normalises -0 and key order exactly as the meta column does.
        expect(back).toEqual(valid.map((r) => ({ ...r, meta: JSON.parse(canonicalJson(r.meta)) })));
      }),
      { numRuns: 60 },
    );
  });
});
