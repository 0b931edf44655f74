/**
 * The bytes of a training row's images: embedded (HF `Image.bytes`) or read from `path` (absolute, or
 * relative to `dataRoot`, the trainer's rule), checked against the row's sha256 so a rollout never looks
 * at another picture than the one the ground truth was drawn on. A failure names the row and the image
 * field and carries a reason code for the quarantine.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { InputError } from '../../errors.js';
import type { RlRow } from '../../schema/records.js';

type ImageRow = Pick<RlRow, 'id' | 'images' | 'imageSha256'>;

/** Load image `k` of a row. */
export async function loadRowImage(row: ImageRow, k: number, dataRoot: string | null): Promise<Buffer> {
  const im = row.images[k]!;
  const field = `images[${k}]`;
  let buf: Buffer;
  if (im.bytes) buf = Buffer.from(im.bytes.buffer, im.bytes.byteOffset, im.bytes.byteLength);
  else {
    if (!im.path) throw new InputError('image has neither bytes nor a path', { recordId: row.id, field, reason: 'image_missing' });
    if (!isAbsolute(im.path) && dataRoot === null) throw new InputError(`image path ${JSON.stringify(im.path)} is relative; give dataRoot (--data-root)`, { recordId: row.id, field, reason: 'image_missing' });
    const file = isAbsolute(im.path) ? im.path : join(dataRoot!, im.path);
    try {
      buf = await readFile(file);
    } catch (err) {
      throw new InputError(`cannot read image (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file, recordId: row.id, field, reason: 'image_missing' }, { cause: err });
    }
  }
  const expected = row.imageSha256[k];
  const actual = createHash('sha256').update(buf).digest('hex');
  if (expected !== actual) throw new InputError(`image bytes do not match imageSha256[${k}] (got ${actual.slice(0, 12)}…)`, { recordId: row.id, field, reason: 'image_hash_mismatch' });
  return buf;
}

/** Every image of a row, in order. */
export function loadRowImages(row: ImageRow, dataRoot: string | null): Promise<Buffer[]> {
  if (row.imageSha256.length !== row.images.length) {
    return Promise.reject(new InputError(`${row.images.length} images but ${row.imageSha256.length} hashes`, { recordId: row.id, field: 'imageSha256', reason: 'record_invalid' }));
  }
  return Promise.all(row.images.map((_, k) => loadRowImage(row, k, dataRoot)));
}
