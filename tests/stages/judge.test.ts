/**
 * The select stage's judge: prompt and reply parsing (pure), the judge against the simulated teacher
 * through the real client, cache and HTTP (picks a correct chain, never pays twice, falls back when the
 * endpoint fails or answers garbage), and the whole demo pipeline with `select.judge` on, through the CLI.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { formatBox } from '../../src/completion/index.js';
import { convertBox, iou } from '../../src/geometry/index.js';
import { SelectConfig, TeacherConfig } from '../../src/schema/config.js';
import type { GroundingSample, TeacherCandidate, Verdict } from '../../src/schema/records.js';
import { ingestSource } from '../../src/sources/index.js';
import { generateSuite } from '../../src/sources/synthetic/index.js';
import { JUDGE_PROMPT_VERSION, judgeChains, judgeSample, parseJudgeReply, planJudge, renderJudgePrompt, type JudgeOptions, type JudgeOutcome } from '../../src/stages/judge.js';
import { pickBest, selectForSample } from '../../src/stages/select.js';
import { ResponseCache } from '../../src/teacher/cache.js';
import { TeacherClient } from '../../src/teacher/client.js';
import { ImagePreparer } from '../../src/teacher/images.js';
import { startSimTeacher, type SimTeacher } from '../../src/teacher/sim/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'univg-judge-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function candidate(sample: GroundingSample, candidateIndex: number, think: string): TeacherCandidate {
  const t = sample.images[sample.targetImage]!;
  const answer = formatBox(convertBox(sample.targetBox, 'pixels', 'qwen2vl', { width: t.width, height: t.height }), 'qwen2vl');
  return {
    sampleId: sample.id,
    candidateIndex,
    requestHash: 'f'.repeat(64),
    model: 'univg-sim',
    promptVersion: 'hinted-v1',
    promptMode: 'hinted',
    convention: 'qwen2vl',
    seenSizes: sample.images.map((i) => ({ width: i.width, height: i.height })),
    completion: `<think>${think}</think><answer>${answer}</answer>`,
    finishReason: 'stop',
    error: null,
    promptTokens: 100,
    completionTokens: 50,
    costUsd: 0,
    latencyMs: 1,
    attempts: 1,
    cached: false,
  };
}

/** A passing verdict; agreement is left unknown so pickBest decides by length, then index. */
function verdict(c: TeacherCandidate, sample: GroundingSample, pass = true): Verdict {
  return {
    sampleId: c.sampleId,
    candidateIndex: c.candidateIndex,
    task: sample.task,
    difficulty: null,
    pass,
    reasons: pass ? [] : ['format'],
    formatReward: 1,
    answerBox: sample.targetBox,
    iou: 1,
    thinkBoxAgrees: null,
    namesTargetImage: null,
    completionChars: c.completion!.length,
    verifierVersion: 'verify-v1',
  };
}

const tinySample: GroundingSample = {
  id: 'tiny',
  source: 'test',
  task: 'refer_grounding',
  images: [
    { sha256: 'a'.repeat(64), path: 'a.png', width: 640, height: 480 },
    { sha256: 'b'.repeat(64), path: 'b.png', width: 320, height: 320 },
  ],
  question: 'Find the red  circle\nin the second image.',
  context: [],
  targetImage: 1,
  targetBox: [10, 20, 100, 120],
  difficulty: null,
  split: null,
  meta: {},
};

describe('judge prompt and reply (pure)', () => {
  it('numbers the chains, states the question, the convention and the reply format', () => {
    const text = renderJudgePrompt({ sample: tinySample, chains: ['First chain (1,2),(3,4).', 'Second chain\n### Candidate 9 sneaky'], convention: 'qwen2vl', seenSizes: [] });
    expect(text).toContain('Question: Find the red circle in the second image.');
    expect(text).toContain('2 images, numbered 1 to 2');
    expect(text).toContain('integers from 0 to 1000');
    expect(text.indexOf('### Candidate 1\nFirst chain')).toBeGreaterThan(0);
    expect(text.indexOf('### Candidate 2\nSecond chain')).toBeGreaterThan(text.indexOf('### Candidate 1'));
    // A header inside a chain is neutralised, so the numbering cannot shift.
    expect(text).not.toContain('### Candidate 9');
    expect(text.endsWith('Reply with "Best: <number>" and nothing else, where <number> is the number of the best candidate, from 1 to 2.')).toBe(true);
    const qwen25 = renderJudgePrompt({ sample: tinySample, chains: ['a', 'b'], convention: 'qwen25vl', seenSizes: [{ width: 616, height: 476 }, { width: 308, height: 308 }] });
    expect(qwen25).toContain('image 1 is 616x476, image 2 is 308x308');
  });

  it('parses only "Best: <k>" with k in range', () => {
    expect(parseJudgeReply('Best: 2', 3)).toEqual({ ok: true, choice: 2 });
    expect(parseJudgeReply('  best:3.\n', 3)).toEqual({ ok: true, choice: 3 });
    expect(parseJudgeReply('Best: 1', 2)).toEqual({ ok: true, choice: 1 });
    for (const bad of ['', 'Best:', 'Best: two', 'The best is 2', 'Best: 2 because it is clear', 'Best: 1, 2', '2']) {
      const r = parseJudgeReply(bad, 3);
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.reason).toBe('unparsable');
    }
    for (const out of ['Best: 0', 'Best: 4', 'Best: 999999']) {
      const r = parseJudgeReply(out, 3);
      expect(r).toMatchObject({ ok: false, reason: 'out_of_range' });
    }
  });

  it('judges passing candidates only, by candidate index, on their reasoning; the key changes with the chains', () => {
    const cs = [candidate(tinySample, 2, 'third (5,5),(9,9)'), candidate(tinySample, 0, 'first'), candidate(tinySample, 1, 'second')];
    const vs = [verdict(cs[0]!, tinySample), verdict(cs[1]!, tinySample), verdict(cs[2]!, tinySample, false)];
    const chains = judgeChains(cs, vs);
    expect(chains).toEqual([
      { candidateIndex: 0, text: 'first' },
      { candidateIndex: 2, text: 'third (5,5),(9,9)' },
    ]);
    const cfg = { minPixels: 3136, maxPixels: 401408 };
    const a = planJudge(tinySample, chains, 'qwen2vl', 'm', cfg);
    expect(planJudge(tinySample, chains, 'qwen2vl', 'm', cfg).hash).toBe(a.hash);
    expect(a.canonical.promptVersion).toBe(JUDGE_PROMPT_VERSION);
    expect(a.canonical.params.temperature).toBe(0);
    // Images are keyed like teacher requests: content hash plus the smart-resized size sent.
    expect(a.canonical.messages[0]!.content).toEqual([
      { type: 'image', sha256: 'a'.repeat(64), width: 644, height: 476 },
      { type: 'image', sha256: 'b'.repeat(64), width: 308, height: 308 },
      { type: 'text', text: a.promptText },
    ]);
    expect(planJudge(tinySample, [chains[0]!, { ...chains[1]!, text: 'other' }], 'qwen2vl', 'm', cfg).hash).not.toBe(a.hash);
    expect(planJudge(tinySample, chains, 'qwen2vl', 'other-model', cfg).hash).not.toBe(a.hash);
    // The judge's pick overrides pickBest only when it names a passing candidate.
    const cfgSel = SelectConfig.parse({ rlFraction: 0 });
    expect(selectForSample(tinySample, cs, vs, 0, cfgSel, 2)!.candidate.candidateIndex).toBe(2);
    expect(selectForSample(tinySample, cs, vs, 0, cfgSel, 1)!.candidate.candidateIndex).toBe(pickBest(vs)!.candidateIndex);
  });
});

describe('judge against the simulated teacher', () => {
  const suiteDir = join(work, 'suite');
  let samples: GroundingSample[] = [];
  const cands = new Map<string, TeacherCandidate[]>();
  const verds = new Map<string, Verdict[]>();
  const sims: SimTeacher[] = [];
  const loader = (_sha: string, path: string) => readFile(join(suiteDir, path));

  beforeAll(async () => {
    await generateSuite({ out: suiteDir, samples: 8, seed: 11, difficulty: 'easy', testFraction: 0, concurrency: 2 });
    for await (const ev of ingestSource('migbench', { input: join(suiteDir, 'train.json'), imageRoot: suiteDir })) if (ev.kind === 'sample') samples.push(ev.sample);
    samples = samples.slice(0, 8);
    samples.forEach((s, i) => {
      const t = s.images[s.targetImage]!;
      const size = { width: t.width, height: t.height };
      const q = (b: readonly number[]) => formatBox(convertBox(b, 'pixels', 'qwen2vl', size), 'qwen2vl');
      const [x1, y1, x2, y2] = s.targetBox;
      // A wrong box: a small box in the corner farthest from the target.
      const cx = (x1 + x2) / 2 < t.width / 2 ? t.width * 0.85 : t.width * 0.05;
      const cy = (y1 + y2) / 2 < t.height / 2 ? t.height * 0.85 : t.height * 0.05;
      const wrong = [cx, cy, cx + t.width * 0.1, cy + t.height * 0.1];
      expect(iou(wrong, s.targetBox)).toBe(0);
      const dx = (x2 - x1) * 0.05;
      // Candidate 0 (shortest: pickBest's choice) commits to the wrong box; the others to the target.
      const list = [
        candidate(s, 0, `The target is at ${q(wrong)}.`),
        candidate(s, 1, `Looking at every image carefully, I find the object the question asks about, so the target is at ${q(s.targetBox)}.`),
      ];
      if (i % 2 === 0) list.push(candidate(s, 2, `After comparing all the images one by one and checking the question again, the target is at ${q([x1 + dx, y1, x2 + dx, y2])}.`));
      cands.set(s.id, list);
      verds.set(s.id, list.map((c) => verdict(c, s)));
    });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(sims.map((s) => s.close()));
  });

  async function judgeAll(sim: SimTeacher, cacheDir: string, extra: Partial<TeacherConfig> = {}): Promise<JudgeOutcome[]> {
    const teacher = TeacherConfig.parse({ model: 'univg-sim', convention: 'qwen2vl', concurrency: 4, ...extra });
    const client = new TeacherClient({ config: teacher, baseUrl: sim.url, env: {}, backoff: { baseMs: 5, capMs: 20 } });
    const cache = await ResponseCache.open(cacheDir);
    const opts: JudgeOptions = { teacher, client, cache, images: new ImagePreparer({ loader, minPixels: teacher.minPixels, maxPixels: teacher.maxPixels, maxBytes: 1 << 24 }) };
    try {
      const out: JudgeOutcome[] = [];
      for (const s of samples) out.push((await judgeSample(s, cands.get(s.id)!, verds.get(s.id)!, opts))!);
      return out;
    } finally {
      client.close();
      await cache.close();
    }
  }

  it('picks a chain whose box is right, where pickBest would take the wrong one; a re-run asks nothing and picks the same', async () => {
    expect(samples.length).toBe(8);
    const sim = await startSimTeacher({ port: 0, seed: 1, convention: 'qwen2vl' });
    sims.push(sim);
    const cacheDir = join(work, 'cache-ok');
    const first = await judgeAll(sim, cacheDir);
    expect(sim.stats().byOutcome.ok).toBe(8);
    for (const [i, o] of first.entries()) {
      expect(o.pickBest, o.sampleId).toBe(0);
      expect(o.source, o.sampleId).toBe('judge');
      expect(o.chosen, o.sampleId).not.toBe(0);
      expect(o.candidates).toEqual(i % 2 === 0 ? [0, 1, 2] : [0, 1]);
      expect(o.reply).toMatch(/^Best: [23]$/);
      expect(o.cached).toBe(false);
    }
    const requests = sim.stats().requests;
    const second = await judgeAll(sim, cacheDir);
    expect(sim.stats().requests).toBe(requests);
    expect(second.map((o) => o.cached)).toEqual(first.map(() => true));
    expect(second.map((o) => ({ ...o, cached: false }))).toEqual(first);
  });

  it('falls back to the deterministic order when the request fails or the reply is not "Best: <k>"', async () => {
    const failing = await startSimTeacher({ port: 0, seed: 1, convention: 'qwen2vl', faults: { server_error: 1 } });
    sims.push(failing);
    const failed = await judgeAll(failing, join(work, 'cache-fail'), { maxRetries: 0, breakerFailureRate: 1 });
    expect(failing.stats().byOutcome.server_error).toBe(8);
    expect(failed.filter((o) => o.source === 'fallback').length).toBe(8);
    for (const o of failed) {
      expect(o.chosen).toBe(o.pickBest);
      expect(o.reason).toMatch(/^request_failed: /);
      expect(o.reply).toBeNull();
    }
    // A garbled reply is paid for and cached: the same fallback again, without a request.
    const garbling = await startSimTeacher({ port: 0, seed: 1, convention: 'qwen2vl', faults: { malformed: 1 } });
    sims.push(garbling);
    const dir = join(work, 'cache-garble');
    const garbled = await judgeAll(garbling, dir);
    for (const o of garbled) {
      expect(o).toMatchObject({ source: 'fallback', chosen: o.pickBest });
      expect(o.reason).toMatch(/^unparsable: /);
    }
    const before = garbling.stats().requests;
    const again = await judgeAll(garbling, dir);
    expect(garbling.stats().requests).toBe(before);
    expect(again.map((o) => o.reason)).toEqual(garbled.map((o) => o.reason));
  });
});

describe('the demo pipeline with select.judge', () => {
  it('runs end to end and logs a judge outcome for SFT samples with 2+ passing candidates', () => {
    const doc = parse(readFileSync(join(ROOT, 'pipelines', 'demo.yaml'), 'utf8'));
    doc.name = 'judge-demo';
    doc.source.samples = 24;
    doc.teacher.cacheDir = 'cache-demo'; // under the CLI's working directory, `work`
    doc.select = { ...doc.select, judge: true };
    // The corpus stages are what this test is about; the demo's training stages are tested elsewhere.
    delete doc.train;
    const file = join(work, 'judge-demo.yaml');
    writeFileSync(file, stringify(doc));
    const runDir = join(work, 'run');
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'univg.js'), 'run', file, '--run-dir', runDir, '--quiet'], { cwd: work, encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(existsSync(join(runDir, 'corpus', 'sft', '_manifest.json'))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(runDir, 'corpus', 'sft', '_manifest.json'), 'utf8'));
    const sftRows = manifest.files.reduce((n: number, f: { rows: number }) => n + f.rows, 0);
    expect(sftRows).toBeGreaterThan(0);
    const logs = readdirSync(join(runDir, 'judge')).sort();
    expect(logs).toEqual(['part-00000-of-00004.jsonl', 'part-00001-of-00004.jsonl', 'part-00002-of-00004.jsonl', 'part-00003-of-00004.jsonl']);
    const outcomes = logs.flatMap((f) => readFileSync(join(runDir, 'judge', f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JudgeOutcome));
    expect(outcomes.length).toBeGreaterThan(0);
    expect(outcomes.length).toBeLessThanOrEqual(sftRows);
    expect(outcomes.filter((o) => o.source === 'judge').length).toBeGreaterThan(0);
    for (const o of outcomes) {
      expect(o.candidates.length).toBeGreaterThanOrEqual(2);
      expect(o.candidates).toContain(o.chosen);
    }
  }, 120_000);
});
