/**
 * One small chart per GRPO metric from the step log: what `rl-curves.svg` holds and what the run report
 * shows. Pure: log entries in, SVG text out.
 */
import { lineChart, niceTicks } from '../../charts/svg.js';

/** What the charts read of a step log line (train.ts's RlCurveStep has these and more). */
export interface RlCurveStep {
  step: number;
  rewardMean: number;
  rewardStd: number;
  accuracyMean: number;
  formatRate: number;
  buckets: Record<'lt0.3' | '0.3-0.7' | 'gt0.7', number>;
  weightMean: number;
  kl: number;
  clipFraction: number;
  completionLength: number;
}

export interface RlChart {
  metric: string;
  svg: string;
}

type Pick1 = (s: RlCurveStep) => number;

const CHARTS: Array<{ metric: string; yLabel: string; series: Array<[string, Pick1]>; unit?: boolean }> = [
  { metric: 'reward', yLabel: 'reward', series: [['reward mean', (s) => s.rewardMean], ['accuracy (IoU)', (s) => s.accuracyMean], ['reward spread', (s) => s.rewardStd]] },
  { metric: 'miou-buckets', yLabel: 'share of prompts', unit: true, series: [['mIoU < 0.3', (s) => s.buckets['lt0.3']], ['0.3-0.7', (s) => s.buckets['0.3-0.7']], ['mIoU > 0.7', (s) => s.buckets['gt0.7']]] },
  { metric: 'weight', yLabel: 'phi(mIoU)', series: [['weight mean', (s) => s.weightMean]] },
  { metric: 'kl', yLabel: 'k3 KL', series: [['KL to SFT', (s) => s.kl]] },
  { metric: 'clip', yLabel: 'share of tokens', unit: true, series: [['clip fraction', (s) => s.clipFraction]] },
  { metric: 'length', yLabel: 'tokens', series: [['completion length', (s) => s.completionLength]] },
  { metric: 'format', yLabel: 'share of rollouts', unit: true, series: [['format rate', (s) => s.formatRate]] },
];

export function rlCharts(history: readonly RlCurveStep[], title = 'GRPO'): RlChart[] {
  const xMax = Math.max(1, ...history.map((s) => s.step));
  return CHARTS.map((c) => {
    const series = c.series.map(([name, f]) => ({ name, points: history.map((s) => [s.step, f(s)] as const) }));
    const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
    const yMax = c.unit ? 1 : Math.max(1e-9, ...ys);
    const ticks = c.unit ? [0, 0.5, 1] : niceTicks(yMax);
    const top = c.unit ? 1 : Math.max(yMax, ticks[ticks.length - 1] ?? yMax);
    return {
      metric: c.metric,
      svg: lineChart(series, { title: `${title}: ${c.metric}`, xDomain: [0, xMax], yDomain: [0, top], yTicks: ticks, xLabel: 'step', yLabel: c.yLabel, width: 520, height: 200 }).value,
    };
  });
}

/** Every chart stacked into one standalone SVG document. */
export function rlCurvesSvg(history: readonly RlCurveStep[], title = 'GRPO'): string {
  const charts = rlCharts(history, title);
  const h = 200;
  const body = charts.map((c, i) => `<svg x="0" y="${i * h}" width="520" height="${h}">${c.svg.replace(/^<svg[^>]*>/, '').replace(/<\/svg>\s*$/, '')}</svg>`).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="520" height="${charts.length * h}" viewBox="0 0 520 ${charts.length * h}">\n${body}\n</svg>\n`;
}
