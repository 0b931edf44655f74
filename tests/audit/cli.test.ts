/**
 * `univg audit` as a user runs it (issue 14): the server killed with SIGKILL while decisions arrive loses
 * none it confirmed; two servers on one run see each other's decisions; off loopback the token is printed
 * once on stdout and nowhere else; bad flags and bad run directories are one clear line; export and stats.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_LOG, readAllLabels } from '../../src/audit/labels.js';
import { makeAuditRun, type AuditFixture } from './fixture.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'univg.js');
let fx: AuditFixture;
const children: ChildProcess[] = [];
beforeAll(async () => {
  fx = await makeAuditRun();
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (fx) rmSync(fx.root, { recursive: true, force: true });
});

interface Served {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Start `univg audit ...` and wait for the URL it prints on stdout. */
function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'audit', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0]!;
      if (out.includes('\n')) resolve({ child, url: line, stdout: () => out, stderr: () => err, exited });
    });
    exited.then((code) => reject(new Error(`univg audit exited ${code} before printing a URL: ${err}`)));
  });
}

/** Run a command to its end without blocking the test worker (spawnSync would stall vitest's RPC). */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

async function decide(base: string, sampleId: string, auditor: string, note: string): Promise<string> {
  const r = await fetch(new URL('api/labels', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sampleId, candidateIndex: 0, decision: 'accept', reason: null, note, auditor }),
  });
  if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
  return ((await r.json()) as { label: { id: string } }).label.id;
}

describe('univg audit, killed', () => {
  it('loses no decision it confirmed when killed with SIGKILL mid-write, and shows them after a restart', async () => {
    const a = await serve([fx.root, '--port', '0', '--auditor', 'kim']);
    const confirmed: string[] = [];
    const ids = fx.samples.map((s) => s.id);
    // Decisions keep arriving, several at a time, until the kill.
    let stop = false;
    const workers = Array.from({ length: 3 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        try {
          confirmed.push(await decide(a.url, ids[(i * 3 + w) % ids.length]!, 'kim', `w${w} n${i}`));
        } catch {
          return; // the server is gone
        }
        if (confirmed.length >= 40) stop = true;
      }
    });
    while (confirmed.length < 25) await new Promise((r) => setTimeout(r, 5));
    a.child.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    await a.exited;
    const { labels } = await readAllLabels(join(fx.root, LABEL_LOG));
    const stored = new Set(labels.map((l) => l.id));
    expect(confirmed.length).toBeGreaterThanOrEqual(25);
    expect(confirmed.filter((id) => !stored.has(id))).toEqual([]);

    const b = await serve([fx.root, '--port', '0']);
    const history = (await (await fetch(new URL('api/stats', b.url))).json()) as { stats: { labels: number } };
    expect(history.stats.labels).toBe(labels.length);
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    expect(b.stderr()).toContain('stopped; every decision is in audit/labels.log');
  }, 120_000);

  it('two servers on one run see each other\'s decisions', async () => {
    const [a, b] = await Promise.all([serve([fx.root, '--port', '0', '--auditor', 'ana']), serve([fx.root, '--port', '0', '--auditor', 'bo'])]);
    await Promise.all([decide(a.url, 's-04', 'ana', 'from a'), decide(b.url, 's-04', 'bo', 'from b')]);
    for (const s of [a, b]) {
      const page = (await (await fetch(new URL('api/sample/s-04', s.url))).json()) as { html: string };
      expect(page.html).toContain('from a');
      expect(page.html).toContain('from b');
    }
    a.child.kill('SIGINT');
    b.child.kill('SIGINT');
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
  }, 120_000);
});

describe('univg audit off loopback', () => {
  it('prints the token once, on stdout, and nowhere else', async () => {
    const s = await serve([fx.root, '--port', '0', '--host', '0.0.0.0'], { UNIVG_AUDIT_TOKEN: '' });
    const token = new URL(s.url).searchParams.get('token')!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.stdout().split(token).length - 1).toBe(1);
    expect(s.stderr()).not.toContain(token);
    expect(s.stderr()).toMatch(/every request needs the token/);
    const port = new URL(s.url).port;
    expect((await fetch(`http://127.0.0.1:${port}/api/list`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${port}/api/list`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    s.child.kill('SIGINT');
    await s.exited;
    expect(s.stderr()).not.toContain(token);
  }, 60_000);

  it('takes the token from UNIVG_AUDIT_TOKEN', async () => {
    const token = 'team-token-7d1f0a9b3c2e';
    const s = await serve([fx.root, '--port', '0', '--host', '0.0.0.0'], { UNIVG_AUDIT_TOKEN: token });
    expect(new URL(s.url).searchParams.get('token')).toBe(token);
    expect(s.stderr()).not.toContain(token);
    s.child.kill('SIGINT');
    await s.exited;
  }, 60_000);
});

describe('univg audit with bad input', () => {
  it.each([
    [['--port', 'eighty'], /--port must be an integer/],
    [['--port', '70000'], /--port must be an integer from 0 to 65535/],
    [['--auditor', 'two words'], /--auditor .*1-64 letters, digits or \. _ @ -/],
    [['--sample', '0'], /--sample must be a positive integer/],
    [['--reasons', 'Wrong Box'], /--reasons a lowercase key of letters, digits, _ or -/],
    [['--host', '203.0.113.254', '--port', '0'], /cannot listen on 203\.0\.113\.254/],
  ])('%j is one clear line and exit code 2', async (args, message) => {
    const r = await cli(['audit', fx.root, ...args]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a port already taken is one clear line and exit code 2', async () => {
    const a = await serve([fx.root, '--port', '0']);
    const port = new URL(a.url).port;
    const r = await cli(['audit', fx.root, '--port', port]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`univg: usage: port ${port} is in use: pick another with --port (0 takes any free one)`);
    a.child.kill('SIGINT');
    await a.exited;
  }, 60_000);

  it('a directory that is not a run, or is missing, is one clear line and exit code 2', async () => {
    for (const dir of [join(ROOT, 'schemas'), join(fx.root, 'nope')]) {
      const r = await cli(['audit', dir, '--port', '0']);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/univg: input: (not a run directory|run directory not found)/);
    }
  });

  it('a run with a missing shard starts and names what it left out', async () => {
    const { cpSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const copy = mkdtempSync(join(tmpdir(), 'univg-audit-cli-broken-'));
    cpSync(fx.root, copy, { recursive: true });
    unlinkSync(join(copy, 'verdicts', 'part-00001-of-00002.parquet'));
    try {
      const s = await serve([copy, '--port', '0']);
      expect(s.stderr()).toMatch(/left out .*verdicts\/part-00001-of-00002\.parquet: part file listed in the manifest is missing/);
      const page = await (await fetch(s.url)).text();
      expect(page).toContain('could not be read and are left out');
      expect(page).toContain('verdicts/part-00001-of-00002.parquet');
      s.child.kill('SIGINT');
      await s.exited;
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('univg audit export and stats', () => {
  it('export writes the file and prints its path; stats prints the table', async () => {
    const out = join(fx.root, 'labels.jsonl');
    const r = await cli(['audit', 'export', fx.root, '--out', out]);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().endsWith('labels.jsonl')).toBe(true);
    expect(r.stderr).toMatch(/univg audit export: \d+ decisions as jsonl/);
    expect((await cli(['audit', 'export', fx.root])).stderr).toMatch(/missing required option --out/);
    expect((await cli(['audit', 'export', fx.root, '--out', join(fx.root, 'x.csv')])).status).toBe(2);
    const st = await cli(['audit', 'stats', fx.root]);
    expect(st.status).toBe(0);
    expect(st.stdout).toMatch(/^\d+ decisions by \d auditor/);
    expect(st.stdout).toMatch(/task\s+labelled\s+precision \[95% CI\]/);
    const js = JSON.parse((await cli(['audit', 'stats', fx.root, '--json'])).stdout) as { labels: number };
    expect(js.labels).toBeGreaterThan(0);
  }, 120_000);
});
