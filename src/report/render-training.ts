/**
 * The report's training sections: SFT (loss curve with the held-out loss, learning rate, tokens/s),
 * difficulty scoring (the RL pool's mIoU), GRPO (one small chart per logged metric) and evaluation (the
 * paper's table per model, and the models side by side). Pure functions from figures to markup.
 */
import { taskLabel } from '../train/eval/metrics.js';
import { renderEvalTable } from '../train/eval/table.js';
import { fmtInt, fmtNum, fmtPct, html, raw, escapeHtml, type SafeHtml } from '../charts/html.js';
import { PALETTE, barChart, histogram, lineChart, niceTicks, type Series } from '../charts/svg.js';
import { RL_BUCKETS, type Point, type RlFigures, type RlMetric, type ScoredFigures, type SftFigures, type TrainingFigures, type EvalResults } from './training.js';

function kpi(label: string, value: string, figure: string | null, sub?: string): SafeHtml {
  return html`<div class="kpi"><div class="label">${label}</div><div class="value"${figure ? raw(` data-figure="${escapeHtml(figure)}"`) : ''}>${value}</div>${
    sub ? html`<div class="sub">${sub}</div>` : ''
  }</div>`;
}

function chartBox(caption: string, svg: SafeHtml, sub?: string): SafeHtml {
  return html`<div class="chart-box"><div class="caption">${caption}${sub ? html` <span class="sub">${sub}</span>` : ''}</div>${svg}</div>`;
}

const missing = (text: string): SafeHtml => html`<p class="missing">${text}</p>`;

/** Compact number for axis ticks: exponents for tiny learning rates, k for thousands. */
function tick(v: number): string {
  const a = Math.abs(v);
  if (v === 0) return '0';
  if (a < 0.01) return v.toExponential(0);
  if (a >= 10_000) return `${Math.round(v / 1000)}k`;
  if (Number.isInteger(v)) return String(v);
  return a < 1 ? v.toFixed(2) : v.toFixed(1);
}

/** A value with three decimals, or three significant digits when that would print as 0.000. */
function fmtSig(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '–';
  return v !== 0 && Math.abs(v) < 0.001 ? v.toExponential(2) : v.toFixed(3);
}

/** Axis domains that include zero (or the data's low end when all negative) and round up. */
function domains(series: readonly Series[], share: boolean): { x: [number, number]; y: [number, number]; yTicks: number[] } {
  const pts = series.flatMap((s) => s.points);
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const xMax = Math.max(1, ...xs);
  const xMin = Math.min(xMax - 1, ...xs, 0);
  if (share) return { x: [xMin, xMax], y: [0, 1], yTicks: [0, 0.5, 1] };
  const lo = Math.min(0, ...ys);
  const hiRaw = Math.max(0, ...ys);
  if (lo < 0) {
    const span = Math.max(hiRaw - lo, 1e-12);
    return { x: [xMin, xMax], y: [lo - span * 0.05, hiRaw + span * 0.05], yTicks: [lo, (lo + hiRaw) / 2, hiRaw] };
  }
  const ticks = niceTicks(hiRaw > 0 ? hiRaw : 1, 3);
  return { x: [xMin, xMax], y: [0, ticks[ticks.length - 1]!], yTicks: ticks };
}

function curve(title: string, series: Series[], o: { width?: number; height?: number; yLabel?: string; share?: boolean; xLabel?: string; legend?: boolean }): SafeHtml {
  const d = domains(series, o.share ?? false);
  return lineChart(
    series.filter((s) => s.points.length > 0),
    {
      title,
      width: o.width ?? 300,
      height: o.height ?? 170,
      xDomain: d.x,
      yDomain: d.y,
      yTicks: d.yTicks,
      xTicks: [d.x[0], Math.round((d.x[0] + d.x[1]) / 2), d.x[1]],
      xLabel: o.xLabel ?? 'step',
      ...(o.yLabel ? { yLabel: o.yLabel } : {}),
      xFormat: (x) => fmtInt(x),
      legend: o.legend ?? series.length > 1,
      yFormat: o.share ? (y) => `${Math.round(y * 100)}%` : tick,
    },
  );
}

const progressNote = (steps: number, planned: number | null, finished: boolean): string =>
  finished ? `${fmtInt(steps)} of ${fmtInt(planned ?? steps)}, finished` : `${fmtInt(steps)}${planned ? ` of ${fmtInt(planned)}` : ''}, not finished (stopped or still running)`;

function sftSection(s: SftFigures | null): SafeHtml {
  if (!s) return html`<section id="sft"><h2>Training: SFT</h2>${missing('train-sft did not run here: no train/sft/train-log.jsonl.')}</section>`;
  const loss = curve(
    'SFT loss per update: training batches and the held-out rows',
    [
      { name: 'train loss', points: s.curves.loss, color: PALETTE[0] },
      { name: 'held-out loss', points: s.curves.evalLoss, color: PALETTE[1] },
    ],
    { width: 640, height: 260, yLabel: 'cross-entropy / token', xLabel: 'update' },
  );
  return html`<section id="sft"><h2>Training: SFT</h2>
<p class="lead">Supervised fine-tuning on the SFT pool: cross-entropy per completion token on each update's batch, and on a held-out slice of the pool (rows picked by a hash of their id, never trained on). Every update is in <code>train/sft/train-log.jsonl</code>; the curves show at most 400 points.</p>
<div class="kpis">${[
    kpi('Updates', fmtInt(s.steps), 'training.sft.steps', progressNote(s.steps, s.stepsPlanned, s.finished)),
    kpi('Final train loss', fmtNum(s.finalLoss), 'training.sft.finalLoss'),
    kpi('Final held-out loss', fmtNum(s.finalEvalLoss), 'training.sft.finalEvalLoss'),
    kpi('Tokens / s', fmtInt(s.tokensPerSec ?? 0), null, `median per update, backend ${s.backend ?? '?'}`),
    s.params !== null ? kpi('Parameters', fmtInt(s.params), 'training.sft.params') : '',
  ]}</div>
<div class="charts">${chartBox('Loss curve', loss)}</div>
<div class="small-multiples">${[
    chartBox('Learning rate', curve('Learning rate per update', [{ name: 'lr', points: s.curves.lr, color: PALETTE[2] }], { xLabel: 'update' })),
    chartBox('Tokens per second', curve('Tokens per second per update', [{ name: 'tokens/s', points: s.curves.tokensPerSec, color: PALETTE[4] }], { xLabel: 'update' })),
  ]}</div>
</section>`;
}

function scoredSection(s: ScoredFigures | null): SafeHtml {
  if (!s) return html`<section id="scoring"><h2>Training: difficulty scoring</h2>${missing('score did not run here: no train/scored/.')}</section>`;
  return html`<section id="scoring"><h2>Training: difficulty scoring</h2>
<p class="lead">Each row of the RL pool, answered G times by the SFT model: its difficulty is the mean IoU of those answers (mIoU), its weight phi(mIoU), and its bucket the paper's Figure 3 split (&lt; 0.3, 0.3–0.7, &gt; 0.7).</p>
<div class="kpis">${[
    kpi('Rows', fmtInt(s.rows), 'training.scored.rows', `${fmtInt(s.scored)} scored`),
    kpi('Mean mIoU', fmtNum(s.meanDifficulty), 'training.scored.meanDifficulty'),
    kpi('Mean weight', fmtNum(s.meanWeight), 'training.scored.meanWeight'),
  ]}</div>
<div class="charts">${[
    chartBox('Rows by mIoU bucket', barChart(s.byBucket.map((b) => ({ label: b.key, value: b.count })), { title: 'RL rows by mIoU bucket', width: 420, format: fmtInt, color: PALETTE[3] })),
    chartBox('mIoU of the RL pool', histogram(s.histogram, { title: 'mIoU of G rollouts per RL row', width: 320, height: 170, xLabel: 'mIoU', xFormat: (x) => x.toFixed(1), labelEvery: 2 })),
  ]}</div>
</section>`;
}

const RL_CHARTS: ReadonlyArray<{ key: RlMetric; caption: string; share?: boolean }> = [
  { key: 'rewardMean', caption: 'Reward, mean over rollouts' },
  { key: 'rewardStd', caption: 'Reward spread within a group' },
  { key: 'accuracyMean', caption: 'Accuracy reward (IoU), mean', share: true },
  { key: 'formatRate', caption: 'Format rate', share: true },
  { key: 'weightMean', caption: 'Difficulty weight, mean' },
  { key: 'kl', caption: 'KL to the SFT model' },
  { key: 'clipFraction', caption: 'Clip fraction', share: true },
  { key: 'completionLength', caption: 'Completion length (tokens)' },
  { key: 'loss', caption: 'Loss' },
];

function rlSection(r: RlFigures | null): SafeHtml {
  if (!r) return html`<section id="grpo"><h2>Training: GRPO</h2>${missing('train-rl did not run here: no train/rl/rl-log.jsonl.')}</section>`;
  const bucketSeries: Series[] = RL_BUCKETS.map((b, i) => ({ name: b === 'lt0.3' ? 'mIoU < 0.3' : b === 'gt0.7' ? 'mIoU > 0.7' : 'mIoU 0.3–0.7', points: r.buckets[b], color: PALETTE[[5, 1, 2][i]!] }));
  const charts = RL_CHARTS.map((c, i) =>
    chartBox(c.caption, curve(`${c.caption} per GRPO step`, [{ name: c.key, points: r.curves[c.key], color: PALETTE[i % PALETTE.length] }], { share: c.share ?? false }), r.last[c.key] === null ? undefined : `last ${fmtSig(r.last[c.key])}`),
  );
  charts.splice(4, 0, chartBox('Prompts by mIoU bucket', curve('Share of the step\'s prompts in each mIoU bucket', bucketSeries, { share: true, width: 300 })));
  return html`<section id="grpo"><h2>Training: GRPO</h2>
<p class="lead">Difficulty-aware GRPO from the SFT checkpoint: per step, G rollouts for each prompt, rewards (IoU of the answer box + format), group-normalised advantages weighted by phi(mIoU), a KL penalty to the SFT model and the ratio clip. Every step is in <code>train/rl/rl-log.jsonl</code>.</p>
<div class="kpis">${[
    kpi('Steps', fmtInt(r.steps), 'training.rl.steps', `${progressNote(r.steps, r.stepsPlanned, r.finished)}; backend ${r.backend ?? '?'}`),
    kpi('Reward (last step)', fmtNum(r.last.rewardMean), 'training.rl.last.rewardMean'),
    kpi('KL (last step)', fmtSig(r.last.kl), null),
    kpi('Format rate (last step)', fmtPct(r.last.formatRate), 'training.rl.last.formatRate'),
  ]}</div>
<div class="small-multiples">${charts}</div>
</section>`;
}

const pct2 = (x: number) => (100 * x).toFixed(2);

function comparison(e: EvalResults): SafeHtml {
  const tasks = [...new Set(e.models.flatMap((m) => m.metrics.tasks.map((t) => t.task)))];
  const head = html`<tr><th>Model</th>${tasks.map((t) => html`<th class="num" title="${t}">${taskLabel(t)}</th>`)}<th class="num">AVG</th><th class="num">mIoU AVG</th><th class="num">Answered</th></tr>`;
  const rows = e.models.map((m) => {
    const byTask = new Map(m.metrics.tasks.map((t) => [t.task, t]));
    const unscored = Object.values(m.metrics.counts.unscored).reduce<number>((a, b) => a + (b ?? 0), 0);
    return html`<tr data-model="${m.name}"><td><b>${m.label}</b>${m.step !== null ? html` <span class="sub">step ${fmtInt(m.step)}</span>` : ''}</td>${tasks.map((t) => {
      const x = byTask.get(t);
      return html`<td class="num" data-task="${t}">${x ? pct2(x.answer['acc@0.5']) : '–'}</td>`;
    })}<td class="num" data-metric="acc50">${pct2(m.metrics.average.answer['acc@0.5'])}</td><td class="num" data-metric="miou">${pct2(m.metrics.average.answer.meanIou)}</td><td class="num" data-metric="answered">${fmtInt(m.metrics.counts.samples - unscored)} / ${fmtInt(m.metrics.counts.samples)}</td></tr>`;
  });
  return html`<table id="eval-comparison"><thead>${head}</thead><tbody>${rows}</tbody></table>`;
}

function evalSection(e: EvalResults | null): SafeHtml {
  if (!e) return html`<section id="evaluation"><h2>Evaluation</h2>${missing('eval did not run here: no eval/results.json.')}</section>`;
  const details = e.models.map(
    (m) => html`<details${m.name === e.models[e.models.length - 1]?.name ? raw(' open') : ''}><summary>${m.label}: per task (Acc@0.5, @0.3, @0.7, mean IoU, in %)</summary>${raw(renderEvalTable(m.metrics, { caption: `${m.label}${m.checkpoint ? ` (${m.checkpoint})` : ''}` }))}</details>`,
  );
  return html`<section id="evaluation"><h2>Evaluation</h2>
<p class="lead">Each model on ${fmtInt(e.bench.samples)} benchmark samples (<code>${e.bench.file}</code>${e.bench.limit !== null ? `, first ${fmtInt(e.bench.limit)}` : ''}${e.bench.quarantined ? `; ${fmtInt(e.bench.quarantined)} items ingest refused are not scored` : ''}). Acc@0.5 per task in %, the paper's AVG (mean over tasks) and mean IoU, from the box in the <code>&lt;answer&gt;</code> block; a missing or unreadable answer scores 0. Predictions are in <code>eval/predictions/</code> (Parquet) and <code>eval/&lt;model&gt;/</code>.</p>
${comparison(e)}
${evalColumns()}
${details}
</section>`;
}

/** What each column of the comparison and each row of the per-model tables means. */
function evalColumns(): SafeHtml {
  const terms: Array<[string, string]> = [
    ['Task columns (Static, Common, OT, …)', 'Acc@0.5 of that task in %: the share of its samples whose <answer> box has IoU ≥ 0.5 with the ground truth. The header is the paper\'s column name; hover it for the task key.'],
    ['AVG', "The paper's average: the mean of the task columns, each task counting the same whatever its size (not a mean over samples)."],
    ['mIoU AVG', 'Mean IoU of the <answer> box in %, averaged over tasks the same way.'],
    ['Answered', 'Samples with a usable <answer> box, of the samples in the benchmark; the others score IoU 0.'],
    ['n', 'Samples of the task (in the AVG column: all samples).'],
    ['Acc@0.5, Acc@0.3, Acc@0.7', 'Share of samples whose <answer> box has IoU at or above 0.5, 0.3, 0.7, in %.'],
    ['mIoU', 'Mean IoU of the <answer> box, in %.'],
    ['Acc@0.5 paper scorer, mIoU paper scorer', "The same read the way UniVG-R1's evaluation script reads an output: the first box anywhere in it, so a box inside <think> wins over the answer."],
  ];
  return html`<details open><summary>What the columns and rows mean</summary><dl id="eval-columns">${terms.map(([t, d]) => html`<dt>${t}</dt><dd>${d}</dd>`)}</dl></details>`;
}

/** Table-of-contents links for the training sections present. */
export function trainingToc(t: TrainingFigures | null): SafeHtml {
  if (!t) return html``;
  return html`<a href="#sft">SFT</a>${t.scored ? html`<a href="#scoring">Scoring</a>` : ''}<a href="#grpo">GRPO</a><a href="#evaluation">Evaluation</a>`;
}

/** The training sections (nothing when the run has no training output). */
export function trainingSections(t: TrainingFigures | null): SafeHtml {
  if (!t) return html``;
  const from = t.from ? html`<p class="lead">Trained on the corpus of <code>${t.from}</code> (its own report: <code>${t.from}/report/index.html</code>).</p>` : '';
  return html`${from}${sftSection(t.sft)}${t.scored ? scoredSection(t.scored) : ''}${rlSection(t.rl)}${evalSection(t.eval)}`;
}
