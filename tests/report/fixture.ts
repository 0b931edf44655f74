/**
 * A small, real run directory for the report tests: tiny PNGs in the content-addressed image store,
 * and samples, candidates, verdicts, SFT and RL rows written as real shards with `writeShards`, a
 * quarantine file and run.json. Teacher-written text carries HTML/script injections on purpose.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { EvalResults } from '../../src/report/training.js';
import type { GroundingSample, Prediction, QuarantineRecord, RlRow, SftRow, TeacherCandidate, Verdict } from '../../src/schema/records.js';
import { generateSuite } from '../../src/sources/synthetic/index.js';
import { ImageStore } from '../../src/store/images.js';
import { writeShards } from '../../src/store/writer.js';
import { evaluate, loadBench, type Bench } from '../../src/train/eval/evaluate.js';
import { baselinePredictor, type Predictor } from '../../src/train/eval/predictor.js';

/** Text that would run script if any part of the report failed to escape it. */
export const INJECT_SCRIPT = '<script>window.__pwned = "completion"; alert(1)</script>';
export const INJECT_IMG = '<img src=x onerror="window.__pwned = \'img\'">';
export const INJECT_CLOSE = '</script><script>window.__pwned = "json"</script><!--';
/** A task name with markup: it lands in tables, SVG labels, ids and the embedded JSON. */
export const EVIL_TASK = 'diff<svg onload=alert(2)>';

async function png(width: number, height: number, rgb: [number, number, number]): Promise<Buffer> {
  // A filled square in the middle makes the box overlay easy to check by eye in a screenshot.
  const square = await sharp({ create: { width: Math.round(width / 3), height: Math.round(height / 3), channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .png()
    .toBuffer();
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .composite([{ input: square, left: Math.round(width / 3), top: Math.round(height / 3) }])
    .png()
    .toBuffer();
}

export interface FixtureOptions {
  /** Only write samples/ (and images): a run where generate never ran. */
  samplesOnly?: boolean;
  /** Leave run.json out. */
  noRunJson?: boolean;
  /** Every candidate served from the response cache (a rerun into a fresh run directory). */
  allCached?: boolean;
}

export interface Fixture {
  root: string;
  samples: GroundingSample[];
  candidates: TeacherCandidate[];
  verdicts: Verdict[];
}

export async function makeRun(opts: FixtureOptions = {}): Promise<Fixture> {
  const root = mkdtempSync(join(tmpdir(), 'univg-report-'));
  const store = new ImageStore(join(root, 'images'));
  const imgs: GroundingSample['images'] = [];
  const colours: Array<[number, number, number]> = [
    [70, 110, 160],
    [160, 90, 60],
    [60, 140, 90],
    [120, 80, 150],
  ];
  for (let i = 0; i < 4; i++) {
    const w = 120 + i * 40;
    const h = 90 + i * 20;
    const put = await store.put(await png(w, h, colours[i]!), '.png');
    imgs.push({ sha256: put.sha256, path: `imgs/${i}.png`, width: w, height: h });
  }
  const mid = (k: number): [number, number, number, number] => {
    const { width: w, height: h } = imgs[k]!;
    return [w / 3, h / 3, (2 * w) / 3, (2 * h) / 3];
  };
  const samples: GroundingSample[] = [
    { id: 's-001', source: 'synthetic', task: 'common_object', images: [imgs[0]!, imgs[1]!], question: 'Which object appears in both images? Box it in image 2.', context: [], targetImage: 1, targetBox: mid(1), difficulty: 'easy', split: 'train', meta: {} },
    { id: 's-002', source: 'synthetic', task: 'common_object', images: [imgs[1]!, imgs[2]!], question: 'Find the <b>white square</b> in the second image.', context: [], targetImage: 1, targetBox: mid(2), difficulty: 'medium', split: 'train', meta: {} },
    { id: 's-003', source: 'synthetic', task: 'refer_grounding', images: [imgs[2]!], question: 'Locate the square.', context: [], targetImage: 0, targetBox: mid(2), difficulty: 'hard', split: 'train', meta: {} },
    { id: 's-004', source: 'synthetic', task: 'refer_grounding', images: [imgs[3]!], question: 'Where is the bright region?', context: [], targetImage: 0, targetBox: mid(3), difficulty: null, split: 'train', meta: {} },
    { id: 's-005', source: 'synthetic', task: EVIL_TASK, images: [imgs[0]!, imgs[3]!], question: `Spot the difference. ${INJECT_IMG}`, context: [], targetImage: 0, targetBox: mid(0), difficulty: 'hard', split: 'train', meta: {} },
    { id: 's-006', source: 'synthetic', task: EVIL_TASK, images: [imgs[1]!, imgs[0]!], question: 'What changed between the images?', context: [], targetImage: 1, targetBox: mid(0), difficulty: 'medium', split: 'train', meta: {} },
    { id: 's-007', source: 'synthetic', task: 'refer_grounding', images: [imgs[2]!], question: 'Box the square.', context: [], targetImage: 0, targetBox: mid(2), difficulty: 'easy', split: 'train', meta: {} },
    { id: 's-008', source: 'synthetic', task: 'common_object', images: [imgs[0]!, imgs[2]!], question: 'Box the square in image 2.', context: [], targetImage: 1, targetBox: mid(2), difficulty: 'medium', split: 'train', meta: {} },
  ];
  await writeShards('GroundingSample', samples, { dir: join(root, 'samples'), count: 2 });
  if (opts.samplesOnly) return { root, samples, candidates: [], verdicts: [] };

  const good = (s: GroundingSample) => {
    const b = s.targetBox.map(Math.round);
    return `<think>Image ${s.targetImage + 1} shows a white square in the middle; it spans (${b[0]},${b[1]}),(${b[2]},${b[3]}).</think><answer>(${b[0]},${b[1]}),(${b[2]},${b[3]})</answer>`;
  };
  const cand = (s: GroundingSample, i: number, over: Partial<TeacherCandidate>): TeacherCandidate => ({
    sampleId: s.id,
    candidateIndex: i,
    requestHash: `${s.id}-${i}`.padEnd(16, 'x'),
    model: 'sim-teacher',
    promptVersion: 'v1',
    promptMode: 'hinted',
    convention: 'pixels',
    seenSizes: s.images.map((im) => ({ width: im.width, height: im.height })),
    completion: good(s),
    finishReason: 'stop',
    error: null,
    promptTokens: 400 + i * 10,
    completionTokens: 60 + i * 5,
    costUsd: 0.0011 + i * 0.0002,
    latencyMs: 120 + i * 35,
    attempts: 1,
    cached: false,
    ...over,
    ...(opts.allCached ? { cached: true, latencyMs: 0, attempts: 0 } : {}),
  });
  const [s1, s2, s3, s4, s5, s6, s7, s8] = samples as [GroundingSample, GroundingSample, GroundingSample, GroundingSample, GroundingSample, GroundingSample, GroundingSample, GroundingSample];
  const candidates: TeacherCandidate[] = [
    cand(s1, 0, {}),
    cand(s1, 1, { cached: true, latencyMs: 0, attempts: 0 }),
    cand(s2, 0, { completion: `<think>The square ${INJECT_SCRIPT} is at the left ${INJECT_IMG}.</think><answer>(5,5),(30,30)</answer>`, latencyMs: 900, attempts: 3 }),
    cand(s2, 1, {}),
    cand(s3, 0, { completion: 'I think it is (10,10),(50,50) but I am not sure', latencyMs: 300, attempts: 2 }),
    cand(s3, 1, {}),
    cand(s4, 0, { finishReason: 'length', completion: '<think>The bright region is ... the bright region is ... the bright region is', latencyMs: 4000 }),
    cand(s4, 1, { completion: `<think>Short.</think><answer>(0,0),(20,20)</answer>${INJECT_CLOSE}`, latencyMs: 210 }),
    cand(s5, 0, {}),
    cand(s5, 1, { latencyMs: 60 }),
    cand(s6, 0, { completion: '<think>Image 1 differs.</think><answer>(1,1),(300,300)</answer>', latencyMs: 410, attempts: 2 }),
    cand(s6, 1, { cached: true, latencyMs: 0, attempts: 0 }),
    cand(s7, 0, { completion: null, finishReason: null, error: `HTTP 500 from teacher ${INJECT_CLOSE}`, promptTokens: null, completionTokens: null, costUsd: 0, latencyMs: 2600, attempts: 7 }),
    cand(s7, 1, {}),
    // The reasoning settles on the wrong square and the answer is the right one: think_answer_disagree.
    cand(s8, 0, { completion: `<think>Image 2 has two squares; the small one spans (5,5),(30,30), so that is it.</think><answer>(67,43),(133,87)</answer>`, latencyMs: 150 }),
    cand(s8, 1, {}),
  ];
  await writeShards('TeacherCandidate', candidates, { dir: join(root, 'candidates'), count: 2 });

  const verdict = (c: TeacherCandidate, over: Partial<Verdict>): Verdict => {
    const s = samples.find((x) => x.id === c.sampleId)!;
    return {
      sampleId: c.sampleId,
      candidateIndex: c.candidateIndex,
      task: s.task,
      difficulty: s.difficulty,
      pass: true,
      reasons: [],
      formatReward: 1,
      answerBox: s.targetBox.map(Math.round) as [number, number, number, number],
      iou: 0.97,
      thinkBoxAgrees: true,
      namesTargetImage: s.images.length > 1 ? true : null,
      completionChars: (c.completion ?? '').length,
      verifierVersion: 'verify-v1',
      ...over,
    };
  };
  const c = candidates;
  const verdicts: Verdict[] = [
    verdict(c[0]!, { iou: 0.93 }),
    verdict(c[1]!, { iou: 0.88 }),
    verdict(c[2]!, { pass: false, reasons: ['iou_below_threshold', 'think_too_short'], answerBox: [5, 5, 30, 30], iou: 0.0, thinkBoxAgrees: null }),
    verdict(c[3]!, { iou: 0.9 }),
    verdict(c[4]!, { pass: false, reasons: ['format', 'answer_unparsable'], formatReward: 0, answerBox: null, iou: null, thinkBoxAgrees: null }),
    verdict(c[5]!, { iou: 0.91 }),
    verdict(c[6]!, { pass: false, reasons: ['truncated', 'format', 'answer_unparsable', 'repetitive'], formatReward: 0, answerBox: null, iou: null, thinkBoxAgrees: null }),
    verdict(c[7]!, { pass: false, reasons: ['iou_below_threshold', 'think_too_short', 'text_after_answer'], answerBox: [0, 0, 20, 20], iou: 0.12 }),
    verdict(c[8]!, { iou: 0.99 }),
    verdict(c[9]!, { pass: false, reasons: ['target_image_not_named'], iou: 0.95, namesTargetImage: false }),
    verdict(c[10]!, { pass: false, reasons: ['answer_out_of_range', 'iou_below_threshold'], answerBox: [1, 1, 300, 300], iou: 0.11 }),
    verdict(c[11]!, { iou: 0.62 }),
    verdict(c[12]!, { pass: false, reasons: ['request_failed'], formatReward: 0, answerBox: null, iou: null, thinkBoxAgrees: null, namesTargetImage: null, completionChars: 0 }),
    verdict(c[13]!, { iou: 0.95 }),
    verdict(c[14]!, { pass: false, reasons: ['think_answer_disagree'], answerBox: [67, 43, 133, 87], iou: 0.99, thinkBoxAgrees: false }),
    verdict(c[15]!, { iou: 0.96 }),
  ];
  await writeShards('Verdict', verdicts, { dir: join(root, 'verdicts'), count: 2 });

  const base = (s: GroundingSample) => ({
    id: s.id,
    source: s.source,
    task: s.task,
    images: s.images.map((im) => ({ bytes: null, path: `images/${im.sha256.slice(0, 2)}/${im.sha256}.png` })),
    imageSha256: s.images.map((im) => im.sha256),
    imageWidth: s.images.map((im) => im.width),
    imageHeight: s.images.map((im) => im.height),
    prompt: `${'<image>'.repeat(s.images.length)}${s.question}`,
    targetImage: s.targetImage,
    targetBox: s.targetBox,
    convention: 'pixels' as const,
    answer: '(1,1),(2,2)',
    difficultyLabel: s.difficulty,
  });
  const sft: SftRow[] = [s1, s3, s5].map((s) => ({ ...base(s), completion: good(s), candidateIndex: 0, iou: 0.95 }));
  const rl: RlRow[] = [
    { ...base(s6), difficulty: 0.4, weight: Math.exp(0.6), bucket: '0.3-0.7' },
    { ...base(s2), difficulty: null, weight: null, bucket: null },
  ];
  await writeShards('SftRow', sft, { dir: join(root, 'corpus', 'sft'), count: 1 });
  await writeShards('RlRow', rl, { dir: join(root, 'corpus', 'rl'), count: 1 });

  mkdirSync(join(root, 'quarantine'));
  const q: QuarantineRecord[] = [
    { stage: 'ingest', recordId: 'src-17', file: 'train.json', row: 17, field: 'bbox', reason: 'box_inverted', detail: 'x1 > x2' },
    { stage: 'ingest', recordId: `src-${INJECT_CLOSE}`, file: 'train.json', row: 18, field: 'bbox', reason: 'box_inverted', detail: 'y1 > y2' },
    { stage: 'ingest', recordId: null, file: 'train.json', row: 21, field: 'images', reason: 'image_missing', detail: 'no such file' },
  ];
  writeFileSync(join(root, 'quarantine', 'ingest.jsonl'), q.map((r) => JSON.stringify(r)).join('\n') + '\n');

  if (!opts.noRunJson) {
    const run = {
      name: 'report-fixture',
      configFile: 'pipelines/demo.yaml',
      configHash: 'ab'.repeat(32),
      config: { name: 'report-fixture', source: { format: 'synthetic', samples: 6 } },
      version: '0.1.0',
      startedAt: '2025-01-02T03:04:05.000Z',
      endedAt: '2025-01-02T03:06:15.000Z',
      stages: {
        ingest: { status: 'done', tasksDone: 2, tasks: 2, settingsHash: 'x' },
        generate: { status: 'done', tasksDone: 2, tasks: 2, settingsHash: 'y' },
        verify: { status: 'done', tasksDone: 2, tasks: 2, settingsHash: 'z' },
        select: { status: 'done', tasksDone: 1, tasks: 1, settingsHash: 'w' },
      },
      teacher: { requests: 10, answered: 9, failed: 1, retries: 8, rateLimited: 2, costUsd: 0.0153, breaker: { state: 'closed', opens: 0 } },
    };
    writeFileSync(join(root, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
  }
  return { root, samples, candidates, verdicts };
}

/** The box the fixture's "rl" model answers for every sample, in pixels of the target image. */
export const RL_BOX = [10, 12, 50, 40] as const;
/** What the fixture's "untrained" model writes: no <answer> block, so no box. */
export const UNTRAINED_TEXT = '<think>Shapes everywhere; I cannot tell which one. <b>unsure</b></think> no box';

export interface EvalFixture {
  bench: Bench;
  results: EvalResults;
  /** Every prediction written to eval/predictions/ (the "random" model's are left out on purpose). */
  predictions: Prediction[];
}

const fixedPredictor = (name: string, write: (s: GroundingSample) => string): Predictor => ({
  name,
  convention: 'pixels',
  needsImages: false,
  predict: (s) => Promise.resolve(write(s)),
});

/**
 * Evaluation output as the eval stage writes it, for models whose boxes are known: a rendered synthetic
 * test split (source/test.json, images under source/), eval/predictions/ shards and eval/results.json.
 * untrained writes no answer box, centre is the centre-box baseline, sft answers the ground truth
 * (rounded to pixels), rl answers RL_BOX; random is scored but none of its predictions are in the table.
 */
export async function addEval(root: string): Promise<EvalFixture> {
  const suite = await generateSuite({ out: join(root, 'source'), samples: 24, seed: 4, testFraction: 0.5 });
  const bench = await loadBench(suite.files.test, join(root, 'source'));
  const box = (b: readonly number[]) => `<answer>(${b[0]},${b[1]}),(${b[2]},${b[3]})</answer>`;
  const models: Array<{ name: string; label: string; kind: 'checkpoint' | 'baseline'; predictor: Predictor; table: boolean }> = [
    { name: 'untrained', label: 'untrained (SFT init)', kind: 'checkpoint', predictor: fixedPredictor('untrained', () => UNTRAINED_TEXT), table: true },
    { name: 'centre', label: 'centre-box baseline', kind: 'baseline', predictor: { ...baselinePredictor('centre'), name: 'centre' }, table: true },
    { name: 'random', label: 'random-box baseline', kind: 'baseline', predictor: { ...baselinePredictor('random', { seed: 1 }), name: 'random' }, table: false },
    { name: 'sft', label: 'SFT', kind: 'checkpoint', predictor: fixedPredictor('sft', (s) => `<think>It is there.</think>${box(s.targetBox.map(Math.round))}`), table: true },
    { name: 'rl', label: 'SFT + GRPO', kind: 'checkpoint', predictor: fixedPredictor('rl', () => `<think>Top left.</think>${box(RL_BOX)}`), table: true },
  ];
  const predictions: Prediction[] = [];
  const results: EvalResults = { format: 1, bench: { file: 'source/test.json', imageRoot: 'source', samples: bench.samples.length, quarantined: 0, limit: null }, models: [] };
  for (const m of models) {
    const mine: Prediction[] = [];
    const r = await evaluate({ bench, source: { kind: 'predictor', predictor: m.predictor }, onPrediction: (p) => void mine.push(p) });
    if (m.table) predictions.push(...mine);
    results.models.push({ name: m.name, label: m.label, kind: m.kind, checkpoint: m.kind === 'checkpoint' ? `train/${m.name}/checkpoints/step-000001` : null, step: m.kind === 'checkpoint' ? 1 : null, seconds: 0, metrics: r.metrics });
  }
  await writeShards('Prediction', predictions, { dir: join(root, 'eval', 'predictions'), count: 2 });
  writeFileSync(join(root, 'eval', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  return { bench, results, predictions };
}
