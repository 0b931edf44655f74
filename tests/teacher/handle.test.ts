import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { TeacherConfig } from '../../src/schema/config.js';
import { generateCandidates } from '../../src/stages/generate.js';
import { openTeacher } from '../../src/teacher/handle.js';
import { makeFixture } from './fixtures/samples.js';

const root = mkdtempSync(join(tmpdir(), 'univg-handle-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('openTeacher', () => {
  it('starts the simulated teacher when configured, resolves the cache dir against root, and closes everything', async () => {
    const config = TeacherConfig.parse({ model: 'sim', simulated: { faults: {}, seed: 1 }, cacheDir: 'cache/teacher' });
    const h = await openTeacher(config, { root, env: {} });
    expect(h.sim).not.toBeNull();
    expect(h.client.baseUrl).toBe(h.sim!.url);
    expect(h.cache.dir).toBe(join(root, 'cache/teacher'));
    const fx = await makeFixture(2);
    const rows = [];
    for await (const r of generateCandidates(fx.samples, { config, client: h.client, cache: h.cache, imageLoader: fx.loader })) rows.push(r);
    expect(rows).toHaveLength(6);
    expect(h.sim!.stats().requests).toBe(2);
    const url = h.sim!.url;
    await h.close();
    await expect(fetch(`${url}/models`)).rejects.toThrow();
  });

  it('refuses an unknown prompt version before starting anything', async () => {
    const config = TeacherConfig.parse({ model: 'sim', simulated: { faults: {} }, promptVersion: 'v7' });
    await expect(openTeacher(config, { root })).rejects.toBeInstanceOf(ConfigError);
  });
});
