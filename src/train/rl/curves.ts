/**
 * GRPO's curves from the step log, what `rl-curves.svg` holds: the report's chart definitions
 * (src/charts), one under another in one SVG file. Log entries in, SVG text out.
 */
import { GRPO_CURVES, grpoCurve, miouBuckets, render, stacked, type ChartDef, type GrpoCurve, type XY } from '../../charts/index.js';

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

/** The chart definitions, in the report's order: the metrics the step log has, then the mIoU buckets. */
export function rlCharts(history: readonly RlCurveStep[]): ChartDef[] {
  // The loss is in the report's figures, not in what a step hands to these charts.
  const charts = GRPO_CURVES.filter((c) => c.key !== 'loss').map((c) =>
    grpoCurve(c.key, history.map((s) => [s.step, s[c.key as Exclude<GrpoCurve, 'loss'>]] as XY), { width: 420, height: 140 }),
  );
  const bucket = (b: keyof RlCurveStep['buckets']) => history.map((s) => [s.step, s.buckets[b]] as XY);
  charts.push(miouBuckets({ 'lt0.3': bucket('lt0.3'), '0.3-0.7': bucket('0.3-0.7'), 'gt0.7': bucket('gt0.7') }, { width: 420, height: 140 }));
  return charts;
}

/** Every chart stacked into one standalone SVG document. */
export async function rlCurvesSvg(history: readonly RlCurveStep[], title = 'GRPO'): Promise<string> {
  return `${(await render(stacked(rlCharts(history), title, 'rl-curves'))).svg}\n`;
}
