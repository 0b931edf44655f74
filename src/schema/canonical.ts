/**
 * Canonical JSON: object keys sorted at every level, no white space, so equal values give equal bytes
 * whatever their insertion order. Every content hash of the project (config and settings hashes, the
 * teacher's request hash, the `meta` column) is taken over this text, so there is exactly one writer.
 *
 * It follows `JSON.stringify` (an undefined, function or symbol property is left out; in an array, it and
 * a hole are `null`; `toJSON` is honoured) except where a hash would silently collide: a non-finite number
 * (NaN, Infinity, which JSON.stringify writes as `null`) or a bigint throws a RecordError naming where it is.
 */
import { RecordError } from '../errors.js';

const skipped = (v: unknown): boolean => v === undefined || typeof v === 'function' || typeof v === 'symbol';

function write(v: unknown, path: string, out: string[]): void {
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON: () => unknown }).toJSON();
  if (v === null) {
    out.push('null');
    return;
  }
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) throw new RecordError(`${v} cannot be written as JSON (only finite numbers can)`, { field: path || '(value)' });
      out.push(JSON.stringify(v));
      return;
    case 'string':
    case 'boolean':
      out.push(JSON.stringify(v));
      return;
    case 'bigint':
      throw new RecordError('a bigint cannot be written as JSON (convert it to a number or string first)', { field: path || '(value)' });
    case 'object':
      break;
    default:
      // undefined, a function or a symbol as the whole value: JSON.stringify gives undefined, which no text can hold.
      throw new RecordError(`${typeof v} cannot be written as JSON`, { field: path || '(value)' });
  }
  if (Array.isArray(v)) {
    out.push('[');
    // An index loop, not map(): map skips the holes of a sparse array, which would leave `[1,,3]`.
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(',');
      const x: unknown = v[i];
      if (skipped(x)) out.push('null');
      else write(x, `${path}[${i}]`, out);
    }
    out.push(']');
    return;
  }
  const obj = v as Record<string, unknown>;
  out.push('{');
  let first = true;
  for (const k of Object.keys(obj).sort()) {
    const x = obj[k];
    if (skipped(x)) continue;
    if (!first) out.push(',');
    first = false;
    out.push(JSON.stringify(k), ':');
    write(x, path ? `${path}.${k}` : k, out);
  }
  out.push('}');
}

/** JSON text with object keys sorted at every level: one text per value, whatever the insertion order. */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, '', out);
  return out.join('');
}
