/**
 * What it costs ingest to decode every image in full (so a file cut short is refused there, not in a
 * later stage), and which way of forcing a full decode is cheapest while still refusing damaged files.
 *
 *   npx tsx bench/image-decode.ts                  # 300 synthetic samples (~1,000 PNGs), 4 in flight
 *   npx tsx bench/image-decode.ts --samples 600
 *
 * Each variant reads every image once, as PNG and re-encoded as JPEG; CPU time is this process's (main
 * thread + libvips threads), which is the figure that does not depend on the shared machine's load.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeFully, MAX_IMAGE_PIXELS } from '../src/sources/images.js';
import { generateSuite } from '../src/sources/synthetic/index.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const samples = Number(flag('--samples') ?? 300);
const out = mkdtempSync(join(tmpdir(), 'univg-decode-bench-'));
await generateSuite({ out, samples, seed: 7 });
const dir = join(out, 'images');
const pngs = readdirSync(dir).map((f) => readFileSync(join(dir, f)));
const jpegs = await Promise.all(pngs.map((b) => sharp(b).jpeg({ quality: 90 }).toBuffer()));
rmSync(out, { recursive: true, force: true });

const opts = { failOn: 'warning' as const, sequentialRead: true, limitInputPixels: MAX_IMAGE_PIXELS };
const variants: Record<string, (b: Buffer) => Promise<unknown>> = {
  'metadata only (header; what ingest did before)': (b) => sharp(b).metadata(),
  'stats() (every pixel, per-channel statistics)': (b) => sharp(b, opts).stats(),
  'one channel to a raw buffer (w x h bytes)': (b) => sharp(b, opts).extractChannel(0).raw().toBuffer(),
  '8x8 thumbnail (decodeFully, what ingest does)': (b) => decodeFully(b),
};

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function time(f: (b: Buffer) => Promise<unknown>, bufs: Buffer[]): Promise<{ wall: number; cpu: number }> {
  const c0 = cpu();
  const t0 = performance.now();
  let i = 0;
  const worker = async () => {
    while (i < bufs.length) await f(bufs[i++]!);
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return { wall: (performance.now() - t0) / 1000, cpu: cpu() - c0 };
}

const mb = (bufs: Buffer[]) => (bufs.reduce((a, b) => a + b.length, 0) / 1e6).toFixed(0);
console.log(`${pngs.length} images (${mb(pngs)} MB PNG, ${mb(jpegs)} MB JPEG), 4 decodes in flight, sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}\n`);
console.log('| variant | PNG ms/image (CPU) | JPEG ms/image (CPU) | refuses a PNG / JPEG cut in half |');
console.log('|---|---|---|---|');
for (const [name, f] of Object.entries(variants)) {
  await time(f, pngs.slice(0, 20)); // warm-up
  const p = await time(f, pngs);
  const j = await time(f, jpegs);
  const refuses = async (b: Buffer) => f(b.subarray(0, b.length >> 1)).then(() => 'no', () => 'yes');
  console.log(`| ${name} | ${((1000 * p.cpu) / pngs.length).toFixed(2)} | ${((1000 * j.cpu) / jpegs.length).toFixed(2)} | ${await refuses(pngs[0]!)} / ${await refuses(jpegs[0]!)} |`);
}
