/** sin/cos(pi * 2^k * value / 1000) for k < freqs: a smooth code of a 0-1000 coordinate. */
export function fourier(value: number, freqs: number, out: Float32Array, offset: number): void {
  for (let k = 0; k < freqs; k++) {
    const a = (Math.PI * 2 ** k * value) / 1000;
    out[offset + 2 * k] = Math.sin(a);
    out[offset + 2 * k + 1] = Math.cos(a);
  }
}
