/**
 * `univg eval` on a real synthetic suite (MIG-Bench format, PNG images), run as a user would; and the
 * built-in baselines' documented boxes.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalCommand } from '../../../src/cli/commands/eval.js';
import { formatBox } from '../../../src/completion/index.js';
import { UnivgError } from '../../../src/errors.js';
import { fromPixels, iou } from '../../../src/geometry/index.js';
import { Prediction, type GroundingSample } from '../../../src/schema/records.js';
import { generateSuite } from '../../../src/sources/synthetic/index.js';
import { baselineBox, baselinePredictor, loadBench, runEval, type Bench, type EvalReport } from '../../../src/train/eval/index.js';

const BIN = fileURLToPath(new URL('../../../bin/univg.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'univg-eval-cli-'));
const suite = join(dir, 'suite');
const benchFile = join(suite, 'all.json');
let bench: Bench;

async function univg(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const target = (s: GroundingSample) => s.images[s.targetImage]!;

beforeAll(async () => {
  await generateSuite({ out: suite, samples: 12, seed: 21, concurrency: 2 });
  bench = await loadBench(benchFile, suite);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('baselines on the synthetic suite', () => {
  it('centre answers [0.25W, 0.25H, 0.75W, 0.75H] of the target image, and scores its IoU', async () => {
    expect(bench.samples).toHaveLength(12);
    const written: Prediction[] = [];
    const r = await runEval({ bench, source: { kind: 'predictor', predictor: baselinePredictor('centre') }, onProgress: () => undefined });
    expect(r.metrics.counts).toMatchObject({ samples: 12, predicted: 12, missing: 0 });
    const out = join(dir, 'centre');
    await runEval({ bench, source: { kind: 'predictor', predictor: baselinePredictor('centre') }, out });
    for (const line of readFileSync(join(out, 'predictions.jsonl'), 'utf8').trim().split('\n')) written.push(Prediction.parse(JSON.parse(line)));
    expect(written).toHaveLength(12);
    for (const p of written) {
      const s = bench.samples.find((x) => x.id === p.id)!;
      const { width: w, height: h } = target(s);
      expect(p.answerBox).toEqual([0.25 * w, 0.25 * h, 0.75 * w, 0.75 * h]);
      expect(p.iou).toBe(iou([0.25 * w, 0.25 * h, 0.75 * w, 0.75 * h], s.targetBox));
      expect(p.model).toBe('baseline:centre');
    }
    const meanIou = written.reduce((a, p) => a + p.iou!, 0) / 12;
    expect(r.metrics.pooled.answer.meanIou).toBeCloseTo(meanIou, 12);
  });

  it('whole-image answers the full image; random is seeded, per sample, and valid', () => {
    expect(baselineBox('whole-image', { id: 'x' })).toEqual([0, 0, 1000, 1000]);
    const ids = bench.samples.map((s) => s.id);
    const a = ids.map((id) => baselineBox('random', { id }, 7));
    const again = [...ids].reverse().map((id) => baselineBox('random', { id }, 7)).reverse();
    const other = ids.map((id) => baselineBox('random', { id }, 8));
    expect(again).toEqual(a);
    expect(other).not.toEqual(a);
    for (const [x1, y1, x2, y2] of a) {
      expect(Number.isInteger(x1) && Number.isInteger(y2)).toBe(true);
      expect(0 <= x1 && x1 < x2 && x2 <= 1000 && 0 <= y1 && y1 < y2 && y2 <= 1000).toBe(true);
    }
  });
});

describe('univg eval', () => {
  it('--predictions: scores a JSONL file end to end and writes predictions.jsonl + metrics.json', async () => {
    const [s0, s1, s2, ...rest] = bench.samples;
    const exact = (s: GroundingSample) => formatBox(fromPixels(s.targetBox, 'qwen2vl', target(s)), 'qwen2vl');
    const lines = [
      // s0: exact ground truth in qwen2vl (default convention from the flag).
      { id: s0!.id, completion: `<think>found it</think><answer>${exact(s0!)}</answer>` },
      // s1: the same box declared in pixels on the line.
      { id: s1!.id, completion: `<think>found it</think><answer>${formatBox(s1!.targetBox.map((v) => Math.round(v * 100) / 100), 'pixels')}</answer>`, convention: 'pixels' },
      // s2: unparsable answer.
      { id: s2!.id, completion: '<think>hmm</think><answer>somewhere on the left</answer>' },
      // the rest: whole image, except the last sample, which has no line at all (missing).
      ...rest.slice(0, -1).map((s) => ({ id: s.id, completion: '<think>x</think><answer>(0,0),(1000,1000)</answer>' })),
    ];
    const file = join(dir, 'preds.jsonl');
    writeFileSync(file, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n\n`);
    const out = join(dir, 'out-preds');
    const r = await univg('eval', '--bench', benchFile, '--predictions', file, '--convention', 'qwen2vl', '--model', 'my-model', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/AVG\n/);
    expect(r.stdout).toMatch(/^Acc@0\.5 /m);
    expect(r.stdout).toMatch(/12 samples, 11 predicted, 1 missing \(scored 0\); IoU 0 without a usable answer box: missing_prediction 1, answer_unparsable 1/);
    const report = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as EvalReport;
    expect(report.predictor).toMatchObject({ model: 'my-model', source: 'predictions', convention: 'per-line', file });
    expect(report.metrics.counts).toMatchObject({ samples: 12, predicted: 11, missing: 1, unscored: { missing_prediction: 1, answer_unparsable: 1 } });
    const preds = readFileSync(join(out, 'predictions.jsonl'), 'utf8').trim().split('\n').map((l) => Prediction.parse(JSON.parse(l)));
    expect(preds).toHaveLength(11);
    const byId = new Map(preds.map((p) => [p.id, p]));
    expect(byId.get(s0!.id)!.iou).toBeGreaterThan(0.98);
    expect(byId.get(s1!.id)!.iou).toBeGreaterThan(0.999);
    expect(byId.get(s1!.id)!.convention).toBe('pixels');
    expect(byId.get(s2!.id)!.iou).toBeNull();
    // Acc@0.5 per task from the files agrees with a count by hand.
    for (const t of report.metrics.tasks) {
      const ids = bench.samples.filter((s) => s.task === t.task).map((s) => s.id);
      const hits = ids.filter((id) => (byId.get(id)?.iou ?? 0) >= 0.5).length;
      expect(t.answer.hits['acc@0.5'], t.task).toBe(hits);
      expect(t.n).toBe(ids.length);
    }
    // The file written by --out is itself a valid --predictions input and gives the same numbers.
    const again = await univg('eval', '--bench', benchFile, '--predictions', join(out, 'predictions.jsonl'), '--json');
    expect(again.code).toBe(0);
    const againReport = JSON.parse(again.stdout) as EvalReport;
    expect(againReport.metrics.tasks).toEqual(report.metrics.tasks);
    expect(againReport.predictor.model).toBe('my-model');
  });

  it('bench items ingest refuses are reported, not scored; their ids are not "unknown"', async () => {
    const records = JSON.parse(readFileSync(benchFile, 'utf8')) as Array<{ id: string; images: string[] }>;
    records[0]!.images = records[0]!.images.map((p, i) => (i === 0 ? 'images/missing.png' : p));
    const file = join(suite, 'broken.json');
    writeFileSync(file, JSON.stringify(records));
    const preds = join(dir, 'broken-preds.jsonl');
    writeFileSync(preds, records.map((r) => JSON.stringify({ id: r.id, completion: '<think>x</think><answer>(0,0),(1000,1000)</answer>' })).join('\n'));
    const r = await univg('eval', '--bench', file, '--predictions', preds, '--convention', 'qwen2vl', '--json');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('univg eval: warning: 1 bench item(s) could not be read and are not scored (image_missing 1)\n');
    const report = JSON.parse(r.stdout) as EvalReport;
    expect(report.bench).toMatchObject({ samples: 11, quarantined: 1, quarantineReasons: { image_missing: 1 } });
    expect(report.metrics.counts).toMatchObject({ samples: 11, predicted: 11, missing: 0 });
  });

  it('same input and seed give the same predictions.jsonl bytes', async () => {
    const a = join(dir, 'rand-a');
    const b = join(dir, 'rand-b');
    for (const out of [a, b]) expect((await univg('eval', '--bench', benchFile, '--baseline', 'random', '--seed', '3', '--out', out)).code).toBe(0);
    expect(readFileSync(join(a, 'predictions.jsonl'))).toEqual(readFileSync(join(b, 'predictions.jsonl')));
  });

  it('unknown ids are an error listing them (exit 2)', async () => {
    const file = join(dir, 'unknown.jsonl');
    writeFileSync(file, ['synth-s99-000001', 'synth-s99-000002', bench.samples[0]!.id].map((id) => JSON.stringify({ id, completion: 'x' })).join('\n'));
    const r = await univg('eval', '--bench', benchFile, '--predictions', file, '--convention', 'qwen2vl');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/2 prediction id\(s\) are not in the bench: "synth-s99-000001", "synth-s99-000002"/);
  });

  it('bad usage: one line, exit 2', async () => {
    const file = join(dir, 'noconv.jsonl');
    writeFileSync(file, `${JSON.stringify({ id: bench.samples[0]!.id, completion: 'x' })}\n`);
    // Two through the real binary (one line on stderr, exit 2) ...
    const spawned: Array<[string[], RegExp]> = [
      [['eval', '--bench', benchFile], /say where completions come from/],
      [['eval', '--bench', benchFile, '--predictions', file], /no "convention" on the line and no --convention given;.*noconv\.jsonl:1/],
    ];
    for (const [args, re] of spawned) {
      const r = await univg(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(re);
    }
    // ... the rest in-process: the same function, an error with exit code 2.
    const inProcess: Array<[Parameters<typeof evalCommand>[0], RegExp]> = [
      [{ bench: benchFile, baseline: 'centre', predictions: file }, /cannot be combined/],
      [{ bench: benchFile, baseline: 'middle' }, /--baseline must be one of centre, random, whole-image/],
      [{ bench: benchFile, predictions: file, convention: 'qwen25vl' }, /--min-pixels and --max-pixels/],
      [{ bench: benchFile, predictions: file, convention: 'xyxy' }, /--convention must be one of/],
      [{ predictions: file }, /missing required option --bench/],
      [{ bench: benchFile, baseline: 'centre', simulated: true }, /--baseline and --simulated cannot be combined/],
      [{ bench: benchFile, baseline: 'centre', cacheDir: 'c' }, /--cache-dir applies to --endpoint and --simulated only/],
      [{ bench: benchFile, endpoint: 'http://127.0.0.1:9/v1' }, /--endpoint needs --model/],
      [{ bench: benchFile, baseline: 'centre', seed: 'x', maxPixels: '0' }, /--seed must be an integer, got "x"; --max-pixels must be a positive integer, got "0"/],
    ];
    for (const [flags, re] of inProcess) {
      const err = await evalCommand(flags).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(flags)).toBeInstanceOf(UnivgError);
      expect((err as UnivgError).exitCode, JSON.stringify(flags)).toBe(2);
      expect((err as UnivgError).message, JSON.stringify(flags)).toMatch(re);
    }
  });
});
