/**
 * Arrow schemas for the record model, derived by walking the zod schemas in `records.ts` (never
 * restated by hand), plus row <-> Arrow conversion both ways.
 *
 * Mapping: string/enum -> Utf8, int -> Int64, number -> Float64, boolean -> Bool, array and tuple ->
 * List, object -> Struct, Uint8Array -> Binary, record (the free `meta` map) -> Utf8 holding JSON with
 * sorted keys. Every column, struct child and list element is nullable (Parquet OPTIONAL) whatever zod
 * says, because Hugging Face `datasets` compares our schema against `pa.schema(features.type)`, which is
 * nullable everywhere (reference/trainer-formats.md §7.3); zod's requiredness is enforced when encoding.
 * The `{bytes, path}` object (`HfImage`) becomes the HF `Image` feature; the `huggingface` schema
 * metadata describes every column in the spelling of §7.4 so `datasets` decodes images and nested lists.
 */
import { createHash } from 'node:crypto';
import * as arrow from 'apache-arrow';
import type { z } from 'zod';
import { RecordError, UnivgError } from '../errors.js';
import { canonicalJson } from './canonical.js';
import { RECORDS, type RecordKind } from './records.js';

/** A Hugging Face `datasets` feature in its JSON spelling (Value, Image, list literal, or a dict of features). */
export type HfFeature =
  | { dtype: 'string' | 'int64' | 'float64' | 'bool' | 'binary'; _type: 'Value' }
  | { _type: 'Image' }
  | HfFeature[]
  | { [name: string]: HfFeature };

/** How one zod-declared value maps to Arrow and back. */
export interface FieldCodec {
  /** Dotted path of the field in the record, e.g. `images[].bytes`; used in error messages. */
  readonly path: string;
  readonly type: arrow.DataType;
  readonly feature: HfFeature;
  /** Throw a RecordError (field set) when `value` cannot be stored here. Changes nothing. */
  check(value: unknown): void;
  /** A fresh column builder for this field. */
  builder(): ColumnBuilder;
  /** Decode a whole column (one Arrow Data) back into record values, one per slot. */
  decode(data: arrow.Data): unknown[];
}

/** Appends values straight into Arrow buffers (much faster than apache-arrow's generic builders). */
export interface ColumnBuilder {
  /** Append a value that passed `check`; returns an estimate of the bytes it adds. */
  append(value: unknown): number;
  appendNull(): void;
  finish(): arrow.Data;
}

export interface RecordCodec<K extends RecordKind = RecordKind> {
  readonly kind: K;
  readonly schema: arrow.Schema;
  readonly columns: ReadonlyArray<{ name: string; codec: FieldCodec }>;
  /** The `huggingface` schema metadata value (JSON text, exact). */
  readonly huggingface: string;
  /** sha256 over the column names, Arrow types, nullability and the `huggingface` metadata. */
  readonly fingerprint: string;
}

/** A record as the record model defines it (the zod output type). */
export type RecordOf<K extends RecordKind> = z.infer<(typeof RECORDS)[K]>;

// ---------------------------------------------------------------------------------------------------
// growable buffers

/**
 * Growable byte buffer. Growth skips zero-filling: only bytes below `len`, all written by us, ever
 * leave (take() is a view of exactly those), so output stays deterministic.
 */
class ByteBuf {
  buf: Buffer = Buffer.allocUnsafeSlow(1024);
  len = 0;
  ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    // Double while small, then grow in 16 MiB steps: a big image column must not reserve 2x its size.
    const step = Math.min(this.buf.length, 16 * 1024 * 1024);
    const cap = Math.max(this.len + extra, this.buf.length + step);
    const next = Buffer.allocUnsafeSlow(cap);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  writeString(s: string): number {
    this.ensure(s.length * 3);
    const n = this.buf.write(s, this.len, 'utf8');
    this.len += n;
    return n;
  }
  writeBytes(b: Uint8Array): number {
    this.ensure(b.byteLength);
    this.buf.set(b, this.len);
    this.len += b.byteLength;
    return b.byteLength;
  }
  take(): Uint8Array {
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.len);
  }
}

class I32Buf {
  arr = new Int32Array(256);
  len = 0;
  push(x: number): void {
    if (this.len === this.arr.length) {
      const next = new Int32Array(this.arr.length * 2);
      next.set(this.arr);
      this.arr = next;
    }
    this.arr[this.len++] = x;
  }
  take(): Int32Array {
    return this.arr.subarray(0, this.len);
  }
}

class F64Buf {
  arr = new Float64Array(256);
  len = 0;
  push(x: number): void {
    if (this.len === this.arr.length) {
      const next = new Float64Array(this.arr.length * 2);
      next.set(this.arr);
      this.arr = next;
    }
    this.arr[this.len++] = x;
  }
}

/** A bitmap (validity or boolean values); zero-filled so bits past the end are 0 and output is deterministic. */
class Bits {
  bytes = new Uint8Array(64);
  len = 0;
  ones = 0;
  push(bit: boolean): void {
    const i = this.len >> 3;
    if (i === this.bytes.length) {
      const next = new Uint8Array(this.bytes.length * 2);
      next.set(this.bytes);
      this.bytes = next;
    }
    if (bit) {
      this.bytes[i]! |= 1 << (this.len & 7);
      this.ones++;
    }
    this.len++;
  }
  take(): Uint8Array {
    return this.bytes.subarray(0, (this.len + 7) >> 3);
  }
}

/** Validity bitmap plus null count; omitted from the output when nothing is null. */
class Validity {
  private bits = new Bits();
  push(valid: boolean): void {
    this.bits.push(valid);
  }
  get length(): number {
    return this.bits.len;
  }
  get nullCount(): number {
    return this.bits.len - this.bits.ones;
  }
  bitmap(): Uint8Array | undefined {
    return this.nullCount === 0 ? undefined : this.bits.take();
  }
}

/** Whether slot `i` of `data` holds a value (Arrow validity bitmap, honouring the data's offset). */
function isValid(data: arrow.Data, i: number): boolean {
  if (data.nullCount === 0) return true;
  const bm = data.nullBitmap;
  if (!bm || bm.length === 0) return true;
  const j = data.offset + i;
  return ((bm[j >> 3]! >> (j & 7)) & 1) === 1;
}

/** Every slot of a Utf8 column as a JS string (null slots give ''; the presence wrapper replaces them). */
function decodeStrings(data: arrow.Data): unknown[] {
  const offs = data.valueOffsets as Int32Array;
  const vals = data.values as Uint8Array;
  const buf = Buffer.from(vals.buffer, vals.byteOffset, vals.byteLength);
  const out = new Array<unknown>(data.length);
  for (let i = 0; i < data.length; i++) out[i] = buf.toString('utf8', offs[data.offset + i]!, offs[data.offset + i + 1]!);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// zod walk

/** The parts of zod 4's internal definition this module reads (`schema._zod.def`, `schema._zod.bag`). */
interface ZodInternals {
  _zod: {
    def: {
      type: string;
      innerType?: ZodInternals;
      in?: ZodInternals;
      element?: ZodInternals;
      items?: ZodInternals[];
      rest?: ZodInternals | null;
      shape?: Record<string, ZodInternals>;
      entries?: Record<string, string | number>;
      values?: unknown[];
      defaultValue?: unknown;
    };
    bag?: { Class?: unknown; format?: string };
  };
  isInt?: boolean;
}

function schemaError(path: string, message: string): UnivgError {
  return new UnivgError('schema', `cannot map zod schema to Arrow: ${message}`, { field: path });
}

function badValue(path: string, expected: string, value: unknown): RecordError {
  const got = value === null ? 'null' : Array.isArray(value) ? 'array' : value instanceof Uint8Array ? 'bytes' : typeof value;
  return new RecordError(`expected ${expected}, got ${got}`, { field: path });
}

const listOf = (t: arrow.DataType) => new arrow.List(new arrow.Field('item', t, true));
const value = (dtype: 'string' | 'int64' | 'float64' | 'bool' | 'binary'): HfFeature => ({ dtype, _type: 'Value' });

/** A codec for a value that may be absent: null/undefined are checked against requiredness and defaults. */
function withPresence(inner: FieldCodec, mode: { required: boolean; defaultValue?: () => unknown; optional: boolean }): FieldCodec {
  const { required, defaultValue, optional } = mode;
  const resolve = defaultValue ? (v: unknown) => (v === undefined ? defaultValue() : v) : (v: unknown) => v;
  return {
    path: inner.path,
    type: inner.type,
    feature: inner.feature,
    check(v) {
      const x = resolve(v);
      if (x === null || x === undefined) {
        if (required) throw new RecordError(x === undefined ? 'missing required field' : 'null is not allowed here', { field: inner.path });
        return;
      }
      inner.check(x);
    },
    builder() {
      const b = inner.builder();
      return {
        append(v) {
          const x = resolve(v);
          if (x === null || x === undefined) {
            b.appendNull();
            return 0;
          }
          return b.append(x);
        },
        appendNull: () => b.appendNull(),
        finish: () => b.finish(),
      };
    },
    decode(data) {
      const out = inner.decode(data);
      if (data.nullCount > 0) {
        // A null slot of an optional-only field means "absent": leave the key undefined.
        const absent = optional ? undefined : null;
        for (let i = 0; i < out.length; i++) if (!isValid(data, i)) out[i] = absent;
      }
      return out;
    },
  };
}

function codecFor(schema: ZodInternals, path: string): FieldCodec {
  let s = schema;
  let required = true;
  let optional = false;
  let nullable = false;
  let defaultValue: (() => unknown) | undefined;
  // Peel wrappers; each one only changes whether a value may be absent.
  for (;;) {
    const d = s._zod.def;
    if (d.type === 'optional') {
      required = false;
      optional = true;
    } else if (d.type === 'nullable') {
      required = false;
      nullable = true;
    } else if (d.type === 'default' || d.type === 'prefault') {
      const dv = d.defaultValue;
      defaultValue = () => structuredClone(typeof dv === 'function' ? (dv as () => unknown)() : dv);
    } else if (d.type === 'readonly' || d.type === 'catch' || d.type === 'nonoptional') {
      // pass through
    } else if (d.type === 'pipe') {
      s = d.in as ZodInternals;
      continue;
    } else break;
    s = d.innerType as ZodInternals;
  }
  const inner = baseCodec(s, path);
  return withPresence(inner, { required: required && !nullable && !optional, defaultValue, optional: optional && !nullable });
}

function baseCodec(s: ZodInternals, path: string): FieldCodec {
  const d = s._zod.def;
  switch (d.type) {
    case 'string':
      return stringCodec(path);
    case 'enum': {
      const allowed = new Set(Object.values(d.entries ?? {}));
      return {
        ...stringCodec(path),
        check(v) {
          if (!allowed.has(v as string)) throw new RecordError(`expected one of ${[...allowed].join(' | ')}, got ${JSON.stringify(v)}`, { field: path });
        },
      };
    }
    case 'literal': {
      const vals = d.values ?? [];
      if (vals.every((x) => typeof x === 'string')) return stringCodec(path);
      if (vals.every((x) => typeof x === 'boolean')) return boolCodec(path);
      if (vals.every((x) => typeof x === 'number')) return floatCodec(path);
      throw schemaError(path, 'literal of mixed types');
    }
    case 'number':
      return s.isInt || s._zod.bag?.format === 'safeint' || s._zod.bag?.format === 'int64' ? intCodec(path) : floatCodec(path);
    case 'int':
      return intCodec(path);
    case 'boolean':
      return boolCodec(path);
    case 'custom':
      if (s._zod.bag?.Class === Uint8Array || s._zod.bag?.Class === Buffer) return binaryCodec(path);
      throw schemaError(path, 'custom type other than Uint8Array');
    case 'record':
      return jsonCodec(path);
    case 'array':
      return listCodec(codecFor(d.element as ZodInternals, `${path}[]`), path, null);
    case 'tuple': {
      const items = (d.items ?? []).map((it, i) => codecFor(it, `${path}[${i}]`));
      if (d.rest) throw schemaError(path, 'tuple with a rest element');
      const first = items[0];
      if (!first || items.some((c) => describeType(c.type) !== describeType(first.type)))
        throw schemaError(path, 'tuple items must share one type');
      return listCodec(first, path, items);
    }
    case 'object':
      return objectCodec(d.shape ?? {}, path);
    default:
      throw schemaError(path, `unsupported zod type "${d.type}"`);
  }
}

/** Utf8 or Binary column: int32 offsets plus one data buffer. */
function varBuilder(type: arrow.Utf8 | arrow.Binary, write: (data: ByteBuf, v: unknown) => number): ColumnBuilder {
  const offsets = new I32Buf();
  offsets.push(0);
  const data = new ByteBuf();
  const valid = new Validity();
  return {
    append(v) {
      const n = write(data, v);
      offsets.push(data.len);
      valid.push(true);
      return n;
    },
    appendNull() {
      offsets.push(data.len);
      valid.push(false);
    },
    finish() {
      return arrow.makeData({
        type,
        length: valid.length,
        nullCount: valid.nullCount,
        nullBitmap: valid.bitmap(),
        valueOffsets: offsets.take(),
        data: data.take(),
      } as never);
    },
  };
}

function stringCodec(path: string): FieldCodec {
  const type = new arrow.Utf8();
  return {
    path,
    type,
    feature: value('string'),
    check(v) {
      if (typeof v !== 'string') throw badValue(path, 'string', v);
    },
    builder: () => varBuilder(type, (data, v) => data.writeString(v as string)),
    decode: (data) => decodeStrings(data),
  };
}

function intCodec(path: string): FieldCodec {
  const type = new arrow.Int64();
  return {
    path,
    type,
    feature: value('int64'),
    check(v) {
      if (typeof v === 'bigint') {
        if (BigInt.asIntN(64, v) !== v) throw new RecordError(`integer ${v} does not fit int64`, { field: path });
        return;
      }
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw badValue(path, 'integer', v);
    },
    builder() {
      // int64 as (low, high) int32 pairs: avoids a BigInt per value.
      const words = new I32Buf();
      const valid = new Validity();
      return {
        append(v) {
          if (typeof v === 'bigint') {
            words.push(Number(BigInt.asIntN(32, v)));
            words.push(Number(BigInt.asIntN(32, v >> 32n)));
          } else {
            const n = v as number;
            words.push(n | 0);
            words.push(Math.floor(n / 4294967296) | 0);
          }
          valid.push(true);
          return 8;
        },
        appendNull() {
          words.push(0);
          words.push(0);
          valid.push(false);
        },
        finish() {
          const w = words.take();
          const data = new BigInt64Array(w.buffer, w.byteOffset, w.length / 2);
          return arrow.makeData({ type, length: valid.length, nullCount: valid.nullCount, nullBitmap: valid.bitmap(), data } as never);
        },
      };
    },
    decode(data) {
      const vals = data.values as BigInt64Array;
      const words = new Int32Array(vals.buffer, vals.byteOffset, vals.length * 2);
      const out = new Array<unknown>(data.length);
      for (let i = 0; i < data.length; i++) {
        const j = (data.offset + i) * 2;
        const hi = words[j + 1]!;
        const n = hi * 4294967296 + (words[j]! >>> 0);
        // Outside +-2^53 the sum is inexact; only a non-univg writer can put such a value here.
        if ((hi > 2097151 || hi < -2097152) && isValid(data, i))
          throw new RecordError(`int64 value ${String(vals[data.offset + i])} does not fit a JS number`, { field: path });
        out[i] = n;
      }
      return out;
    },
  };
}

function floatCodec(path: string): FieldCodec {
  const type = new arrow.Float64();
  return {
    path,
    type,
    feature: value('float64'),
    check(v) {
      if (typeof v !== 'number') throw badValue(path, 'number', v);
    },
    builder() {
      const vals = new F64Buf();
      const valid = new Validity();
      return {
        append(v) {
          vals.push(v as number);
          valid.push(true);
          return 8;
        },
        appendNull() {
          vals.push(0);
          valid.push(false);
        },
        finish() {
          return arrow.makeData({ type, length: valid.length, nullCount: valid.nullCount, nullBitmap: valid.bitmap(), data: vals.arr.subarray(0, vals.len) } as never);
        },
      };
    },
    decode(data) {
      const vals = data.values as Float64Array;
      return Array.from(vals.subarray(data.offset, data.offset + data.length));
    },
  };
}

function boolCodec(path: string): FieldCodec {
  const type = new arrow.Bool();
  return {
    path,
    type,
    feature: value('bool'),
    check(v) {
      if (typeof v !== 'boolean') throw badValue(path, 'boolean', v);
    },
    builder() {
      const bits = new Bits();
      const valid = new Validity();
      return {
        append(v) {
          bits.push(v as boolean);
          valid.push(true);
          return 1;
        },
        appendNull() {
          bits.push(false);
          valid.push(false);
        },
        finish() {
          return arrow.makeData({ type, length: valid.length, nullCount: valid.nullCount, nullBitmap: valid.bitmap(), data: bits.take() } as never);
        },
      };
    },
    decode(data) {
      const bits = data.values as Uint8Array;
      const out = new Array<unknown>(data.length);
      for (let i = 0; i < data.length; i++) {
        const j = data.offset + i;
        out[i] = ((bits[j >> 3]! >> (j & 7)) & 1) === 1;
      }
      return out;
    },
  };
}

function binaryCodec(path: string): FieldCodec {
  const type = new arrow.Binary();
  return {
    path,
    type,
    feature: value('binary'),
    check(v) {
      if (!(v instanceof Uint8Array)) throw badValue(path, 'Uint8Array', v);
    },
    builder: () => varBuilder(type, (data, v) => data.writeBytes(v as Uint8Array)),
    decode(data) {
      const offs = data.valueOffsets as Int32Array;
      const vals = data.values as Uint8Array;
      const out = new Array<unknown>(data.length);
      // Copy out of the batch buffer so a kept row does not pin a whole row group in memory.
      for (let i = 0; i < data.length; i++) out[i] = vals.slice(offs[data.offset + i]!, offs[data.offset + i + 1]!);
      return out;
    },
  };
}

function jsonCodec(path: string): FieldCodec {
  const type = new arrow.Utf8();
  return {
    path,
    type,
    feature: value('string'),
    check(v) {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) throw badValue(path, 'an object (stored as JSON)', v);
    },
    builder: () => varBuilder(type, (data, v) => data.writeString(canonicalJson(v))),
    decode(data) {
      const texts = decodeStrings(data);
      for (let i = 0; i < texts.length; i++) {
        if (!isValid(data, i)) continue;
        try {
          texts[i] = JSON.parse(texts[i] as string) as unknown;
        } catch (err) {
          throw new RecordError('stored JSON does not parse', { field: path, row: i }, { cause: err });
        }
      }
      return texts;
    },
  };
}

/** Arrays and tuples. For a tuple, `perItem` checks each position (same Arrow type, own error path). */
function listCodec(elem: FieldCodec, path: string, perItem: FieldCodec[] | null): FieldCodec {
  const type = listOf(elem.type);
  return {
    path,
    type,
    feature: [elem.feature],
    check(v) {
      if (!Array.isArray(v)) throw badValue(path, perItem ? `array of ${perItem.length}` : 'array', v);
      if (perItem) {
        if (v.length !== perItem.length) throw new RecordError(`expected ${perItem.length} items, got ${v.length}`, { field: path });
        for (let i = 0; i < v.length; i++) perItem[i]!.check(v[i]);
      } else for (let i = 0; i < v.length; i++) elem.check(v[i]);
    },
    builder() {
      const child = elem.builder();
      const offsets = new I32Buf();
      offsets.push(0);
      let count = 0;
      const valid = new Validity();
      return {
        append(v) {
          const arr = v as unknown[];
          let n = 4;
          for (let i = 0; i < arr.length; i++) n += child.append(arr[i]);
          count += arr.length;
          offsets.push(count);
          valid.push(true);
          return n;
        },
        appendNull() {
          offsets.push(count);
          valid.push(false);
        },
        finish() {
          return arrow.makeData({
            type,
            length: valid.length,
            nullCount: valid.nullCount,
            nullBitmap: valid.bitmap(),
            valueOffsets: offsets.take(),
            child: child.finish(),
          } as never);
        },
      };
    },
    decode(data) {
      const offs = data.valueOffsets as Int32Array;
      const child = data.children[0]!;
      const items = elem.decode(child);
      const out = new Array<unknown>(data.length);
      for (let i = 0; i < data.length; i++) out[i] = items.slice(offs[data.offset + i]!, offs[data.offset + i + 1]!);
      return out;
    },
  };
}

function objectCodec(shape: Record<string, ZodInternals>, path: string): FieldCodec {
  const children = Object.entries(shape).map(([name, child]) => ({ name, codec: codecFor(child, path ? `${path}.${name}` : name) }));
  const type = new arrow.Struct(children.map((c) => new arrow.Field(c.name, c.codec.type, true)));
  const isImage =
    children.length === 2 &&
    children[0]?.name === 'bytes' &&
    children[0].codec.type.typeId === arrow.Type.Binary &&
    children[1]?.name === 'path' &&
    children[1].codec.type.typeId === arrow.Type.Utf8;
  const feature: HfFeature = isImage ? { _type: 'Image' } : Object.fromEntries(children.map((c) => [c.name, c.codec.feature]));
  return {
    path,
    type,
    feature,
    check(v) {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) throw badValue(path, 'object', v);
      const src = v as Record<string, unknown>;
      for (const c of children) c.codec.check(src[c.name]);
    },
    builder() {
      const kids = children.map((c) => ({ name: c.name, b: c.codec.builder() }));
      const valid = new Validity();
      return {
        append(v) {
          const src = v as Record<string, unknown>;
          let n = 0;
          for (const k of kids) n += k.b.append(src[k.name]);
          valid.push(true);
          return n;
        },
        appendNull() {
          // Struct children must stay as long as the struct.
          for (const k of kids) k.b.appendNull();
          valid.push(false);
        },
        finish() {
          return arrow.makeData({
            type,
            length: valid.length,
            nullCount: valid.nullCount,
            nullBitmap: valid.bitmap(),
            children: kids.map((k) => k.b.finish()),
          } as never);
        },
      };
    },
    decode(data) {
      // Arrow JS keeps struct children aligned with the struct (a sliced struct slices its children).
      const cols = children.map((c, j) => c.codec.decode(data.children[j]!));
      const out = new Array<unknown>(data.length);
      for (let i = 0; i < data.length; i++) {
        const o: Record<string, unknown> = {};
        for (let j = 0; j < children.length; j++) {
          const x = cols[j]![i];
          if (x !== undefined) o[children[j]!.name] = x;
        }
        out[i] = o;
      }
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// schema description and fingerprint

/** A stable text form of an Arrow type, including child names and nullability (Arrow's own toString omits them). */
export function describeType(t: arrow.DataType): string {
  switch (t.typeId) {
    case arrow.Type.Utf8:
      return 'utf8';
    case arrow.Type.LargeUtf8:
      return 'large_utf8';
    case arrow.Type.Binary:
      return 'binary';
    case arrow.Type.LargeBinary:
      return 'large_binary';
    case arrow.Type.Bool:
      return 'bool';
    case arrow.Type.Int: {
      const i = t as arrow.Int;
      return `${i.isSigned ? 'int' : 'uint'}${i.bitWidth}`;
    }
    case arrow.Type.Float: {
      const f = t as arrow.Float;
      return f.precision === arrow.Precision.DOUBLE ? 'float64' : f.precision === arrow.Precision.SINGLE ? 'float32' : 'float16';
    }
    case arrow.Type.List:
      return `list<${describeField(t.children[0] as arrow.Field)}>`;
    case arrow.Type.Struct:
      return `struct<${t.children.map((c: arrow.Field) => describeField(c)).join(', ')}>`;
    default:
      return String(t);
  }
}

function describeField(f: arrow.Field): string {
  return `${f.name}: ${describeType(f.type)}${f.nullable ? '' : ' not null'}`;
}

/** Describe a schema: one line per column plus the exact `huggingface` metadata. */
export function describeSchema(schema: arrow.Schema): string {
  const lines = schema.fields.map((f) => describeField(f));
  lines.push(`huggingface=${schema.metadata.get('huggingface') ?? ''}`);
  return lines.join('\n');
}

/** sha256 of `describeSchema`: equal fingerprints mean the same columns, types, nullability and HF metadata. */
export function schemaFingerprint(schema: arrow.Schema): string {
  return createHash('sha256').update(describeSchema(schema)).digest('hex');
}

// ---------------------------------------------------------------------------------------------------
// public entry points

const cache = new Map<RecordKind, RecordCodec>();

/** The codec (Arrow schema, column codecs, HF metadata, fingerprint) of one record kind; built once. */
export function recordCodec<K extends RecordKind>(kind: K): RecordCodec<K> {
  const hit = cache.get(kind);
  if (hit) return hit as RecordCodec<K>;
  const zod = RECORDS[kind] as unknown as ZodInternals;
  if (zod._zod.def.type !== 'object') throw schemaError(kind, 'a record kind must be a zod object');
  const shape = zod._zod.def.shape ?? {};
  const columns = Object.entries(shape).map(([name, s]) => ({ name, codec: codecFor(s, name) }));
  const features = Object.fromEntries(columns.map((c) => [c.name, c.codec.feature]));
  const huggingface = JSON.stringify({ info: { features } });
  const schema = new arrow.Schema(
    columns.map((c) => new arrow.Field(c.name, c.codec.type, true)),
    new Map([['huggingface', huggingface]]),
  );
  const codec: RecordCodec<K> = { kind, schema, columns, huggingface, fingerprint: schemaFingerprint(schema) };
  cache.set(kind, codec);
  return codec;
}

/** The Arrow schema of a record kind, with the `huggingface` feature metadata. */
export function arrowSchemaFor(kind: RecordKind): arrow.Schema {
  return recordCodec(kind).schema;
}

/** The Hugging Face `features` dict of a record kind (what the `huggingface` metadata holds under info.features). */
export function hfFeaturesFor(kind: RecordKind): Record<string, HfFeature> {
  return (JSON.parse(recordCodec(kind).huggingface) as { info: { features: Record<string, HfFeature> } }).info.features;
}

/**
 * Incrementally encodes rows into Arrow buffers. `bytes` is a running estimate of the data appended so
 * far (UTF-8 and binary sizes, 8 per number), which writers use to cap row groups.
 */
export class RowBatchBuilder<K extends RecordKind> {
  readonly codec: RecordCodec<K>;
  private builders: ColumnBuilder[];
  private size = 0;
  private count = 0;

  constructor(kind: K) {
    this.codec = recordCodec(kind);
    this.builders = this.newBuilders();
  }

  private newBuilders(): ColumnBuilder[] {
    return this.codec.columns.map((c) => c.codec.builder());
  }

  get rows(): number {
    return this.count;
  }

  get bytes(): number {
    return this.size;
  }

  /** Encode one row. A row that does not fit throws a RecordError (row set to `rowIndex`) and appends nothing. */
  append(row: unknown, rowIndex?: number): void {
    if (typeof row !== 'object' || row === null) throw new RecordError('a row must be an object', { row: rowIndex });
    const src = row as Record<string, unknown>;
    const cols = this.codec.columns;
    // Check every column before appending any, so a bad field cannot leave columns of unequal length.
    try {
      for (let i = 0; i < cols.length; i++) cols[i]!.codec.check(src[cols[i]!.name]);
    } catch (err) {
      if (err instanceof RecordError) {
        const id = src.id ?? src.sampleId;
        throw new RecordError(err.message, { ...err.context, row: rowIndex, recordId: typeof id === 'string' ? id : undefined, kind: this.codec.kind });
      }
      throw err;
    }
    for (let i = 0; i < cols.length; i++) this.size += this.builders[i]!.append(src[cols[i]!.name]);
    this.count++;
  }

  /** Finish the rows appended so far as one RecordBatch and start a new one. */
  flush(): arrow.RecordBatch {
    const { schema } = this.codec;
    const children = this.builders.map((b) => b.finish());
    const data = arrow.makeData({ type: new arrow.Struct(schema.fields), length: this.count, nullCount: 0, children });
    const batch = new arrow.RecordBatch(schema, data);
    this.builders = this.newBuilders();
    this.count = 0;
    this.size = 0;
    return batch;
  }
}

/** Encode rows into one RecordBatch (small inputs; writers stream through RowBatchBuilder). */
export function rowsToRecordBatch<K extends RecordKind>(kind: K, rows: Iterable<unknown>): arrow.RecordBatch {
  const b = new RowBatchBuilder(kind);
  let i = 0;
  for (const r of rows) b.append(r, i++);
  return b.flush();
}

export interface DecodeOptions {
  /** Re-validate each row with its zod schema (applies defaults, checks refinements). */
  validate?: boolean;
  /** Added to error context, e.g. the shard file. */
  file?: string;
  /** Row number of the batch's first row within its file, for error context. */
  rowOffset?: number;
}

/** Decode a RecordBatch of a record kind back into rows. Columns are matched by name. */
export function recordBatchToRows<K extends RecordKind>(kind: K, batch: arrow.RecordBatch, opts: DecodeOptions = {}): RecordOf<K>[] {
  const codec = recordCodec(kind);
  const zod = RECORDS[kind];
  const n = batch.numRows;
  const rows: Record<string, unknown>[] = Array.from({ length: n }, () => ({}));
  for (const { name, codec: c } of codec.columns) {
    const j = batch.schema.fields.findIndex((f) => f.name === name);
    if (j < 0) throw new RecordError(`column "${name}" is missing from the batch`, { field: name, file: opts.file, kind });
    if (describeType(batch.schema.fields[j]!.type) !== describeType(c.type))
      throw new RecordError(`column "${name}" has type ${describeType(batch.schema.fields[j]!.type)}, expected ${describeType(c.type)}`, { field: name, file: opts.file, kind });
    let vals: unknown[];
    try {
      vals = c.decode(batch.data.children[j]!);
    } catch (err) {
      if (err instanceof RecordError) {
        const row = typeof err.context.row === 'number' ? (opts.rowOffset ?? 0) + err.context.row : undefined;
        throw new RecordError(err.message, { ...err.context, file: opts.file, row }, { cause: err });
      }
      throw err;
    }
    for (let i = 0; i < n; i++) if (vals[i] !== undefined) rows[i]![name] = vals[i];
  }
  if (!opts.validate) return rows as RecordOf<K>[];
  return rows.map((r, i) => {
    const res = zod.safeParse(r);
    if (!res.success) {
      const issue = res.error.issues[0];
      throw new RecordError(`row does not match ${kind}: ${issue?.message ?? 'invalid'}`, {
        file: opts.file,
        row: (opts.rowOffset ?? 0) + i,
        field: issue?.path.join('.'),
      });
    }
    return res.data as RecordOf<K>;
  });
}
