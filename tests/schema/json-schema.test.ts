import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateJsonSchemas } from '../../src/schema/json-schema.js';
import { GroundingSample, PipelineConfig } from '../../src/index.js';

const dir = join(import.meta.dirname, '..', '..', 'schemas');

describe('schemas/', () => {
  it('is up to date with the zod records (run `npm run schemas` when this fails)', () => {
    const generated = generateJsonSchemas();
    const onDisk = readdirSync(dir).filter((f) => f.endsWith('.schema.json')).sort();
    expect(onDisk).toEqual([...generated.keys()].sort());
    for (const [name, text] of generated) expect(readFileSync(join(dir, name), 'utf8'), name).toBe(text);
  });

  it('covers every record kind and the pipeline config', () => {
    const names = [...generateJsonSchemas().keys()];
    for (const n of ['grounding-sample', 'teacher-candidate', 'verdict', 'sft-row', 'rl-row', 'prediction', 'pipeline-config']) {
      expect(names).toContain(`${n}.schema.json`);
    }
  });
});

describe('records', () => {
  const good = {
    id: 's1', source: 'synthetic', task: 'diff', question: 'where?', targetImage: 1, targetBox: [1, 2, 30, 40],
    images: [
      { sha256: 'a'.repeat(64), path: 'a.png', width: 100, height: 80 },
      { sha256: 'b'.repeat(64), path: 'b.png', width: 100, height: 80 },
    ],
  };
  it('accepts a valid sample and fills defaults', () => {
    const s = GroundingSample.parse(good);
    expect(s.context).toEqual([]);
    expect(s.meta).toEqual({});
    expect(s.difficulty).toBeNull();
  });
  it('rejects an inverted box and a bad hash, naming the field', () => {
    const r1 = GroundingSample.safeParse({ ...good, targetBox: [30, 2, 1, 40] });
    expect(r1.success).toBe(false);
    expect(r1.error?.issues[0]?.path).toEqual(['targetBox']);
    const r2 = GroundingSample.safeParse({ ...good, images: [{ ...good.images[0], sha256: 'xyz' }] });
    expect(r2.error?.issues[0]?.path).toEqual(['images', 0, 'sha256']);
  });
  it('pipeline config fills defaults', () => {
    const c = PipelineConfig.parse({ name: 'x', source: { format: 'synthetic' } });
    expect(c.verify.iouThreshold).toBe(0.5);
    expect(c.shards.compression).toBe('zstd');
  });
});
