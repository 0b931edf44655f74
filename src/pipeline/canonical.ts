/** Hashes of canonical JSON (sorted keys, no whitespace): the basis of every config and lineage hash. */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../schema/canonical.js';

export { canonicalJson };

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Short, stable hash of any JSON-able value. */
export function hashOf(value: unknown): string {
  return sha256Hex(canonicalJson(value)).slice(0, 16);
}
