/**
 * The API key reaches the server and nowhere else: not the cache directory, not an error (even when the
 * server echoes the Authorization header back in its error body), not a logged event, not a row.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, UnivgError } from '../../src/errors.js';
import { TeacherConfig } from '../../src/schema/config.js';
import type { TeacherCandidate } from '../../src/schema/records.js';
import { generateCandidates } from '../../src/stages/generate.js';
import { ResponseCache } from '../../src/teacher/cache.js';
import { TeacherClient, resolveEndpoint, type TeacherEvent } from '../../src/teacher/client.js';
import { TeacherFatalError } from '../../src/teacher/errors.js';
import { startSimTeacher } from '../../src/teacher/sim/index.js';
import { makeFixture } from './fixtures/samples.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A hostile server: its error bodies quote the Authorization header it received. */
async function echoServer(): Promise<{ url: string; auth: string[]; models: string[]; close: () => Promise<void> }> {
  const auth: string[] = [];
  const models: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const a = String(req.headers.authorization);
      auth.push(a);
      const model = (JSON.parse(body) as { model: string }).model;
      models.push(model);
      const status = Number(model.replace('echo-', ''));
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `rejected: you sent "${a}" (key ${a.replace('Bearer ', '')})`, type: 'invalid_request_error' } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, auth, models, close: () => new Promise((r) => server.close(() => r())) };
}

function everything(dir: string): string {
  return readdirSync(dir)
    .map((f) => readFileSync(join(dir, f)).toString('latin1'))
    .join('\n');
}

const errorText = (e: unknown) => (e instanceof UnivgError ? [e.message, e.describe(), String(e), e.stack ?? '', JSON.stringify(e.context)].join('\n') : String(e));

describe('API key hygiene', () => {
  for (const key of [`sk-test-${'a1B2c3D4'.repeat(3)}`, 'tok_live_NotShapedLikeAnOpenAIKey_91827']) {
    it(`never writes or reports the key (${key.slice(0, 8)}…)`, async () => {
      const env = { UNIVG_TEST_KEY: key };
      const fx = await makeFixture(6, 3);
      const dir = mkdtempSync(join(tmpdir(), 'univg-secret-'));
      dirs.push(dir);
      const events: TeacherEvent[] = [];
      const rows: TeacherCandidate[] = [];
      const errors: unknown[] = [];
      const run = async (model: string, url: string, extra: Partial<TeacherConfig> = {}) => {
        const config = TeacherConfig.parse({ model, apiKeyEnv: 'UNIVG_TEST_KEY', maxRetries: 1, concurrency: 2, ...extra });
        const cache = await ResponseCache.open(dir);
        const client = new TeacherClient({ config, baseUrl: url, env, backoff: { baseMs: 5, capMs: 20 }, log: (e) => events.push(e) });
        try {
          for await (const r of generateCandidates(fx.samples, { config, client, cache, imageLoader: fx.loader })) rows.push(r);
        } catch (e) {
          errors.push(e);
        } finally {
          await cache.close();
        }
      };

      // Real answers, with faults, into the cache.
      const sim = await startSimTeacher({ port: 0, seed: 1, faults: { rate_limit: 0.2, server_error: 0.2 }, retryAfterSeconds: 0.05 });
      await run('sim', sim.url);
      await sim.close();
      // Errors whose bodies quote the key: 422 (row errors), 500 (retried, then row errors; the breaker
      // is kept closed to see every request fail), 400 and 401 (fatal: the stage stops).
      const echo = await echoServer();
      await run('echo-422', echo.url);
      await run('echo-500', echo.url, { breakerConsecutiveFailures: 1000, breakerFailureRate: 1 });
      await run('echo-400', echo.url);
      await run('echo-401', echo.url);
      await echo.close();

      // The key did go where it belongs.
      expect(echo.auth.length).toBeGreaterThan(0);
      expect(echo.auth.every((a) => a === `Bearer ${key}`)).toBe(true);
      // 422 fails fast (one attempt per request), 500 is retried once, 400 and 401 stop the stage at once.
      const count = (m: string) => echo.models.filter((x) => x === m).length;
      expect([count('echo-422'), count('echo-500')]).toEqual([6, 12]);
      expect(count('echo-400')).toBeLessThanOrEqual(2);
      expect(count('echo-401')).toBeLessThanOrEqual(2);
      // The failures happened and say why.
      expect(rows.filter((r) => r.error?.includes('client_error (HTTP 422)')).length).toBe(6 * 3);
      expect(rows.filter((r) => r.error?.includes('server_error (HTTP 500) after 2 attempts')).length).toBe(6 * 3);
      expect(errors).toHaveLength(2);
      for (const e of errors) {
        expect(e).toBeInstanceOf(TeacherFatalError);
        expect((e as TeacherFatalError).message).toContain('[REDACTED]');
      }
      expect(events.some((e) => e.type === 'retry')).toBe(true);

      const haystacks = {
        cache: everything(dir),
        events: JSON.stringify(events),
        rows: JSON.stringify(rows),
        errors: errors.map(errorText).join('\n'),
      };
      expect(haystacks.cache.length).toBeGreaterThan(1000);
      for (const [where, text] of Object.entries(haystacks)) expect(text.includes(key), `key found in ${where}`).toBe(false);
    });
  }

  it('refuses a remote endpoint without a key, naming the variable but no value', () => {
    const config = TeacherConfig.parse({ model: 'm', apiKeyEnv: 'MY_TEACHER_KEY' });
    expect(() => resolveEndpoint(config, {}, 'https://api.example.com/v1')).toThrow(ConfigError);
    expect(() => resolveEndpoint(config, {}, 'https://api.example.com/v1')).toThrow(/MY_TEACHER_KEY/);
    expect(resolveEndpoint(config, {}, 'http://127.0.0.1:8000/v1').apiKey).toBe('EMPTY');
    expect(resolveEndpoint(config, { MY_TEACHER_KEY: 'k-123' }, undefined).baseUrl).toBe('https://api.openai.com/v1');
    expect(resolveEndpoint(config, { OPENAI_BASE_URL: 'https://x.example/v1', MY_TEACHER_KEY: 'k' }).baseUrl).toBe('https://x.example/v1');
  });
});
