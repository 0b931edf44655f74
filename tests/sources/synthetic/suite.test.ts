/**
 * generateSuite on disk: MIG-Bench-format files, byte-identical for the same seed whatever the
 * concurrency, samples independent of N, and bad options refused with a typed error.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, UnivgError } from '../../../src/errors.js';
import { MigFile, SYNTH_TASKS, generateSuite, parseQuestion, type MigRecord, type SuiteResult } from '../../../src/sources/synthetic/index.js';

let root: string;
let main: SuiteResult;

async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    out.set(p.slice(dir.length + 1), createHash('sha256').update(await readFile(p)).digest('hex'));
  }
  return out;
}
const records = async (dir: string, file = 'all.json') => MigFile.parse(JSON.parse(await readFile(join(dir, file), 'utf8'))) as MigRecord[];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'univg-synth-'));
  main = await generateSuite({ out: join(root, 'a'), samples: 18, seed: 5, concurrency: 3, testFraction: 0.3 });
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('generateSuite', () => {
  it('writes MIG-Bench-format JSON whose split files partition all.json, with every image on disk at its size', async () => {
    const dir = join(root, 'a');
    const all = await records(dir);
    expect(all).toHaveLength(18);
    expect(Object.keys(all[0]!)).toEqual(['id', 'task', 'images', 'question', 'answer', 'additional_info', 'need_format', 'split', 'difficulty']);
    const train = await records(dir, 'train.json');
    const test = await records(dir, 'test.json');
    expect([...train, ...test].sort((x, y) => x.id.localeCompare(y.id))).toEqual(all);
    expect(train.every((r) => r.split === 'train') && test.every((r) => r.split === 'test')).toBe(true);
    expect(test.length).toBeGreaterThan(0);
    expect(main.counts).toMatchObject({ samples: 18, bySplit: { train: train.length, test: test.length } });
    expect(Object.keys(main.counts.byTask).sort()).toEqual([...SYNTH_TASKS].sort());

    const scenes = (await readFile(join(dir, 'scenes.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(scenes.map((s) => s.id)).toEqual(all.map((r) => r.id));
    for (const [i, r] of all.entries()) {
      const scene = scenes[i];
      expect(r.id).toBe(`synth-s5-${String(i).padStart(6, '0')}`);
      expect(r.images.length).toBeGreaterThanOrEqual(2);
      expect(r.images.length).toBeLessThanOrEqual(6);
      expect(r.images).toEqual(r.images.map((_, k) => `images/${String(i).padStart(6, '0')}_${k}.png`));
      expect(r.need_format).toBe(r.task !== 'object_tracking');
      expect(parseQuestion(r.question)?.task).toBe(r.task);
      for (const v of r.answer) expect(Math.round(v * 1e4) / 1e4).toBe(v);
      for (const [k, p] of r.images.entries()) {
        const meta = await sharp(join(dir, p)).metadata();
        expect([meta.width, meta.height, meta.channels, meta.format]).toEqual([scene.images[k].width, scene.images[k].height, 3, 'png']);
      }
      // The 0-1 answer is the scene's pixel box divided by the target image size.
      const img = scene.images[scene.target.image];
      const px = scene.answer as number[];
      r.answer.forEach((v, k) => expect(Math.abs(v - px[k]! / (k % 2 ? img.height : img.width))).toBeLessThanOrEqual(5e-5));
    }
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.options).toEqual({ samples: 18, seed: 5, tasks: [...SYNTH_TASKS], difficulty: 'mixed', testFraction: 0.3 });
    expect(manifest.counts).toEqual(main.counts);
    expect([...(await tree(dir)).keys()].filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('is byte-identical for the same seed whatever the concurrency, and differs for another seed', async () => {
    await generateSuite({ out: join(root, 'b'), samples: 18, seed: 5, concurrency: 1, testFraction: 0.3 });
    const a = await tree(join(root, 'a'));
    const b = await tree(join(root, 'b'));
    expect(b).toEqual(a);
    expect(a.size).toBe(5 + main.counts.images);
    await generateSuite({ out: join(root, 'c'), samples: 18, seed: 6, concurrency: 2, testFraction: 0.3 });
    const c = await tree(join(root, 'c'));
    expect(c.get('all.json')).not.toBe(a.get('all.json'));
    expect(c.get('images/000000_0.png')).not.toBe(a.get('images/000000_0.png'));
  });

  it('makes sample i independent of N, and of the test fraction except for its split', async () => {
    const dir = join(root, 'd');
    await generateSuite({ out: dir, samples: 7, seed: 5, testFraction: 1, concurrency: 2 });
    const small = await records(dir);
    const big = (await records(join(root, 'a'))).slice(0, 7);
    expect(small.every((r) => r.split === 'test')).toBe(true);
    expect(small.map((r) => ({ ...r, split: null }))).toEqual(big.map((r) => ({ ...r, split: null })));
    const a = await tree(join(root, 'a'));
    for (const [f, h] of await tree(dir)) if (f.startsWith('images/')) expect(h, f).toBe(a.get(f));
  });

  it('honours tasks and a fixed difficulty', async () => {
    const dir = join(root, 'e');
    const r = await generateSuite({ out: dir, samples: 6, seed: 9, tasks: ['diff', 'correspondence'], difficulty: 'hard' });
    expect(r.counts.byTask).toEqual({ diff: 3, correspondence: 3 });
    expect(r.counts.byDifficulty).toEqual({ hard: 6 });
    expect((await records(dir)).map((x) => x.task)).toEqual(['diff', 'correspondence', 'diff', 'correspondence', 'diff', 'correspondence']);
  });

  it('refuses bad options with a ConfigError naming the field', async () => {
    const out = join(root, 'bad');
    const bad: Array<[object, string]> = [
      [{ samples: 0 }, 'samples'],
      [{ samples: 1.5 }, 'samples'],
      [{ seed: -1 }, 'seed'],
      [{ seed: 2 ** 32 }, 'seed'],
      [{ tasks: ['region'] }, 'tasks'],
      [{ tasks: [] }, 'tasks'],
      [{ difficulty: 'extreme' }, 'difficulty'],
      [{ testFraction: 1.2 }, 'testFraction'],
      [{ concurrency: 0 }, 'concurrency'],
    ];
    for (const [patch, field] of bad) {
      const err = await generateSuite({ out, samples: 2, seed: 1, ...patch } as never).catch((e: unknown) => e);
      expect(err, JSON.stringify(patch)).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).context.field).toBe(field);
    }
    await expect(readdir(out)).rejects.toThrow();
    // An output path that is a file: a typed error naming it, not a stack trace.
    const file = join(root, 'a', 'all.json');
    const err = await generateSuite({ out: file, samples: 1, seed: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnivgError);
    expect((err as UnivgError).describe()).toMatch(/^output: cannot create the output directory.*all\.json/);
  });
});
