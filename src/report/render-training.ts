/**
 * The report's training sections: SFT (loss curve with the held-out loss, learning rate, tokens/s),
 * difficulty scoring (the RL pool's mIoU), GRPO (one small chart per logged metric) and evaluation (the
 * paper's table per model, and the models side by side). Pure functions from figures to markup.
 */
import { taskLabel } from '../train/eval/metrics.js';
import { renderEvalTable } from '../train/eval/table.js';
import { fmtInt, fmtNum, fmtPct, html, raw, escapeHtml, type SafeHtml } from '../charts/html.js';
import { GRPO_CURVES, MIOU_BUCKET_LABELS, PALETTE, barChart, grpoCurve, histogram, lineChart, miouBuckets, render, sftLossChart } from '../charts/index.js';
import { type Point, type RlFigures, type RlMetric, type ScoredFigures, type SftFigures, type TrainingFigures, type EvalResults } from './training.js';
import type { EvalSample, EvalSamples, ModelAnswer } from './eval-samples.js';
import { boxRect, boxText, imageBox, outside } from './overlay.js';

function kpi(label: string, value: string, figure: string | null, sub?: string): SafeHtml {
  return html`<div class="kpi"><div class="label">${label}</div><div class="value"${figure ? raw(` data-figure="${escapeHtml(figure)}"`) : ''}>${value}</div>${
    sub ? html`<div class="sub">${sub}</div>` : ''
  }</div>`;
}

const chartBox = (svg: SafeHtml): SafeHtml => html`<div class="chart-box">${svg}</div>`;

const missing = (text: string): SafeHtml => html`<p class="missing">${text}</p>`;

/** A value with three decimals, or three significant digits when that would print as 0.000. */
function fmtSig(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '–';
  return v !== 0 && Math.abs(v) < 0.001 ? v.toExponential(2) : v.toFixed(3);
}

/** A one-series curve per update (learning rate, throughput). */
function perUpdate(title: string, name: string, points: Point[], yTitle: string, color: string): Promise<SafeHtml> {
  return render(lineChart([{ name, points, color }], { title, xTitle: 'update', yTitle, width: 250, height: 130 }));
}

const progressNote = (steps: number, planned: number | null, finished: boolean): string =>
  finished ? `${fmtInt(steps)} of ${fmtInt(planned ?? steps)}, finished` : `${fmtInt(steps)}${planned ? ` of ${fmtInt(planned)}` : ''}, not finished (stopped or still running)`;

async function sftSection(s: SftFigures | null): Promise<SafeHtml> {
  if (!s) return html`<section id="sft"><h2>Training: SFT</h2>${missing('train-sft did not run here: no train/sft/train-log.jsonl.')}</section>`;
  const loss = await render(sftLossChart(s.curves.loss, s.curves.evalLoss));
  return html`<section id="sft"><h2>Training: SFT</h2>
<p class="lead">Supervised fine-tuning on the SFT pool: cross-entropy per completion token on each update's batch, and on a held-out slice of the pool (rows picked by a hash of their id, never trained on). Every update is in <code>train/sft/train-log.jsonl</code>; the curves show at most 400 points.</p>
<div class="kpis">${[
    kpi('Updates', fmtInt(s.steps), 'training.sft.steps', progressNote(s.steps, s.stepsPlanned, s.finished)),
    kpi('Final train loss', fmtNum(s.finalLoss), 'training.sft.finalLoss'),
    kpi('Final held-out loss', fmtNum(s.finalEvalLoss), 'training.sft.finalEvalLoss'),
    kpi('Tokens / s', fmtInt(s.tokensPerSec ?? 0), null, `median per update, backend ${s.backend ?? '?'}`),
    s.params !== null ? kpi('Parameters', fmtInt(s.params), 'training.sft.params') : '',
  ]}</div>
<div class="charts">${chartBox(loss)}</div>
<div class="small-multiples">${[
    chartBox(await perUpdate('Learning rate', 'learning rate', s.curves.lr, 'learning rate', PALETTE[2])),
    chartBox(await perUpdate('Throughput', 'tokens/s', s.curves.tokensPerSec, 'tokens per second', PALETTE[4])),
  ]}</div>
</section>`;
}

async function scoredSection(s: ScoredFigures | null): Promise<SafeHtml> {
  if (!s) return html`<section id="scoring"><h2>Training: difficulty scoring</h2>${missing('score did not run here: no train/scored/.')}</section>`;
  return html`<section id="scoring"><h2>Training: difficulty scoring</h2>
<p class="lead">Each row of the RL pool, answered G times by the SFT model: its difficulty is the mean IoU of those answers (mIoU), its weight phi(mIoU), and its bucket the paper's Figure 3 split (&lt; 0.3, 0.3–0.7, &gt; 0.7).</p>
<div class="kpis">${[
    kpi('Rows', fmtInt(s.rows), 'training.scored.rows', `${fmtInt(s.scored)} scored`),
    kpi('Mean mIoU', fmtNum(s.meanDifficulty), 'training.scored.meanDifficulty'),
    kpi('Mean weight', fmtNum(s.meanWeight), 'training.scored.meanWeight'),
  ]}</div>
<div class="charts">${[
    chartBox(
      await render(
        barChart(
          s.byBucket.map((b) => ({ label: MIOU_BUCKET_LABELS[b.key as keyof typeof MIOU_BUCKET_LABELS] ?? b.key, value: b.count })),
          { title: 'RL rows by mIoU bucket', xTitle: 'RL rows', width: 300, color: PALETTE[3] },
        ),
      ),
    ),
    chartBox(await render(histogram(s.histogram, { title: 'mIoU of the RL pool', xTitle: 'mIoU of G rollouts per row', yTitle: 'RL rows', width: 300 }))),
  ]}</div>
</section>`;
}

async function rlSection(r: RlFigures | null): Promise<SafeHtml> {
  if (!r) return html`<section id="grpo"><h2>Training: GRPO</h2>${missing('train-rl did not run here: no train/rl/rl-log.jsonl.')}</section>`;
  const charts: SafeHtml[] = [];
  for (const c of GRPO_CURVES) {
    const last = r.last[c.key];
    charts.push(chartBox(await render(grpoCurve(c.key, r.curves[c.key], last === null ? {} : { subtitle: `last ${fmtSig(last)}` }))));
  }
  charts.splice(4, 0, chartBox(await render(miouBuckets(r.buckets, { width: 250, height: 130 }))));
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

/**
 * Each model's box colour (Okabe-Ito, none of them the ground truth's green); a model this list does not
 * know takes a palette colour by its place in the results.
 */
const MODEL_COLORS: Readonly<Record<string, string>> = { untrained: '#D55E00', centre: '#1F2328', random: '#CC79A7', 'whole-image': '#56B4E9', sft: '#E69F00', rl: '#0072B2' };
const modelColor = (name: string, i: number): string => MODEL_COLORS[name] ?? PALETTE[i % PALETTE.length]!;

/** A legend swatch: a short line in the model's colour, dashed for a baseline as its box is. */
const swatch = (color: string, baseline: boolean): SafeHtml => raw(`<span class="swatch" style="border-top: 3px ${baseline ? 'dashed' : 'solid'} ${escapeHtml(color)}"></span>`);

function answerCell(a: ModelAnswer, w: number, h: number): SafeHtml {
  if (a.status === 'no-prediction') return html`<span class="none">no prediction</span>`;
  if (a.status === 'no-answer') return html`<span class="none">no answer</span>${a.excerpt ? html`<div class="excerpt">${a.excerpt}</div>` : ''}`;
  const off = w > 0 && h > 0 && outside(a.answerBox!, w, h);
  return html`IoU <b>${fmtNum(a.iou)}</b> <span class="sub">${boxText(a.answerBox!)}${off ? ' (extends outside the image)' : ''}</span>`;
}

function evalCard(s: EvalSample, colorOf: (name: string) => string): SafeHtml {
  const w = s.image?.width ?? 0;
  const h = s.image?.height ?? 0;
  const overlays: SafeHtml[] = [];
  if (s.targetBox) overlays.push(boxRect(s.targetBox, 'gt', `ground truth ${boxText(s.targetBox)}`, w, h, { 'data-box': 'ground-truth' }));
  for (const a of s.answers) {
    if (!a.answerBox) continue;
    overlays.push(
      boxRect(a.answerBox, a.kind === 'baseline' ? 'model baseline' : 'model', `${a.label}: answer ${boxText(a.answerBox)}, IoU ${fmtNum(a.iou)}`, w, h, { 'data-box': a.model, style: `stroke: ${colorOf(a.model)}` }),
    );
  }
  const figure = s.image
    ? html`<figure>${imageBox(s.image, overlays, `image ${s.image.index + 1} of sample ${s.id}`)}<figcaption>Image ${s.image.index + 1}${
        (s.imageCount ?? 1) > 1 ? html` of ${s.imageCount} (target)` : ''
      } · ${w}×${h} px<br><span class="legend-gt"></span>ground truth ${s.targetBox ? boxText(s.targetBox) : '–'}</figcaption></figure>`
    : html`<div class="noimg">${s.problem ?? 'no target image'}</div>`;
  const rows = s.answers.map(
    (a) => html`<tr data-model="${a.model}" data-status="${a.status}"><td>${swatch(colorOf(a.model), a.kind === 'baseline')}${a.label}</td><td>${answerCell(a, w, h)}</td></tr>`,
  );
  return html`<article class="eval-sample" data-sample="${s.id}">
${figure}
<div class="ex-head"><span class="id mono">${s.id}</span></div>
${s.question !== null ? html`<p class="question"><b>Question</b> ${s.question}</p>` : ''}
<table class="eval-answers"><tbody>${rows}</tbody></table>
</article>`;
}

/** "What each model drew": per task, a few test samples with the ground truth and every model's answer box. */
function evalDrawn(e: EvalResults, s: EvalSamples | null): SafeHtml {
  if (!s) return html``;
  const index = new Map(e.models.map((m, i) => [m.name, i]));
  const colorOf = (name: string) => modelColor(name, index.get(name) ?? 0);
  const legend = html`<div class="eval-legend"><span><span class="legend-gt"></span>ground truth</span>${e.models.map(
    (m) => html`<span data-model="${m.name}">${swatch(colorOf(m.name), m.kind === 'baseline')}${m.label}</span>`,
  )}</div>`;
  const tasks = s.tasks.map(
    (t) => html`<div class="eval-task" data-task="${t.task}"><h4>${taskLabel(t.task)}${taskLabel(t.task) !== t.task ? html` <code>${t.task}</code>` : ''}</h4><div class="eval-cards">${t.samples.map((x) => evalCard(x, colorOf))}</div></div>`,
  );
  return html`<div id="eval-drawn"><h3>What each model drew</h3>
<p class="lead">For each task, the first ${fmtInt(s.perTask)} evaluated test samples by id: the target image with the ground truth (green, wide) and each model's <code>&lt;answer&gt;</code> box in its colour (baselines dashed), in pixels of the target image, with its IoU; hover a box for its coordinates. A model without a usable answer box says "no answer", with the start of what it wrote.</p>
${s.notes.length ? html`<ul class="notes">${s.notes.map((n) => html`<li>${n}</li>`)}</ul>` : ''}
${tasks.length ? html`${legend}${tasks}` : ''}
</div>`;
}

function evalSection(e: EvalResults | null, samples: EvalSamples | null): SafeHtml {
  if (!e) return html`<section id="evaluation"><h2>Evaluation</h2>${missing('eval did not run here: no eval/results.json.')}</section>`;
  const details = e.models.map(
    (m) => html`<details${m.name === e.models[e.models.length - 1]?.name ? raw(' open') : ''}><summary>${m.label}: per task (Acc@0.5, @0.3, @0.7, mean IoU, in %)</summary>${raw(renderEvalTable(m.metrics, { caption: `${m.label}${m.checkpoint ? ` (${m.checkpoint})` : ''}` }))}</details>`,
  );
  return html`<section id="evaluation"><h2>Evaluation</h2>
<p class="lead">Each model on ${fmtInt(e.bench.samples)} benchmark samples (<code>${e.bench.file}</code>${e.bench.limit !== null ? `, first ${fmtInt(e.bench.limit)}` : ''}${e.bench.quarantined ? `; ${fmtInt(e.bench.quarantined)} items ingest refused are not scored` : ''}). Acc@0.5 per task in %, the paper's AVG (mean over tasks) and mean IoU, from the box in the <code>&lt;answer&gt;</code> block; a missing or unreadable answer scores 0. Predictions are in <code>eval/predictions/</code> (Parquet) and <code>eval/&lt;model&gt;/</code>.</p>
${comparison(e)}
${evalColumns()}
${details}
${evalDrawn(e, samples)}
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
  return html`<a href="#sft">SFT</a>${t.scored ? html`<a href="#scoring">Scoring</a>` : ''}<a href="#grpo">GRPO</a><a href="#evaluation">Evaluation</a>${t.eval ? html`<a href="#eval-drawn">What each model drew</a>` : ''}`;
}

/** The training sections (nothing when the run has no training output). */
export async function trainingSections(t: TrainingFigures | null, evalSamples: EvalSamples | null): Promise<SafeHtml> {
  if (!t) return html``;
  const from = t.from ? html`<p class="lead">Trained on the corpus of <code>${t.from}</code> (its own report: <code>${t.from}/report/index.html</code>).</p>` : '';
  return html`${from}${await sftSection(t.sft)}${t.scored ? await scoredSection(t.scored) : ''}${await rlSection(t.rl)}${evalSection(t.eval, evalSamples)}`;
}
