/**
 * A small run directory for the audit tests, written with the store's own writer: plain-coloured PNGs
 * in the content-addressed image store (so a box's stroke can be found on a screenshot), twelve samples
 * over three tasks with kept, rejected and unverified ones, candidates whose reasoning writes boxes on
 * both images of a multi-image sample, and one candidate whose text carries script, `onerror` and
 * `javascript:` payloads.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { GroundingSample, Prediction, RlRow, SftRow, TeacherCandidate, Verdict } from '../../src/schema/records.js';
import { ImageStore } from '../../src/store/images.js';
import { writeShards } from '../../src/store/writer.js';

export const PAYLOAD_SCRIPT = `<script>window.__pwned = 'script'; alert('script')</script>`;
export const PAYLOAD_IMG = `<img src=x onerror="window.__pwned = 'img'; alert('img')">`;
export const PAYLOAD_JS = `<a href="javascript:window.__pwned = 'js'; alert('js')">javascript:alert(1)</a>`;
export const PAYLOAD_CLOSE = `</pre></script><svg onload="window.__pwned = 'svg'">`;
export const EVIL_ID = 's-evil';

export interface AuditFixture {
  root: string;
  samples: GroundingSample[];
  candidates: TeacherCandidate[];
  verdicts: Verdict[];
  /** Image sha256 by index: 0 is 300x200, 1 is 200x200, 2 is 240x160. */
  images: GroundingSample['images'];
}

const TASKS = ['common_object', 'diff', 'refer_grounding'] as const;

export async function makeAuditRun(): Promise<AuditFixture> {
  const root = mkdtempSync(join(tmpdir(), 'univg-audit-run-'));
  const store = new ImageStore(join(root, 'images'));
  const images: GroundingSample['images'] = [];
  const sizes: Array<[number, number, [number, number, number]]> = [
    [300, 200, [40, 40, 40]],
    [200, 200, [30, 30, 60]],
    [240, 160, [60, 30, 30]],
  ];
  for (const [i, [w, h, c]] of sizes.entries()) {
    const bytes = await sharp({ create: { width: w, height: h, channels: 3, background: { r: c[0], g: c[1], b: c[2] } } }).png().toBuffer();
    const put = await store.put(bytes, '.png');
    images.push({ sha256: put.sha256, path: `imgs/${i}.png`, width: w, height: h });
  }
  const [A, B, C] = images as [GroundingSample['images'][number], GroundingSample['images'][number], GroundingSample['images'][number]];
  const samples: GroundingSample[] = [];
  for (let i = 0; i < 11; i++) {
    const task = TASKS[i % 3]!;
    const multi = task !== 'refer_grounding';
    samples.push({
      id: `s-${String(i).padStart(2, '0')}`,
      source: i % 4 === 0 ? 'mgrounding' : 'synthetic',
      task,
      images: multi ? [A, B] : [C],
      question: multi ? `Find the lamp shown in both images (${i}).` : `Box the red lamp (${i}).`,
      context: i === 1 ? [{ role: 'user', content: 'An earlier turn <b>with markup</b>.' }] : [],
      targetImage: multi ? 1 : 0,
      targetBox: multi ? [50, 60, 150, 140] : [40, 30, 200, 130],
      difficulty: (['easy', 'medium', 'hard', null] as const)[i % 4]!,
      split: 'train',
      meta: {},
    });
  }
  samples.push({
    id: EVIL_ID,
    source: 'synthetic',
    task: 'diff',
    images: [A, B],
    question: `What changed? ${PAYLOAD_IMG} ${PAYLOAD_JS}`,
    context: [{ role: 'assistant', content: PAYLOAD_SCRIPT }],
    targetImage: 1,
    targetBox: [50, 60, 150, 140],
    difficulty: 'hard',
    split: 'train',
    meta: {},
  });
  await writeShards('GroundingSample', samples, { dir: join(root, 'samples'), count: 2 });

  const multiThink = (dx: number) =>
    `<think>In image 1 the lamp stands at (20,30),(90,110). In the second image it is at (${50 + dx},60),(${150 + dx},140).</think><answer>(${50 + dx},60),(${150 + dx},140)</answer>`;
  const singleThink = (dx: number) => `<think>The red lamp spans (${40 + dx},30),(${200 + dx},130) in the image.</think><answer>(${40 + dx},30),(${200 + dx},130)</answer>`;
  const candidates: TeacherCandidate[] = [];
  const verdicts: Verdict[] = [];
  const add = (s: GroundingSample, k: number, completion: string | null, v: Partial<Verdict>, over: Partial<TeacherCandidate> = {}) => {
    candidates.push({
      sampleId: s.id, candidateIndex: k, requestHash: `${s.id}-${k}`, model: 'sim', promptVersion: 'v1', promptMode: 'hinted', convention: 'pixels',
      seenSizes: s.images.map((im) => ({ width: im.width, height: im.height })), completion, finishReason: completion === null ? null : 'stop',
      error: completion === null ? `HTTP 500 ${PAYLOAD_CLOSE}` : null, promptTokens: 100, completionTokens: 50, costUsd: 0.001, latencyMs: 100, attempts: 1, cached: false, ...over,
    });
    verdicts.push({
      sampleId: s.id, candidateIndex: k, task: s.task, difficulty: s.difficulty, pass: true, reasons: [], formatReward: 1, answerBox: null, iou: null,
      thinkBoxAgrees: true, namesTargetImage: s.images.length > 1 ? true : null, completionChars: (completion ?? '').length, verifierVersion: 'verify-v2', ...v,
    });
  };
  for (const [i, s] of samples.entries()) {
    if (s.id === 's-10') continue; // generate never answered this one: unverified
    const multi = s.images.length > 1;
    const think = multi ? multiThink : singleThink;
    const box = (dx: number): [number, number, number, number] => (multi ? [50 + dx, 60, 150 + dx, 140] : [40 + dx, 30, 200 + dx, 130]);
    if (s.id === EVIL_ID) {
      add(s, 0, `<think>Look here ${PAYLOAD_SCRIPT} ${PAYLOAD_IMG} ${PAYLOAD_JS} ${PAYLOAD_CLOSE} in image 2 at (50,60),(150,140).</think><answer>(50,60),(150,140)</answer>`, { answerBox: box(0), iou: 1 });
      add(s, 1, null, { pass: false, reasons: ['request_failed'], formatReward: 0, thinkBoxAgrees: null, namesTargetImage: null });
      continue;
    }
    // Samples 3 and 7 are rejected outright (every candidate fails); the others keep candidate 0.
    const rejected = i === 3 || i === 7;
    add(s, 0, think(0), rejected ? { pass: false, reasons: ['iou_below_threshold'], answerBox: box(120), iou: 0.1 } : { answerBox: box(0), iou: 1 }, rejected ? { completion: think(120) } : {});
    add(s, 1, think(10), { pass: !rejected && i % 2 === 0, reasons: !rejected && i % 2 === 0 ? [] : ['think_too_short'], answerBox: box(10), iou: multi ? 0.82 : 0.88 });
    add(s, 2, 'I think it is the lamp.', { pass: false, reasons: ['format', 'answer_unparsable'], formatReward: 0, answerBox: null, iou: null, thinkBoxAgrees: null });
  }
  await writeShards('TeacherCandidate', candidates, { dir: join(root, 'candidates'), count: 2 });
  await writeShards('Verdict', verdicts, { dir: join(root, 'verdicts'), count: 2 });

  const row = (s: GroundingSample) => ({
    id: s.id, source: s.source, task: s.task, images: s.images.map((im) => ({ bytes: null, path: im.path })), imageSha256: s.images.map((im) => im.sha256),
    imageWidth: s.images.map((im) => im.width), imageHeight: s.images.map((im) => im.height), prompt: `${'<image>'.repeat(s.images.length)}${s.question}`,
    targetImage: s.targetImage, targetBox: s.targetBox, convention: 'pixels' as const, answer: '(1,1),(2,2)', difficultyLabel: s.difficulty,
  });
  const kept = samples.filter((s) => verdicts.some((v) => v.sampleId === s.id && v.pass));
  const sft: SftRow[] = kept.filter((s) => s.id !== 's-05').map((s) => ({ ...row(s), completion: candidates.find((c) => c.sampleId === s.id)!.completion!, candidateIndex: 0, iou: 1 }));
  const rl: RlRow[] = kept.filter((s) => s.id === 's-05').map((s) => ({ ...row(s), difficulty: null, weight: null, bucket: null }));
  await writeShards('SftRow', sft, { dir: join(root, 'corpus', 'sft'), count: 2 });
  await writeShards('RlRow', rl, { dir: join(root, 'corpus', 'rl'), count: 2 });
  // An eval stage scored two models on s-01 (as when the bench shares ids with the run's samples).
  const preds: Prediction[] = [
    { id: 's-01', task: 'diff', model: 'sft', completion: '<think>The lamp.</think><answer>(60,70),(140,150)</answer>', convention: 'pixels', answerBox: [60, 70, 140, 150], iou: 0.6, firstBoxIou: 0.6, formatReward: 1 },
    { id: 's-01', task: 'diff', model: 'centre', completion: '<answer>(50,50),(150,150)</answer>', convention: 'pixels', answerBox: [50, 50, 150, 150], iou: 0.7, firstBoxIou: 0.7, formatReward: 0 },
  ];
  await writeShards('Prediction', preds, { dir: join(root, 'eval', 'predictions'), count: 1 });
  return { root, samples, candidates, verdicts, images };
}
