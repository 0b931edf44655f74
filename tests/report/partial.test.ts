/**
 * Runs that stopped early or never had a teacher: the report shows what exists and says what is
 * missing. And the CLI: a path on success, one clear line and exit 2 for a directory that is no run.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ShardError, InputError } from '../../src/errors.js';
import { buildReport } from '../../src/report/index.js';
import { makeRun } from './fixture.js';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'univg.js');
const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** Visible text of the page, roughly: tags dropped, entities decoded. */
function text(html: string): string {
  return html
    .replace(/<script[\s\S]*?<\/script>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}

describe('a run with only samples', () => {
  it('reports the samples and says generate, verify and select were not run', async () => {
    const fx = await makeRun({ samplesOnly: true, noRunJson: true });
    made.push(fx.root);
    const { file, figures } = await buildReport(fx.root);
    const page = text(readFileSync(file, 'utf8'));
    expect(page).toContain('generate was not run: no candidates/ in this run');
    expect(page).toContain('verify was not run');
    expect(page).toContain('select was not run');
    expect(page).toContain('run.json not found');
    expect(figures.teacher).toBeNull();
    expect(figures.quality).toBeNull();
    expect(figures.rejections).toBeNull();
    expect(figures.funnel).toEqual([{ key: 'samples', label: 'Samples in', unit: 'samples', count: 8 }]);
    expect(figures.samples!.byTask.map((t) => [t.key, t.count])).toEqual([
      ['common_object', 3],
      ['diff<svg onload=alert(2)>', 2],
      ['refer_grounding', 3],
    ]);
    expect(figures.tables.candidates.state).toBe('absent');
  });
});

describe('a run that stopped during generate', () => {
  it('reads the part files written so far and says the stage is incomplete', async () => {
    const fx = await makeRun();
    made.push(fx.root);
    // Simulate an interrupted generate: one part file of two, no manifest, nothing downstream.
    rmSync(join(fx.root, 'candidates', '_manifest.json'));
    rmSync(join(fx.root, 'candidates', 'part-00001-of-00002.parquet'));
    for (const d of ['verdicts', 'corpus']) rmSync(join(fx.root, d), { recursive: true });
    const { file, figures } = await buildReport(fx.root);
    expect(figures.tables.candidates.state).toBe('partial');
    expect(figures.tables.candidates.files).toBe(1);
    expect(figures.teacher!.candidates).toBeGreaterThan(0);
    expect(figures.teacher!.candidates).toBeLessThan(fx.candidates.length);
    expect(text(readFileSync(file, 'utf8'))).toContain('candidates/ is incomplete: 1 part file(s) and no _manifest.json');
  });

  it('refuses a part file that contradicts its manifest, naming the file', async () => {
    const fx = await makeRun();
    made.push(fx.root);
    const part = join(fx.root, 'verdicts', 'part-00000-of-00002.parquet');
    writeFileSync(part, readFileSync(part).subarray(0, 100));
    const err = await buildReport(fx.root).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardError);
    expect((err as ShardError).context.file).toBe(part);
  });

  it('refuses a directory that is not a run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'univg-notrun-'));
    made.push(dir);
    await expect(buildReport(dir)).rejects.toBeInstanceOf(InputError);
    await expect(buildReport(join(dir, 'missing'))).rejects.toThrow(/run directory not found/);
  });
});

describe('univg report', () => {
  it('prints the path of the report it built (or a file:// URL with --open-path)', async () => {
    const fx = await makeRun();
    made.push(fx.root);
    // A run directory named with a space and a quote: the path must survive SQL and the shell.
    const odd = join(fx.root, "..", `${fx.root.split('/').pop()} it's`);
    renameSync(fx.root, odd);
    made.push(odd);
    const a = await run(process.execPath, [BIN, 'report', odd]);
    expect(a.stdout).toBe(`${join(odd, 'report', 'index.html')}\n`);
    expect(a.stderr).toMatch(/^report: 8 samples, 16 candidates, pass rate 50\.0%/);
    const b = await run(process.execPath, [BIN, 'report', odd, '--open-path', '--examples', '1']);
    expect(b.stdout.trim()).toMatch(/^file:\/\/.*\/report\/index\.html$/);
  });

  it('exits 2 with one line for a missing or non-run directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'univg-notrun-'));
    made.push(dir);
    mkdirSync(join(dir, 'stuff'));
    for (const [arg, want] of [
      [join(dir, 'nope'), /^univg: input: run directory not found \(.*nope\)\n$/],
      [dir, /^univg: input: not a run directory: .*\n$/],
    ] as const) {
      const err = (await run(process.execPath, [BIN, 'report', arg]).catch((e: unknown) => e)) as { code: number; stderr: string; stdout: string };
      expect(err.code).toBe(2);
      expect(err.stderr).toMatch(want);
      expect(err.stdout).toBe('');
    }
  });

  it('has help with an example', async () => {
    const h = await run(process.execPath, [BIN, 'report', '--help']);
    expect(h.stdout).toContain('univg report runs/demo');
    expect(h.stdout).toContain('--open-path');
  });
});
