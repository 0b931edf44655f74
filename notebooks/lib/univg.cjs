/**
 * What every notebook starts with. tslab runs each cell as CommonJS in a `vm` context, where `import()`
 * has no loader and ES modules (this project, vega, DuckDB) cannot be required; an `import()` written in
 * a real file has one, and the kernel runs under tsx (notebooks/kernels/univg-ts/kernel.json), so the
 * project's TypeScript loads as it is, with no build.
 */
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join, relative, resolve } = require('node:path');
const { display } = require('tslab');

const ROOT = resolve(__dirname, '..', '..');

/** The public API (src/index.ts). */
const univg = () => import(join(ROOT, 'src', 'index.ts'));

/** Any ES module or package by name, resolved from the repository (sharp, @duckdb/node-api). */
const load = (spec) => import(spec);

/** A path as the notebook prints it: relative to the repository, so outputs do not name a machine. */
const shown = (p) => relative(ROOT, p) || '.';

/**
 * The run a notebook reads: $UNIVG_RUN, else runs/demo, made by the demo pipeline when it is missing
 * (about a minute, offline).
 */
function demoRun() {
  const dir = resolve(ROOT, process.env.UNIVG_RUN || join('runs', 'demo'));
  if (!existsSync(join(dir, 'run.json'))) {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'univg.js'), 'demo', '--run-dir', dir, '--quiet'], { cwd: ROOT, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`the demo pipeline failed (exit ${r.status}) making ${shown(dir)}:\n${r.stderr}`);
  }
  return dir;
}

/**
 * Show a value the way it asks to be shown (a chart: SVG; SafeHtml: HTML), a string as HTML, anything
 * else as text.
 */
function show(value) {
  const bundle = value && typeof value[Symbol.for('univg.mimeBundle')] === 'function' ? value[Symbol.for('univg.mimeBundle')]() : null;
  if (bundle) {
    const [mime, data] = Object.entries(bundle)[0];
    display.raw(mime, data);
  } else if (typeof value === 'string') display.html(value);
  else display.text(String(value));
}

module.exports = { ROOT, univg, load, shown, demoRun, show, display };
