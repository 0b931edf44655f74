import { readdirSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { DecodePool } from './src/train/loader/pool.js';
import { resizePlan } from './src/train/loader/resize.js';
const dir = '/tmp/univg-bench-loader/suite/images';
const files = await Promise.all(readdirSync(dir).slice(0, 100).map(async (n) => { const b = readFileSync(`${dir}/${n}`); const m = await sharp(b).metadata(); return { b, w: m.width!, h: m.height! }; }));
for (const n of [1, 1, 2]) {
  const pool = await DecodePool.create(n);
  const t0 = performance.now();
  const rs = await Promise.all(files.map((f) => { const p = resizePlan(f.w, f.h, 64, 'letterbox'); return pool.decode({ bytes: new Uint8Array(f.b), width: f.w, height: f.h, size: 64, rw: p.width, rh: p.height, left: p.left, top: p.top, kernel: 'lanczos3' }); }));
  const wall = performance.now() - t0;
  console.log(n, 'workers', (files.length / (wall / 1000)).toFixed(0), 'img/s; in-worker ms/img', (rs.reduce((s, r) => s + r.ms, 0) / rs.length).toFixed(2));
  await pool.close();
}
