/**
 * Writes outside the run directory: a pipeline file's `name` and the directories it names for writing
 * are checked before anything is created; a directory elsewhere comes from the command line.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parsePipelineConfig } from '../../src/pipeline/load-config.js';
import { unsafeWritePath } from '../../src/pipeline/config-paths.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'univg.js');
const work = mkdtempSync(join(tmpdir(), 'univg-paths-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The CLI, without blocking this worker's event loop (a blocked worker misses vitest's own RPC deadline). */
function cli(args: string[], cwd: string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

describe('pipeline name', () => {
  it('is a plain name: separators, "..", a leading dot or an empty name are refused with the key and line', () => {
    for (const name of ['../../elsewhere', 'a/b', 'a\\\\b', '..', '.', '.hidden', '/abs', '"x y"']) {
      const text = `source: { format: synthetic }\nname: ${name}\n`;
      expect(() => parsePipelineConfig(text, 'p.yaml'), name).toThrow(ConfigError);
      try {
        parsePipelineConfig(text, 'p.yaml');
      } catch (e) {
        expect((e as ConfigError).describe(), name).toMatch(/p\.yaml:2.*field "name"/);
        expect((e as Error).message, name).toMatch(/plain name/);
      }
    }
    for (const name of ['demo', 'cot-corpus', 'run_2.v1', 'A1']) expect(parsePipelineConfig(`name: ${name}\nsource: { format: synthetic }\n`, 'p.yaml').config.name).toBe(name);
  }, 180_000);
});

describe('directories a pipeline file names for writing', () => {
  it('must be relative without ".."', () => {
    expect(unsafeWritePath('runs/x')).toBeNull();
    expect(unsafeWritePath('cache/teacher')).toBeNull();
    expect(unsafeWritePath('/shared/cache')).toMatch(/absolute/);
    expect(unsafeWritePath('C:\\cache')).toMatch(/absolute/);
    expect(unsafeWritePath('../cache')).toMatch(/\.\./);
    expect(unsafeWritePath('runs/../../x')).toMatch(/\.\./);
  });

  it('from the CLI: refused with exit 2 and one line naming the file, line and the flag to use; nothing is created; the flags themselves may go anywhere', async () => {
    const cwd = join(work, 'proj', 'sub');
    mkdirSync(cwd, { recursive: true });
    const run = (yaml: string, extra: string[] = []) => {
      writeFileSync(join(cwd, 'p.yaml'), yaml);
      return cli(['run', 'p.yaml', '--stages', 'ingest', '--quiet', ...extra], cwd);
    };
    const src = 'source: { format: synthetic, samples: 4 }\n';

    // Before: runs/../../elsewhere was created two levels up, with run.json, samples and images in it.
    const r1 = await run(`name: ../../elsewhere\n${src}`);
    expect(r1.status).toBe(2);
    expect(r1.stderr.trim().split('\n')).toHaveLength(1);
    expect(r1.stderr).toMatch(/^univg: .*p\.yaml:1.*name/);
    expect(existsSync(join(work, 'elsewhere'))).toBe(false);
    expect(existsSync(join(cwd, 'runs'))).toBe(false);

    const outside = join(work, 'outside-run');
    const r2 = await run(`name: p\nrunDir: ${outside}\n${src}`);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/runDir ".*" is absolute.*--run-dir \(p\.yaml:2, field "runDir"\)/);
    expect(existsSync(outside)).toBe(false);
    const r3 = await run(`name: p\nrunDir: ../up\n${src}`);
    expect(r3.status).toBe(2);
    expect(r3.stderr).toMatch(/runDir "\.\.\/up" contains '\.\.'/);
    expect(existsSync(join(work, 'proj', 'up'))).toBe(false);

    const r4 = await run(`name: p\n${src}teacher: { model: m, simulated: {}, cacheDir: ../../shared-cache }\n`);
    expect(r4.status).toBe(2);
    expect(r4.stderr).toMatch(/teacher\.cacheDir .* contains '\.\.'.*--cache-dir/);

    // The same directories given on the command line are the user's choice.
    const r5 = await run(`name: p\n${src}teacher: { model: m, simulated: {}, cacheDir: ../../shared-cache }\n`, ['--run-dir', outside, '--cache-dir', join(work, 'shared-cache')]);
    expect(r5.stderr).toBe('');
    expect(r5.status).toBe(0);
    expect(readdirSync(join(outside, 'samples')).some((f) => f.endsWith('.parquet'))).toBe(true);
    expect(readdirSync(cwd).sort()).toEqual(['p.yaml']);
  }, 180_000);
});
