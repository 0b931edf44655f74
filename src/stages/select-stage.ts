/** The select stage: best passing candidate per sample, split into SFT and RL pools. */
import { readFile } from 'node:fs/promises';
import type { GroundingSample, HfImage, RlRow, SftRow, TeacherCandidate, Verdict } from '../schema/records.js';
import type { ImageStore } from '../store/images.js';
import { joinBySample } from './join.js';
import { selectForSample, toRlRow, toSftRow } from './select.js';
import type { Stage } from './stage.js';

/** Training images: embedded bytes, or a path into the run's image store (relative to the run dir). */
async function hfImages(sample: GroundingSample, images: ImageStore, runDir: string, embed: boolean): Promise<HfImage[]> {
  const out: HfImage[] = [];
  for (const img of sample.images) {
    const located = await images.locate(img.sha256);
    const rel = located ? located.slice(runDir.length).replace(/^[\\/]+/, '') : img.path;
    out.push({ bytes: embed && located ? new Uint8Array(await readFile(located)) : null, path: rel });
  }
  return out;
}

export const selectStage: Stage = {
  name: 'select',
  description: 'pick the best passing candidate per sample and split the selection into SFT and RL pools',
  inputs: ['ingest', 'generate', 'verify'],
  outputs: [
    { name: 'sft', dir: 'corpus/sft', kind: 'SftRow' },
    { name: 'rl', dir: 'corpus/rl', kind: 'RlRow' },
  ],
  mode: 'partitioned',
  settings: (c) => ({ select: c.select, seed: c.seed, embedImages: c.shards.embedImages }),
  async runTask(ctx) {
    const sft = ctx.output<SftRow>('sft');
    const rl = ctx.output<RlRow>('rl');
    const joined = joinBySample<GroundingSample, { candidates: TeacherCandidate[]; verdicts: Verdict[] }>(ctx.read<GroundingSample>('ingest'), {
      candidates: ctx.read<TeacherCandidate>('generate'),
      verdicts: ctx.read<Verdict>('verify'),
    });
    for await (const { sample, candidates, verdicts } of joined) {
      const sel = selectForSample(sample, candidates, verdicts, ctx.config.seed, ctx.config.select);
      if (sel) {
        const images = await hfImages(sample, ctx.services.images, ctx.runDir, ctx.config.shards.embedImages);
        if (sel.pool === 'sft') await sft.write(toSftRow(sample, sel.candidate, sel.verdict, images, ctx.config.select));
        else await rl.write(toRlRow(sample, images, ctx.config.select));
      }
      ctx.progress.advance();
    }
  },
};
