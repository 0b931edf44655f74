/**
 * The audit app's markup, built on the server with the report's escaping template (`html```): every
 * value from the run (questions, chains of thought, ids, task names, notes, error strings) is escaped
 * where it is written, so the page's script only ever inserts markup this module made. The page also
 * forbids inline script and style (Content-Security-Policy), a second wall behind the first.
 */
import { escapeHtml, fmtInt, fmtNum, html, jsonForScript, raw, type SafeHtml } from '../charts/html.js';
import { intervalChart, type ChartDef } from '../charts/index.js';
import type { RunProblem } from '../runview/run-files.js';
import type { AuditLabel } from '../schema/records.js';
import type { Estimate } from './metrics.js';
import { FACETS, SORTS, STATUSES, type ListQuery } from './query.js';
import type { AuditStats, CandidateView, ListResult, PlanInfo, SampleDetail } from './session.js';

export interface ShellModel {
  runLabel: string;
  auditor: string;
  reasons: readonly string[];
  problems: readonly RunProblem[];
  plan: PlanInfo | null;
  samples: number;
  auditors: readonly string[];
  generator: string;
}

const FACET_LABEL: Record<string, string> = { task: 'Task', difficulty: 'Difficulty', verdict: 'Verdict', reason: 'Rejection reason', pool: 'Corpus', source: 'Source', status: 'Audit status' };
const SORT_LABEL: Record<(typeof SORTS)[number], string> = { id: 'id', iou: 'IoU, low first', '-iou': 'IoU, high first', difficulty: 'difficulty, easy first', '-difficulty': 'difficulty, hard first', random: 'random (seeded)' };
const POOL_LABEL: Record<string, string> = { sft: 'SFT pool', rl: 'RL pool', none: 'not selected' };
const DECISION_KEY: Record<string, string> = { accept: 'a', reject: 'r', flag: 'f' };

const c2 = (n: number) => String(Math.round(n * 100) / 100);
const boxText = (b: readonly number[]) => `(${c2(b[0]!)}, ${c2(b[1]!)}), (${c2(b[2]!)}, ${c2(b[3]!)})`;
const human = (key: string) => key.replace(/_/g, ' ');

export const SHORTCUTS: ReadonlyArray<[string, string]> = [
  ['j / ↓', 'next sample'],
  ['k / ↑', 'previous sample'],
  ['a', 'accept (and go to the next sample)'],
  ['r', 'reject'],
  ['f', 'flag for another look'],
  ['1 – 9', 'pick a reason (press again to drop it)'],
  ['n', 'write a note'],
  ['u / Ctrl+Z', 'undo your last decision'],
  ['c / Shift+C', 'next / previous candidate'],
  ['b', "show every candidate's boxes"],
  ['/', 'search'],
  ['s', 'verifier vs auditors'],
  ['?', 'this sheet'],
  ['Esc', 'close a panel, leave a text field'],
];

/** The page: filters, list and sample panes, the shortcut sheet; the script fills them in. */
export function shellPage(m: ShellModel): string {
  const boot = { auditor: m.auditor, reasons: m.reasons, plan: m.plan ? m.plan.n : 0 };
  const problems = m.problems.length
    ? html`<section class="problems" role="alert"><b>Parts of this run could not be read and are left out:</b><ul>${m.problems.map(
        (p) => html`<li><code>${p.file}</code>: ${p.message}</li>`,
      )}</ul>Everything else is shown.</section>`
    : '';
  return `<!doctype html>
${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>audit · ${m.runLabel}</title>
<link rel="stylesheet" href="/assets/app.css">
<script src="/assets/app.js" defer></script>
<script type="application/json" id="boot">${raw(jsonForScript(boot))}</script>
</head><body>
<header class="bar"><span class="brand">univg audit</span> <span class="run">${m.runLabel}</span>
<span class="count">${fmtInt(m.samples)} samples${m.plan ? html` · plan of ${fmtInt(m.plan.n)} (seed ${m.plan.seed})` : ''}</span>
<label class="who">auditor <input id="auditor" value="${m.auditor}" size="12" maxlength="64" autocomplete="off" spellcheck="false"></label>
<button type="button" id="stats-open" title="verifier precision and recall against the auditors (s)">verifier vs auditors</button>
<button type="button" id="help-open" title="keyboard shortcuts (?)">?</button></header>
${problems}
<div class="panes">
<aside id="filters"><form id="filter-form" autocomplete="off">
<input type="search" name="q" id="q" placeholder="search id, question, reasoning (/)" maxlength="200">
<label>sort <select name="sort">${SORTS.map((s) => html`<option value="${s}">${SORT_LABEL[s]}</option>`)}</select></label>
<fieldset class="iou"><legend>Best IoU</legend><input type="number" name="iouMin" min="0" max="1" step="0.05" placeholder="min"> – <input type="number" name="iouMax" min="0" max="1" step="0.05" placeholder="max"></fieldset>
${m.plan ? html`<label class="plan"><input type="checkbox" name="plan" value="1"> audit plan only</label>` : ''}
<label>status of <select name="by"><option value="">anyone</option>${m.auditors.map((a) => html`<option value="${a}">${a}</option>`)}</select></label>
<div id="facets"></div>
<button type="reset" id="clear-filters">clear filters</button>
</form></aside>
<section id="list" aria-label="samples"><p class="muted">Loading…</p></section>
<main id="sample" aria-live="polite"><p class="muted">Pick a sample (j / k, or click).</p></main>
</div>
<div id="toast" role="status"></div>
<dialog id="help"><h2>Keyboard</h2><table class="keys">${SHORTCUTS.map(([k, v]) => html`<tr><th><kbd>${k}</kbd></th><td>${v}</td></tr>`)}</table>
<p>Reasons: ${m.reasons.map((r, i) => html`<kbd>${i + 1}</kbd> ${human(r)} `)}</p>
<p class="muted">Every decision is written to <code>audit/labels.log</code> in the run, and synced to disk, before the page shows it. Your latest decision about a sample replaces your earlier one; all are kept.</p>
<form method="dialog"><button>close</button></form></dialog>
<dialog id="stats"><div id="stats-body"></div><form method="dialog"><button>close</button></form></dialog>
<footer class="muted">${m.generator}</footer>
</body></html>`}`;
}

/** Facet checkboxes with counts under the current filters. */
export function facetsHtml(r: ListResult, q: ListQuery): SafeHtml {
  return html`${FACETS.map((f) => {
    const rows = r.facets[f] ?? [];
    const chosen = new Set<string>(q[f] as string[]);
    // A chosen value with no rows under the other filters still shows, so it can be unticked.
    for (const c of chosen) if (!rows.some((x) => x.key === c)) rows.push({ key: c, n: 0 });
    if (rows.length === 0) return '';
    const order = f === 'status' ? STATUSES.map((s) => rows.find((x) => x.key === s)).filter((x) => x !== undefined) : rows;
    return html`<fieldset class="facet" data-facet="${f}"><legend>${FACET_LABEL[f] ?? f}</legend>${order.map(
      (x) =>
        html`<label class="${x.n === 0 ? 'zero' : ''}"><input type="checkbox" name="${f}" value="${x.key}"${chosen.has(x.key) ? raw(' checked') : ''}> <span class="k">${f === 'pool' ? (POOL_LABEL[x.key] ?? x.key) : human(x.key)}</span> <span class="n">${fmtInt(x.n)}</span></label>`,
    )}</fieldset>`;
  })}`;
}

const decisionBadge = (d: { auditor: string; decision: string }) => html`<span class="dec ${d.decision}" title="${`${d.auditor}: ${d.decision}`}">${d.decision[0]!.toUpperCase()}<small>${d.auditor}</small></span>`;

/** The list: one row per sample, a summary and pager. */
export function listHtml(r: ListResult, q: ListQuery): SafeHtml {
  const from = q.page * q.size;
  const pages = Math.max(1, Math.ceil(r.total / q.size));
  const pager = html`<div class="pager"><button type="button" data-page="${q.page - 1}"${q.page === 0 ? raw(' disabled') : ''}>‹ prev</button>
<span>${r.total === 0 ? 'no samples match' : html`${fmtInt(from + 1)}–${fmtInt(Math.min(from + q.size, r.total))} of ${fmtInt(r.total)}`}</span>
<button type="button" data-page="${q.page + 1}"${q.page + 1 >= pages ? raw(' disabled') : ''}>next ›</button></div>`;
  const rows = r.rows.map(
    (x) => html`<li class="row" data-id="${x.id}" tabindex="-1">
<div class="line1"><span class="id mono">${x.id}</span><span class="v ${x.verdict}">${x.verdict}</span>${x.pool !== 'none' ? html`<span class="pool">${x.pool}</span>` : ''}<span class="iou">${x.bestIou === null ? '' : `IoU ${fmtNum(x.bestIou, 2)}`}</span></div>
<div class="line2"><span class="task">${human(x.task)}</span> · ${x.difficulty} · ${x.nPass}/${x.nCand} passed${x.reasons.length ? html` · <span class="reasons">${x.reasons.map(human).join(', ')}</span>` : ''}</div>
<div class="q">${x.question}</div>
<div class="decs">${x.decisions.map(decisionBadge)}</div></li>`,
  );
  return html`${pager}<ol class="rows" start="${from + 1}">${rows}</ol>${r.total > q.size ? pager : ''}`;
}

/** A box drawn over an image in its pixel grid; `key` links it with its mention in the text. */
function rect(box: readonly number[], cls: string, key: string, title: string, cand: number | null): string {
  const [x1, y1, x2, y2] = box as [number, number, number, number];
  return `<rect class="${escapeHtml(cls)}" data-box="${escapeHtml(key)}"${cand === null ? '' : ` data-cand="${cand}"`} x="${c2(x1)}" y="${c2(y1)}" width="${c2(Math.max(0, x2 - x1))}" height="${c2(Math.max(0, y2 - y1))}" vector-effect="non-scaling-stroke"><title>${escapeHtml(title)}</title></rect>`;
}

/** The text of a completion with each box it writes wrapped in a span that links to the drawn box. */
function completionHtml(c: CandidateView): SafeHtml {
  const text = c.completion ?? '';
  const marks: Array<{ from: number; to: number; key: string; cls: string }> = c.thinkBoxes.map((b) => ({ from: b.offset, to: b.end, key: `c${c.index}-t${b.index}`, cls: `bx think${b.last ? ' last' : ''}` }));
  const a0 = text.indexOf('<answer>');
  const a1 = a0 < 0 ? -1 : text.indexOf('</answer>', a0);
  if (a0 >= 0 && a1 > a0 && c.verdict?.answerBox) marks.push({ from: a0 + '<answer>'.length, to: a1, key: `c${c.index}-a`, cls: 'bx ans' });
  marks.sort((x, y) => x.from - y.from);
  const tagged = (s: string) => raw(escapeHtml(s).replace(/&lt;(\/?)(think|answer)&gt;/g, '<span class="tag">&lt;$1$2&gt;</span>'));
  const parts: SafeHtml[] = [];
  let at = 0;
  for (const m of marks) {
    if (m.from < at || m.to > text.length) continue;
    parts.push(tagged(text.slice(at, m.from)));
    parts.push(html`<span class="${m.cls}" data-box="${m.key}" data-cand="${c.index}">${text.slice(m.from, m.to)}</span>`);
    at = m.to;
  }
  parts.push(tagged(text.slice(at)));
  const more = c.chars > text.length ? c.chars - text.length : 0;
  return html`<pre class="completion">${parts}${more ? html`<span class="more">… (${fmtInt(more)} more characters not shown)</span>` : ''}</pre>`;
}

function imagesHtml(d: SampleDetail): SafeHtml {
  if (d.images.length === 0) return html`<p class="missing">No images: samples/ is absent or unreadable for this sample.</p>`;
  return html`<div class="images">${d.images.map((im) => {
    const target = im.index === d.targetImage;
    const r: string[] = [];
    if (target && d.targetBox) r.push(rect(d.targetBox, 'gt', 'gt', `ground truth ${boxText(d.targetBox)}`, null));
    for (const c of d.candidates) {
      for (const b of c.thinkBoxes) if (b.image === im.index) r.push(rect(b.box, `think c${c.index % 6}${b.last ? ' last' : ''}`, `c${c.index}-t${b.index}`, `candidate ${c.index}: ${b.last ? 'last ' : ''}box ${b.index + 1} in <think> ${boxText(b.box)}`, c.index));
      if (target && c.verdict?.answerBox) r.push(rect(c.verdict.answerBox, `ans c${c.index % 6}`, `c${c.index}-a`, `candidate ${c.index}: answer ${boxText(c.verdict.answerBox)}${c.verdict.iou === null ? '' : `, IoU ${fmtNum(c.verdict.iou)}`}`, c.index));
    }
    d.predictions.forEach((p, i) => {
      if (target && p.answerBox) r.push(rect(p.answerBox, 'pred', `p${i}`, `${p.model}: prediction ${boxText(p.answerBox)}`, null));
    });
    const ok = /^[0-9a-f]{64}$/.test(im.sha256) && im.width > 0 && im.height > 0;
    const side = Math.max(im.width, im.height);
    return html`<figure class="img${target ? ' target' : ''}" data-img="${im.index}"><div class="frame">${
      ok
        ? html`<img src="/img/${im.sha256}${side > 1024 ? '?w=1024' : ''}" width="${im.width}" height="${im.height}" alt="${`image ${im.index + 1}`}">${raw(
            `<svg class="boxes" viewBox="0 0 ${im.width} ${im.height}" preserveAspectRatio="none" aria-hidden="true">${r.join('')}</svg>`,
          )}`
        : html`<div class="noimg">no usable image record</div>`
    }</div><figcaption>image ${im.index + 1}${target ? html` <b>· target</b>` : ''} · ${im.width}×${im.height} · <code>${im.path}</code></figcaption></figure>`;
  })}</div>`;
}

function verdictHtml(c: CandidateView, d: SampleDetail): SafeHtml {
  const v = c.verdict;
  const facts = [
    c.model ? `model ${c.model}` : null,
    c.convention ? `boxes in ${c.convention}` : null,
    v?.iou === null || v === null ? null : `IoU ${fmtNum(v.iou)}`,
    v ? `format ${v.formatReward}` : null,
    v?.thinkBoxAgrees === null || !v ? null : `think box ${v.thinkBoxAgrees ? 'agrees with' : 'disagrees with'} the answer`,
    v?.namesTargetImage === null || !v ? null : `target image ${v.namesTargetImage ? 'named' : 'not named'}`,
    c.finishReason ? `finish ${c.finishReason}` : null,
    c.attempts !== null ? `${c.attempts} attempt${c.attempts === 1 ? '' : 's'}` : null,
    c.cached ? 'from the response cache' : null,
  ].filter((x): x is string => x !== null);
  return html`<div class="verdict">${
    v ? (v.pass ? html`<span class="chip pass">passed every check</span>` : v.reasons.map((r) => html`<span class="chip fail">${human(r)}</span>`)) : html`<span class="chip">not verified</span>`
  }${d.selectedCandidate === c.index ? html` <span class="chip sel">in the ${d.pool ?? ''} corpus</span>` : ''}<div class="facts">${facts.join(' · ')}</div>${c.error ? html`<div class="error">error: ${c.error}</div>` : ''}</div>`;
}

function historyHtml(history: readonly AuditLabel[]): SafeHtml {
  if (history.length === 0) return html`<p class="muted">No decisions yet.</p>`;
  return html`<ol class="history">${[...history].reverse().map(
    (l) =>
      html`<li data-label="${l.id}"><span class="dec ${l.decision}">${l.decision}</span> <b>${l.auditor}</b>${l.reason ? html` · ${human(l.reason)}` : ''}${
        l.candidateIndex !== null ? html` · candidate ${l.candidateIndex}` : ''
      }${l.undoes ? html` · <i>undo</i>` : ''} <time>${l.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>${l.note ? html`<div class="note">${l.note}</div>` : ''}</li>`,
  )}</ol>`;
}

/** The decision panel: the auditor's current decision, buttons, reasons, note, history. */
export function decisionsHtml(d: Pick<SampleDetail, 'history'>, reasons: readonly string[], auditor: string): SafeHtml {
  const mine = [...d.history].reverse().find((l) => l.auditor === auditor);
  const current = mine && mine.decision !== 'clear' ? mine : null;
  return html`<div class="decide" data-current="${current?.decision ?? ''}" data-current-id="${current?.id ?? ''}">
<div class="you">${current ? html`your decision: <span class="dec ${current.decision}">${current.decision}</span>${current.reason ? html` · ${human(current.reason)}` : ''}` : html`you have not decided`}</div>
<div class="buttons">${(['accept', 'reject', 'flag'] as const).map((x) => html`<button type="button" class="act ${x}" data-decision="${x}"><kbd>${DECISION_KEY[x]!}</kbd> ${x}</button>`)}<button type="button" class="act undo" data-undo="1"><kbd>u</kbd> undo</button></div>
<div class="reasons">${reasons.map((r, i) => html`<button type="button" class="reason${current?.reason === r ? ' on' : ''}" data-reason="${r}"><kbd>${i + 1}</kbd> ${human(r)}</button>`)}</div>
<textarea id="note" maxlength="2000" rows="2" placeholder="note (n)">${current?.note ?? ''}</textarea>
<h4>History</h4>${historyHtml(d.history)}</div>`;
}

/** The sample view. */
export function sampleHtml(d: SampleDetail, reasons: readonly string[], auditor: string): SafeHtml {
  const tabs = d.candidates.map(
    (c) =>
      html`<button type="button" class="tab c${c.index % 6}" data-cand="${c.index}"><span class="sw"></span>candidate ${c.index}${c.verdict ? (c.verdict.pass ? ' ✓' : ' ✗') : ''}${
        c.verdict?.iou === null || !c.verdict ? '' : ` · ${fmtNum(c.verdict.iou, 2)}`
      }${d.selectedCandidate === c.index ? ' ★' : ''}</button>`,
  );
  const cands = d.candidates.map(
    (c) => html`<section class="cand" data-cand="${c.index}"><h3>candidate ${c.index}</h3>${verdictHtml(c, d)}${
      c.completion === null ? html`<p class="missing">No completion recorded${c.error ? '' : ' (candidates/ absent)'}.</p>` : completionHtml(c)
    }</section>`,
  );
  const preds = d.predictions.length
    ? html`<section class="preds"><h3>Model predictions (eval)</h3><table>${d.predictions.map(
        (p, i) =>
          html`<tr data-box="${`p${i}`}"><th>${p.model}</th><td>${p.answerBox ? boxText(p.answerBox) : 'no answer box'}</td><td>IoU ${fmtNum(p.iou)}</td><td class="wrap"><code>${p.completion.slice(0, 400)}</code></td></tr>`,
      )}</table></section>`
    : '';
  return html`<article class="sample" data-id="${d.id}" data-focus="${d.focus ?? ''}">
<header><h2 class="mono">${d.id}</h2><div class="meta">${human(d.task)} · ${d.difficulty ?? 'no difficulty'} · ${d.source ?? ''}${d.split ? ` · ${d.split}` : ''}${d.inPlan ? html` · <b>in the audit plan</b>` : ''}</div></header>
${d.context.length ? html`<details class="context"><summary>${d.context.length} earlier turn${d.context.length === 1 ? '' : 's'}</summary>${d.context.map((t) => html`<p class="turn ${t.role}"><b>${t.role}</b> ${t.content}</p>`)}</details>` : ''}
<p class="question">${d.question ?? '(question unknown: samples/ absent)'}</p>
<div class="legend"><span class="lg gt"></span>ground truth <span class="lg ans"></span>answer <span class="lg think"></span>boxes in &lt;think&gt; (last one heavier)${d.predictions.length ? html` <span class="lg pred"></span>model prediction` : ''} · press <kbd>b</kbd> for every candidate</div>
${imagesHtml(d)}
<p class="why"><b>Selection:</b> ${d.why}</p>
<div class="tabs">${tabs}</div>
<div class="split"><div class="cands">${cands}${preds}</div><aside id="decide">${decisionsHtml(d, reasons, auditor)}</aside></div>
</article>`;
}

const est = (e: Estimate) => (e.p === null ? html`<span class="muted">–</span>` : html`${fmtNum(e.p, 3)} <span class="ci">[${fmtNum(e.lo, 3)}, ${fmtNum(e.hi, 3)}]</span>`);

/** Precision and recall per task with their intervals, drawn by the chart module as the report's charts are. */
export function verifierChart(s: AuditStats): ChartDef {
  return intervalChart(
    s.byTask.map((t) => ({ key: human(t.key), measures: { precision: t.precision, recall: t.recall } })),
    { title: 'Verifier against the auditors, per task', subtitle: 'point estimate and 95% interval', xTitle: 'share of candidates' },
  );
}

/** The verifier's precision and recall per task (table, and `chart`: verifierChart drawn), and the auditors' agreement. */
export function statsHtml(s: AuditStats, chart: SafeHtml | null = null): SafeHtml {
  const kappa = s.kappa.length
    ? html`<h3>Agreement between auditors (Cohen's kappa)</h3><table><tr><th>auditors</th><th class="num">samples both decided</th><th class="num">agree</th><th class="num">kappa</th></tr>${s.kappa.map(
        (k) => html`<tr><td>${k.a} · ${k.b}</td><td class="num">${fmtInt(k.n)}</td><td class="num">${k.observed === null ? '–' : `${(k.observed * 100).toFixed(1)}%`}</td><td class="num">${fmtNum(k.kappa, 3)}</td></tr>`,
      )}</table>`
    : html`<p class="muted">Agreement needs two auditors deciding the same samples.</p>`;
  return html`<h2>Verifier vs auditors</h2>
<p class="muted">${fmtInt(s.labels)} decisions by ${fmtInt(s.auditors.length)} auditor${s.auditors.length === 1 ? '' : 's'} on ${fmtInt(s.decided)} samples${
    s.plan ? html`; audit plan: ${fmtInt(s.plan.reviewed)} of ${fmtInt(s.plan.n)} reviewed` : ''
  }${s.logSkipped ? html`; ${fmtInt(s.logSkipped)} damaged record(s) in the label log skipped` : ''}.
Precision: share of the candidates the verifier passed that the auditors accept. Recall: share of acceptable candidates the verifier passed, rebuilt from the accept rates of passed and failed candidates and their numbers in the run. 95% intervals (Wilson; recall's from two 97.5% intervals). The auditors' majority decides a candidate; ties are disputed, flags are no verdict.</p>
<table class="quality"><tr><th>task</th><th class="num">labelled</th><th class="num">precision [95% CI]</th><th class="num">recall [95% CI]</th><th class="num">good chains rejected [95% CI]</th><th class="num">disputed</th><th class="num">passed / failed in run</th></tr>
${s.byTask.map(
  (t) =>
    html`<tr data-task="${t.key}"><td>${human(t.key)}</td><td class="num">${fmtInt(t.labelled)}</td><td class="num">${est(t.precision)}</td><td class="num">${est(t.recall)}</td><td class="num">${est(t.falseRejection)}</td><td class="num">${fmtInt(t.disputed)}</td><td class="num">${fmtInt(t.passTotal)} / ${fmtInt(t.failTotal)}</td></tr>`,
)}
<tr class="all"><td>all tasks</td><td class="num">${fmtInt(s.overall.labelled)}</td><td class="num">${est(s.overall.precision)}</td><td class="num" colspan="4"><span class="muted">per task only</span></td></tr></table>
${chart ?? ''}
${kappa}`;
}

const estText = (e: Estimate) => (e.p === null ? '–' : `${e.p.toFixed(3)} [${e.lo.toFixed(3)}, ${e.hi.toFixed(3)}]`);

/** The same figures as plain text for the terminal (`univg audit stats`). */
export function statsText(s: AuditStats): string {
  const head = ['task', 'labelled', 'precision [95% CI]', 'recall [95% CI]', 'good chains rejected', 'disputed', 'passed/failed'];
  const rows = [
    ...s.byTask.map((t) => [t.key, String(t.labelled), estText(t.precision), estText(t.recall), estText(t.falseRejection), String(t.disputed), `${t.passTotal}/${t.failTotal}`]),
    ['all tasks', String(s.overall.labelled), estText(s.overall.precision), '', '', '', ''],
  ];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ').trimEnd();
  const out = [
    `${s.labels} decisions by ${s.auditors.length} auditor(s) on ${s.decided} samples${s.plan ? `; audit plan: ${s.plan.reviewed} of ${s.plan.n} reviewed` : ''}${s.logSkipped ? `; ${s.logSkipped} damaged log record(s) skipped` : ''}`,
    line(head),
    ...rows.map(line),
  ];
  if (s.kappa.length) {
    out.push('', "agreement (Cohen's kappa):");
    for (const k of s.kappa) out.push(`  ${k.a} · ${k.b}: kappa ${k.kappa === null ? '–' : k.kappa.toFixed(3)} on ${k.n} samples (agree ${k.observed === null ? '–' : `${(k.observed * 100).toFixed(1)}%`})`);
  }
  return `${out.join('\n')}\n`;
}
