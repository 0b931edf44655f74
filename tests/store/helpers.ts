/** Test helpers: temp dirs, a real DuckDB connection, and deterministic rows of every record kind. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { RecordOf } from '../../src/schema/arrow.js';

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `univg-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

let conn: Promise<DuckDBConnection> | null = null;
export function duck(): Promise<DuckDBConnection> {
  conn ??= DuckDBInstance.create(':memory:').then((i) => i.connect());
  return conn;
}

export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Rows of a query as plain JSON-able objects (DuckDB's JSON conversion: BIGINT as string, BLOB escaped). */
export async function query(sql: string): Promise<Record<string, unknown>[]> {
  const c = await duck();
  const r = await c.runAndReadAll(sql);
  return r.getRowObjectsJS() as Record<string, unknown>[];
}

const sha = (i: number) => i.toString(16).padStart(2, '0').repeat(32);

export function groundingSamples(n: number): RecordOf<'GroundingSample'>[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `gs-${i}`,
    source: 'synthetic',
    task: i % 2 ? 'diff' : 'common_object',
    images: Array.from({ length: 1 + (i % 3) }, (_, j) => ({ sha256: sha(i + j), path: `img/${i}-${j}.png`, width: 640 + j, height: 480 + i })),
    question: `Where is object ${i}? "quoted" and ünïcode ✓`,
    context: i % 2 ? [{ role: 'user' as const, content: 'first' }, { role: 'assistant' as const, content: 'second' }] : [],
    targetImage: i % (1 + (i % 3)),
    targetBox: [i + 0.25, 2.5, i + 100.125, 300.75] as [number, number, number, number],
    difficulty: i % 4 === 0 ? null : (['easy', 'medium', 'hard'] as const)[i % 3]!,
    split: i % 5 === 0 ? null : 'train',
    meta: { z: i, a: { nested: [1, 2, { y: true, b: null }] } },
  }));
}

export function teacherCandidates(n: number): RecordOf<'TeacherCandidate'>[] {
  return Array.from({ length: n }, (_, i) => ({
    sampleId: `gs-${i}`,
    candidateIndex: i % 3,
    requestHash: sha(i),
    model: 'sim-teacher',
    promptVersion: 'v1',
    promptMode: i % 2 ? ('blind' as const) : ('hinted' as const),
    convention: 'qwen2vl' as const,
    seenSizes: [{ width: 448, height: 336 }, { width: 224, height: 224 }].slice(0, 1 + (i % 2)),
    completion: i % 3 === 2 ? null : `<think>look</think><answer>(${i},2),(30,40)</answer>`,
    finishReason: i % 3 === 2 ? null : 'stop',
    error: i % 3 === 2 ? 'HTTP 500 after 3 attempts' : null,
    promptTokens: i % 3 === 2 ? null : 1200 + i,
    completionTokens: i % 3 === 2 ? null : 80,
    costUsd: 0.000123 * i,
    latencyMs: 12.5 * i,
    attempts: 1 + (i % 3),
    cached: i % 2 === 0,
  }));
}

export function verdicts(n: number): RecordOf<'Verdict'>[] {
  return Array.from({ length: n }, (_, i) => ({
    sampleId: `gs-${i}`,
    candidateIndex: 0,
    task: 'diff',
    difficulty: i % 2 ? null : ('hard' as const),
    pass: i % 2 === 0,
    reasons: i % 2 ? ['iou_below_threshold', 'think_box_disagrees'] : [],
    formatReward: i % 2 ? 0 : 1,
    answerBox: i % 2 ? null : ([1.5, 2.5, 10.25, 20.75] as [number, number, number, number]),
    iou: i % 2 ? null : 0.1 * i,
    thinkBoxAgrees: i % 3 === 0 ? null : i % 3 === 1,
    namesTargetImage: null,
    completionChars: 100 + i,
    verifierVersion: 'v1',
  }));
}

function trainingBase(i: number, bytes: Uint8Array<ArrayBuffer> | null) {
  return {
    id: `row-${i}`,
    source: 'synthetic',
    task: 'common_object',
    images: [
      { bytes, path: bytes ? `img/${i}.png` : `ab/${sha(i)}.png` },
      { bytes: bytes ? bytes.subarray(0, 3) : null, path: null },
    ],
    imageSha256: [sha(i), sha(i + 1)],
    imageWidth: [640, 320],
    imageHeight: [480, 240],
    prompt: '<image><image>Find the cup.',
    targetImage: 0,
    targetBox: [10.5, 20, 110, 220.25] as [number, number, number, number],
    convention: 'qwen25vl' as const,
    answer: '(10,20),(110,220)',
    difficultyLabel: i % 2 ? null : ('easy' as const),
  };
}

/** Deterministic bytes including 0x00 and 0xff, like an image would have. */
export function fakeImage(i: number, len = 64): Uint8Array<ArrayBuffer> {
  return Uint8Array.from({ length: len }, (_, k) => (k * 31 + i * 7) & 0xff);
}

export function sftRows(n: number, embed: boolean): RecordOf<'SftRow'>[] {
  return Array.from({ length: n }, (_, i) => ({
    ...trainingBase(i, embed ? fakeImage(i) : null),
    completion: '<think>the cup is left</think><answer>(10,20),(110,220)</answer>',
    candidateIndex: i % 4,
    iou: i % 3 ? 0.8125 : null,
  }));
}

export function rlRows(n: number): RecordOf<'RlRow'>[] {
  return Array.from({ length: n }, (_, i) => ({
    ...trainingBase(i, fakeImage(i, 16)),
    difficulty: i % 2 ? null : 0.375,
    weight: i % 2 ? null : Math.exp(1 - 0.375),
    bucket: i % 2 ? null : '0.3-0.7',
  }));
}

export function predictions(n: number): RecordOf<'Prediction'>[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `p-${i}`,
    task: 'refer_grounding',
    model: 'tiny',
    completion: '<answer>(1,2),(3,4)</answer>',
    convention: 'norm' as const,
    answerBox: i % 2 ? null : ([0.1, 0.2, 0.3, 0.4] as [number, number, number, number]),
    iou: i % 2 ? null : 1 / 3,
    firstBoxIou: 0.5,
    formatReward: 1,
  }));
}

/** DuckDB's JS values -> the record model's (BIGINT -> number, BLOB -> Uint8Array). */
export function normalize(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}
