/**
 * Labels leave the app (issue 14): `univg audit export` writes them as Parquet (read back with DuckDB)
 * or JSON lines, and a pipeline whose `audit.labels` names such a file has select leave the rejected
 * samples out of both pools, name them in quarantine, and record the file in the corpus manifests.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readExportedLabels, removals, removalsFromFile } from '../../src/audit/apply.js';
import { exportLabels } from '../../src/audit/export.js';
import { LabelLog, type NewLabel } from '../../src/audit/labels.js';
import { ConfigError, InputError } from '../../src/errors.js';
import { parsePipelineConfig } from '../../src/pipeline/load-config.js';
import { createReporter } from '../../src/pipeline/progress.js';
import { runPipeline } from '../../src/pipeline/runner.js';
import type { AuditLabel } from '../../src/schema/records.js';
import { STANDARD_STAGES } from '../../src/stages/index.js';
import { readManifest } from '../../src/store/manifest.js';
import { readRows } from '../../src/store/reader.js';

const tmp = mkdtempSync(join(tmpdir(), 'univg-audit-apply-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const L = (seq: number, sampleId: string, auditor: string, decision: AuditLabel['decision'], reason: string | null = null): AuditLabel => ({
  seq, id: `l${seq}`, sampleId, candidateIndex: 0, auditor, decision, reason, note: '', time: '2025-01-01T00:00:00.000Z', undoes: null,
});

describe('removals', () => {
  const labels = [
    L(0, 'a', 'ana', 'reject', 'wrong_box'),
    L(1, 'b', 'ana', 'reject'),
    L(2, 'b', 'bo', 'accept'),
    L(3, 'b', 'cy', 'accept'),
    L(4, 'c', 'ana', 'reject'),
    L(5, 'c', 'ana', 'accept'),
    L(6, 'd', 'bo', 'flag'),
    L(7, 'e', 'bo', 'reject'),
    L(8, 'e', 'bo', 'clear'),
  ];

  it('any-reject: a sample goes when any auditor\'s latest decision rejects it', () => {
    const r = removals(labels, { remove: 'any-reject', removeFlagged: false });
    expect([...r.keys()].sort()).toEqual(['a', 'b']);
    expect(r.get('a')!.detail).toBe('rejected by ana (wrong_box)');
  });

  it('majority-reject: only when more of its auditors reject than accept; removeFlagged takes flagged samples nobody accepted', () => {
    expect([...removals(labels, { remove: 'majority-reject', removeFlagged: false }).keys()]).toEqual(['a']);
    expect([...removals(labels, { remove: 'majority-reject', removeFlagged: true }).keys()].sort()).toEqual(['a', 'd']);
  });
});

describe('univg audit export', () => {
  const run = join(tmp, 'labels-run');
  beforeAll(async () => {
    const log = new LabelLog(run);
    const base: NewLabel = { sampleId: 's1', candidateIndex: 1, auditor: 'ana', decision: 'reject', reason: 'wrong_box', note: 'box on the <b>lamp</b>', undoes: null };
    await log.append(base);
    await log.append({ ...base, auditor: 'bo', decision: 'accept', reason: null, note: '' });
    await log.append({ ...base, decision: 'accept', reason: null, note: 'second look' });
    await log.append({ ...base, sampleId: 's2', candidateIndex: null, decision: 'flag', reason: null, note: '' });
    await log.close();
  });

  it('writes the whole history as Parquet that DuckDB reads, in log order', async () => {
    const out = join(tmp, 'labels.parquet');
    const r = await exportLabels(run, out);
    expect(r).toMatchObject({ format: 'parquet', labels: 4, skipped: 0 });
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const rows = (await con.runAndReadAll(`SELECT seq::INT AS seq, sampleId, candidateIndex::INT AS c, auditor, decision, reason, note FROM read_parquet('${out}') ORDER BY seq`)).getRowObjectsJS();
    con.closeSync();
    expect(rows).toEqual([
      { seq: 0, sampleId: 's1', c: 1, auditor: 'ana', decision: 'reject', reason: 'wrong_box', note: 'box on the <b>lamp</b>' },
      { seq: 1, sampleId: 's1', c: 1, auditor: 'bo', decision: 'accept', reason: null, note: '' },
      { seq: 2, sampleId: 's1', c: 1, auditor: 'ana', decision: 'accept', reason: null, note: 'second look' },
      { seq: 3, sampleId: 's2', c: null, auditor: 'ana', decision: 'flag', reason: null, note: '' },
    ]);
    const back: AuditLabel[] = [];
    for await (const l of readExportedLabels(out)) back.push(l);
    expect(back.map((l) => l.seq)).toEqual([0, 1, 2, 3]);
  });

  it('writes only the latest decisions with --latest, as JSON lines too', async () => {
    const out = join(tmp, 'latest.jsonl');
    const r = await exportLabels(run, out, { latest: true });
    expect(r).toMatchObject({ format: 'jsonl', labels: 3 });
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditLabel);
    expect(lines.map((l) => [l.seq, l.auditor, l.decision])).toEqual([
      [1, 'bo', 'accept'],
      [2, 'ana', 'accept'],
      [3, 'ana', 'flag'],
    ]);
  });

  it('refuses an output name that says no format, and a labels file with a bad line names the line', async () => {
    await expect(exportLabels(run, join(tmp, 'labels.csv'))).rejects.toThrow(ConfigError);
    const bad = join(tmp, 'bad.jsonl');
    writeFileSync(bad, `${JSON.stringify(L(0, 'a', 'ana', 'reject'))}\n{"seq": 1, "id": "x"\n`);
    const err = await removalsFromFile(bad, { remove: 'any-reject', removeFlagged: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).context.line).toBe(2);
    const wrong = join(tmp, 'wrong.jsonl');
    writeFileSync(wrong, `${JSON.stringify({ ...L(0, 'a', 'ana', 'reject'), decision: 'maybe' })}\n`);
    const err2 = (await removalsFromFile(wrong, { remove: 'any-reject', removeFlagged: false }).catch((e: unknown) => e)) as InputError;
    expect(err2.describe()).toMatch(/^input: not an audit label: .*accept.*wrong\.jsonl:1, field "decision"\)$/);
    await expect(removalsFromFile(join(tmp, 'missing.parquet'), { remove: 'any-reject', removeFlagged: false })).rejects.toThrow(/not found/);
  });
});

describe('select with audit.labels', () => {
  const dir = join(tmp, 'corpus-run');
  const labelsFile = join(tmp, 'audited.parquet');
  const yaml = (labels: boolean) => `name: audited
runDir: ${JSON.stringify(dir)}
source: { format: synthetic, samples: 10, seed: 5, testFraction: 0 }
teacher:
  model: univg-sim-teacher
  simulated: { seed: 5 }
  candidates: 2
  cacheDir: ${JSON.stringify(join(tmp, 'cache'))}
select: { rlFraction: 0.3 }
shards: { tasks: 2 }
${labels ? `audit: { labels: ${JSON.stringify(labelsFile)} }\n` : ''}`;
  const run = async (text: string, force?: string[]) => {
    const { config } = parsePipelineConfig(text, 'p.yaml');
    const out = new PassThrough();
    let log = '';
    out.on('data', (d: Buffer) => (log += d.toString()));
    const reporter = createReporter('plain', out, 60_000);
    try {
      await runPipeline({ config, configText: text, configFile: 'p.yaml', stages: STANDARD_STAGES, only: ['ingest', 'generate', 'verify', 'select'], force, reporter });
    } finally {
      reporter.close();
    }
    return log;
  };
  const ids = async (sub: string) => {
    const out: string[] = [];
    for await (const r of readRows(sub === 'sft' ? 'SftRow' : 'RlRow', join(dir, 'corpus', sub))) out.push(r.id);
    return out.sort();
  };

  it('leaves rejected samples out of both pools, says so, and records the labels file in the manifests', async () => {
    await run(yaml(false));
    const sft = await ids('sft');
    const rl = await ids('rl');
    expect(sft.length).toBeGreaterThan(1);
    expect(rl.length).toBeGreaterThan(0);
    const log = new LabelLog(dir);
    await log.append({ sampleId: sft[0]!, candidateIndex: 0, auditor: 'ana', decision: 'reject', reason: 'wrong_box', note: '', undoes: null });
    await log.append({ sampleId: rl[0]!, candidateIndex: null, auditor: 'bo', decision: 'reject', reason: 'ground_truth_wrong', note: '', undoes: null });
    await log.append({ sampleId: sft[1]!, candidateIndex: 0, auditor: 'bo', decision: 'accept', reason: null, note: '', undoes: null });
    await log.close();
    await exportLabels(dir, labelsFile);

    // Naming a labels file changes what select produces: the run says so instead of mixing.
    await expect(run(yaml(true))).rejects.toThrow(/stale: select/);
    const text = await run(yaml(true), ['select']);
    expect(text).toMatch(/select: audit labels \(3 decisions\) removed 2 samples/);
    expect(await ids('sft')).toEqual(sft.slice(1));
    expect(await ids('rl')).toEqual(rl.slice(1));
    const q = readFileSync(join(dir, 'quarantine', 'select-00000-of-00002.jsonl'), 'utf8') + readFileSync(join(dir, 'quarantine', 'select-00001-of-00002.jsonl'), 'utf8');
    expect(q).toContain('"reason":"audit_rejected"');
    expect(q).toContain('rejected by ana (wrong_box)');
    for (const sub of ['sft', 'rl']) {
      const m = (await readManifest(join(dir, 'corpus', sub)))!;
      const input = m.lineage.inputs.find((i) => i.kind === 'audit labels')!;
      expect(resolve(join(dir, 'corpus', sub), input.path)).toBe(labelsFile);
      expect(input.sha256).toMatch(/^[0-9a-f]{64}$/);
    }

    // A new export with more decisions marks select stale again.
    const again = new LabelLog(dir);
    await again.append({ sampleId: sft[1]!, candidateIndex: 0, auditor: 'ana', decision: 'reject', reason: null, note: '', undoes: null });
    await again.close();
    await exportLabels(dir, labelsFile);
    await expect(run(yaml(true))).rejects.toThrow(/audit labels, read from outside this run, changed since/);
  }, 180_000);

  it('a labels file that does not exist is a clear error before anything runs', async () => {
    const text = yaml(true).replace(labelsFile, join(tmp, 'nope.parquet')).replace(JSON.stringify(dir), JSON.stringify(join(tmp, 'other-run')));
    await expect(run(text)).rejects.toThrow(/audit.labels names a file that does not exist/);
  });
});
