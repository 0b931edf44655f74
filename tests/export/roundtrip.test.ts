/**
 * Round trip: a VLM-R1 or LLaMA-Factory export read back with `univg ingest` gives the corpus's boxes in
 * pixels (within 0.5 px), on the right image, with the same question. VLM-R1 stores the box in rounded
 * original pixels; LLaMA-Factory's answer text is in the family's grid, so ingest reads the exact pixel box
 * univg keeps beside it after checking the text agrees to one grid step (both checked here).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCompletion } from '../../src/completion/parse.js';
import { convertBox } from '../../src/geometry/convert.js';
import { exportCorpus, runPools } from '../../src/export/index.js';
import type { GroundingSample, RlRow, SftRow } from '../../src/schema/records.js';
import { readRows } from '../../src/store/index.js';
import { COT_INSTRUCTION } from '../../src/completion/prompt.js';
import { makeCorpusRun, tempDir, type CorpusRun } from './fixture.js';

const tmp = tempDir('roundtrip');
const ROOT = join(import.meta.dirname, '..', '..');
let run: CorpusRun;

beforeAll(async () => {
  run = await makeCorpusRun(tmp.dir, 12);
  const pools = await runPools(tmp.dir);
  for (const family of ['qwen2vl', 'qwen25vl'] as const) {
    await exportCorpus({ config: { formats: ['vlm-r1'], modelFamily: family }, pools, dataRoot: tmp.dir, out: join(tmp.dir, `export-${family}`) });
    await exportCorpus({ config: { formats: ['llamafactory'], modelFamily: family }, pools, dataRoot: tmp.dir, out: join(tmp.dir, `export-${family}`) });
  }
}, 240_000);
afterAll(() => tmp.cleanup());

function ingest(format: string, dir: string, out: string): void {
  const files = readdirSync(join(dir, 'data')).sort();
  files.forEach((f, i) => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'univg.js'), 'ingest', '--format', format, '--input', join(dir, 'data', f), '--image-root', dir, '--out', `${out}-${i}`, '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).quarantined).toBe(0);
  });
}

async function samples(out: string, parts: number): Promise<GroundingSample[]> {
  const all: GroundingSample[] = [];
  for (let i = 0; i < parts; i++) for await (const s of readRows('GroundingSample', `${out}-${i}`)) all.push(s);
  return all;
}

function expectSame(back: GroundingSample[], src: Array<SftRow | RlRow>): void {
  expect(back.map((s) => s.id).sort()).toEqual(src.map((s) => s.id).sort());
  for (const s of back) {
    const o = src.find((x) => x.id === s.id)!;
    expect(s.targetImage).toBe(o.targetImage);
    expect(s.images.map((im) => im.sha256)).toEqual(o.imageSha256);
    expect(s.images.map((im) => [im.width, im.height])).toEqual(o.imageWidth.map((w, k) => [w, o.imageHeight[k]]));
    s.targetBox.forEach((v, k) => expect(Math.abs(v - o.targetBox[k]!), `${s.id} coordinate ${k}`).toBeLessThanOrEqual(0.5));
    expect(`${'<image>'.repeat(o.images.length)}${s.question} ${COT_INSTRUCTION}`).toBe(o.prompt);
  }
}

describe('export, then univg ingest', () => {
  for (const family of ['qwen2vl', 'qwen25vl'] as const) {
    it(`VLM-R1 (${family}): the same boxes in pixels (±0.5 px), images and questions`, async () => {
      const out = join(tmp.dir, `back-vlmr1-${family}`);
      ingest('vlm-r1', join(tmp.dir, `export-${family}`, 'vlm-r1'), out);
      expectSame(await samples(out, 2), run.scored);
    }, 120_000);

    it(`LLaMA-Factory (${family}): the same boxes in pixels, and the answer text within one grid step of them`, async () => {
      const dir = join(tmp.dir, `export-${family}`, 'llamafactory');
      const out = join(tmp.dir, `back-lf-${family}`);
      ingest('llamafactory', dir, out);
      const back = await samples(out, 2);
      expectSame(back, run.sft);
      for (const s of back) {
        const answer = s.meta.answerBox as number[];
        const conv = s.meta.answerConvention as 'qwen2vl' | 'qwen25vl';
        const img = s.images[s.targetImage]!;
        const row = readdirSync(join(dir, 'data')).flatMap((f) => JSON.parse(readFileSync(join(dir, 'data', f), 'utf8')) as Array<{ univg: { id: string; input_w: number | null; input_h: number | null } }>).find((r) => r.univg.id === s.id)!;
        const frame = conv === 'qwen2vl' ? { width: 1000, height: 1000 } : { width: row.univg.input_w!, height: row.univg.input_h! };
        const px = convertBox(answer, conv, 'pixels', { width: img.width, height: img.height, ...(conv === 'qwen25vl' ? { resized: frame } : {}) });
        px.forEach((v, k) => expect(Math.abs(v - s.targetBox[k]!)).toBeLessThanOrEqual((k % 2 ? img.height / frame.height : img.width / frame.width) / 2 + 1e-9));
      }
    }, 120_000);
  }

  it('a LLaMA-Factory row whose answer was edited away from its pixel box is quarantined, not trusted', () => {
    const dir = join(tmp.dir, 'export-qwen2vl', 'llamafactory');
    const file = join(dir, 'data', readdirSync(join(dir, 'data')).sort()[0]!);
    const rows = JSON.parse(readFileSync(file, 'utf8')) as Array<{ messages: Array<{ content: string }>; univg: { id: string } }>;
    const text = rows[0]!.messages[1]!.content;
    const box = parseCompletion(text, 'qwen2vl').answerBox!;
    rows[0]!.messages[1]!.content = text.replace(/<answer>.*<\/answer>/, `<answer>(${box[0]! + 40},${box[1]}),(${box[2]! + 40},${box[3]})</answer>`);
    const edited = join(dir, 'edited.json');
    writeFileSync(edited, JSON.stringify(rows));
    const out = join(tmp.dir, 'back-edited');
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'univg.js'), 'ingest', '--format', 'llamafactory', '--input', edited, '--image-root', dir, '--out', out, '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).byReason).toEqual({ box_disagrees: 1 });
    const q = readFileSync(join(out, 'quarantine.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(q[0].recordId).toBe(rows[0]!.univg.id);
  }, 120_000);
});
