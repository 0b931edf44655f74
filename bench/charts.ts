/**
 * What drawing the charts with Vega-Lite costs: the first chart of a process (loading vega and
 * vega-lite), then each of the report's chart kinds drawn warm, and the SVG bytes they make.
 *
 *   npx tsx bench/charts.ts [rounds=20]
 *
 * Data are report-sized: 16 funnel steps, 10 rejection reasons, 3 tasks x 20 IoU bins, 400-point curves.
 */
import {
  barChart,
  funnelChart,
  groupHistograms,
  grpoCurve,
  histogram,
  lineChart,
  miouBuckets,
  rejectionChart,
  render,
  sftLossChart,
  type ChartDef,
  type XY,
} from '../src/charts/index.js';

const rounds = Number(process.argv[2] ?? 20);
const bins = (k: number) => Array.from({ length: 20 }, (_, i) => ({ lo: i / 20, hi: (i + 1) / 20, count: ((i * 7 + k * 3) % 11) * 5 }));
const curve = (n: number, f: (i: number) => number): XY[] => Array.from({ length: n }, (_, i) => [i + 1, f(i)] as const);

const REPORT: Array<[string, () => ChartDef]> = [
  ['funnel', () => funnelChart(Array.from({ length: 16 }, (_, i) => ({ label: `step ${i}`, unit: i < 1 ? 'samples' : i < 13 ? 'candidates' : 'rows', count: 1000 - i * 50, share: 1 - i / 20 })))],
  ['pass-rate bars', () => barChart(['common_object', 'refer_grounding', 'difference'].map((t, i) => ({ label: t, value: 0.5 + i / 10, note: '(12 of 20)' })), { title: 'Pass rate', xTitle: 'pass rate', format: 'pct', max: 1 })],
  ['accuracy curves', () => lineChart(['a', 'b', 'c'].map((n, k) => ({ name: n, points: curve(11, (i) => 1 - (i / 10) ** (1 + k)) })), { title: 'Acc@t', xTitle: 'IoU threshold', yTitle: 'share', share: true, xFormat: 'num' })],
  ['IoU histograms per task', () => groupHistograms([0, 1, 2].map((k) => ({ key: `task ${k}`, bins: bins(k), noBox: k })), { title: 'IoU', xTitle: 'IoU', yTitle: 'candidates' })],
  ['latency histogram', () => histogram(bins(4), { title: 'Latency', xTitle: 'ms', yTitle: 'requests', scale: 'ordinal', format: 'ms' })],
  ['rejection reasons', () => rejectionChart(Array.from({ length: 10 }, (_, i) => ({ reason: `reason_${i}`, count: 100 - i * 9, only: 40 - i * 3 })))],
  ['SFT loss (400 points)', () => sftLossChart(curve(400, (i) => 5 / (1 + i / 50)), curve(40, (i) => 5.2 / (1 + i / 5)))],
  ['GRPO curve (400 points)', () => grpoCurve('rewardMean', curve(400, (i) => Math.sin(i / 30) + 1))],
  ['mIoU buckets (400 steps)', () => miouBuckets({ 'lt0.3': curve(400, () => 0.3), '0.3-0.7': curve(400, () => 0.4), 'gt0.7': curve(400, () => 0.3) })],
];

const t0 = performance.now();
await render(REPORT[0]![1]());
const coldMs = performance.now() - t0;
const rows: string[] = [];
let total = 0;
for (const [name, make] of REPORT) {
  const times: number[] = [];
  let bytes = 0;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    const c = await render(make());
    times.push(performance.now() - t);
    bytes = c.svg.length;
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  total += median;
  rows.push(`| ${name} | ${median.toFixed(1)} ms | ${(bytes / 1024).toFixed(1)} KiB |`);
}
console.log(`first chart in a process (loads vega + vega-lite): ${coldMs.toFixed(0)} ms`);
console.log('| chart | median render | SVG |\n|---|---|---|');
console.log(rows.join('\n'));
console.log(`sum of medians, one of each kind: ${total.toFixed(0)} ms`);
