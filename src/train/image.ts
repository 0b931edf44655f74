/**
 * In-process image decode for the model's input, step for step what the loader's decode worker does
 * (flatten on black, sRGB, resize with the same plan and kernel, 0..1 floats placed on an S x S square),
 * so a prediction sees the pixels training saw. Used for generation and the held-out evaluation slice.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { InputError } from '../errors.js';
import { resizePlan, type Fit } from './loader/resize.js';

export type Kernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';

export interface DecodeOptions {
  size: number;
  fit: Fit;
  kernel?: Kernel;
}

/** S x S x 3 float32 pixels in 0..1 of an encoded image (bytes or a file path). */
export async function decodeImage(input: Uint8Array | string, o: DecodeOptions): Promise<Float32Array> {
  let bytes: Uint8Array;
  try {
    bytes = typeof input === 'string' ? await readFile(input) : input;
  } catch (err) {
    throw new InputError(`cannot read image (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file: input as string }, { cause: err });
  }
  try {
    const img = sharp(bytes);
    const meta = await img.metadata();
    if (!meta.width || !meta.height) throw new Error('image has no size');
    const plan = resizePlan(meta.width, meta.height, o.size, o.fit);
    const { data, info } = await img
      .flatten({ background: '#000000' })
      .toColourspace('srgb')
      .resize(plan.width, plan.height, { fit: 'fill', kernel: o.kernel ?? 'lanczos3' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`resize gave ${info.channels} channels, expected 3`);
    const S = o.size;
    const px = new Float32Array(S * S * 3);
    const rowLen = plan.width * 3;
    // x * (1/255), not x / 255: the worker's arithmetic, so the floats match bit for bit.
    const inv = 1 / 255;
    for (let y = 0; y < plan.height; y++) {
      const src = y * rowLen;
      const dst = ((plan.top + y) * S + plan.left) * 3;
      for (let k = 0; k < rowLen; k++) px[dst + k] = data[src + k]! * inv;
    }
    return px;
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot decode image: ${err instanceof Error ? err.message : String(err)}`, typeof input === 'string' ? { file: input } : {}, { cause: err });
  }
}
