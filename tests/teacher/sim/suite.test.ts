/**
 * The simulated teacher on the real synthetic suite: blind accuracy by difficulty, and the hinted mode the
 * corpus pipeline uses. Seeds are fixed, so the numbers are exact, not statistical.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iou } from '../../../src/geometry/index.js';
import { generateSuite, parseQuestion, type MigRecord } from '../../../src/sources/synthetic/index.js';
import { startSimTeacher, type SimTeacher } from '../../../src/teacher/sim/index.js';

let dir: string;
let easy: MigRecord[];
let hard: MigRecord[];
let sim: SimTeacher;
let client: OpenAI;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'univg-sim-suite-'));
  await generateSuite({ out: join(dir, 'easy'), samples: 24, seed: 101, difficulty: 'easy', concurrency: 2 });
  await generateSuite({ out: join(dir, 'hard'), samples: 24, seed: 202, difficulty: 'hard', concurrency: 2 });
  easy = JSON.parse(await readFile(join(dir, 'easy', 'all.json'), 'utf8')) as MigRecord[];
  hard = JSON.parse(await readFile(join(dir, 'hard', 'all.json'), 'utf8')) as MigRecord[];
  sim = await startSimTeacher({ seed: 0, convention: 'norm' });
  client = new OpenAI({ baseURL: sim.url, apiKey: 'sk-suite', maxRetries: 0 });
});

afterAll(async () => {
  await sim?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function ask(root: string, r: MigRecord, text: string): Promise<string> {
  const images = await Promise.all(r.images.map(async (p) => `data:image/png;base64,${(await readFile(join(root, p))).toString('base64')}`));
  const res = await client.chat.completions.create({
    model: 'univg-sim',
    temperature: 0,
    messages: [{ role: 'user', content: [...images.map((url) => ({ type: 'image_url' as const, image_url: { url } })), { type: 'text' as const, text }] }],
  });
  return res.choices[0]!.message.content ?? '';
}

const answer = (t: string) => /<answer>\(([\d.]+),([\d.]+)\),\(([\d.]+),([\d.]+)\)<\/answer>$/.exec(t)?.slice(1, 5).map(Number) ?? null;

async function blindAccuracy(root: string, records: MigRecord[]): Promise<number> {
  let hit = 0;
  for (const r of records) {
    const box = answer(await ask(root, r, `${r.question} First output the thinking process in <think> </think> tags and then output the bounding box in <answer> </answer> tags.`));
    if (box && iou(box, r.answer) >= 0.5) hit++;
  }
  return hit / records.length;
}

describe('simulated teacher on the synthetic suite', () => {
  it('gets easy samples right and clearly fewer hard ones, blind', async () => {
    expect(new Set(easy.map((r) => r.task)).size).toBe(6);
    const e = await blindAccuracy(join(dir, 'easy'), easy);
    const h = await blindAccuracy(join(dir, 'hard'), hard);
    expect(e).toBeGreaterThanOrEqual(0.85);
    expect(h).toBeLessThan(e - 0.2);
    expect(sim.stats().byOutcome.ok).toBe(48);
  });

  it('in hinted mode copies the ground truth and reasons towards it when it sees the same object', async () => {
    let agree = 0;
    for (const r of easy.slice(0, 12)) {
      const gt = `(${r.answer.map((v) => Number(v.toFixed(3))).join(',')})`.replace(/^\(([^,]+),([^,]+),([^,]+),([^,]+)\)$/, '($1,$2),($3,$4)');
      const prompt = `Please carefully examine all the images. The question to be addressed is ${r.question}. The ground truth coordinates answer are ${gt}. Now, please assume you do not know the ground truth coordinates in advance. Then, provide a detailed description of your reasoning process.`;
      const text = await ask(join(dir, 'easy'), r, prompt);
      expect(text.endsWith(`<answer>${gt}</answer>`)).toBe(true);
      const target = parseQuestion(r.question)!.target;
      expect(text).toContain(['first', 'second', 'third', 'fourth', 'fifth', 'sixth'][target]!);
      if (text.slice(0, text.indexOf('</think>')).includes(gt)) agree++;
    }
    expect(agree).toBeGreaterThanOrEqual(10);
  });
});
