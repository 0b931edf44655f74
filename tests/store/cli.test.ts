/** `univg shards verify|inspect`, run as a user would (bin/univg.js in a child process). */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeShards } from '../../src/store/index.js';
import { groundingSamples, tempDir } from './helpers.js';

const BIN = fileURLToPath(new URL('../../bin/univg.js', import.meta.url));
const tmp = tempDir('cli');
const dir = join(tmp.dir, 'samples');

async function univg(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  await writeShards('GroundingSample', groundingSamples(10), { dir, count: 2 });
});
afterAll(() => tmp.cleanup());

describe('univg shards', () => {
  it('inspect prints kind, rows, files and the schema fingerprint', async () => {
    const r = await univg('shards', 'inspect', dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^kind\s+GroundingSample$/m);
    expect(r.stdout).toMatch(/^rows\s+10 in 2 files/m);
    expect(r.stdout).toMatch(/^schema\s+[0-9a-f]{64}$/m);
    expect(r.stdout).toMatch(/^part-00001-of-00002\.parquet {2}\d+ rows/m);
  });

  it('verify prints OK per file and exits 0, then FAIL naming the damaged file and exits 1', async () => {
    const ok = await univg('shards', 'verify', dir);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^OK {4}part-00000-of-00002\.parquet/m);
    expect(ok.stdout).toMatch(/all 2 files OK/);
    const file = join(dir, 'part-00001-of-00002.parquet');
    const buf = readFileSync(file);
    buf[40]! ^= 0x10;
    writeFileSync(file, buf);
    const bad = await univg('shards', 'verify', dir);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL {2}part-00001-of-00002\.parquet {2}sha256 differs from the manifest/m);
    expect(bad.stdout).toMatch(/^OK {4}part-00000-of-00002\.parquet/m);
    const json = JSON.parse((await univg('shards', 'verify', '--json', dir)).stdout) as { ok: boolean; problems: unknown[] };
    expect(json.ok).toBe(false);
    expect(json.problems).toHaveLength(1);
  });

  it('a directory without a manifest is one clear error line, exit 1', async () => {
    const r = await univg('shards', 'inspect', tmp.dir);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`univg: shard: no _manifest.json: the stage did not finish, or this is not a stage directory (${tmp.dir})`);
  });

  it('a directory that does not exist is a usage mistake: one input line, exit 2 (not a failed check)', async () => {
    for (const sub of ['verify', 'inspect']) {
      const r = await univg('shards', sub, join(tmp.dir, 'no-such-dir'));
      expect(r.code, sub).toBe(2);
      expect(r.stderr.trim(), sub).toBe(`univg: input: no such directory (${join(tmp.dir, 'no-such-dir')})`);
    }
  });

  it('--help shows an example', async () => {
    const r = await univg('shards', 'verify', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Example:\n {2}\$ univg shards verify runs\/demo\/samples/);
  });
});
