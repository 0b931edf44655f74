/**
 * The two source formats on the committed fixtures (datasets/fixtures): exact samples, exact pixel boxes
 * (hand-computed from the fixture image sizes), exact quarantine reasons with ids and fields.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GroundingSample, QuarantineRecord } from '../../src/schema/records.js';
import { ingestMGrounding, ingestMigBench, type IngestEvent } from '../../src/sources/index.js';
import { mgroundingRecordToEvents, mgroundingTask } from '../../src/sources/formats/mgrounding.js';
import { ImageCatalog, type ImageLookup } from '../../src/sources/images.js';

const FIX = join(import.meta.dirname, '..', '..', 'datasets', 'fixtures');
const MG = { input: join(FIX, 'mgrounding', 'train.json'), imageRoot: join(FIX, 'mgrounding'), file: 'mgrounding/train.json' };
const MB = { input: join(FIX, 'migbench', 'MIG_data.json'), imageRoot: join(FIX, 'migbench'), file: 'migbench/MIG_data.json' };

async function all(gen: AsyncGenerator<IngestEvent>): Promise<IngestEvent[]> {
  const out: IngestEvent[] = [];
  for await (const e of gen) out.push(e);
  return out;
}
const samplesOf = (ev: IngestEvent[]) => ev.filter((e): e is Extract<IngestEvent, { kind: 'sample' }> => e.kind === 'sample').map((e) => e.sample);
const quarantineOf = (ev: IngestEvent[]) => ev.filter((e): e is Extract<IngestEvent, { kind: 'quarantine' }> => e.kind === 'quarantine').map((e) => e.record);
const brief = (r: QuarantineRecord) => [r.recordId, r.row, r.field, r.reason];
const sha = (root: string, p: string) => createHash('sha256').update(readFileSync(join(root, p))).digest('hex');

describe('MGrounding-630k fixture', () => {
  it('yields one sample per grounded turn with exact pixel boxes', async () => {
    const s = samplesOf(await all(ingestMGrounding(MG)));
    // [id, task, targetImage, targetBox (pixels), target image size, targetRule, context turns]
    const expected: Array<[string, string, number, number[], string, string, number]> = [
      // sa_3 is 750x375: (316,58),(764,999) * (0.75, 0.375)
      ['gg_ok_1#0', 'group_grounding', 2, [237, 21.75, 573, 374.625], '750x375', 'answer', 0],
      // sa_1 is 500x250: (408,656),(578,997) * (0.5, 0.25)
      ['gg_ok_1#1', 'group_grounding', 0, [204, 164, 289, 249.25], '500x250', 'answer', 2],
      ['gg_ok_2#0', 'group_grounding', 1, [25, 100, 75, 200], '250x500', 'answer', 0],
      ['gg_ok_2#1', 'group_grounding', 3, [0, 0, 1000, 500], '1000x500', 'answer', 2],
      // coco_2 is 375x250; the question says "Image-2"
      ['co_ok_1#0', 'common_object', 1, [75, 25, 225, 225], '375x250', 'question', 0],
      // nothing names an image: the last one
      ['diff_ok_1#0', 'diff', 1, [30, 10, 120, 90], '250x250', 'default_last', 0],
      // turn 0 is a caption (no box): context only; turn 1 is the sample
      ['gg_ok_3#1', 'group_grounding', 2, [250, 250, 750, 500], '1000x500', 'answer', 2],
      ['mixed_1#0', 'common_object', 0, [5, 10, 15, 20], '500x500', 'answer', 0],
    ];
    expect(s.map((x) => x.id)).toEqual(expected.map((e) => e[0]));
    for (const [i, [id, task, target, box, size, rule, ctx]] of expected.entries()) {
      const x = s[i]!;
      expect(x.id).toBe(id);
      expect(x.source).toBe('mgrounding');
      expect(x.task).toBe(task);
      expect(x.targetImage).toBe(target);
      expect(x.targetBox).toEqual(box);
      expect(`${x.images[target]!.width}x${x.images[target]!.height}`).toBe(size);
      expect(x.meta.targetRule).toBe(rule);
      expect(x.context).toHaveLength(ctx);
      expect(x.split).toBe('train');
    }
  });

  it('keeps the conversation as context, strips placeholders, and records the source details in meta', async () => {
    const s = samplesOf(await all(ingestMGrounding(MG)));
    const first = s.find((x) => x.id === 'gg_ok_1#0')!;
    const second = s.find((x) => x.id === 'gg_ok_1#1')!;
    expect(first.question).toBe('Give the bounding box of the region that this sentence refers to: <|object_ref_start|>a statue of a man<|object_ref_end|>.');
    expect(second.question).toBe('Recognize the target region that this sentence refers to: <|object_ref_start|>a woman wearing an orange shirt<|object_ref_end|>.');
    expect(second.context).toEqual([
      { role: 'user', content: first.question },
      { role: 'assistant', content: "It's in the third image. <|box_start|>(316,58),(764,999)<|box_end|>" },
    ]);
    expect(second.meta).toEqual({ type: 'gg_train', turn: 1, targetRule: 'answer', sourceBox: [408, 656, 578, 997], sourceConvention: 'qwen2vl' });
    expect(first.images.map((i) => i.path)).toEqual(['sa_1', 'sa_2', 'sa_3', 'sa_4'].map((n) => `./MGrounding-630k/Group_Grounding/SA-1B/${n}.png`));
    for (const img of first.images) expect(img.sha256).toBe(sha(MG.imageRoot, img.path));
    const captioned = s.find((x) => x.id === 'gg_ok_3#1')!;
    expect(captioned.context[0]!.content).toBe('Describe the region <|box_start|>(10,10),(500,500)<|box_end|> of the first image.');
    expect(captioned.context[1]).toEqual({ role: 'assistant', content: 'A red bicycle leaning on a wall.' });
  });

  it('quarantines every defect with its id, row, field and reason, and keeps going', async () => {
    const ev = await all(ingestMGrounding(MG));
    const q = quarantineOf(ev);
    expect(q.map(brief)).toEqual([
      ['mixed_1#1', 5, 'conversations[3].value', 'box_inverted'],
      [null, 6, null, 'json_invalid'],
      ['no_conv', 7, 'conversations', 'record_invalid'],
      ['two_humans', 8, 'conversations[1].from', 'conversation_malformed'],
      ['gg_ok_1', 9, 'id', 'duplicate_id'],
      ['count_mismatch', 10, 'conversations', 'image_count_mismatch'],
      ['escape', 11, 'images[0]', 'path_escapes_root'],
      ['escape', 11, 'images[1]', 'path_escapes_root'],
      ['missing_img', 12, 'images[1]', 'image_missing'],
      ['broken_img', 13, 'images[1]', 'image_unreadable'],
      ['empty_q#0', 14, 'conversations[0].value', 'question_empty'],
      ['reg_only', 15, 'conversations', 'no_grounded_turn'],
      ['box_text#0', 16, 'conversations[1].value', 'box_unparsable'],
      ['two_boxes#0', 17, 'conversations[1].value', 'box_multiple'],
      ['box_nan#0', 18, 'conversations[1].value', 'box_not_finite'],
      ['box_inv#0', 19, 'conversations[1].value', 'box_inverted'],
      ['box_flat#0', 20, 'conversations[1].value', 'box_degenerate'],
      ['box_big#0', 21, 'conversations[1].value', 'box_out_of_range'],
      ['ordinal_5#0', 22, 'conversations[1].value', 'image_ordinal_unknown'],
    ]);
    for (const r of q) {
      expect(r.stage).toBe('ingest');
      expect(r.file).toBe('mgrounding/train.json');
      expect(r.detail.length).toBeGreaterThan(0);
    }
    expect(q.find((r) => r.reason === 'json_invalid')!.detail).toMatch(/^element at byte \d+/);
    // Events come in input order: mixed_1#0 (sample) precedes mixed_1#1 (quarantine).
    const ids = ev.map((e) => (e.kind === 'sample' ? e.sample.id : e.record.recordId));
    expect(ids.indexOf('mixed_1#0')).toBe(ids.indexOf('mixed_1#1') - 1);
  });

  it('maps record types to task keys, keeping unknown ones', () => {
    expect(['gg_train', 'common_train', 'diff_train', 'free_form', 'ot_train', 'refer_train', 'region_train', 'weird', null].map((t) => mgroundingTask(t))).toEqual([
      'group_grounding',
      'common_object',
      'diff',
      'free_form',
      'object_tracking',
      'refer_grounding',
      'region',
      'weird',
      'unknown',
    ]);
  });

  it('is a pure function of the record and the image metadata', () => {
    const rec = { id: 'p', images: ['a.png', 'b.png'], conversations: [{ from: 'human', value: '<image>\n<image>\nFind it.' }, { from: 'gpt', value: "It's in the second image. <|box_start|>(100,200),(300,400)<|box_end|>" }], type: 'gg_train' };
    const meta: ImageLookup = { ok: true, sha256: 'a'.repeat(64), width: 2000, height: 1000, bytes: 1, format: 'png', orientation: null };
    const seen: string[] = [];
    const ev = mgroundingRecordToEvents(rec, { row: 0, file: null }, (p) => (seen.push(p), meta));
    expect(seen).toEqual(['a.png', 'b.png']);
    expect(ev).toHaveLength(1);
    expect((ev[0] as { sample: GroundingSample }).sample.targetBox).toEqual([200, 200, 600, 400]);
    // A broken record never asks for images.
    const none = mgroundingRecordToEvents({ ...rec, conversations: [] }, { row: 0, file: null }, () => {
      throw new Error('no lookup expected');
    });
    expect(none[0]).toMatchObject({ kind: 'quarantine', record: { reason: 'record_invalid' } });
  });
});

describe('MIG-Bench fixture', () => {
  it('yields samples with <task>-<row> ids, the named target image and exact pixel boxes', async () => {
    const s = samplesOf(await all(ingestMigBench(MB)));
    // [id, targetImage, pixel box, target size, rule]
    const expected: Array<[string, number, number[], string, string]> = [
      ['common_object-0', 2, [100, 30, 300, 270], '400x300', 'question'], // "3th image"
      ['region-1', 0, [400, 150, 600, 300], '800x600', 'question'], // "in the source image"
      ['object_tracking-2', 1, [80, 90, 320, 270], '640x360', 'question'], // "locate it in the 2th image"
      ['refer_grounding-3', 1, [0, 0, 480, 320], '480x320', 'question'], // "in the image-2"
      ['reasoning-4', 1, [212.16, 150.72, 266.4, 206.4], '480x320', 'question'], // "in the second image"
      ['group_grounding-5', 3, [150, 200, 300, 400], '300x400', 'additional_info'], // "It is in the fourth image."
      ['diff-6', 1, [64, 128, 192, 256], '256x256', 'default_last'],
      ['correspondence-7', 1, [240, 160, 360, 240], '480x320', 'question'],
    ];
    expect(s.map((x) => x.id)).toEqual(expected.map((e) => e[0]));
    for (const [i, [, target, box, size, rule]] of expected.entries()) {
      const x = s[i]!;
      expect(x.source).toBe('migbench');
      expect(x.split).toBe('test');
      expect(x.targetImage).toBe(target);
      x.targetBox.forEach((v, k) => expect(v).toBeCloseTo(box[k]!, 9));
      expect(`${x.images[target]!.width}x${x.images[target]!.height}`).toBe(size);
      expect(x.meta.targetRule).toBe(rule);
      expect(x.context).toEqual([]);
    }
    const gg = s.find((x) => x.id === 'group_grounding-5')!;
    expect(gg.meta).toMatchObject({ need_format: false, additional_info: 'It is in the fourth image. <|box_start|>(500,500),(1000,1000)<|box_end|>. ', row: 5, sourceBox: [0.5, 0.5, 1, 1], sourceConvention: 'norm' });
    expect(gg.task).toBe('group_grounding');
  });

  it('quarantines every defect with its id, row, field and reason', async () => {
    const q = quarantineOf(await all(ingestMigBench(MB)));
    expect(q.map(brief)).toEqual([
      [null, 8, null, 'json_invalid'],
      [null, 9, 'task', 'record_invalid'],
      ['reasoning-10', 10, 'question', 'image_count_mismatch'],
      ['reasoning-11', 11, 'images[0]', 'path_escapes_root'],
      ['reasoning-12', 12, 'images[1]', 'image_missing'],
      ['reasoning-13', 13, 'images[1]', 'image_unreadable'],
      ['common_object-14', 14, 'question', 'question_empty'],
      ['common_object-15', 15, 'answer', 'box_unparsable'],
      ['common_object-16', 16, 'answer', 'box_not_finite'], // Python wrote NaN
      ['common_object-17', 17, 'answer', 'box_inverted'],
      ['common_object-18', 18, 'answer', 'box_degenerate'],
      ['common_object-19', 19, 'answer', 'box_out_of_range'],
      ['object_tracking-20', 20, 'question', 'image_ordinal_unknown'],
    ]);
  });

  it('with `only`, yields just the records that become those samples and looks up no other image', async () => {
    const full = await all(ingestMigBench(MB));
    const want = ['region-1', 'diff-6', 'reasoning-12'];
    const catalog = await ImageCatalog.open(MB.imageRoot);
    const some = await all(ingestMigBench({ ...MB, catalog, only: new Set(want) }));
    const chosen = samplesOf(full).filter((x) => want.includes(x.id));
    expect(samplesOf(some)).toEqual(chosen);
    // reasoning-12 is set aside as in a full read (its second image is missing).
    expect(quarantineOf(some)).toEqual(quarantineOf(full).filter((r) => r.recordId === 'reasoning-12'));
    const images = chosen.reduce((n, x) => n + x.images.length, 0);
    // The chosen samples' images and reasoning-12's two; none of the other records'.
    expect(catalog.stats.lookups).toBe(images + 2);
    expect(await all(ingestMigBench({ ...MB, only: new Set(['no-such-id']) }))).toEqual([]);
  });

  it('`only` is refused for a format whose record can become several samples', async () => {
    await expect(all(ingestMGrounding({ ...MG, only: new Set(['gg_ok_1#0']) }))).rejects.toThrow(/mgrounding records cannot be picked by sample id/);
  });

  it('gives the same events whatever the lookahead and concurrency', async () => {
    const a = await all(ingestMigBench({ ...MB, lookahead: 1, concurrency: 1 }));
    const b = await all(ingestMigBench({ ...MB, lookahead: 256, concurrency: 16 }));
    expect(b).toEqual(a);
  });
});
