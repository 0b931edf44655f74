/**
 * Synthetic suite benchmark: samples per second of `generateSuite` (scene graph, SVG rasterisation,
 * background blend, PNG encode, atomic writes), and where the time goes.
 *
 *   npx tsx bench/synth.ts                         # 300 samples, concurrency 1, 2, 4
 *   npx tsx bench/synth.ts --samples 600 --concurrency 4
 *   npx tsx bench/synth.ts --skip-stages           # end-to-end only
 *
 * Reports wall-clock samples/s and, because the bench machine is shared, CPU time of this process
 * (main thread + libvips threads): "samples per CPU-second" is the load-independent figure, and
 * cores x that figure bounds what an idle machine reaches.
 */
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { SYNTH_TASKS, blendOverBackground, generateSuite, imageSvg, makeRng, makeScene, overlayRegion, PNG_OPTIONS, type Scene } from '../src/sources/synthetic/index.js';
import { textureTile } from '../src/sources/synthetic/texture.js';
import { TILE_KINDS } from '../src/sources/synthetic/scene.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const samples = Number(flag('--samples') ?? 300);
const concurrencies = (flag('--concurrency') ?? '1,2,4').split(',').map(Number);
const SEED = 20240601;

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) if (e.isFile()) n += statSync(join(e.parentPath, e.name)).size;
  return n;
}

console.log(`synth bench: ${samples} samples, ${availableParallelism()} cores, node ${process.version}, sharp ${sharp.versions.sharp} / vips ${sharp.versions.vips}, sharp threads ${sharp.concurrency()}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);

// Background tiles are made once per seed (per process); measured apart from the per-sample cost.
{
  const c0 = cpu();
  for (const k of TILE_KINDS) textureTile(SEED, k);
  console.log(`texture tiles (once per seed): ${((cpu() - c0) * 1000).toFixed(0)} ms CPU for ${TILE_KINDS.length} tiles`);
}

const results: Array<Record<string, number>> = [];
for (const concurrency of concurrencies) {
  const out = mkdtempSync(join(tmpdir(), 'univg-bench-synth-'));
  try {
    const c0 = cpu();
    const t0 = performance.now();
    const r = await generateSuite({ out, samples, seed: SEED, concurrency });
    const wall = (performance.now() - t0) / 1000;
    const used = cpu() - c0;
    const row = {
      concurrency,
      samplesPerSec: r.counts.samples / wall,
      imagesPerSec: r.counts.images / wall,
      samplesPerCpuSec: r.counts.samples / used,
      imagesPerSample: r.counts.images / r.counts.samples,
      kbPerImage: dirBytes(join(out, 'images')) / 1024 / r.counts.images,
    };
    results.push(row);
    console.log(
      `concurrency ${concurrency}: ${row.samplesPerSec.toFixed(1)} samples/s (${row.imagesPerSec.toFixed(0)} images/s, ${row.imagesPerSample.toFixed(2)} images/sample) wall ${wall.toFixed(2)} s; ` +
        `${row.samplesPerCpuSec.toFixed(1)} samples per CPU-second; ${row.kbPerImage.toFixed(0)} KB/image`,
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (!args.includes('--skip-stages')) {
  // Stage costs on the same kind of scenes, serially, CPU time per megapixel where it scales with pixels.
  const n = Math.min(samples, 120);
  let c0 = cpu();
  const scenes: Scene[] = [];
  const levels = ['easy', 'medium', 'hard'] as const;
  for (let i = 0; i < n; i++) scenes.push(makeScene(SYNTH_TASKS[i % 6]!, makeRng(SEED, i, 1), levels[i % 3]!, { tileSeed: SEED }));
  const sceneMs = ((cpu() - c0) * 1000) / n;
  const imgs = scenes.flatMap((s) => s.images);
  const mpx = imgs.reduce((a, im) => a + im.width * im.height, 0) / 1e6;
  c0 = cpu();
  const overlays: Buffer[] = [];
  const regions = imgs.map(overlayRegion);
  for (const [i, im] of imgs.entries()) overlays.push(await sharp(Buffer.from(imageSvg(im, regions[i]))).ensureAlpha().raw().toBuffer());
  const svg = cpu() - c0;
  c0 = cpu();
  const rgbs = imgs.map((im, i) => blendOverBackground(im, overlays[i]!, regions[i]));
  const blend = cpu() - c0;
  c0 = cpu();
  for (const [i, im] of imgs.entries()) await sharp(rgbs[i]!, { raw: { width: im.width, height: im.height, channels: 3 } }).png(PNG_OPTIONS).toBuffer();
  const png = cpu() - c0;
  c0 = cpu();
  for (const [i, im] of imgs.entries()) await sharp(rgbs[i]!, { raw: { width: im.width, height: im.height, channels: 3 } }).png({ ...PNG_OPTIONS, compressionLevel: 6 }).toBuffer();
  const png6 = cpu() - c0;
  const per = (s: number) => `${((s * 1000) / mpx).toFixed(1)} ms/Mpx`;
  console.log(`stages (CPU, serial, ${imgs.length} images, mean ${((mpx / imgs.length) * 1e6).toFixed(0)} px):`);
  console.log(`  scene graph + verification: ${sceneMs.toFixed(2)} ms/sample (main thread)`);
  console.log(`  SVG rasterise (librsvg):    ${per(svg)} of image (only the region holding objects: ${((100 * regions.reduce((a, r) => a + r.width * r.height, 0)) / (mpx * 1e6)).toFixed(0)}% of pixels)`);
  console.log(`  background blend (JS):      ${per(blend)} (main thread)`);
  console.log(`  PNG encode, zlib level 1:   ${per(png)}   (level 6: ${per(png6)})`);
  const perSample = ((svg + blend + png) / n) * 1000 + sceneMs;
  console.log(`  => ${perSample.toFixed(1)} ms CPU per sample before file writes; ${availableParallelism()} idle cores bound: ~${((availableParallelism() * 1000) / perSample).toFixed(0)} samples/s`);
}

console.log(JSON.stringify({ bench: 'synth', samples, results }));
