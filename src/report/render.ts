/**
 * The report page: a pure function from figures and examples to one self-contained HTML document
 * (inline CSS, inline SVG, images as data URLs, one small script allowed by hash). A Content Security
 * Policy forbids any other script and any network fetch, so even text that slipped past escaping could
 * neither run nor phone home.
 */
import { createHash } from 'node:crypto';
import { PASSED, type Example } from './examples.js';
import { boxRect, boxText, imageBox, outside } from './overlay.js';
import type { CountBy, IouHistogram, QualityRow, ReportFigures } from './figures.js';
import { reasonLabel } from './figures.js';
import { escapeHtml, fmtInt, fmtMs, fmtNum, fmtPct, fmtUsd, html, jsonForScript, raw, type HtmlValue, type SafeHtml } from '../charts/html.js';
import { TABLES, type CorpusTable } from '../runview/run-files.js';
import { CSS, FILTER_SCRIPT } from './style.js';
import { PALETTE, barChart, funnelChart, groupHistograms, histogram, lineChart, rejectionChart, render } from '../charts/index.js';
import { trainingSections, trainingToc } from './render-training.js';
import { NOT_SCORED } from './training.js';
import type { EvalSamples } from './eval-samples.js';

export interface ReportModel {
  figures: ReportFigures;
  /** Examples by reason code (check order), then the passed group. */
  examples: Map<string, Example[]>;
  /** Test samples with every evaluated model's box; null when eval did not run here. */
  evalSamples: EvalSamples | null;
  /** The teacher client's counters from run.json, shown as recorded. */
  teacherCounters: Record<string, unknown> | null;
  /** Run name for the title (run.json's, else the directory's name). */
  runLabel: string;
  /** e.g. `univg 0.1.0`. */
  generator: string;
  /** Examples per reason that were asked for (said in the text). */
  perReason: number;
}


// ---------------------------------------------------------------------------------------------------
// small pieces

function kpi(label: string, value: string, figure: string | null, sub?: HtmlValue): SafeHtml {
  return html`<div class="kpi"><div class="label">${label}</div><div class="value"${figure ? raw(` data-figure="${escapeHtml(figure)}"`) : ''}>${value}</div>${
    sub ? html`<div class="sub">${sub}</div>` : ''
  }</div>`;
}

interface Col {
  label: string;
  num?: boolean;
  wrap?: boolean;
}

function table(cols: readonly Col[], rows: readonly (readonly HtmlValue[])[], opts: { id?: string; filterable?: boolean; figure?: (row: number, col: number) => string | null } = {}): SafeHtml {
  const head = cols.map((c) => html`<th${c.num ? raw(' class="num"') : ''}>${c.label}</th>`);
  const body = rows.map(
    (r, i) =>
      html`<tr${opts.filterable ? raw(' data-filter-item') : ''}>${r.map((cell, j) => {
        const cls = cols[j]?.num ? ' class="num"' : cols[j]?.wrap ? ' class="wrap"' : '';
        const fig = opts.figure?.(i, j);
        return html`<td${raw(cls)}${fig ? raw(` data-figure="${escapeHtml(fig)}"`) : ''}>${cell}</td>`;
      })}</tr>`,
  );
  return html`<table${opts.id ? raw(` id="${escapeHtml(opts.id)}"`) : ''}><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** A chart as the page shows it (its title and units are in the SVG). */
function chartBox(svg: SafeHtml): SafeHtml {
  return html`<div class="chart-box">${svg}</div>`;
}

function missing(text: string): SafeHtml {
  return html`<p class="missing">${text}</p>`;
}

function filterBox(target: string, placeholder: string): SafeHtml {
  // Hidden until the script runs: without JS there is nothing to filter with, and the page is complete.
  return html`<div class="filter" hidden><input type="search" data-filter-for="${target}" placeholder="${placeholder}" aria-label="${placeholder}"></div>`;
}

const plural = (n: number, word: string): string => `${fmtInt(n)} ${word}${n === 1 ? '' : 's'}`;

const countRows = (rows: readonly CountBy[]) => rows.map((r) => [html`<code>${r.key}</code>`, fmtInt(r.count)]);

function duration(a: string | null, b: string | null): string | null {
  if (!a || !b) return null;
  const ms = Date.parse(b) - Date.parse(a);
  if (!Number.isFinite(ms) || ms < 0) return null;
  const s = Math.round(ms / 1000);
  return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

// ---------------------------------------------------------------------------------------------------
// sections

function header(m: ReportModel): SafeHtml {
  const r = m.figures.run;
  const took = r ? duration(r.startedAt, r.endedAt) : null;
  return html`<header class="page">
<h1>Run report: <span class="run">${m.runLabel}</span></h1>
<div class="meta">${
    r
      ? [
          html`<span>univg <b>${r.version ?? '?'}</b></span>`,
          html`<span>config <b class="mono">${(r.configHash ?? '?').slice(0, 12)}</b></span>`,
          html`<span>started <b>${r.startedAt ?? '?'}</b></span>`,
          r.endedAt ? html`<span>ended <b>${r.endedAt}</b></span>` : html`<span>run in progress when this report was written</span>`,
          took ? html`<span>took <b>${took}</b></span>` : '',
        ]
      : html`<span>no run.json</span>`
  }</div>
</header>`;
}

/** False for a training-only run (train.from) that has no corpus tables of its own. */
function hasCorpus(f: ReportFigures): boolean {
  return !f.training?.from || (Object.keys(f.tables) as CorpusTable[]).some((t) => f.tables[t].state !== 'absent');
}

function notes(f: ReportFigures): string[] {
  const out: string[] = [];
  const t = f.tables;
  if (!f.run) out.push('run.json not found: no run metadata (config, stage status, teacher client counters).');
  if (!hasCorpus(f)) return out;
  if (t.samples.state === 'absent') out.push('ingest was not run: no samples/ in this run.');
  if (t.candidates.state === 'absent') out.push('generate was not run: no candidates/ in this run, so there are no teacher figures.');
  if (t.verdicts.state === 'absent') out.push('verify was not run: no verdicts/ in this run, so there are no pass rates, IoU or rejection reasons.');
  if (t.sft.state === 'absent' && t.rl.state === 'absent') out.push('select was not run: no corpus/sft/ or corpus/rl/ in this run.');
  for (const name of Object.keys(t) as CorpusTable[]) {
    if (t[name].state === 'partial')
      out.push(
        `${TABLES[name].dir}/ is incomplete: ${t[name].files} part file(s) and no _manifest.json (${TABLES[name].stage} stopped early or is still running); the figures count what was written.`,
      );
  }
  return out;
}

function overview(m: ReportModel): SafeHtml {
  const f = m.figures;
  const stageChips = (hasCorpus(f) ? (Object.keys(f.tables) as CorpusTable[]) : []).map((name) => {
    const t = f.tables[name];
    // State comes from the files (manifest or part files), never from run.json's stage status: a report
    // written by the pipeline's own report stage sees run.json as it was when that run started.
    const what = t.state === 'complete' ? `${fmtInt(t.rows)} rows` : t.state === 'partial' ? `partial, ${fmtInt(t.rows)} rows` : 'absent';
    return html`<span class="stage ${t.state}" title="${`${TABLES[name].stage} stage`}"><span class="dot"></span><code>${TABLES[name].dir}/</code> ${what}</span>`;
  });
  const q = f.quality?.overall;
  const kpis: SafeHtml[] = [];
  if (f.samples) kpis.push(kpi('Samples in', fmtInt(f.samples.total), 'samples.total', `${fmtInt(f.samples.byTask.length)} tasks, ${fmtInt(f.samples.multiImage)} multi-image`));
  if (f.teacher) kpis.push(kpi('Candidates', fmtInt(f.teacher.candidates), 'teacher.candidates', `${fmtInt(f.teacher.answered)} answered`));
  if (q) {
    kpis.push(kpi('Pass rate', fmtPct(q.passRate), 'quality.overall.passRate', `${fmtInt(q.passed)} of ${fmtInt(q.candidates)} candidates`));
    kpis.push(kpi('Mean IoU', fmtNum(q.meanIou), 'quality.overall.meanIou', `median ${fmtNum(q.medianIou)}, Acc@0.5 ${fmtPct(q.acc50)}`));
    kpis.push(kpi('Kept samples', fmtInt(q.samplesWithPass), 'quality.overall.samplesWithPass', `of ${fmtInt(q.samples)} verified`));
  }
  if (f.corpus.sft) kpis.push(kpi('SFT rows', fmtInt(f.corpus.sft.rows), 'corpus.sft.rows'));
  if (f.corpus.rl) kpis.push(kpi('RL rows', fmtInt(f.corpus.rl.rows), 'corpus.rl.rows'));
  if (f.teacher) kpis.push(kpi('Teacher spend', fmtUsd(f.teacher.spentUsd), 'teacher.spentUsd', `by this run; ${fmtUsd(f.teacher.replayedUsd)} replayed from the cache`));
  if (f.quarantine) kpis.push(kpi('Quarantined', fmtInt(f.quarantine.total), 'quarantine.total', `${fmtInt(f.quarantine.byReason.length)} reasons`));
  const n = notes(f);
  return html`<section id="overview"><h2>Overview</h2>
<div class="stages">${stageChips}</div>
${n.length ? html`<ul class="notes">${n.map((x) => html`<li>${x}</li>`)}</ul>` : ''}
<div class="kpis">${kpis}</div>
</section>`;
}

async function funnelSection(f: ReportFigures): Promise<SafeHtml> {
  if (f.funnel.length === 0) return html`<section id="funnel"><h2>Funnel</h2>${missing('Nothing to count: no stage output in this run.')}</section>`;
  const base: Record<string, number | null> = {
    samples: f.funnel.find((s) => s.unit === 'samples')?.count ?? null,
    candidates: f.funnel.find((s) => s.unit === 'candidates')?.count ?? null,
    rows: f.funnel.find((s) => s.key === 'kept')?.count ?? null,
  };
  const shareOf = (s: ReportFigures['funnel'][number]) => {
    const b = base[s.unit];
    return b ? s.count / b : null;
  };
  const chart = await render(funnelChart(f.funnel.map((s) => ({ label: s.label, unit: s.unit, count: s.count, share: shareOf(s) }))));
  const rows = f.funnel.map((s, i) => [
    s.label,
    html`<span class="unit">${s.unit}</span>`,
    html`<span data-figure="${`funnel[${i}].count`}" data-step="${s.key}">${fmtInt(s.count)}</span>`,
    fmtPct(shareOf(s)),
  ]);
  return html`<section id="funnel"><h2>Funnel</h2>
<p class="lead">From samples in to training rows out. Candidate steps after parsing are cumulative: each counts candidates that passed every check up to it, in the order the verifier runs them. Percentages are of the first step in the same unit (RL and SFT rows: of kept samples).</p>
<div class="charts">${chartBox(chart)}
${table([{ label: 'Step' }, { label: 'Unit' }, { label: 'Count', num: true }, { label: 'Share', num: true }], rows, { id: 'funnel-table' })}</div>
</section>`;
}

function qualityTable(rows: readonly QualityRow[], keyLabel: string, figurePrefix: string): SafeHtml {
  const cols: Col[] = [
    { label: keyLabel },
    { label: 'Samples', num: true },
    { label: 'Kept', num: true },
    { label: 'Candidates', num: true },
    { label: 'Passed', num: true },
    { label: 'Pass rate', num: true },
    { label: 'With box', num: true },
    { label: 'Mean IoU', num: true },
    { label: 'Median IoU', num: true },
    { label: 'Acc@0.5', num: true },
  ];
  const fields = [null, 'samples', 'samplesWithPass', 'candidates', 'passed', 'passRate', 'withBox', 'meanIou', 'medianIou', 'acc50'];
  return table(
    cols,
    rows.map((r) => [
      html`<code>${r.key}</code>`,
      fmtInt(r.samples),
      fmtInt(r.samplesWithPass),
      fmtInt(r.candidates),
      fmtInt(r.passed),
      fmtPct(r.passRate),
      fmtInt(r.withBox),
      fmtNum(r.meanIou),
      fmtNum(r.medianIou),
      fmtPct(r.acc50),
    ]),
    { figure: (i, j) => (fields[j] ? `${figurePrefix}[${i}].${fields[j]}` : null) },
  );
}

async function qualityGroup(title: string, keyLabel: string, rows: readonly QualityRow[], hists: readonly IouHistogram[], curves: { key: string; shares: number[] }[], thresholds: readonly number[], prefix: string): Promise<SafeHtml> {
  const colorOf = (i: number) => PALETTE[i % PALETTE.length]!;
  const by = keyLabel.toLowerCase();
  const bars = await render(
    barChart(
      rows.map((r, i) => ({ label: r.key, value: r.passRate ?? 0, note: `(${fmtInt(r.passed)} of ${fmtInt(r.candidates)})`, color: colorOf(i) })),
      { title: `Pass rate by ${by}`, xTitle: 'pass rate (% of candidates)', format: 'pct', max: 1, width: 360 },
    ),
  );
  const curve = await render(
    lineChart(
      curves.map((c, i) => ({ name: c.key, points: thresholds.map((t, j) => [t, c.shares[j] ?? 0] as const), color: colorOf(i) })),
      {
        title: 'Accuracy at IoU threshold',
        subtitle: 'Acc@t: no box counts as a miss',
        xTitle: 'IoU threshold',
        yTitle: 'candidates with IoU ≥ threshold',
        xFormat: 'num',
        share: true,
        xDomain: [0, 1],
        width: 360,
        height: 180,
      },
    ),
  );
  const iou = await render(
    groupHistograms(hists, { title: `IoU with the ground truth, by ${by}`, xTitle: 'IoU of the answer box', yTitle: 'candidates', colors: rows.map((_, i) => colorOf(i)) }),
  );
  return html`<h3>${title}</h3>
${qualityTable(rows, keyLabel, prefix)}
<div class="charts">${chartBox(bars)}${chartBox(curve)}</div>
${chartBox(iou)}`;
}

async function qualitySection(f: ReportFigures): Promise<SafeHtml> {
  const q = f.quality;
  if (!q) return html`<section id="quality"><h2>Quality by task and difficulty</h2>${missing('verify was not run: no verdicts/ in this run.')}</section>`;
  return html`<section id="quality"><h2>Quality by task and difficulty</h2>
<p class="lead">Every candidate the verifier judged. Pass rate counts candidates that passed every check; IoU compares the answer box (converted to original-image pixels) with the ground truth; "kept" samples have at least one passing candidate.</p>
${await qualityGroup('By task', 'Task', q.byTask, q.iou.byTask, q.accCurve.byTask, q.accCurve.thresholds, 'quality.byTask')}
${await qualityGroup('By difficulty', 'Difficulty', q.byDifficulty, q.iou.byDifficulty, q.accCurve.byDifficulty, q.accCurve.thresholds, 'quality.byDifficulty')}
</section>`;
}

/** Leaves of a nested object as dotted keys (two levels), for the client-counter table. */
function flatten(obj: Record<string, unknown>, prefix = '', depth = 0): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const k of Object.keys(obj).sort()) {
    const v = obj[k];
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth < 2) out.push(...flatten(v as Record<string, unknown>, key, depth + 1));
    else if (Array.isArray(v)) out.push([key, `${v.length} entries`]);
    else out.push([key, typeof v === 'number' ? (Number.isInteger(v) ? fmtInt(v) : v.toFixed(4)) : String(v)]);
  }
  return out;
}

async function teacherSection(m: ReportModel): Promise<SafeHtml> {
  const t = m.figures.teacher;
  if (!t) return html`<section id="teacher"><h2>Teacher</h2>${missing('generate was not run: no candidates/ in this run, so no teacher requests, tokens or cost.')}</section>`;
  const latency = await render(
    histogram(t.latencyHistogram, {
      title: 'Latency of requests made this run',
      xTitle: 'latency, upper edge of the bucket (ms)',
      yTitle: 'requests',
      scale: 'ordinal',
      format: 'ms',
      color: PALETTE[1],
      width: 420,
      subtitle: 'log-spaced buckets; cache hits excluded',
    }),
  );
  const attempts = await render(
    barChart(
      t.attempts.byCount.map((a) => ({ label: a.key === '0' ? '0 (cache hit)' : plural(Number(a.key), 'attempt'), value: a.count })),
      { title: 'Attempts per candidate', subtitle: 'retries after 429s, 5xx and timeouts included', xTitle: 'candidates', width: 300, color: PALETTE[4] },
    ),
  );
  const counters = m.teacherCounters ? flatten(m.teacherCounters) : [];
  return html`<section id="teacher"><h2>Teacher</h2>
<p class="lead">From the candidate shards: tokens and cost as the endpoint reported them, latency of requests actually made (cache hits excluded), attempts including retries. Spent by this run counts answers requested from the endpoint; replayed from the cache counts answers an earlier run paid for, which cost nothing now.</p>
<div class="kpis">
${kpi('Spent by this run', fmtUsd(t.spentUsd), 'teacher.spentUsd', `${fmtInt(t.requested)} candidates requested`)}
${kpi('Replayed from cache', fmtUsd(t.replayedUsd), 'teacher.replayedUsd', `${fmtInt(t.cached)} candidates, not paid again`)}
${kpi('Cost of the answers', fmtUsd(t.costUsd), 'teacher.costUsd', t.costPerKeptSample !== null ? `${fmtUsd(t.costPerKeptSample)} per kept sample, spent and replayed` : 'spent and replayed')}
${kpi('Prompt tokens', fmtInt(t.promptTokens), 'teacher.promptTokens')}
${kpi('Completion tokens', fmtInt(t.completionTokens), 'teacher.completionTokens')}
${kpi('Requested', fmtInt(t.requested), 'teacher.requested', `${fmtInt(t.samples)} samples`)}
${kpi('Cache hits', fmtInt(t.cached), 'teacher.cached', fmtPct(t.candidates ? t.cached / t.candidates : null))}
${kpi('Failed', fmtInt(t.failed), 'teacher.failed', 'no answer after retries')}
${kpi('Retried', fmtInt(t.attempts.retried), 'teacher.attempts.retried', `${fmtInt(t.attempts.total)} attempts, max ${fmtInt(t.attempts.max)}`)}
</div>
<div class="charts">
<div>
<h3>Latency</h3>
${table(
  [{ label: 'p50', num: true }, { label: 'p90', num: true }, { label: 'p99', num: true }, { label: 'mean', num: true }, { label: 'max', num: true }, { label: 'requests', num: true }],
  [[fmtMs(t.latencyMs.p50), fmtMs(t.latencyMs.p90), fmtMs(t.latencyMs.p99), fmtMs(t.latencyMs.mean), fmtMs(t.latencyMs.max), fmtInt(t.latencyMs.count)]],
  { figure: (_i, j) => ['teacher.latencyMs.p50', 'teacher.latencyMs.p90', 'teacher.latencyMs.p99', 'teacher.latencyMs.mean', 'teacher.latencyMs.max', 'teacher.latencyMs.count'][j] ?? null },
)}
${chartBox(latency)}
</div>
<div>
<h3>Attempts</h3>
${chartBox(attempts)}
<h3>Finish reasons</h3>
${table([{ label: 'finish_reason' }, { label: 'Candidates', num: true }], countRows(t.finishReasons))}
<h3>Models</h3>
${table([{ label: 'Model' }, { label: 'Candidates', num: true }], countRows(t.models))}
</div>
</div>
${t.errors.length ? html`<h3>Errors after the last retry</h3>${table([{ label: 'Error (first 160 characters)', wrap: true }, { label: 'Candidates', num: true }], t.errors.map((e) => [e.key, fmtInt(e.count)]))}` : ''}
${counters.length ? html`<details><summary>Client counters recorded in run.json (${counters.length})</summary>${table([{ label: 'Counter' }, { label: 'Value', num: true }], counters.map(([k, v]) => [html`<code>${k}</code>`, v]))}</details>` : ''}
</section>`;
}

/** The completion, escaped, with its think/answer tags set off. */
function completionText(e: Example): SafeHtml {
  if (e.completion === null) return e.error !== null ? html`` : html`<p class="missing">No completion recorded${e.completionChars === null ? ' (candidates/ absent)' : ''}.</p>`;
  const escaped = escapeHtml(e.completion).replace(/&lt;(\/?)(think|answer)&gt;/g, '<span class="tag">&lt;$1$2&gt;</span>');
  const more = e.completionChars !== null && e.completionChars > e.completion.length ? e.completionChars - e.completion.length : 0;
  return html`<pre class="completion">${raw(escaped)}${more ? html`<span class="more">… (${fmtInt(more)} more characters)</span>` : ''}</pre>`;
}

function exampleCard(e: Example): SafeHtml {
  const target = e.images.find((i) => i.isTarget) ?? null;
  const others = e.images.filter((i) => !i.isTarget);
  const overlays: SafeHtml[] = [];
  const tw = target?.width ?? 0;
  const th = target?.height ?? 0;
  if (e.targetBox) overlays.push(boxRect(e.targetBox, 'gt', `ground truth ${boxText(e.targetBox)}`, tw, th));
  // The reasoning's boxes under the answer: dashed finer in the candidate's colour, the last one (the
  // box the reasoning commits to, which think_answer_disagree compares with the answer) drawn heavier.
  e.thinkBoxes.forEach((b, i) => {
    const last = i === e.thinkBoxes.length - 1;
    overlays.push(boxRect(b, last ? 'think last' : 'think', `${last ? 'last box' : `box ${i + 1}`} in <think> ${boxText(b)}`, tw, th));
  });
  if (e.answerBox) overlays.push(boxRect(e.answerBox, 'pred', `answer ${boxText(e.answerBox)}`, tw, th));
  const off = target && e.answerBox && outside(e.answerBox, tw, th);
  const figure = target
    ? html`<figure class="target">${imageBox(target, overlays, `image ${target.index + 1} of sample ${e.sampleId}`)}<figcaption>Image ${target.index + 1}${
        e.images.length > 1 ? ' (target)' : ''
      } · ${target.width}×${target.height} px<br><span class="legend-gt"></span>ground truth ${e.targetBox ? boxText(e.targetBox) : '–'}<br>${
        e.answerBox ? html`<span class="legend-pred"></span>answer ${boxText(e.answerBox)}` : html`<span class="legend-pred"></span>no answer box`
      }${off ? ' (extends outside the image)' : ''}${
        e.thinkBoxes.length ? html`<br><span class="legend-think"></span>${fmtInt(e.thinkBoxes.length)} box${e.thinkBoxes.length === 1 ? '' : 'es'} in &lt;think&gt;, last ${boxText(e.thinkBoxes.at(-1)!)}` : ''
      }</figcaption></figure>`
    : html`<div class="noimg">${e.question === null ? 'sample not found (samples/ absent)' : 'no target image'}</div>`;
  const otherFigs = others.length
    ? html`<div class="others">${others.map((i) => html`<figure>${imageBox(i, [], `image ${i.index + 1}`)}<figcaption>Image ${i.index + 1}</figcaption></figure>`)}</div>`
    : '';
  const chips = e.reasons.length ? e.reasons.map((r) => html`<span class="chip">${r}</span>`) : html`<span class="chip pass">passed</span>`;
  const facts = [
    `task ${e.task}`,
    e.difficulty ? `difficulty ${e.difficulty}` : null,
    `IoU ${fmtNum(e.iou)}`,
    e.thinkBoxAgrees === null ? null : `think box ${e.thinkBoxAgrees ? 'agrees' : 'disagrees'}`,
    e.namesTargetImage === null ? null : `target image ${e.namesTargetImage ? 'named' : 'not named'}`,
    e.finishReason ? `finish ${e.finishReason}` : null,
    e.attempts !== null ? plural(e.attempts, 'attempt') : null,
  ].filter((x): x is string => x !== null);
  return html`<article class="example" data-filter-item>
<div>${figure}${otherFigs}</div>
<div>
<div class="ex-head"><span class="id mono">${e.sampleId}</span><span class="meta">candidate ${e.candidateIndex}${e.model ? ` · ${e.model}` : ''}</span></div>
<div class="ex-head"><span class="meta">${facts.join(' · ')}</span></div>
<div class="chips">${chips}</div>
${e.question !== null ? html`<p class="question"><b>Question</b> ${e.question}</p>` : ''}
${e.error !== null ? html`<p class="error"><b>Error:</b> ${e.error}</p>` : ''}
${completionText(e)}
</div>
</article>`;
}

async function rejectionSection(m: ReportModel): Promise<SafeHtml> {
  const r = m.figures.rejections;
  if (!r) return html`<section id="rejections"><h2>Rejections</h2>${missing('verify was not run: no verdicts/ in this run.')}</section>`;
  const bars = await render(rejectionChart(r.byReason.map((x) => ({ reason: x.reason, count: x.count, only: x.only }))));
  const groups = [...m.examples.entries()].map(([g, list]) => {
    const fig = r.byReason.find((x) => x.reason === g);
    const title = g === PASSED ? html`<code>passed</code> a few that passed every check` : html`<code>${g}</code> ${plural(fig?.count ?? 0, 'candidate')}`;
    return html`<div class="reason-group${g === PASSED ? ' passed' : ''}" id="${`reason-${g === PASSED ? 'passed' : g}`}"><h3>${title}</h3><div class="examples">${list.map(exampleCard)}</div></div>`;
  });
  return html`<section id="rejections"><h2>Rejections</h2>
<p class="lead">${fmtInt(r.failed)} candidates failed at least one check. A candidate can fail several; "only this" counts those for which it was the only reason.</p>
<div class="charts">${chartBox(bars)}
${table(
  [{ label: 'Reason' }, { label: 'Check' }, { label: 'Candidates', num: true }, { label: 'Only this', num: true }, { label: 'Of rejected', num: true }],
  r.byReason.map((x) => [html`<code>${x.reason}</code>`, reasonLabel(x.reason), fmtInt(x.count), fmtInt(x.only), fmtPct(x.shareOfFailed)]),
  { figure: (i, j) => (j === 2 ? `rejections.byReason[${i}].count` : j === 3 ? `rejections.byReason[${i}].only` : null) },
)}</div>
<h3>Examples</h3>
<p class="lead">Up to ${m.perReason} per reason, a stable pseudo-random pick; a sample is shown once, under one of its reasons. The target image shows the ground truth (green, solid), the teacher's answer box (red, dashed) and the boxes its reasoning wrote in <code>&lt;think&gt;</code> (red, finely dashed; the last one, which the reasoning commits to, heavier), all in original-image pixels.</p>
${filterBox('examples', 'Filter examples: id, task, reason, text…')}
<div id="examples">${groups.length ? groups : missing('No examples: every candidate passed, or there were none.')}</div>
</section>`;
}

async function quarantineSection(f: ReportFigures): Promise<SafeHtml> {
  const q = f.quarantine;
  if (!q) return html`<section id="quarantine"><h2>Quarantine</h2><p class="lead">No quarantine files in this run (nothing was quarantined, or ingest did not run here).</p></section>`;
  const bars = await render(
    barChart(
      q.byReason.map((x) => ({ label: `${x.stage}: ${x.reason}`, value: x.count })),
      { title: 'Quarantined records by reason', xTitle: 'input records', yTitle: 'stage: reason', width: 420, color: PALETTE[5] },
    ),
  );
  return html`<section id="quarantine"><h2>Quarantine</h2>
<p class="lead">${fmtInt(q.total)} input records were set aside with a reason, from ${f.quarantineFiles.map((x, i) => html`${i ? ', ' : ''}<code>${x}</code>`)}.</p>
${chartBox(bars)}
${filterBox('quarantine-table', 'Filter: stage, reason, id…')}
${table(
  [{ label: 'Stage' }, { label: 'Reason' }, { label: 'Records', num: true }, { label: 'Example ids', wrap: true }],
  q.byReason.map((x) => [x.stage, html`<code>${x.reason}</code>`, fmtInt(x.count), x.exampleIds.map((id, i) => html`${i ? ', ' : ''}<code>${id}</code>`)]),
  { id: 'quarantine-table', filterable: true, figure: (i, j) => (j === 2 ? `quarantine.byReason[${i}].count` : null) },
)}
</section>`;
}

async function corpusSection(f: ReportFigures): Promise<SafeHtml> {
  const { sft, rl } = f.corpus;
  if (!sft && !rl) return html`<section id="corpus"><h2>Corpus</h2>${missing('select was not run: no corpus/sft/ or corpus/rl/ in this run.')}</section>`;
  const parts: SafeHtml[] = [];
  const rows = (title: string, subtitle: string, list: readonly CountBy[], color: string) =>
    render(barChart(list.map((x) => ({ label: x.key, value: x.count })), { title, subtitle, xTitle: 'rows', width: 300, color }));
  if (sft) parts.push(chartBox(await rows('SFT rows by task', `${fmtInt(sft.rows)} rows, mean IoU ${fmtNum(sft.meanIou)}`, sft.byTask, PALETTE[2])));
  if (rl) {
    parts.push(chartBox(await rows('RL rows by task', `${fmtInt(rl.rows)} rows`, rl.byTask, PALETTE[0])));
    parts.push(
      chartBox(
        await rows(
          'RL rows by mIoU bucket',
          f.training?.scored ? `buckets of the scored pool; ${NOT_SCORED}: rows scoring did not reach` : `${NOT_SCORED} until the score stage runs`,
          rl.byBucket,
          PALETTE[3],
        ),
      ),
    );
  }
  return html`<section id="corpus"><h2>Corpus</h2>
<p class="lead">The best passing candidate of each kept sample, split into the SFT and RL pools.</p>
<div class="kpis">${sft ? kpi('SFT rows', fmtInt(sft.rows), 'corpus.sft.rows') : ''}${rl ? kpi('RL rows', fmtInt(rl.rows), 'corpus.rl.rows') : ''}</div>
<div class="charts">${parts}</div>
</section>`;
}

const SCRIPT_HASH = `sha256-${createHash('sha256').update(FILTER_SCRIPT).digest('base64')}`;

/** The whole page. Deterministic: equal model, equal bytes. */
export async function renderReport(m: ReportModel): Promise<string> {
  // A training-only run (train.from) has no corpus of its own: its corpus sections would only say "absent".
  const corpus = hasCorpus(m.figures);
  const csp = `default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src '${SCRIPT_HASH}'; base-uri 'none'; form-action 'none'`;
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${m.generator}">
<title>Run report: ${m.runLabel}</title>
<link rel="icon" href="data:,">
<style>${raw(CSS)}</style>
</head>
<body>
${header(m)}
<nav class="toc"><a href="#overview">Overview</a>${corpus ? raw('<a href="#funnel">Funnel</a><a href="#quality">Quality</a><a href="#teacher">Teacher</a><a href="#rejections">Rejections</a><a href="#quarantine">Quarantine</a><a href="#corpus">Corpus</a>') : ''}${trainingToc(m.figures.training)}</nav>
<main>
${overview(m)}
${corpus ? [await funnelSection(m.figures), await qualitySection(m.figures), await teacherSection(m), await rejectionSection(m), await quarantineSection(m.figures), await corpusSection(m.figures)] : ''}
${await trainingSections(m.figures.training, m.evalSamples)}
</main>
<footer class="page">Generated by ${m.generator} from the shards of this run (figures computed with DuckDB; every number is also in <code>report/figures.json</code>, and embedded in this page's source as the JSON of <code>&lt;script id="univg-figures"&gt;</code>).</footer>
<script type="application/json" id="univg-figures">${raw(jsonForScript(m.figures))}</script>
<script>${raw(FILTER_SCRIPT)}</script>
</body>
</html>
`;
  return page.value;
}
