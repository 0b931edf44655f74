/** The verify stage: a verdict for every candidate, from the pure `verifyCandidate`. */
import { formatBox } from '../completion/index.js';
import { convertBox } from '../geometry/convert.js';
import type { PipelineConfig } from '../schema/config.js';
import type { GroundingSample, TeacherCandidate, Verdict } from '../schema/records.js';
import { joinBySample } from './join.js';
import type { Stage } from './stage.js';
import { VERIFIER_VERSION, verifyCandidate } from './verify.js';

/** The hint as the hinted prompt showed it: the ground truth in the teacher's convention. */
export function hintTextFor(sample: GroundingSample, config: PipelineConfig): string | null {
  const t = config.teacher;
  if (!t || t.mode !== 'hinted') return null;
  const img = sample.images[sample.targetImage]!;
  const box = convertBox(sample.targetBox, 'pixels', t.convention, { width: img.width, height: img.height, minPixels: t.minPixels, maxPixels: t.maxPixels });
  return formatBox(box, t.convention);
}

export const verifyStage: Stage = {
  name: 'verify',
  description: 'check every candidate: format, answer box and IoU, think/answer agreement, target image, hint leaks, length, repetition',
  inputs: ['ingest', 'generate'],
  outputs: [{ name: 'verdicts', dir: 'verdicts', kind: 'Verdict' }],
  mode: 'partitioned',
  settings: (c) => ({ verify: c.verify, mode: c.teacher?.mode ?? null, version: VERIFIER_VERSION }),
  async runTask(ctx) {
    const out = ctx.output<Verdict>('verdicts');
    const mode = ctx.config.teacher?.mode ?? 'hinted';
    const joined = joinBySample<GroundingSample, { candidates: TeacherCandidate[] }>(ctx.read<GroundingSample>('ingest'), {
      candidates: ctx.read<TeacherCandidate>('generate'),
    });
    for await (const { sample, candidates } of joined) {
      const hintText = hintTextFor(sample, ctx.config);
      for (const candidate of candidates) await out.write(verifyCandidate({ sample, candidate, config: ctx.config.verify, mode, hintText }));
      ctx.progress.advance();
    }
  },
};
