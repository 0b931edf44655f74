/**
 * What one attempt's outcome is, for each transport, against a small real HTTP server that misbehaves
 * in the ways real endpoints do: compressed bodies, a body that stalls after the headers, a reset
 * socket, a 200 that is not a chat completion, retry-after on 429.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TeacherConfig } from '../../src/schema/config.js';
import { TeacherClient, type CompletionCall, type TeacherEvent } from '../../src/teacher/client.js';
import { TeacherFatalError, TeacherRequestError } from '../../src/teacher/errors.js';

const completion = { id: 'c1', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: '<think>x</think><answer>(1,2),(3,4)</answer>' }, finish_reason: 'stop' }], usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 } };
let server: Server;
let url: string;
const hits = new Map<string, number>();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const model = (JSON.parse(body) as { model: string }).model;
      const n = (hits.get(model) ?? 0) + 1;
      hits.set(model, n);
      switch (model) {
        case 'gzip':
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
          return res.end(gzipSync(JSON.stringify(completion)));
        case 'stall':
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.write('{"id":"c1","choices":['); // and never more
        case 'reset':
          return req.socket.destroy();
        case 'badjson':
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end('{"choices": [');
        case 'text':
          res.writeHead(200, { 'content-type': 'text/plain' });
          return res.end('upstream busy');
        case 'nochoices':
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ id: 'x', choices: [] }));
        case 'bad400':
          res.writeHead(400, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ error: { message: "Invalid 'n': 200 is out of range; expected a value from 1 to 128.", type: 'invalid_request_error', param: 'n', code: 'invalid_value' } }));
        case 'img400':
          res.writeHead(400, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ error: { message: 'You uploaded an unsupported image.', type: 'invalid_request_error', param: null, code: 'invalid_image_format' } }));
        case 'once429':
          if (n === 1) {
            res.writeHead(429, { 'content-type': 'application/json', 'retry-after-ms': '150', 'x-ratelimit-limit-requests': '1200' });
            return res.end(JSON.stringify({ error: { message: 'slow down' } }));
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify(completion));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const call = (model: string): CompletionCall => ({
  body: { model, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], temperature: 0, max_tokens: 10 },
  requestHash: 'a'.repeat(64),
  rawPromptTokens: 5,
  choices: 1,
});

for (const transport of ['node', 'fetch'] as const) {
  describe(`one attempt, ${transport} transport`, () => {
    // A long timeout, so a loaded machine cannot turn an answer into a timeout; the stall test passes 300 ms.
    const make = (log?: (e: TeacherEvent) => void, at = url, timeoutMs = 30_000) =>
      new TeacherClient({ config: TeacherConfig.parse({ model: 'm', httpTransport: transport, timeoutMs, maxRetries: 0 }), baseUrl: at, env: {}, ...(log ? { log } : {}) });

    it('says what a refused connection is: connection refused, ECONNREFUSED, the address', async () => {
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((r) => closed.close(r));
      const err = await make(undefined, `http://127.0.0.1:${port}/v1`).complete(call('gzip')).catch((e) => e);
      expect(err).toBeInstanceOf(TeacherRequestError);
      expect((err as TeacherRequestError).outcome).toBe('connection');
      expect((err as Error).message).toMatch(new RegExp(`connection refused \\(.*ECONNREFUSED.*127\\.0\\.0\\.1:${port}\\)`));
    });

    it('a 400 stops everything at once with the provider\'s message; a 400 about one request\'s image fails only that request', async () => {
      const c = make();
      const err = await c.complete(call('bad400')).catch((e) => e);
      expect(err).toBeInstanceOf(TeacherFatalError);
      expect((err as TeacherFatalError).status).toBe(400);
      expect((err as Error).message).toContain("Invalid 'n': 200 is out of range");
      expect((err as Error).message).toContain(url);
      // Every later request fails the same way without being sent.
      hits.delete('gzip');
      await expect(c.complete(call('gzip'))).rejects.toBeInstanceOf(TeacherFatalError);
      expect(hits.get('gzip')).toBeUndefined();
      const img = await make().complete(call('img400')).catch((e) => e);
      expect(img).toBeInstanceOf(TeacherRequestError);
      expect((img as TeacherRequestError).outcome).toBe('client_error');
      expect((img as Error).message).toContain('unsupported image');
    });

    it('reports limits only when the endpoint announces them in headers', async () => {
      const quiet: TeacherEvent[] = [];
      await make((e) => quiet.push(e)).complete(call('gzip'));
      expect(quiet.filter((e) => e.type === 'limits')).toEqual([]);
      hits.delete('once429');
      const told: TeacherEvent[] = [];
      await make((e) => told.push(e)).complete(call('once429'));
      expect(told.filter((e) => e.type === 'limits')).toEqual([{ type: 'limits', rpm: 1200, tpm: null }]);
    });

    it('reads a gzip-compressed completion', async () => {
      const r = await make().complete(call('gzip'));
      expect(r.response.choices[0]!.message.content).toBe(completion.choices[0]!.message.content);
      expect(r.usage).toEqual({ promptTokens: 11, completionTokens: 7 });
    });

    it('times out on a body that stalls after the headers', async () => {
      const c = make(undefined, url, 300);
      const t0 = Date.now();
      const err = await c.complete(call('stall')).catch((e) => e);
      expect(err).toBeInstanceOf(TeacherRequestError);
      expect((err as TeacherRequestError).outcome).toBe('timeout');
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(c.counters().attempts.timeout).toBe(1);
    });

    it('calls a reset socket a connection failure', async () => {
      const err = await make().complete(call('reset')).catch((e) => e);
      expect((err as TeacherRequestError).outcome).toBe('connection');
    });

    it('calls a 200 that is not a chat completion malformed', async () => {
      for (const m of ['badjson', 'text', 'nochoices']) {
        const err = await make().complete(call(m)).catch((e) => e);
        expect((err as TeacherRequestError).outcome, m).toBe('malformed');
      }
    });

    it('waits out retry-after on a 429 and learns the limit from the headers', async () => {
      hits.delete('once429');
      const c = make();
      const t0 = Date.now();
      await c.complete(call('once429'));
      expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
      const k = c.counters();
      expect(k.attempts).toMatchObject({ rate_limited: 1, ok: 1 });
      expect(k.limits.rpm).toBeCloseTo(1200 * 0.98);
      // Slow start at 1; the 429 ends it (half of 1 is still 1); one success then adds one.
      expect(k.concurrencyLimit).toBe(2);
    });
  });
}
