/**
 * The tokenizer hook. The loader knows nothing about vocabularies: `encode(row)` turns a row into
 * prompt and target token ids, and the loader pads them into fixed-size arrays with masks. The model
 * plugs its tokenizer in here; `utf8Encode` is a stand-in for tests and benchmarks.
 */
import type { RecordOf } from '../../schema/arrow.js';
import type { TrainingKind } from './corpus.js';

export interface EncodedRow {
  promptTokens: Int32Array | readonly number[];
  targetTokens: Int32Array | readonly number[];
}

export type Encoder<K extends TrainingKind> = (row: RecordOf<K>) => EncodedRow;

const utf8 = new TextEncoder();

function bytesPlusOne(text: string): Int32Array {
  const b = utf8.encode(text);
  const out = new Int32Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = b[i]! + 1;
  return out;
}

/**
 * A trivial byte-level encoder: token = UTF-8 byte + 1 (so 0 stays free for padding). Prompt = the
 * row's prompt; target = the completion (SftRow) or the ground-truth answer text (RlRow).
 */
export function utf8Encode(row: RecordOf<'SftRow'> | RecordOf<'RlRow'>): EncodedRow {
  return { promptTokens: bytesPlusOne(row.prompt), targetTokens: bytesPlusOne('completion' in row ? row.completion : row.answer) };
}
