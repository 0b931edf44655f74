/**
 * `univg score` through the real CLI (node bin/univg.js): an endpoint run whose key is read from the named
 * variable and appears in no output, file or cache entry; one-line typed errors with exit codes for a
 * missing checkpoint, an unreadable shard directory and an endpoint that refuses the key (and echoes it).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimTeacher, type SimTeacher } from '../../../src/teacher/sim/index.js';
import { tempDir } from '../helpers.js';
import { suiteRlRows, writeRl } from './fixtures.js';

const BIN = new URL('../../../bin/univg.js', import.meta.url).pathname;
const KEY = 'sk-univg-test-secret-0123456789';
const tmp = tempDir('score-cli');
let sim: SimTeacher;
let data: string;
let root: string;

function univg(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, cwd: tmp.dir }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Every file under `dir`, as text (binary files too: a key would show up as its bytes). */
function allText(dir: string): string {
  let out = '';
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    out += statSync(p).isDirectory() ? allText(p) : readFileSync(p).toString('latin1');
  }
  return out;
}

beforeAll(async () => {
  const suite = await suiteRlRows(join(tmp.dir, 'suite'), 3, 9);
  root = suite.root;
  data = await writeRl(join(tmp.dir, 'rl'), suite.rows, 1);
  sim = await startSimTeacher({ seed: 0, convention: 'qwen2vl' });
}, 60_000);
afterAll(async () => {
  await sim?.close();
  tmp.cleanup();
});

describe('univg score', () => {
  it('scores through an endpoint with the key from --api-key-env, which appears nowhere', async () => {
    const r = await univg(['score', '--data', data, '--data-root', root, '--out', 'out', '--endpoint', sim.url, '--model', 'univg-sim', '--api-key-env', 'SCORE_TEST_KEY', '--cache-dir', 'cache', '--max-tokens', '1024', '--g', '2', '--json'], { SCORE_TEST_KEY: KEY });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res).toMatchObject({ rows: 3, scored: 3, quarantined: 0, source: 'endpoint:univg-sim' });
    expect(res.counters.requests).toBe(6);
    for (const text of [r.stdout, r.stderr, allText(join(tmp.dir, 'out')), allText(join(tmp.dir, 'cache'))]) expect(text).not.toContain(KEY);
  }, 60_000);

  it('fails in one line with exit 2 for a missing checkpoint and exit 1 for an unreadable shard directory', async () => {
    const missing = await univg(['score', '--data', data, '--out', 'o1', '--checkpoint', 'no/such/checkpoint']);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/^univg: input: no checkpoint here .*no\/such\/checkpoint/);

    const broken = join(tmp.dir, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, '_manifest.json'), '{"format": "univg-shards", "trunc');
    const bad = await univg(['score', '--data', broken, '--out', 'o2', '--endpoint', sim.url, '--model', 'univg-sim']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^univg: shard: manifest is not valid JSON .*broken/);

    const usage = await univg(['score', '--data', data, '--out', 'o3', '--endpoint', sim.url]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--endpoint needs --model/);
  }, 60_000);

  it('an endpoint that refuses the key (and echoes it back) stops the run with exit 2, key redacted', async () => {
    const server = createServer((req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${req.headers.authorization}`, type: 'invalid_request_error', code: 'invalid_api_key' } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
      const r = await univg(['score', '--data', data, '--data-root', root, '--out', 'o4', '--endpoint', url, '--model', 'm', '--api-key-env', 'SCORE_TEST_KEY', '--cache-dir', 'cache4'], { SCORE_TEST_KEY: KEY });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/univg: teacher_fatal: /);
      expect(r.stderr + r.stdout).not.toContain(KEY);
      expect(allText(join(tmp.dir, 'o4'))).not.toContain(KEY);
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 60_000);
});
