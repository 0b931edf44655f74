/**
 * The audit session over a real run directory (issue 14): filters, facets, sort and paging are SQL over
 * the shards; a sample's detail places the reasoning's boxes on the right image and says why its chain
 * was chosen; the audit plan is stratified and seeded; the verifier's numbers and the auditors' kappa come
 * out as computed by hand; a run with missing or corrupt shards opens and says what it left out.
 */
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocate, AuditSession } from '../../src/audit/session.js';
import { parseListQuery } from '../../src/audit/query.js';
import { InputError } from '../../src/errors.js';
import { makeAuditRun, type AuditFixture } from './fixture.js';

let fx: AuditFixture;
let s: AuditSession;
const extra: string[] = [];
beforeAll(async () => {
  fx = await makeAuditRun();
  s = await AuditSession.open(fx.root, { sample: 6, seed: 1 });
});
afterAll(async () => {
  await s?.close();
  for (const d of [fx?.root, ...extra]) if (d) rmSync(d, { recursive: true, force: true });
});

const q = (qs: string) => parseListQuery(new URLSearchParams(qs));
const facet = (r: { facets: Record<string, Array<{ key: string; n: number }>> }, f: string) => Object.fromEntries((r.facets[f] ?? []).map((x) => [x.key, x.n]));

describe('the list', () => {
  it('counts every sample and each facet value', async () => {
    const r = await s.list(q(''));
    expect(r.total).toBe(12);
    expect(facet(r, 'verdict')).toEqual({ kept: 9, rejected: 2, unverified: 1 });
    expect(facet(r, 'task')).toEqual({ common_object: 4, diff: 5, refer_grounding: 3 });
    expect(facet(r, 'pool')).toEqual({ sft: 8, rl: 1, none: 3 });
    expect(facet(r, 'status')).toEqual({ unlabelled: 12, accepted: 0, rejected: 0, flagged: 0 });
    expect(facet(r, 'reason')).toMatchObject({ iou_below_threshold: 2, format: 10, request_failed: 1 });
    expect(r.rows.map((x) => x.id)).toEqual(['s-00', 's-01', 's-02', 's-03', 's-04', 's-05', 's-06', 's-07', 's-08', 's-09', 's-10', 's-evil']);
  });

  it('filters, and each facet counts under the other filters but not its own', async () => {
    const r = await s.list(q('task=diff&verdict=kept'));
    expect(r.rows.map((x) => x.id)).toEqual(['s-01', 's-04', 's-evil']);
    // task counts ignore the task filter (so other tasks can be added), verdict counts ignore the verdict filter.
    expect(facet(r, 'task')).toEqual({ common_object: 3, diff: 3, refer_grounding: 3 });
    expect(facet(r, 'verdict')).toEqual({ kept: 3, rejected: 1, unverified: 1 });
    expect((await s.list(q('reason=iou_below_threshold'))).rows.map((x) => x.id)).toEqual(['s-03', 's-07']);
    expect((await s.list(q('pool=none'))).rows.map((x) => x.id)).toEqual(['s-03', 's-07', 's-10']);
    expect((await s.list(q('source=mgrounding'))).rows.map((x) => x.id)).toEqual(['s-00', 's-04', 's-08']);
    expect((await s.list(q('difficulty=(none)'))).rows.map((x) => x.id)).toEqual(['s-03', 's-07']);
    expect((await s.list(q('iouMin=0.5&iouMax=0.85'))).rows.map((x) => x.id)).toEqual(['s-03', 's-07']);
  });

  it('searches the question and the reasoning, and finds the injected text as text', async () => {
    expect((await s.list(q('q=RED LAMP'))).rows.map((x) => x.id)).toEqual(['s-02', 's-05', 's-08']);
    expect((await s.list(q('q=stands at'))).total).toBe(7);
    expect((await s.list(q(`q=${encodeURIComponent('window.__pwned')}`))).rows.map((x) => x.id)).toEqual(['s-evil']);
    expect((await s.list(q('q=nothing-like-this'))).total).toBe(0);
  });

  it('sorts by IoU, difficulty and a seeded random order, and pages with a fixed size', async () => {
    const byIou = (await s.list(q('sort=iou&verdict=rejected&verdict=kept'))).rows;
    expect(byIou.slice(0, 2).map((x) => x.id)).toEqual(['s-03', 's-07']);
    const hard = (await s.list(q('sort=-difficulty'))).rows.map((x) => x.difficulty);
    expect(hard.slice(0, 2)).toEqual(['(none)', '(none)']);
    const r1 = (await s.list(q('sort=random'))).rows.map((x) => x.id);
    const r2 = (await s.list(q('sort=random'))).rows.map((x) => x.id);
    expect(r1).toEqual(r2);
    expect(r1).not.toEqual([...r1].sort());
    const p0 = await s.list(q('size=5'));
    const p2 = await s.list(q('size=5&page=2'));
    expect(p0.rows.map((x) => x.id)).toEqual(['s-00', 's-01', 's-02', 's-03', 's-04']);
    expect(p2.rows.map((x) => x.id)).toEqual(['s-10', 's-evil']);
    expect(p2.total).toBe(12);
  });

  it.each([
    ['bogus=1', /bogus/],
    ['verdict=maybe', /verdict/],
    ['iouMin=abc', /iouMin/],
    ['iouMin=0.8&iouMax=0.2', /iouMin 0.8 is above iouMax 0.2/],
    ['sort=name', /sort/],
    ['size=1000', /size/],
    ['page=-1', /page/],
    ['q=a&q=b', /q is given 2 times/],
    ['by=not%20a%20name', /by/],
    [`q=${'x'.repeat(201)}`, /q/],
  ])('refuses the query %s with an error naming the field', (qs, message) => {
    expect(() => q(qs)).toThrow(InputError);
    expect(() => q(qs)).toThrow(message);
  });
});

describe('a sample', () => {
  it("places each reasoning box on the image its text names, the answer on the target, and says why the chain was chosen", async () => {
    const d = (await s.sample('s-01'))!;
    expect(d.targetImage).toBe(1);
    expect(d.context).toEqual([{ role: 'user', content: 'An earlier turn <b>with markup</b>.' }]);
    const c0 = d.candidates[0]!;
    expect(c0.thinkBoxes.map((b) => [b.image, b.box])).toEqual([
      [0, [20, 30, 90, 110]],
      [1, [50, 60, 150, 140]],
    ]);
    expect(c0.verdict!.answerBox).toEqual([50, 60, 150, 140]);
    expect(d.focus).toBe(0);
    expect(d.why).toBe('the only candidate that passed every check');
    expect((await s.sample('s-00'))!.why).toBe('the highest IoU among the 2 passing candidates (1.000; next 0.820)');
    expect((await s.sample('s-05'))!.why).toMatch(/^in the RL pool/);
    expect((await s.sample('s-03'))!.why).toBe('not selected: no candidate passed every check');
    expect((await s.sample('s-10'))!.why).toBe('no candidates: generate has not run for this sample');
    expect(await s.sample('no-such-id')).toBeNull();
  });

  it("shows an eval run's predictions for the sample", async () => {
    const d = (await s.sample('s-01'))!;
    expect(d.predictions.map((p) => [p.model, p.answerBox, p.iou])).toEqual([
      ['centre', [50, 50, 150, 150], 0.7],
      ['sft', [60, 70, 140, 150], 0.6],
    ]);
    expect((await s.sample('s-00'))!.predictions).toEqual([]);
  });

  it('is only served images the run refers to', async () => {
    expect(await s.imagePath(fx.images[0]!.sha256)).toBe('imgs/0.png');
    expect(await s.imagePath('0'.repeat(64))).toBeNull();
  });
});

describe('the audit plan', () => {
  it('draws evenly over (task, verdict) strata, the same for the same seed, written to audit/plan.json', async () => {
    expect(s.plan!.n).toBe(6);
    expect(s.plan!.strata.map((x) => `${x.task}/${x.verdict}:${x.quota}/${x.size}`)).toEqual([
      'common_object/kept:1/3',
      'common_object/rejected:1/1',
      'diff/kept:1/3',
      'diff/rejected:1/1',
      'diff/unverified:1/1',
      'refer_grounding/kept:1/3',
    ]);
    const file = JSON.parse(readFileSync(join(fx.root, 'audit', 'plan.json'), 'utf8')) as { samples: string[]; seed: number };
    expect(file.samples).toHaveLength(6);
    expect(file.samples).toEqual(expect.arrayContaining(['s-03', 's-07', 's-10']));
    const listed = (await s.list(q('plan=1'))).rows.map((x) => x.id).sort();
    expect(listed).toEqual([...file.samples].sort());
    const again = await AuditSession.open(fx.root, { sample: 6, seed: 1 });
    const other = await AuditSession.open(fx.root, { sample: 6, seed: 2 });
    try {
      expect((await again.list(q('plan=1'))).rows.map((x) => x.id)).toEqual((await s.list(q('plan=1'))).rows.map((x) => x.id));
      const seeds = await Promise.all([1, 2].map(async (seed) => (await (seed === 1 ? again : other).list(q('plan=1'))).rows.map((x) => x.id).join()));
      expect(seeds[0]).not.toBe(seeds[1]);
    } finally {
      await again.close();
      await other.close();
    }
  });

  it('allocates as evenly as the strata sizes allow', () => {
    expect(allocate(10, [100, 100, 100])).toEqual([4, 3, 3]);
    expect(allocate(10, [1, 100, 2])).toEqual([1, 7, 2]);
    expect(allocate(50, [3, 4])).toEqual([3, 4]);
    expect(allocate(0, [3, 4])).toEqual([0, 0]);
  });
});

describe('decisions and the numbers from them', () => {
  it('refuses decisions about unknown samples, candidates and reasons without writing anything', async () => {
    const before = await s.log.size();
    await expect(s.decide({ sampleId: 'nope', candidateIndex: null, auditor: 'ana', decision: 'accept', reason: null, note: '', undoes: null })).rejects.toThrow(/no such sample/);
    await expect(s.decide({ sampleId: 's-00', candidateIndex: 7, auditor: 'ana', decision: 'accept', reason: null, note: '', undoes: null })).rejects.toThrow(/no candidate 7/);
    await expect(s.decide({ sampleId: 's-00', candidateIndex: 0, auditor: 'ana', decision: 'reject', reason: 'bad_vibes', note: '', undoes: null })).rejects.toThrow(/unknown reason/);
    expect(await s.log.size()).toBe(before);
  });

  it('computes precision, false rejections, disputes and kappa as by hand; undo restores the earlier decision', async () => {
    const d = (sampleId: string, auditor: string, decision: 'accept' | 'reject' | 'flag') => s.decide({ sampleId, candidateIndex: 0, auditor, decision, reason: decision === 'reject' ? 'wrong_box' : null, note: '', undoes: null });
    await d('s-00', 'ana', 'accept');
    await d('s-01', 'ana', 'reject');
    await d('s-03', 'ana', 'accept');
    await d('s-07', 'ana', 'reject');
    await d('s-06', 'ana', 'accept');
    await d('s-00', 'bo', 'accept');
    await d('s-01', 'bo', 'accept');
    const wrong = await d('s-06', 'bo', 'reject');
    const undone = await s.undo(wrong.id);
    expect(undone).toMatchObject({ decision: 'clear', undoes: wrong.id, auditor: 'bo' });
    await d('s-06', 'bo', 'flag');
    // Undo only the latest: the reject was replaced by the clear and the flag.
    await expect(s.undo(wrong.id)).rejects.toThrow(/later decision/);

    const st = await s.stats();
    expect(st.auditors).toEqual(['ana', 'bo']);
    expect(st.labels).toBe(10);
    const co = st.byTask.find((t) => t.key === 'common_object')!;
    expect(co).toMatchObject({ labelled: 3, disputed: 0, passTotal: 5, failTotal: 7 });
    expect(co.precision.p).toBe(1);
    expect(co.falseRejection.p).toBe(1);
    const diff = st.byTask.find((t) => t.key === 'diff')!;
    expect(diff).toMatchObject({ labelled: 1, disputed: 1 });
    expect(diff.precision.p).toBeNull();
    expect(diff.falseRejection.p).toBe(0);
    expect(st.kappa).toHaveLength(1);
    expect(st.kappa[0]!).toMatchObject({ a: 'ana', b: 'bo', n: 3 });
    expect(st.kappa[0]!.kappa).toBeCloseTo(-0.2, 10);
    expect(st.plan!.n).toBe(6);

    const status = await s.list(q('status=accepted&by=bo'));
    expect(status.rows.map((x) => x.id)).toEqual(['s-00', 's-01']);
    expect(facet(await s.list(q('by=bo')), 'status')).toEqual({ unlabelled: 9, accepted: 2, rejected: 0, flagged: 1 });
    const row = (await s.list(q('q=s-06'))).rows[0]!;
    expect(row.decisions).toEqual([
      { auditor: 'ana', decision: 'accept' },
      { auditor: 'bo', decision: 'flag' },
    ]);
  });

  it('sees decisions another process appended to the log', async () => {
    const other = await AuditSession.open(fx.root);
    try {
      await other.decide({ sampleId: 's-08', candidateIndex: 0, auditor: 'cy', decision: 'reject', reason: 'other', note: 'seen elsewhere', undoes: null });
      const h = await s.history('s-08');
      expect(h.map((l) => [l.auditor, l.note])).toEqual([['cy', 'seen elsewhere']]);
    } finally {
      await other.close();
    }
  });
});

describe('a damaged run', () => {
  it('opens with the missing and corrupt shards named, and shows the rest', async () => {
    const root = mkdtempSync(join(tmpdir(), 'univg-audit-broken-'));
    extra.push(root);
    cpSync(fx.root, root, { recursive: true });
    rmSync(join(root, 'audit'), { recursive: true, force: true });
    unlinkSync(join(root, 'samples', 'part-00001-of-00002.parquet'));
    truncateSync(join(root, 'verdicts', 'part-00000-of-00002.parquet'), 100);
    // Same size, garbage inside: only reading the footer finds it.
    const cand = join(root, 'candidates', 'part-00001-of-00002.parquet');
    const bytes = readFileSync(cand);
    bytes.fill(0x41, bytes.length - 64);
    writeFileSync(cand, bytes);
    writeFileSync(join(root, 'corpus', 'rl', '_manifest.json'), '{"format": "univg-shards", ');
    const b = await AuditSession.open(root);
    try {
      const problems = b.problems.map((p) => `${p.file.slice(root.length + 1)}: ${p.message}`);
      expect(problems).toEqual([
        'samples/part-00001-of-00002.parquet: part file listed in the manifest is missing',
        expect.stringMatching(/^verdicts\/part-00000-of-00002\.parquet: part file is 100 bytes, the manifest says \d+$/),
        'corpus/rl/_manifest.json: manifest is not valid JSON (truncated?)',
        expect.stringMatching(/^candidates\/part-00001-of-00002\.parquet: not a readable Parquet file/),
      ]);
      const r = await b.list(q(''));
      expect(r.total).toBeGreaterThan(0);
      expect(r.total).toBeLessThan(12);
      const one = (await b.sample(r.rows[0]!.id))!;
      expect(one.images.length).toBeGreaterThan(0);
    } finally {
      await b.close();
    }
  });

  it('refuses a reasons list the keys cannot reach, from the CLI or the pipeline', async () => {
    await expect(AuditSession.open(fx.root, { reasons: Array.from({ length: 10 }, (_, i) => `r${i}`) })).rejects.toThrow(/between 1 and 9 audit reasons/);
    const { parsePipelineConfig } = await import('../../src/pipeline/load-config.js');
    expect(() => parsePipelineConfig('name: x\nsource: { format: synthetic }\naudit: { reasons: [Wrong Box] }\n', 'p.yaml')).toThrow(/lowercase key/);
    expect(() => parsePipelineConfig('name: x\nsource: { format: synthetic }\naudit: { remove: all-reject }\n', 'p.yaml')).toThrow(/audit\.remove|remove/);
  });

  it('refuses a directory that is not a run', async () => {
    const root = mkdtempSync(join(tmpdir(), 'univg-audit-notrun-'));
    extra.push(root);
    await expect(AuditSession.open(root)).rejects.toThrow(/not a run directory/);
    await expect(AuditSession.open(join(root, 'missing'))).rejects.toThrow(/run directory not found/);
    // A manifest lying around is not a run either.
    copyFileSync(join(fx.root, 'samples', '_manifest.json'), join(root, '_manifest.json'));
    await expect(AuditSession.open(root)).rejects.toThrow(/not a run directory/);
    expect(readdirSync(root)).toEqual(['_manifest.json']);
  });
});
