import { spawn, spawnSync } from 'node:child_process';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { reachableUrl } from '../../../src/cli/commands/teacher.js';
import { SIM_REFUSAL_TEXT as REFUSAL_TEXT } from '../../../src/teacher/sim/index.js';

const BIN = new URL('../../../bin/univg.js', import.meta.url).pathname;

describe('univg teacher serve', () => {
  it('serves in the foreground, prints its URL, and stops cleanly on Ctrl-C', async () => {
    const child = spawn(process.execPath, [BIN, 'teacher', 'serve', '--port', '0', '--seed', '4', '--fault', 'refusal=1', '--model', 'sim-a', '--log'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/\S+\/v1)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    const client = new OpenAI({ baseURL: url, apiKey: 'sk-cli-secret-value-123', maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'sim-a', messages: [{ role: 'user', content: 'hello' }] });
    expect(r.choices[0]!.message.content).toBe(REFUSAL_TEXT);
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (c) => resolve(c));
      child.kill('SIGINT');
    });
    expect(code).toBe(0);
    expect(err).toMatch(/POST \/v1\/chat\/completions 200 refusal/);
    expect(err).toMatch(/stopped after 1 requests \(refusal 1\)/);
    expect(err + out).not.toContain('sk-cli-secret-value-123');
  });

  it('rejects a bad fault spec as a usage error', () => {
    const r = spawnSync(process.execPath, [BIN, 'teacher', 'serve', '--port', '0', '--fault', 'meteor=0.5'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown fault "meteor"/);
    const r2 = spawnSync(process.execPath, [BIN, 'teacher', 'serve', '--port', '0', '--fault', 'hang=0.7', '--fault', 'reset=0.6'], { encoding: 'utf8' });
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/must not exceed 1/);
  });

  it('--host 0.0.0.0 warns that any bearer token is accepted and advertises a URL that reaches it', async () => {
    const child = spawn(process.execPath, [BIN, 'teacher', 'serve', '--host', '0.0.0.0', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/\S+\/v1)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
      });
      expect(url).not.toContain('0.0.0.0');
      // stderr's lines may arrive after stdout's.
      for (let i = 0; i < 100 && !err.includes('Ctrl-C'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(err).toMatch(/^univg: warning: listening on every interface \(0\.0\.0\.0\): the simulated teacher accepts any bearer token/m);
      expect(err).toContain(`set OPENAI_BASE_URL=${url}`);
      const models = await new OpenAI({ baseURL: url, apiKey: 'anything', maxRetries: 0 }).models.list();
      expect(models.data.length).toBeGreaterThan(0);
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('the advertised URL: an external IPv4 address for a wildcard host, 127.0.0.1 when there is none, unchanged otherwise', () => {
    const lo = { address: '127.0.0.1', family: 'IPv4', internal: true, netmask: '255.0.0.0', mac: '00:00:00:00:00:00', cidr: '127.0.0.1/8' } as const;
    const eth = { address: '10.1.2.3', family: 'IPv4', internal: false, netmask: '255.255.255.0', mac: '02:00:00:00:00:01', cidr: '10.1.2.3/24' } as const;
    expect(reachableUrl('http://0.0.0.0:8377/v1', '0.0.0.0', { lo: [lo], eth0: [eth] })).toBe('http://10.1.2.3:8377/v1');
    expect(reachableUrl('http://0.0.0.0:8377/v1', '0.0.0.0', { lo: [lo] })).toBe('http://127.0.0.1:8377/v1');
    expect(reachableUrl('http://[::]:8377/v1', '::', { eth0: [eth] })).toBe('http://10.1.2.3:8377/v1');
    expect(reachableUrl('http://127.0.0.1:8377/v1', '127.0.0.1', { eth0: [eth] })).toBe('http://127.0.0.1:8377/v1');
  });
});
