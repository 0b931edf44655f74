/**
 * What each export writes, checked from the files: schemas against reference/trainer-formats.md's
 * example rows, the Hugging Face footer, DuckDB reading every export back, `<image>` placeholders,
 * boxes (ground truth and chain of thought) in the named family's convention with the image size
 * beside them, difficulty carried as data, filters and curriculum order, determinism and resume.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, InputError, InterruptedError } from '../../src/errors.js';
import { exportCorpus, modelInputSize, runPools, TRAINER_RESIZE, type ExportFormat, type ExportOptions } from '../../src/export/index.js';
import { describeType, recordCodec } from '../../src/schema/arrow.js';
import { GroundTruth, type RecordKind } from '../../src/schema/records.js';
import { openParquet, readManifest, readRows } from '../../src/store/index.js';
import { normalize, query, sqlString } from '../store/helpers.js';
import { runPython } from '../python.js';
import { makeCorpusRun, tempDir, type CorpusRun } from './fixture.js';

const tmp = tempDir('formats');
let run: CorpusRun;
let pools: Awaited<ReturnType<typeof runPools>>;
const out = (name: string) => join(tmp.dir, name);
const RL_FORMATS = ['verl', 'easyr1', 'trl', 'vlm-r1'] as const;

async function exp(name: string, config: ExportOptions['config'], more: Partial<ExportOptions> = {}) {
  return exportCorpus({ config, pools, dataRoot: tmp.dir, out: out(name), ...more });
}

beforeAll(async () => {
  run = await makeCorpusRun(tmp.dir, 10);
  pools = await runPools(tmp.dir);
  await exp('rl2', { formats: [...RL_FORMATS], modelFamily: 'qwen2vl' });
  await exp('rl25', { formats: [...RL_FORMATS], modelFamily: 'qwen25vl' });
  await exp('sft2', { formats: ['llamafactory', 'trl'], modelFamily: 'qwen2vl', pool: 'sft' });
  await exp('sft25', { formats: ['llamafactory', 'trl'], modelFamily: 'qwen25vl', pool: 'sft' });
}, 240_000);
afterAll(() => tmp.cleanup());

const dataFiles = (dir: string) => readdirSync(join(dir, 'data')).sort().map((f) => join(dir, 'data', f));
const jsonRows = (dir: string): Array<Record<string, unknown>> =>
  dataFiles(dir).flatMap((f) => (f.endsWith('.json') ? (JSON.parse(readFileSync(f, 'utf8')) as Array<Record<string, unknown>>) : readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)));

async function parquetRows(kind: RecordKind, dir: string, files?: string[]): Promise<Array<Record<string, unknown>>> {
  const rows: Array<Record<string, unknown>> = [];
  for await (const r of readRows(kind, dir, { validate: true, ...(files ? { files } : {}) })) rows.push(r as Record<string, unknown>);
  return rows;
}

const KIND: Record<string, RecordKind> = { verl: 'VerlRow', easyr1: 'EasyR1Row', trl: 'TrlGrpoRow', 'vlm-r1': 'VlmR1Row', llamafactory: 'LlamaFactoryRow' };
const scoredById = () => new Map(run.scored.map((r) => [r.id, r]));

describe('schemas (reference/trainer-formats.md §7 and §11)', () => {
  it("verl's row is the reference row: data_source, prompt, images, ability, reward_model, extra_info with its fields and types", async () => {
    const f = await openParquet(dataFiles(join(out('rl2'), 'verl'))[0]!);
    const types = Object.fromEntries(f.footer.schema.fields.map((x) => [x.name, describeType(x.type)]));
    f.close();
    expect(Object.keys(types)).toEqual(['data_source', 'prompt', 'images', 'ability', 'reward_model', 'extra_info']);
    expect(types.data_source).toBe('utf8');
    expect(types.prompt).toBe('list<item: struct<content: utf8, role: utf8>>');
    expect(types.images).toBe('list<item: struct<bytes: binary, path: utf8>>');
    expect(types.ability).toBe('utf8');
    expect(types.reward_model).toBe('struct<ground_truth: utf8, style: utf8>');
    // The reference's extra_info fields, in its order and with its types, then univg's additions.
    expect(types.extra_info).toBe(
      'struct<index: int64, split: utf8, image_w: int64, image_h: int64, difficulty: float64, weight: float64, bucket: utf8, source_id: utf8, convention: utf8, task: utf8, target_image: int64>',
    );
  });

  it('TRL has a conversational prompt and no <image> token, EasyR1 a plain-string problem and an answer column, all with HF Image lists', async () => {
    const cols = async (dir: string) => {
      const f = await openParquet(dataFiles(dir)[0]!);
      const c = Object.fromEntries(f.footer.schema.fields.map((x) => [x.name, describeType(x.type)]));
      f.close();
      return c;
    };
    const trl = await cols(join(out('rl2'), 'trl'));
    expect(trl.prompt).toBe('list<item: struct<content: utf8, role: utf8>>');
    expect(trl.solution).toBe('utf8');
    expect(trl.images).toBe('list<item: struct<bytes: binary, path: utf8>>');
    const easy = await cols(join(out('rl2'), 'easyr1'));
    expect([easy.problem, easy.answer, easy.images]).toEqual(['utf8', 'utf8', 'list<item: struct<bytes: binary, path: utf8>>']);
    const sft = await cols(join(out('sft2'), 'trl'));
    expect([sft.prompt, sft.completion]).toEqual(['list<item: struct<content: utf8, role: utf8>>', 'list<item: struct<content: utf8, role: utf8>>']);
  });

  it('every Parquet export: OPTIONAL everywhere, the exact huggingface metadata (Image feature, list literals), one schema, Hub shard names', async () => {
    for (const [dir, kind] of [[join(out('rl2'), 'verl'), 'VerlRow'], [join(out('rl25'), 'easyr1'), 'EasyR1Row'], [join(out('rl2'), 'trl'), 'TrlGrpoRow'], [join(out('sft2'), 'trl'), 'TrlSftRow']] as const) {
      const files = dataFiles(dir);
      expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['data/train-00000-of-00002.parquet', 'data/train-00001-of-00002.parquet']);
      const shapes = new Set<string>();
      for (const file of files) {
        const schema = await query(`SELECT name, type, repetition_type, logical_type FROM parquet_schema(${sqlString(file)})`);
        for (const n of schema.slice(1)) expect(n.repetition_type, `${kind}.${String(n.name)}`).toBe(n.name === 'list' ? 'REPEATED' : 'OPTIONAL');
        shapes.add(JSON.stringify(schema));
        const kv = await query(`SELECT key, value FROM parquet_kv_metadata(${sqlString(file)})`);
        const hf = kv.find((r) => Buffer.from(r.key as Uint8Array).toString() === 'huggingface')!;
        const text = Buffer.from(hf.value as Uint8Array).toString();
        expect(text).toBe(recordCodec(kind).huggingface);
        const features = JSON.parse(text).info.features;
        expect(features.images).toEqual([{ _type: 'Image' }]);
        if (features.prompt) expect(features.prompt).toEqual([{ content: { dtype: 'string', _type: 'Value' }, role: { dtype: 'string', _type: 'Value' } }]);
      }
      expect(shapes.size).toBe(1);
    }
  });
});

describe('DuckDB reads every export', () => {
  it.each([['rl2', 'verl'], ['rl25', 'easyr1'], ['rl2', 'trl'], ['sft25', 'trl']])('%s/%s: the same rows through read_parquet as through the store reader', async (set, fmt) => {
    const dir = join(out(set), fmt);
    const kind = (await readManifest(dir))!.kind;
    const ours = await parquetRows(kind, dir);
    const duck = (await query(`SELECT * FROM read_parquet(${sqlString(join(dir, 'data', '*.parquet'))})`)).map(normalize);
    const key = (r: Record<string, unknown>) => JSON.stringify((r.extra_info as { source_id?: string } | undefined)?.source_id ?? r.id);
    const sort = (rs: Array<Record<string, unknown>>) => [...rs].sort((a, b) => (key(a) < key(b) ? -1 : 1));
    expect(sort(duck as Array<Record<string, unknown>>)).toEqual(sort(ours));
    expect(ours).toHaveLength(set.startsWith('sft') ? run.sft.length : run.scored.length);
  });

  it.each([['rl2', 'vlm-r1'], ['sft2', 'llamafactory']])('%s/%s: the same rows through read_json as in the files', async (set, fmt) => {
    const dir = join(out(set), fmt);
    const glob = join(dir, 'data', fmt === 'vlm-r1' ? '*.jsonl' : '*.json');
    const duck = (await query(`SELECT * FROM read_json(${sqlString(glob)}${fmt === 'vlm-r1' ? ", format = 'newline_delimited'" : ''})`)).map(normalize) as Array<Record<string, unknown>>;
    const files = jsonRows(dir);
    const id = (r: Record<string, unknown>) => String(r.id ?? (r.univg as { id: string }).id);
    expect(duck.map(id).sort()).toEqual(files.map(id).sort());
    const byId = new Map(files.map((r) => [id(r), r]));
    for (const r of duck) expect(JSON.parse(JSON.stringify(r))).toEqual(byId.get(id(r)));
  });

  it('embedded images are the corpus images, byte for byte, in order', async () => {
    const rows = await parquetRows('VerlRow', join(out('rl2'), 'verl'));
    for (const r of rows) {
      const id = (r.extra_info as { source_id: string }).source_id;
      const src = run.scored.find((x) => x.id === id)!;
      const images = r.images as Array<{ bytes: Uint8Array }>;
      expect(images.map((im) => Buffer.from(im.bytes).toString('base64'))).toEqual(
        src.images.map((im) => (im.bytes ? Buffer.from(im.bytes).toString('base64') : readFileSync(join(tmp.dir, im.path!)).toString('base64'))),
      );
    }
  });

  it('file-based exports reference images that exist, relative to the export directory, with the right bytes', () => {
    for (const [set, fmt] of [['rl2', 'vlm-r1'], ['sft2', 'llamafactory']] as const) {
      const dir = join(out(set), fmt);
      for (const r of jsonRows(dir)) {
        const paths = (r.image ?? r.images) as string[];
        for (const p of paths) {
          expect(p.startsWith('images/')).toBe(true);
          const bytes = readFileSync(join(dir, p));
          expect(p).toContain(createHash('sha256').update(bytes).digest('hex'));
        }
      }
    }
  });
});

describe('prompts', () => {
  it('<image> placeholders equal the image count (verl, EasyR1, LLaMA-Factory, VLM-R1); TRL prompts have none', async () => {
    const count = (s: string) => (s.match(/<image>/g) ?? []).length;
    for (const r of await parquetRows('VerlRow', join(out('rl2'), 'verl'))) expect(count((r.prompt as Array<{ content: string }>)[0]!.content)).toBe((r.images as unknown[]).length);
    for (const r of await parquetRows('EasyR1Row', join(out('rl2'), 'easyr1'))) expect(count(r.problem as string)).toBe((r.images as unknown[]).length);
    for (const r of await parquetRows('TrlGrpoRow', join(out('rl2'), 'trl'))) {
      expect(count((r.prompt as Array<{ content: string }>)[0]!.content)).toBe(0);
      expect((r.images as unknown[]).length).toBe(run.scored.find((x) => x.id === r.id)!.images.length);
    }
    for (const r of jsonRows(join(out('sft2'), 'llamafactory'))) expect(count((r.messages as Array<{ content: string }>)[0]!.content)).toBe((r.images as unknown[]).length);
    for (const r of jsonRows(join(out('rl2'), 'vlm-r1'))) expect(count((r.conversations as Array<{ value: string }>)[0]!.value)).toBe((r.image as unknown[]).length);
  });
});

/** Every `(a,b),(c,d)` of a text. */
const boxesIn = (s: string) => [...s.matchAll(/\((\d+),(\d+)\),\((\d+),(\d+)\)/g)].map((m) => m.slice(1, 5).map(Number));

describe('boxes in the model family\'s convention, with the image size beside them', () => {
  it('Qwen2.5-VL model-input sizes are the trainers\' own (their resize code run in Python, 2000 sizes x 5 trainers)', () => {
    const sizes = fc.sample(fc.tuple(fc.integer({ min: 28, max: 6000 }), fc.integer({ min: 28, max: 6000 })).filter(([w, h]) => Math.max(w, h) / Math.min(w, h) < 150), { seed: 15, numRuns: 2000 });
    const budgets: Array<[ExportFormat, number, number]> = [
      ['verl', 3136, 12845056],
      ['trl', 3136, 401408],
      ['vlm-r1', 3136, 640000],
      ['easyr1', 262144, 4194304],
      ['llamafactory', 1024, 589824],
    ];
    const cases = budgets.flatMap(([f, mn, mx]) => sizes.map(([w, h]) => [TRAINER_RESIZE[f].kind, w, h, mn, mx, TRAINER_RESIZE[f].minSide ?? null] as const));
    const py = JSON.parse(runPython([join(import.meta.dirname, 'resize_ref.py')], JSON.stringify(cases))) as Array<[number, number]>;
    let i = 0;
    for (const [f, mn, mx] of budgets) {
      for (const [w, h] of sizes) {
        const got = modelInputSize(f, w, h, { minPixels: mn, maxPixels: mx });
        expect([got.width, got.height], `${f} ${w}x${h}`).toEqual(py[i++]);
      }
    }
    // A hand-worked case: LLaMA-Factory shrinks 1280x720 (921,600 px) by sqrt(589824/921600) = 0.8 to
    // 1024x576, then smart_resize rounds to multiples of 28: 1036x588.
    expect(modelInputSize('llamafactory', 1280, 720, { minPixels: 1024, maxPixels: 589824 })).toEqual({ width: 1036, height: 588 });
  });

  it('qwen2vl: ground truth in 0-1000 of the target image, with image_w, image_h and the convention beside it (every format)', async () => {
    const scored = scoredById();
    const check = (id: string, gtJson: string, sideW: number, sideH: number, conv: string) => {
      const src = scored.get(id) ?? run.sft.find((x) => x.id === id)!;
      const gt = GroundTruth.parse(JSON.parse(gtJson));
      const W = src.imageWidth[src.targetImage]!;
      const H = src.imageHeight[src.targetImage]!;
      const b = src.targetBox;
      expect(gt.bbox).toEqual([Math.round((b[0] * 1000) / W), Math.round((b[1] * 1000) / H), Math.round((b[2] * 1000) / W), Math.round((b[3] * 1000) / H)]);
      expect([gt.convention, gt.image_w, gt.image_h, gt.target_image, gt.bbox_px]).toEqual(['qwen2vl', W, H, src.targetImage, b]);
      expect([sideW, sideH, conv]).toEqual([W, H, 'qwen2vl']);
    };
    for (const r of await parquetRows('VerlRow', join(out('rl2'), 'verl'))) {
      const e = r.extra_info as { source_id: string; image_w: number; image_h: number; convention: string };
      check(e.source_id, (r.reward_model as { ground_truth: string }).ground_truth, e.image_w, e.image_h, e.convention);
    }
    for (const r of await parquetRows('EasyR1Row', join(out('rl2'), 'easyr1'))) check(r.id as string, r.answer as string, r.image_w as number, r.image_h as number, r.convention as string);
    for (const r of await parquetRows('TrlGrpoRow', join(out('rl2'), 'trl'))) check(r.id as string, r.solution as string, r.image_w as number, r.image_h as number, r.convention as string);
    for (const r of jsonRows(join(out('rl2'), 'vlm-r1'))) {
      check(r.id as string, r.univg_gt as string, r.image_w as number, r.image_h as number, 'qwen2vl');
      // VLM-R1's own answer is the box in original pixels, rounded: its convention says so.
      const src = scored.get(r.id as string)!;
      expect(r.convention).toBe('pixels');
      expect(JSON.parse((r.conversations as Array<{ value: string }>)[1]!.value)).toEqual(src.targetBox.map((v) => Math.round(v)));
    }
  });

  it('qwen25vl: ground truth in pixels of each trainer\'s model input (input_w, input_h beside it)', async () => {
    for (const fmt of RL_FORMATS) {
      const dir = join(out('rl25'), fmt);
      const kind = KIND[fmt]!;
      const rows = fmt === 'vlm-r1' ? jsonRows(dir) : await parquetRows(kind, dir);
      for (const r of rows) {
        const gtText = (r.reward_model as { ground_truth: string } | undefined)?.ground_truth ?? (r.answer ?? r.solution ?? r.univg_gt) as string;
        const gt = GroundTruth.parse(JSON.parse(gtText));
        const budget = { minPixels: TRAINER_RESIZE[fmt].minPixels, maxPixels: TRAINER_RESIZE[fmt].maxPixels };
        expect({ width: gt.input_w, height: gt.input_h }).toEqual(modelInputSize(fmt, gt.image_w, gt.image_h, budget));
        const sx = gt.input_w! / gt.image_w;
        const sy = gt.input_h! / gt.image_h;
        const want = [gt.bbox_px[0] * sx, gt.bbox_px[1] * sy, gt.bbox_px[2] * sx, gt.bbox_px[3] * sy].map(Math.round);
        expect(gt.bbox, `${fmt}`).toEqual(want);
        expect(gt.convention).toBe('qwen25vl');
      }
    }
  });

  it('every box inside the chain of thought is rewritten too; the answer box is the ground truth exactly', async () => {
    for (const set of ['sft2', 'sft25'] as const) {
      const lf = jsonRows(join(out(set), 'llamafactory'));
      const trl = await parquetRows('TrlSftRow', join(out(set), 'trl'));
      expect(lf).toHaveLength(run.sft.length);
      for (const r of lf) {
        const info = r.univg as { id: string; bbox: number[]; convention: string; image_w: number; image_h: number; input_w: number | null; input_h: number | null };
        const src = run.sft.find((x) => x.id === info.id)!;
        const text = (r.messages as Array<{ content: string }>)[1]!.content;
        const t = trl.find((x) => x.id === info.id)!;
        const trlText = (t.completion as Array<{ content: string }>)[0]!.content;
        // Qwen2-VL's frame is the same for every trainer; Qwen2.5-VL's is each trainer's model input.
        if (set === 'sft2') expect(trlText).toBe(text);
        else expect(boxesIn(trlText).at(-1)).toEqual(GroundTruth.parse(JSON.parse(t.solution as string)).bbox);
        const got = boxesIn(text);
        const orig = boxesIn(src.completion);
        expect(got).toHaveLength(orig.length);
        expect(got.at(-1)).toEqual(info.bbox);
        // Each box, read back to pixels, lands where the corpus box (qwen2vl) was, within one grid step of each.
        const fw = info.convention === 'qwen2vl' ? 1000 : info.input_w!;
        const fh = info.convention === 'qwen2vl' ? 1000 : info.input_h!;
        const tolX = info.image_w / 1000 + info.image_w / fw;
        const tolY = info.image_h / 1000 + info.image_h / fh;
        got.forEach((b, k) => {
          const o = orig[k]!;
          const px = [(b[0]! * info.image_w) / fw, (b[1]! * info.image_h) / fh, (b[2]! * info.image_w) / fw, (b[3]! * info.image_h) / fh];
          const opx = [(o[0]! * info.image_w) / 1000, (o[1]! * info.image_h) / 1000, (o[2]! * info.image_w) / 1000, (o[3]! * info.image_h) / 1000];
          px.forEach((v, j) => expect(Math.abs(v - opx[j]!), `${set} ${info.id} box ${k}`).toBeLessThanOrEqual(j % 2 ? tolY : tolX));
        });
        if (set === 'sft2') expect(text, `${JSON.stringify(text)} vs ${JSON.stringify(src.completion)}`).toBe(src.completion.replace(/<answer>.*<\/answer>/, `<answer>(${info.bbox.slice(0, 2).join(',')}),(${info.bbox.slice(2).join(',')})</answer>`));
      }
    }
  });
});

describe('difficulty travels as data', () => {
  it('difficulty, weight and bucket of univg score reach extra_info (verl) and the columns of the other formats', async () => {
    const scored = scoredById();
    const same = (id: string, d: unknown, w: unknown, b: unknown) => {
      const s = scored.get(id)!;
      expect([d, w, b]).toEqual([s.difficulty, s.weight, s.bucket]);
      expect(s.difficulty).not.toBeNull();
    };
    for (const r of await parquetRows('VerlRow', join(out('rl2'), 'verl'))) {
      const e = r.extra_info as { source_id: string; difficulty: number; weight: number; bucket: string };
      same(e.source_id, e.difficulty, e.weight, e.bucket);
    }
    for (const r of await parquetRows('EasyR1Row', join(out('rl2'), 'easyr1'))) same(r.id as string, r.difficulty, r.weight, r.bucket);
    for (const r of jsonRows(join(out('rl2'), 'vlm-r1'))) same(r.id as string, r.difficulty, r.weight, r.bucket);
  });

  it('--keep, --min-miou and --max-miou keep exactly the rows they say', async () => {
    const r = await exp('keep-hard', { formats: ['verl'], modelFamily: 'qwen2vl', keep: ['lt0.3'] });
    const want = run.scored.filter((x) => x.bucket === 'lt0.3').map((x) => x.id).sort();
    const rows = await parquetRows('VerlRow', join(out('keep-hard'), 'verl'));
    expect(rows.map((x) => (x.extra_info as { source_id: string }).source_id).sort()).toEqual(want);
    expect(r.formats[0]!.filtered).toBe(run.scored.length - want.length);
    await exp('band', { formats: ['easyr1'], modelFamily: 'qwen2vl', minMiou: 0.2, maxMiou: 0.6 });
    const band = await parquetRows('EasyR1Row', join(out('band'), 'easyr1'));
    expect(band.map((x) => x.id).sort()).toEqual(run.scored.filter((x) => x.difficulty! >= 0.2 && x.difficulty! <= 0.6).map((x) => x.id).sort());
    expect(band.length).toBeGreaterThan(0);
  });

  it('--order hardest-first writes one shard per mIoU band, hardest first; the recipe turns shuffling off', async () => {
    await exp('curriculum', { formats: ['verl'], modelFamily: 'qwen2vl', order: 'hardest-first', bands: 4 });
    const dir = join(out('curriculum'), 'verl');
    const m = (await readManifest(dir))!;
    expect(m.files.map((f) => f.file)).toEqual([0, 1, 2, 3].map((i) => `data/train-0000${i}-of-00004.parquet`));
    let seen = 0;
    for (const [i, f] of m.files.entries()) {
      const rows = await parquetRows('VerlRow', dir, [f.file]);
      for (const r of rows) {
        const d = (r.extra_info as { difficulty: number }).difficulty;
        // File i of 4 holds mIoU in [i/4, (i+1)/4): low mIoU (hard) first.
        expect(Math.min(3, Math.floor(d * 4)), `row with mIoU ${d} in file ${i}`).toBe(i);
      }
      seen += rows.length;
    }
    expect(seen).toBe(run.scored.length);
    expect(readFileSync(join(dir, 'recipes', 'run_grpo.sh'), 'utf8')).toContain('data.shuffle=False');
  });

  it('a filter or curriculum on rows that were never scored names them and writes nothing', async () => {
    const err = await exportCorpus({ config: { formats: ['verl'], modelFamily: 'qwen2vl', keep: ['lt0.3'] }, pools: { rl: join(tmp.dir, 'corpus', 'rl') }, dataRoot: tmp.dir, out: out('unscored') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/10 row\(s\) .* cannot be exported/);
    expect((err as Error).message).toMatch(/rl-000 .*row \d+, field difficulty\): not_scored/);
    expect(existsSync(join(out('unscored'), 'verl'))).toBe(false);
    expect(readdirSync(out('unscored')).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});

describe('settings', () => {
  it('a model family that is not named is an error, never a guess', async () => {
    const err = await exportCorpus({ config: { formats: ['verl'] } as never, pools, dataRoot: tmp.dir, out: out('nofamily') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/name the model family .*qwen2vl or qwen25vl.*never guessed/);
    expect(existsSync(out('nofamily'))).toBe(false);
  });

  it('refuses what a trainer cannot do: LLaMA-Factory on the RL pool, a Qwen2.5-VL pixel budget verl cannot be told', async () => {
    await expect(exp('x', { formats: ['llamafactory'], modelFamily: 'qwen2vl', pool: 'rl' })).rejects.toThrow(/LLaMA-Factory trains on the sft pool, not rl/);
    await expect(exp('x', { formats: ['verl'], modelFamily: 'qwen25vl', maxPixels: 401408 })).rejects.toThrow(/verl resizes images with a fixed budget/);
    await expect(exp('x', { formats: ['verl'], modelFamily: 'qwen2vl', minPixels: 9, maxPixels: 8 })).rejects.toThrow(/minPixels 9 is above maxPixels 8/);
  });
});

describe('determinism and resume', () => {
  const files = (dir: string) => {
    const out: Record<string, string> = {};
    const walk = (d: string) => {
      for (const n of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, n.name);
        if (n.isDirectory()) walk(p);
        else out[p.slice(dir.length + 1)] = readFileSync(p).toString('base64');
      }
    };
    walk(dir);
    return out;
  };

  it('the same settings give the same bytes; a second run is up to date; changed settings rewrite', async () => {
    const again = await exp('rl2-again', { formats: ['verl', 'vlm-r1'], modelFamily: 'qwen2vl' });
    expect(again.formats.every((f) => !f.upToDate)).toBe(true);
    for (const f of ['verl', 'vlm-r1']) {
      const a = files(join(out('rl2'), f));
      const b = files(join(out('rl2-again'), f));
      expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
      for (const k of Object.keys(a)) if (k !== '_manifest.json' && k !== 'README.md') expect(b[k], `${f}/${k}`).toBe(a[k]);
    }
    const third = await exp('rl2-again', { formats: ['verl', 'vlm-r1'], modelFamily: 'qwen2vl' });
    expect(third.formats.map((f) => f.upToDate)).toEqual([true, true]);
    const phi = await exp('rl2-again', { formats: ['verl'], modelFamily: 'qwen2vl', phi: 'log' });
    expect(phi.formats[0]!.upToDate).toBe(false);
    expect(JSON.parse(readFileSync(join(out('rl2-again'), 'verl', 'plugins', 'univg_plugin.json'), 'utf8')).phi).toBe('log');
  });

  it('an interrupted export leaves no format directory, keeps its finished part, and resumes to the same bytes', async () => {
    const first = (await readManifest(pools.rl!))!.files[0]!.rows;
    let checks = 0;
    // Interrupts after the first input part (the signal is read once per row).
    const signal = { get aborted() { return ++checks > first + 1; } } as AbortSignal;
    const err = await exp('resumed', { formats: ['verl'], modelFamily: 'qwen2vl' }, { signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect(existsSync(join(out('resumed'), 'verl'))).toBe(false);
    expect(readdirSync(join(out('resumed'), '.verl.partial', 'data')).filter((n) => n.endsWith('.parquet'))).toEqual(['train-00000-of-00002.parquet']);
    const r = await exp('resumed', { formats: ['verl'], modelFamily: 'qwen2vl' });
    expect(r.formats[0]!.resumedParts).toBe(1);
    expect(existsSync(join(out('resumed'), '.verl.partial'))).toBe(false);
    const a = files(join(out('rl2'), 'verl'));
    const b = files(join(out('resumed'), 'verl'));
    for (const k of Object.keys(a)) if (k !== '_manifest.json' && k !== 'README.md') expect(b[k], k).toBe(a[k]);
  });

  it('the manifest lists every file with its sha256 and the lineage back to the corpus manifest; the card has the HF header', async () => {
    const dir = join(out('rl2'), 'verl');
    const m = (await readManifest(dir))!;
    expect(m.kind).toBe('VerlRow');
    expect(m.rows).toBe(run.scored.length);
    const input = m.lineage.inputs[0]!;
    expect(input.kind).toBe('RlRow');
    expect(input.sha256).toBe(createHash('sha256').update(readFileSync(join(tmp.dir, 'train', 'scored', '_manifest.json'))).digest('hex'));
    expect(join(dir, input.path)).toBe(join(tmp.dir, 'train', 'scored'));
    const extras = (m.lineage.params as { extras: Array<{ file: string; sha256: string }> }).extras;
    expect(extras.map((e) => e.file)).toEqual(['README.md', 'plugins/univg_plugin.json', 'plugins/univg_reward.py', 'plugins/verl_difficulty.py', 'plugins/verl_reward.py', 'recipes/run_grpo.sh']);
    for (const e of [...extras, ...m.files.map((f) => ({ file: f.file, sha256: f.sha256 }))])
      expect(createHash('sha256').update(readFileSync(join(dir, e.file))).digest('hex'), e.file).toBe(e.sha256);
    const card = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(card).toMatch(/^---\nlicense: other\n/);
    expect(card).toContain('path: data/train-*.parquet');
    expect(card).toContain(`num_examples: ${run.scored.length}`);
    expect(card).toContain('list: image');
  });
});

