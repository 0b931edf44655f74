/**
 * Result tables in the paper's layout: one column per task (paper column names for MIG-Bench tasks), AVG
 * last, values in percent with two decimals. Plain text for the terminal, an HTML fragment for reports.
 */
import { taskLabel, type AverageNumbers, type EvalMetrics, type ScorerNumbers } from './metrics.js';

type Row = { label: string; cells: string[]; avg: string };

const pct = (x: number) => (100 * x).toFixed(2);

function rows(m: EvalMetrics): Row[] {
  const r = (label: string, scorer: 'answer' | 'paper', key: keyof AverageNumbers): Row => ({
    label,
    cells: m.tasks.map((t) => pct((t[scorer] as ScorerNumbers)[key])),
    avg: pct(m.average[scorer][key]),
  });
  return [
    { label: 'n', cells: m.tasks.map((t) => String(t.n)), avg: String(m.counts.samples) },
    r('Acc@0.5', 'answer', 'acc@0.5'),
    r('Acc@0.3', 'answer', 'acc@0.3'),
    r('Acc@0.7', 'answer', 'acc@0.7'),
    r('mIoU', 'answer', 'meanIou'),
    r('Acc@0.5 paper scorer', 'paper', 'acc@0.5'),
    r('mIoU paper scorer', 'paper', 'meanIou'),
  ];
}

/**
 * The terminal table. Rows: Acc@0.5 (the paper's headline), @0.3, @0.7 and mean IoU from the `<answer>`
 * box, then the paper scorer's (first box anywhere) Acc@0.5 and mean IoU; the `n` row's AVG cell is the
 * sample total.
 */
export function formatEvalTable(m: EvalMetrics, title?: string): string {
  const header = ['', ...m.tasks.map((t) => taskLabel(t.task)), 'AVG'];
  const body = rows(m).map((r) => [r.label, ...r.cells, r.avg]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const out = [];
  if (title) out.push(title);
  out.push(line(header), ...body.map(line));
  const c = m.counts;
  const unscored = Object.entries(c.unscored).map(([k, v]) => `${k} ${v}`);
  out.push(
    `${c.samples} samples, ${c.predicted} predicted, ${c.missing} missing (scored 0)${unscored.length ? `; IoU 0 without a usable answer box: ${unscored.join(', ')}` : ''}; paper scorer read another box than <answer> in ${c.boxesDiffer}`,
  );
  if (m.byDifficulty.length > 0) {
    out.push(`by difficulty, Acc@0.5 (n): ${m.byDifficulty.map((d) => `${d.difficulty} ${pct(d.answer['acc@0.5'])} (${d.n})`).join(', ')}`);
  }
  return `${out.join('\n')}\n`;
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Escape text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]!);
}

/**
 * An HTML `<table>` fragment (no styles, class `univg-eval`) for the run report: tasks as columns with the
 * task key in a `title`, AVG last, one row per metric. Everything is escaped.
 */
export function renderEvalTable(m: EvalMetrics, opts: { caption?: string } = {}): string {
  const th = m.tasks.map((t) => `<th scope="col" title="${escapeHtml(t.task)}">${escapeHtml(taskLabel(t.task))}</th>`).join('');
  const tr = rows(m)
    .map((r) => `<tr><th scope="row">${escapeHtml(r.label)}</th>${r.cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}<td class="avg">${escapeHtml(r.avg)}</td></tr>`)
    .join('\n');
  const caption = opts.caption === undefined ? '' : `<caption>${escapeHtml(opts.caption)}</caption>\n`;
  return `<table class="univg-eval">\n${caption}<thead><tr><th></th>${th}<th scope="col">AVG</th></tr></thead>\n<tbody>\n${tr}\n</tbody>\n</table>\n`;
}
