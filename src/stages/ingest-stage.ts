/**
 * The ingest stage: the pipeline's source (a synthetic suite it renders, or MGrounding / MIG-Bench JSON)
 * to GroundingSample shards partitioned by sample id, every image copied once into the run's store.
 */
import { statSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, InputError } from '../errors.js';
import { sourceOf, type PipelineConfig } from '../schema/config.js';
import type { GroundingSample } from '../schema/records.js';
import { ingestSource, resolveUnderRoot, type SourceFormat } from '../sources/index.js';
import { generateSuite } from '../sources/synthetic/index.js';
import { SYNTH_TASKS, type SynthTask } from '../sources/synthetic/vocabulary.js';
import type { Stage, TaskContext } from './stage.js';

function statOrNull(p: string): Stats | null {
  try {
    return statSync(p);
  } catch {
    return null;
  }
}

/** Where the synthetic suite is rendered inside the run (its JSON and images are the source files). */
export const SYNTHETIC_DIR = 'source';

async function sourceFiles(ctx: TaskContext): Promise<{ format: SourceFormat; input: string; imageRoot: string }> {
  const src = sourceOf(ctx.config);
  if (src.format !== 'synthetic') return { format: src.format, input: resolve(src.input), imageRoot: resolve(src.imageRoot) };
  const out = join(ctx.runDir, SYNTHETIC_DIR);
  ctx.log(`rendering ${src.samples} synthetic samples (seed ${src.seed}) into ${out}`);
  const unknown = (src.tasks ?? []).filter((t) => !(SYNTH_TASKS as readonly string[]).includes(t));
  if (unknown.length) throw new ConfigError(`unknown synthetic task(s) ${unknown.join(', ')}; tasks are: ${SYNTH_TASKS.join(', ')}`, { field: 'source.tasks' });
  const suite = await generateSuite({ out, samples: src.samples, seed: src.seed, tasks: src.tasks as SynthTask[] | undefined, difficulty: src.difficulty, testFraction: src.testFraction });
  return { format: 'migbench', input: suite.files.train, imageRoot: out };
}

export const ingestStage: Stage = {
  name: 'ingest',
  description: 'read the source, validate every record, store images by content hash, quarantine defects',
  inputs: [],
  outputs: [{ name: 'samples', dir: 'samples', kind: 'GroundingSample' }],
  mode: 'whole',
  settings: (c: PipelineConfig) => ({ source: c.source }),
  disabled: (c) => (c.source ? null : 'the pipeline has no source section'),
  preflight(c) {
    const src = sourceOf(c);
    if (src.format === 'synthetic') return;
    const input = statOrNull(src.input);
    if (!input?.isFile()) throw new InputError(input ? 'source input is not a file' : 'source input file not found', { file: src.input, field: 'source.input' });
    const root = statOrNull(src.imageRoot);
    if (!root?.isDirectory()) throw new InputError(root ? 'image root is not a directory' : 'image root not found', { file: src.imageRoot, field: 'source.imageRoot' });
  },
  async runTask(ctx) {
    const { format, input, imageRoot } = await sourceFiles(ctx);
    const out = ctx.output<GroundingSample>('samples');
    let samples = 0;
    for await (const ev of ingestSource(format, { input, imageRoot })) {
      if (ctx.signal.aborted) return;
      if (ev.kind === 'quarantine') {
        const { stage: _s, ...rest } = ev.record;
        await ctx.quarantine(rest);
        continue;
      }
      const sample = ev.sample;
      for (const img of sample.images) {
        if (await ctx.services.images.has(img.sha256)) continue;
        // Ingest already refused paths outside the root; this is the same rule, not a second opinion.
        const r = resolveUnderRoot(imageRoot, img.path);
        if (!r.ok) throw new InputError(r.detail, { file: img.path, recordId: sample.id });
        const stored = await ctx.services.images.putFile(r.path);
        if (stored.sha256 !== img.sha256) throw new InputError('image changed while it was being ingested (hash differs)', { file: r.path, recordId: sample.id });
      }
      await out.write(sample);
      samples++;
      ctx.progress.advance();
    }
    ctx.log(`${samples} samples`);
  },
};
