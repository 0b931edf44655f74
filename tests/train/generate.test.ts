import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReward, parseCompletion } from '../../src/completion/index.js';
import { selectBackend, type BackendChoice } from '../../src/train/backend.js';
import { exampleBatch, promptIds, sftEncoder, targetIds } from '../../src/train/batching.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { forcedAnswerTemplate, generateBatch, generateCompletion, generateCompletions, loadCheckpoint, promptOf } from '../../src/train/generate.js';
import { sampleToken } from '../../src/train/sample.js';
import { decodeImage } from '../../src/train/image.js';
import { createLoader } from '../../src/train/loader/index.js';
import { GroundingModel, makeModelConfig } from '../../src/train/model/index.js';
import { AdamW } from '../../src/train/optim.js';
import { Rng } from '../../src/train/rng.js';
import { update } from '../../src/train/step.js';
import { buildTokenizer } from '../../src/train/tokenizer.js';
import { tempDir, tinyCorpus, tinyRows } from './helpers.js';

const tmp = tempDir('gen');
let backend: BackendChoice;
beforeAll(async () => {
  backend = await selectBackend({ prefer: 'wasm', only: true });
});
afterAll(() => tmp.cleanup());

describe('sampleToken', () => {
  const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.2)]);
  it('is the argmax at temperature 0', async () => {
    expect(await sampleToken(Float32Array.from([0.1, 2, -1, 1.9]), 0, 1, new Rng(1))).toBe(1);
  });
  it('class-greedy lets the coordinates compete as one class (their summed probability)', async () => {
    // Token 0 ("(") has 30%; coordinates 2..11 share 70%, the best of them 9%.
    const p = [0.3, 0, 0.07, 0.07, 0.07, 0.07, 0.07, 0.07, 0.07, 0.07, 0.05, 0.09];
    const l = Float32Array.from(p, (x) => Math.log(x || 1e-9));
    expect(await sampleToken(l, 0, 1, new Rng(1))).toBe(0);
    expect(await sampleToken(l, 0, 1, new Rng(1), { first: 2, last: 11 })).toBe(11);
    // A token outside the range that beats the coordinates' summed mass wins.
    expect(await sampleToken(Float32Array.from([0.8, 0.1, 0.1].map(Math.log)), 0, 1, new Rng(1), { first: 1, last: 2 })).toBe(0);
  });

  it('samples from the nucleus only, with the probabilities of the softmax', async () => {
    const rng = new Rng(2);
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[await sampleToken(logits, 1, 1, rng)]!++;
    expect(counts[0]! / 3000).toBeCloseTo(0.5, 1);
    expect(counts[2]! / 3000).toBeCloseTo(0.2, 1);
    const nucleus = [0, 0, 0];
    for (let i = 0; i < 1000; i++) nucleus[await sampleToken(logits, 1, 0.6, rng)]!++;
    expect(nucleus[2]).toBe(0);
    expect(nucleus[0]! / 1000).toBeCloseTo(0.5 / 0.8, 1);
    // Same seed, same draws.
    const draws = async (r: Rng) => {
      const out: number[] = [];
      for (let i = 0; i < 20; i++) out.push(await sampleToken(logits, 0.7, 0.9, r));
      return out;
    };
    expect(await draws(new Rng(9))).toEqual(await draws(new Rng(9)));
  });
});

describe('generateCompletion', () => {
  it('after fitting one example, writes its completion back exactly from a loaded checkpoint', async () => {
    const [row] = await tinyRows(1, 7);
    const tok = buildTokenizer([row!.prompt, row!.completion], { minCount: 1 });
    const cfg = makeModelConfig(
      { dModel: 32, nLayers: 2, nHeads: 2, mlpHidden: 64, imageSize: 16, patchSize: 8, maxImages: 3, coordFreqs: 4 },
      { vocabSize: tok.vocabSize, coordBase: tok.coordId(0), coordMax: 1000 },
      { maxPromptTokens: 64, maxTargetTokens: 64 },
    );
    const images = await Promise.all(row!.images.map((im) => decodeImage(im.bytes!, { size: 16, fit: 'stretch' })));
    const ex = exampleBatch(cfg, images, promptIds(tok, row!.prompt), targetIds(tok, row!.completion), tok.bos);
    const model = GroundingModel.init(cfg, new Rng('fit'));
    const opt = new AdamW({ weightDecay: 0 });
    let loss = Infinity;
    for (let i = 0; i < 300 && loss > 0.01; i++) {
      const { stats } = update(model, opt, [ex], { clip: 1, lr: 1e-2 });
      loss = (await stats.data())[0]!;
      stats.dispose();
    }
    expect(loss).toBeLessThan(0.05);
    const dir = join(tmp.dir, 'fit', 'checkpoints', 'step-000001');
    await saveCheckpoint(dir, { model, tokenizer: tok, step: 1, backend, train: {} });
    model.dispose();

    const loaded = await loadCheckpoint(join(tmp.dir, 'fit'), { prefer: 'wasm' });
    expect(loaded.backend.name).toBe('wasm');
    // Images as the encoded PNG bytes an evaluator reads from disk; the prompt rebuilt from the question.
    const question = row!.prompt.replace(/^(<image>)+/, '').replace(/ First output the thinking process.*$/, '');
    const input = { images: row!.images.map((im) => im.bytes!), question };
    expect(promptOf(input)).toBe(row!.prompt);
    const text = await generateCompletion(loaded.model, loaded.tokenizer, input, { maxTokens: 64 });
    expect(text).toBe(row!.completion);
    expect(formatReward(text)).toBe(1);
    // Sampling with a seed is reproducible; a nucleus this small is greedy.
    const s1 = await generateCompletion(loaded.model, loaded.tokenizer, input, { temperature: 1.5, seed: 4 });
    const s2 = await generateCompletion(loaded.model, loaded.tokenizer, input, { temperature: 1.5, seed: 4 });
    expect(s1).toBe(s2);
    expect(await generateCompletion(loaded.model, loaded.tokenizer, input, { temperature: 1, topP: 1e-9, seed: 1 })).toBe(row!.completion);
    expect((await generateCompletion(loaded.model, loaded.tokenizer, input, { maxTokens: 3 })).length).toBeLessThan(row!.completion.length);
    // Generated together with rows of other shapes (fewer images, a longer question: padding and masks),
    // each row writes what it writes alone.
    const other = { images: [row!.images[0]!.bytes!], question: `${question} Then look again, carefully.` };
    const together = await generateCompletions(loaded.model, loaded.tokenizer, [other, input, other], { maxTokens: 64 });
    expect(together[1]).toBe(row!.completion);
    const alone = await generateCompletion(loaded.model, loaded.tokenizer, other, { maxTokens: 64 });
    expect(together[0]).toBe(alone);
    expect(together[2]).toBe(alone);
    loaded.model.dispose();
  });

  it('refuses more images than the model takes', async () => {
    const tok = buildTokenizer(['a']);
    const cfg = makeModelConfig({ dModel: 8, nLayers: 1, nHeads: 1, mlpHidden: 8, imageSize: 16, patchSize: 8, maxImages: 1, coordFreqs: 2 }, { vocabSize: tok.vocabSize, coordBase: tok.coordId(0), coordMax: 1000 }, { maxPromptTokens: 8, maxTargetTokens: 8 });
    const m = GroundingModel.init(cfg, new Rng(1));
    const px = new Float32Array(16 * 16 * 3);
    await expect(generateCompletion(m, tok, { images: [px, px], question: 'q' })).rejects.toThrow(/at most 1/);
    m.dispose();
  });
});

describe('budget forcing (forceAnswer)', () => {
  it('writes </think><answer>(x1,y1),(x2,y2)</answer> for rows that have not begun an answer, with the model\'s own coordinates, and leaves the rest of the text alone', async () => {
    const rows = await tinyRows(3, 11);
    const tok = buildTokenizer(rows.flatMap((r) => [r.prompt, r.completion]), { minCount: 1 });
    const cfg = makeModelConfig(
      { dModel: 16, nLayers: 1, nHeads: 2, mlpHidden: 32, imageSize: 16, patchSize: 8, maxImages: 3, coordFreqs: 4 },
      { vocabSize: tok.vocabSize, coordBase: tok.coordId(0), coordMax: 1000, boxTokens: tok.boxTokens() },
      { maxPromptTokens: 64, maxTargetTokens: 64 },
    );
    // An untrained model never answers in 40 tokens: every row is forced.
    const model = GroundingModel.init(cfg, new Rng('force'));
    const items = await Promise.all(
      rows.map(async (r) => ({ images: await Promise.all(r.images.map((im) => decodeImage(im.bytes!, { size: 16, fit: 'stretch' }))), prompt: promptIds(tok, r.prompt) })),
    );
    const template = forcedAnswerTemplate(tok);
    const maxTokens = 40;
    for (const sampling of [{}, { temperature: 1, seed: 3 }]) {
      const plain = await generateBatch(model, tok, items, { maxTokens, ...sampling });
      const forced = await generateBatch(model, tok, items, { maxTokens, forceAnswer: true, ...sampling });
      for (let i = 0; i < items.length; i++) {
        const p = plain[i]!;
        const f = forced[i]!;
        expect(p.forced).toBe(false);
        expect(p.tokens).not.toContain(tok.answer);
        expect(f.forced).toBe(true);
        expect(f.stop).toBe('eos');
        // The row's own text up to the forcing point is unchanged; then the template, eos not in tokens.
        const from = maxTokens - template.length;
        expect(f.tokens.slice(0, from)).toEqual(p.tokens.slice(0, from));
        const tail = f.tokens.slice(from);
        expect(tail).toHaveLength(template.length - 1);
        tail.forEach((t, k) => (template[k]! >= 0 ? expect(t).toBe(template[k]) : expect(tok.coordValue(t)).not.toBeNull()));
        const parsed = parseCompletion(f.text, 'qwen2vl');
        expect(parsed.answerBox).not.toBeNull();
        expect(f.text).toMatch(/<\/think><answer>\(\d+,\d+\),\(\d+,\d+\)<\/answer>$/);
      }
      // Greedy forcing takes the best coordinate token where it chooses.
      if (!('temperature' in sampling)) expect(forced.map((g) => g.text)).toEqual((await generateBatch(model, tok, items, { maxTokens, forceAnswer: true })).map((g) => g.text));
    }
    await expect(generateBatch(model, tok, items, { maxTokens: template.length - 1, forceAnswer: true })).rejects.toThrow(/forced answer takes 15 tokens; maxTokens is 14/);
    model.dispose();
    // A model whose own budget cannot hold the frame (trained without CoT: it answers at once) is not forced.
    const short = GroundingModel.init({ ...cfg, maxTargetTokens: template.length - 1 }, new Rng('force'));
    const g = await generateBatch(short, tok, items, { forceAnswer: true });
    expect(g.map((x) => x.forced)).toEqual([false, false, false]);
    expect(g.map((x) => x.tokens.length)).toEqual([14, 14, 14]);
    short.dispose();
  });

  it('does not touch a row that answers by itself', async () => {
    const [row] = await tinyRows(1, 7);
    const tok = buildTokenizer([row!.prompt, row!.completion], { minCount: 1 });
    const cfg = makeModelConfig(
      { dModel: 32, nLayers: 2, nHeads: 2, mlpHidden: 64, imageSize: 16, patchSize: 8, maxImages: 3, coordFreqs: 4 },
      { vocabSize: tok.vocabSize, coordBase: tok.coordId(0), coordMax: 1000, boxTokens: tok.boxTokens() },
      { maxPromptTokens: 64, maxTargetTokens: 96 },
    );
    const images = await Promise.all(row!.images.map((im) => decodeImage(im.bytes!, { size: 16, fit: 'stretch' })));
    const ex = exampleBatch(cfg, images, promptIds(tok, row!.prompt), targetIds(tok, row!.completion), tok.bos);
    const model = GroundingModel.init(cfg, new Rng('fit'));
    const opt = new AdamW({ weightDecay: 0 });
    for (let i = 0; i < 300; i++) {
      const { stats } = update(model, opt, [ex], { clip: 1, lr: 1e-2 });
      const loss = (await stats.data())[0]!;
      stats.dispose();
      if (loss < 0.01) break;
    }
    const n = targetIds(tok, row!.completion).length;
    const [g] = await generateBatch(model, tok, [{ images, prompt: promptIds(tok, row!.prompt) }], { maxTokens: n + 20, forceAnswer: true });
    expect(g!.forced).toBe(false);
    expect(g!.text).toBe(row!.completion);
    model.dispose();
  });
});

describe('decodeImage', () => {
  it('gives the loader\'s pixels bit for bit (stretch fit), so predictions see what training saw', async () => {
    const dir = await tinyCorpus(join(tmp.dir, 'corpus'), 6, 3);
    const rows = await tinyRows(6, 3);
    const tok = buildTokenizer(rows.flatMap((r) => [r.prompt, r.completion]));
    const loader = await createLoader({ dirs: [dir], kind: 'SftRow', batchSize: 6, seed: 0, imageSize: 16, maxImages: 3, fit: 'stretch', encode: sftEncoder(tok, true), maxPromptTokens: 64, maxTargetTokens: 64, workers: 1, epochs: 1 });
    const b = (await loader.next())!;
    await loader.close();
    const img = 16 * 16 * 3;
    let compared = 0;
    for (let i = 0; i < b.size; i++) {
      const row = rows.find((r) => r.id === b.ids[i])!;
      for (let k = 0; k < row.images.length; k++) {
        const mine = await decodeImage(row.images[k]!.bytes!, { size: 16, fit: 'stretch' });
        const theirs = b.images.subarray((i * 3 + k) * img, (i * 3 + k + 1) * img);
        expect(Buffer.from(mine.buffer).equals(Buffer.from(theirs.buffer, theirs.byteOffset, theirs.byteLength))).toBe(true);
        compared++;
      }
    }
    expect(compared).toBe(rows.reduce((n, r) => n + r.images.length, 0));
    // Sanity: the loader's token arrays are the encoder's, so batches and generation agree too.
    expect(Array.from(b.promptTokens.subarray(0, 3))).toEqual(promptIds(tok, rows.find((r) => r.id === b.ids[0])!.prompt).slice(0, 3));
  });
});
