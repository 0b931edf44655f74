/**
 * The notebooks (notebooks/*.ipynb): each runs top to bottom, headless, on the TypeScript kernel (tslab,
 * from npm) through Debian's Jupyter client (nbclient), on a fresh run of the demo pipeline; a cell that
 * fails fails the test with the notebook and the cell named. Their committed outputs must come from code
 * that still exists: every name they take from the public API is exported, and they ran top to bottom.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const DIR = join(ROOT, 'notebooks');
const NOTEBOOKS = readdirSync(DIR).filter((f) => f.endsWith('.ipynb')).sort();
// Debian's python3 has python3-nbclient; a python3 earlier on PATH (pyenv, a venv) may not.
const PYTHON = process.env.UNIVG_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

interface Cell {
  cell_type: string;
  source: string | string[];
  execution_count?: number | null;
  outputs?: Array<{ output_type: string; data?: Record<string, unknown>; text?: string | string[] }>;
}
const text = (s: string | string[]) => (Array.isArray(s) ? s.join('') : s);
const cellsOf = (f: string): Cell[] => JSON.parse(readFileSync(join(DIR, f), 'utf8')).cells;

/** A child process, awaited (a synchronous spawn would stall the test worker's messages for minutes). */
function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout: number }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(cmd, args, { ...opts, encoding: 'utf8', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      done({ status: code, stdout, stderr });
    });
  });
}

function runNotebooks(paths: string[], runDir: string) {
  return run(PYTHON, [join(DIR, 'run.py'), ...paths], { cwd: ROOT, env: { ...process.env, UNIVG_RUN: runDir }, timeout: 900_000 });
}

describe('the committed notebooks', () => {
  it('are the four the issue names, each opening with what it is for and which run it reads', () => {
    expect(NOTEBOOKS).toEqual(['01-explore-run.ipynb', '02-samples.ipynb', '03-teacher.ipynb', '04-training.ipynb']);
    for (const f of NOTEBOOKS) {
      const doc = JSON.parse(readFileSync(join(DIR, f), 'utf8'));
      expect(doc.metadata.kernelspec.name, f).toBe('univg-ts');
      const first = doc.cells[0] as Cell;
      expect(first.cell_type, f).toBe('markdown');
      expect(text(first.source), f).toMatch(/^# [\s\S]*\*\*For:\*\*[\s\S]*\*\*Reads:\*\*/);
    }
  });

  it('were run top to bottom, show charts, and have no error output and no machine path', () => {
    for (const f of NOTEBOOKS) {
      const code = cellsOf(f).filter((c) => c.cell_type === 'code');
      expect(code.map((c) => c.execution_count), f).toEqual(code.map((_, i) => i + 1));
      // Every notebook shows pictures (charts or drawn samples); a cell that only defines a function shows nothing.
      const pictures = code.flatMap((c) => c.outputs ?? []).filter((o) => o.data && ('image/svg+xml' in o.data || 'image/png' in o.data));
      expect(pictures.length, f).toBeGreaterThan(0);
      for (const [i, c] of code.entries()) {
        expect(c.outputs!.filter((o) => o.output_type === 'error' || (o.output_type === 'stream' && /Error/.test(text(o.text ?? '')))), `${f} code cell ${i + 1}`).toEqual([]);
      }
      expect(readFileSync(join(DIR, f), 'utf8'), f).not.toMatch(/\/tmp\/|\/home\/|\/work\/|\/root\//);
    }
  });

  it('use only names that exist: the public API, the chart module and the notebook helper export each one', async () => {
    const api = await import('../../src/index.js');
    const charts = api.charts as Record<string, unknown>;
    const helper = readFileSync(join(DIR, 'lib', 'univg.cjs'), 'utf8').match(/module\.exports = \{([^}]+)\}/)![1]!.split(',').map((s) => s.trim());
    let seen = 0;
    for (const f of NOTEBOOKS) {
      const src = cellsOf(f).filter((c) => c.cell_type === 'code').map((c) => text(c.source)).join('\n');
      for (const m of src.matchAll(/const \{([^}]+)\} = await nb\.univg\(\)/g)) {
        for (const name of m[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
          expect(api, `${f}: ${name}`).toHaveProperty(name);
          seen++;
        }
      }
      for (const m of src.matchAll(/\bcharts\.(\w+)/g)) expect(charts, `${f}: charts.${m[1]}`).toHaveProperty(m[1]!);
      for (const m of src.matchAll(/\bnb\.(\w+)/g)) expect(helper, `${f}: nb.${m[1]}`).toContain(m[1]!);
    }
    expect(seen).toBeGreaterThan(NOTEBOOKS.length * 4);
  });
});

describe('the notebooks on a fresh demo run', () => {
  const work = mkdtempSync(join(tmpdir(), 'univg-notebooks-'));
  const runDir = join(work, 'demo');
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  beforeAll(async () => {
    expect(existsSync(join(DIR, 'node_modules', 'tslab')), 'the kernel is not installed: npm ci --prefix notebooks').toBe(true);
    // The shipped demo pipeline, smaller (as tests/pipeline/demo-e2e.test.ts), training included.
    const doc = parse(readFileSync(join(ROOT, 'pipelines', 'demo.yaml'), 'utf8'));
    doc.source.samples = 36;
    doc.teacher.cacheDir = 'cache';
    doc.train.sft.steps = 12;
    doc.train.score.limit = 4;
    doc.train.rl.steps = 2;
    writeFileSync(join(work, 'demo.yaml'), stringify(doc));
    const r = await run(process.execPath, [join(ROOT, 'bin', 'univg.js'), 'run', join(work, 'demo.yaml'), '--run-dir', runDir, '--quiet'], { cwd: work, timeout: 600_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 600_000);

  it('each runs top to bottom with no cell error', async () => {
    const r = await runNotebooks(NOTEBOOKS.map((f) => join(DIR, f)), runDir);
    expect(r.stderr, r.stderr).not.toContain('failed');
    expect(r.status, r.stderr).toBe(0);
    for (const f of NOTEBOOKS) expect(r.stderr).toMatch(new RegExp(`${f}: \\d+ code cells ran`));
  }, 900_000);

  it("runs the README's example cell", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const at = readme.indexOf('A cell, as you would write your own:');
    expect(at).toBeGreaterThan(0);
    const source = readme.slice(at).match(/```ts\n([\s\S]*?)```/)![1]!;
    const file = join(work, 'readme.ipynb');
    const cells = [{ cell_type: 'code', id: 'a', metadata: {}, execution_count: null, outputs: [], source }];
    writeFileSync(file, JSON.stringify({ cells, metadata: { kernelspec: { name: 'univg-ts', display_name: 'TypeScript (univg, tslab)', language: 'typescript' } }, nbformat: 4, nbformat_minor: 5 }));
    const r = await runNotebooks([file], runDir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('readme.ipynb: 1 code cells ran');
  }, 300_000);

  it('a cell that fails (a name the API no longer exports) fails the run, naming the notebook and the cell', async () => {
    const cells = [
      { cell_type: 'markdown', id: 'a', metadata: {}, source: '# broken' },
      { cell_type: 'code', id: 'b', metadata: {}, execution_count: null, outputs: [], source: "const nb = require('./lib/univg.cjs');\nconsole.log('fine');" },
      { cell_type: 'code', id: 'c', metadata: {}, execution_count: null, outputs: [], source: 'const { removedExport } = await nb.univg();\nremovedExport(nb.demoRun());' },
      { cell_type: 'code', id: 'd', metadata: {}, execution_count: null, outputs: [], source: "console.log('never');" },
    ];
    const file = join(work, 'broken.ipynb');
    writeFileSync(file, JSON.stringify({ cells, metadata: { kernelspec: { name: 'univg-ts', display_name: 'TypeScript (univg, tslab)', language: 'typescript' } }, nbformat: 4, nbformat_minor: 5 }));
    const r = await runNotebooks([file], runDir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/broken\.ipynb: code cell 2 \(`const \{ removedExport \} = await nb\.univg\(\);`\) failed: TypeError: removedExport is not a function\n/);
    expect(r.stderr).not.toContain('never');
  }, 300_000);
});
