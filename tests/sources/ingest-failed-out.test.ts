/** A failed ingest leaves no output directory behind (it made it; nothing of the user's was in it). */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { ingestToStore } from '../../src/sources/write.js';

const BIN = fileURLToPath(new URL('../../bin/univg.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'univg-ingest-fail-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'images'));
writeFileSync(join(dir, 'object.json'), '{"not": "an array"}\n');
writeFileSync(join(dir, 'truncated.json'), '[{"id": 1, "images": [');

describe('a failed ingest', () => {
  it('through the CLI: the error, exit 2, and no output directory (nor the parents it made)', () => {
    for (const input of ['object.json', 'truncated.json']) {
      const out = join(dir, `runs-${input}`, 'x', 'samples');
      const r = spawnSync(process.execPath, [BIN, 'ingest', '--format', 'mgrounding', '--input', join(dir, input), '--image-root', join(dir, 'images'), '--out', out], { encoding: 'utf8' });
      expect(r.status, input).toBe(2);
      expect(r.stderr, input).toMatch(/^univg: input: /);
      expect(existsSync(join(dir, `runs-${input}`)), input).toBe(false);
    }
  });

  it('an output directory that existed before is kept, with what was in it', async () => {
    const out = join(dir, 'mine');
    mkdirSync(out);
    writeFileSync(join(out, 'notes.txt'), 'keep me');
    await expect(ingestToStore({ format: 'mgrounding', input: join(dir, 'object.json'), imageRoot: join(dir, 'images'), out })).rejects.toBeInstanceOf(InputError);
    expect(readdirSync(out)).toEqual(['notes.txt']);
  });
});
